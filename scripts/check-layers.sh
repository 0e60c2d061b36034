#!/bin/sh
# Check that includes only point down the layers of DESIGN.md section 3:
#   master > modes > tunnel > relay > conf > route > net > tls > core
# (as Tor's make check-includes does). Exits 1 and names each offending line.
set -eu
cd "$(dirname "$0")/.."
order="core tls net route conf relay tunnel modes master"
rank() { i=0; for l in $order; do [ "$l" = "$1" ] && { echo $i; return; }; i=$((i+1)); done; echo 99; }
bad=0
for f in src/*/*.c src/*/*.h; do
    layer=$(basename "$(dirname "$f")")
    mine=$(rank "$layer")
    grep -n '#include "[a-z]*/' "$f" | while IFS= read -r line; do
        dep=$(echo "$line" | sed 's|.*#include "\([a-z]*\)/.*|\1|')
        if [ "$(rank "$dep")" -gt "$mine" ]; then
            echo "$f:$line: $layer may not include $dep (layers point down: $order)"
            echo x >> "${TMPDIR:-/tmp}/pn-layers.$$"
        fi
    done
done
if [ -f "${TMPDIR:-/tmp}/pn-layers.$$" ]; then
    rm -f "${TMPDIR:-/tmp}/pn-layers.$$"
    exit 1
fi
# libevent stays behind core/ev.c (and its own DNS and HTTP servers behind
# net/dns.c and master/http.c); OpenSSL behind tls/.
if grep -ln '#include <event2/' src/*/*.c src/*/*.h | grep -v -e '^src/core/ev.c$' -e '^src/net/dns.c$' \
        -e '^src/master/http.c$'; then
    echo "only src/core/ev.c, src/net/dns.c and src/master/http.c may include libevent"; bad=1
fi
# SQLite stays behind master/store.c.
if grep -ln '#include <sqlite3' src/*/*.c src/*/*.h | grep -v '^src/master/store.c$'; then
    echo "only src/master/store.c may include SQLite"; bad=1
fi
if grep -ln '#include <openssl/' src/*/*.c src/*/*.h | grep -v '^src/tls/'; then
    echo "only src/tls/ may include OpenSSL"; bad=1
fi
[ $bad = 0 ] && echo "layers: ok"
exit $bad
