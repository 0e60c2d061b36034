#!/bin/sh
# Install everything postern needs to build, test and benchmark, from Debian's
# packages. Both README commands call this; it is safe to run again.
set -eu

PKGS="build-essential cmake ninja-build pkg-config clang libclang-rt-dev
libevent-dev libssl-dev libcmocka-dev libjansson-dev libsqlite3-dev sqlite3 libhttp-parser-dev libwslay-dev libnghttp2-dev
libngtcp2-dev libngtcp2-crypto-gnutls-dev libgnutls28-dev tshark
prometheus python3-prometheus-client python3-websockets chromium
python3 python3-pytest curl ca-certificates openssl socat iperf3 ncat procps dnsmasq-base bind9-dnsutils haproxy nginx systemd valgrind scdoc lintian fakeroot shadowsocks-libev python3-cryptography python3-h2 nghttp2-client nghttp2-server iproute2 nftables util-linux
libhiredis-dev redis-server"

# The dashboard's browser test and the OpenAPI check run on Node.js with packages
# from the npm registry (tests/web/package-lock.json, which must accept Debian 12's
# Node.js 18). Use the machine's Node.js; install Debian's when there is none.
# ca-certificates: npm reaches its registry over HTTPS (a minimal Debian has no CA
# bundle, and Debian's nodejs only recommends it).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    PKGS="$PKGS nodejs npm"
fi

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "deps: installing:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
else
    echo "deps: all present"
fi
