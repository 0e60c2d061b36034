#!/bin/sh
# Build the Debian package (CPack DEB, cmake/package.cmake) in build-deb/ and run
# lintian on it; exit 1 on a lintian error. Installing it (dpkg -i in a fresh root)
# is left to scripts/fresh-check.sh. Usage: sh scripts/deb-check.sh
set -eu
cd "$(dirname "$0")/.."
b=build-deb
cmake -S . -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWITH_TESTS=OFF >/dev/null
ninja -C "$b" -j2 >/dev/null
(cd "$b" && fakeroot cpack -G DEB >/dev/null)
deb=$(ls -t "$b"/postern_*.deb | head -n 1)
echo "package: $deb"
dpkg-deb -c "$deb" | awk '{print $1, $6}'
# lintian: errors fail; warnings are shown
out=$(lintian --no-tag-display-limit "$deb" 2>&1 || true)
echo "$out"
if echo "$out" | grep -q '^E:'; then
    echo "deb-check: lintian errors"
    exit 1
fi
echo "deb-check: ok"
