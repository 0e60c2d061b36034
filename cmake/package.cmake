# cmake/package.cmake: what `cmake --install` puts where, and the Debian package
# (CPack DEB): binary, systemd units, man page (built from docs/postern.1.scd by
# scdoc), bash completion, /etc/postern/. scripts/deb-check.sh builds it and runs
# lintian.
include(GNUInstallDirs)

find_program(SCDOC scdoc)
if(SCDOC)
  set(PN_MAN ${CMAKE_CURRENT_BINARY_DIR}/postern.1)
  add_custom_command(OUTPUT ${PN_MAN}.gz
    COMMAND ${SCDOC} < ${CMAKE_CURRENT_SOURCE_DIR}/docs/postern.1.scd > ${PN_MAN}
    COMMAND gzip -9nf ${PN_MAN}
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/docs/postern.1.scd
    COMMENT "scdoc: postern.1")
  add_custom_target(postern_man ALL DEPENDS ${PN_MAN}.gz)
  install(FILES ${PN_MAN}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
else()
  message(STATUS "scdoc not found: no man page (scripts/deps.sh installs it)")
endif()

install(FILES contrib/systemd/postern.service contrib/systemd/postern@.service
        DESTINATION /lib/systemd/system)
install(FILES contrib/bash-completion/postern
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
install(FILES contrib/debian/copyright DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/postern)
set(PN_CHANGELOG ${CMAKE_CURRENT_BINARY_DIR}/changelog.gz)
add_custom_command(OUTPUT ${PN_CHANGELOG}
  COMMAND gzip -9nc ${CMAKE_CURRENT_SOURCE_DIR}/contrib/debian/changelog > ${PN_CHANGELOG}
  DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/contrib/debian/changelog)
add_custom_target(postern_changelog ALL DEPENDS ${PN_CHANGELOG})
install(FILES ${PN_CHANGELOG} DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/postern)
install(DIRECTORY DESTINATION /etc/postern
        DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
                              GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME postern)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "postern maintainers <postern@example.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "tunnel and reverse proxy for TCP and UDP through NAT")
set(CPACK_PACKAGE_DESCRIPTION "postern forwards TCP and UDP, publishes services
behind NAT through an authenticated tunnel, routes HTTP by Host and TLS by SNI
through a hub, and runs its instances under a master with a REST API and a web
dashboard.")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
include(CPack)
