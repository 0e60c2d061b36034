#!/bin/sh
# Tests of scripts/check-layers.sh on small fake trees: a clean tree passes; a
# forbidden include, a circle between files (by include and by a call), a list
# naming a folder above its own, a library outside its file, a file over 800
# lines and a prefix used in two folders each make it fail, naming the fault.
# Run by scripts/test.sh's layering step; exits 1 on the first failed case.
set -eu
cd "$(dirname "$0")/../.."
CHECK="sh scripts/check-layers.sh"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pn-layers-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
fails=0

# A tree where net/ uses core/: core/a.[ch], net/b.[ch].
fresh() {
    rm -rf "$TMP/t"
    mkdir -p "$TMP/t/src/core" "$TMP/t/src/net"
    printf 'core\n' > "$TMP/t/src/core/.may_include"
    printf '# net may use core\ncore\nnet\n' > "$TMP/t/src/net/.may_include"
    printf 'int a_fn(void);\n' > "$TMP/t/src/core/a.h"
    printf '#include "core/a.h"\n\nint\na_fn(void)\n{\n    return 1;\n}\n' > "$TMP/t/src/core/a.c"
    printf '#include "core/a.h"\nint b_fn(void);\n' > "$TMP/t/src/net/b.h"
    printf '#include "net/b.h"\n\nint\nb_fn(void)\n{\n    return a_fn();\n}\n' > "$TMP/t/src/net/b.c"
}

# expect <rc> <text the output must hold> <name> [args]
expect() {
    want=$1 text=$2 name=$3
    shift 3
    rc=0
    $CHECK --root "$TMP/t" "$@" > "$TMP/out" 2>&1 || rc=$?
    if [ "$rc" -ne "$want" ] || ! grep -qF -- "$text" "$TMP/out"; then
        echo "check_layers_test: $name: FAILED (exit $rc, wanted $want and \"$text\")"
        sed 's/^/    /' "$TMP/out"
        fails=$((fails + 1))
    else
        echo "check_layers_test: $name: ok"
    fi
}

fresh
expect 0 "layers: ok" "clean tree"

fresh
printf '#include "net/b.h"\n' >> "$TMP/t/src/core/a.c"
expect 1 "src/core/a.c:8: core may not include net/b.h" "include of a folder above"

fresh
printf 'net\n' >> "$TMP/t/src/core/.may_include"
expect 1 "src/core/.may_include:2: net is above core" "allow list naming a folder above"

fresh
rm "$TMP/t/src/net/.may_include"
expect 1 "src/net/.may_include: missing" "missing allow list"

fresh
# c.c includes b.h and b.c calls what c.c defines: net/b -> net/c -> net/b.
printf '#include "net/b.h"\n\nint\nc_fn(void)\n{\n    return b_fn();\n}\n' > "$TMP/t/src/net/c.c"
printf 'int c_fn(void);\nint\nb2(void)\n{\n    return c_fn();\n}\n' >> "$TMP/t/src/net/b.c"
expect 1 "cycle: net/b -> net/c -> net/b" "circle through a call"

fresh
# Three headers including each other in a ring.
printf '#include "net/y.h"\n' > "$TMP/t/src/net/x.h"
printf '#include "net/z.h"\n' > "$TMP/t/src/net/y.h"
printf '#include "net/x.h"\n' > "$TMP/t/src/net/z.h"
expect 1 "cycle: net/x -> net/y -> net/z -> net/x" "circle of includes"

fresh
printf '#include <openssl/ssl.h>\n' >> "$TMP/t/src/net/b.c"
expect 1 "src/net/b.c:8: only src/tls/ may include OpenSSL" "library outside its folder"

fresh
awk 'BEGIN { for (i = 0; i < 801; i++) print "/* line */" }' > "$TMP/t/src/net/long.h"
expect 1 "layers: src/net/long.h: 801 lines (over 800; split it at its seams)" "long file fails"
awk 'BEGIN { for (i = 0; i < 800; i++) print "/* line */" }' > "$TMP/t/src/net/long.h"
expect 0 "layers: ok" "file of 800 lines passes"

fresh
# pn_x_ names a function of core/ and one of net/.
printf 'int\npn_x_core(void)\n{\n    return 0;\n}\n' >> "$TMP/t/src/core/a.c"
printf 'int\npn_x_net(void)\n{\n    return 0;\n}\n' >> "$TMP/t/src/net/b.c"
expect 1 "prefix pn_x_ used in 2 folders: core (pn_x_core in src/core/a.c), net (pn_x_net in src/net/b.c)" "prefix of functions in two folders"

fresh
# tun_ names a type of core/ and a struct of net/; static functions do not count.
printf 'typedef struct tun_a tun_a_t;\n' >> "$TMP/t/src/core/a.h"
printf 'struct tun_b {\n    int x;\n};\n' >> "$TMP/t/src/net/b.h"
expect 1 "prefix tun_ used in 2 folders: core (tun_a_t in src/core/a.h), net (tun_b in src/net/b.h)" "prefix of types in two folders"

fresh
printf 'static int\npn_y_one(void)\n{\n    return 0;\n}\n' >> "$TMP/t/src/core/a.c"
printf 'static int\npn_y_two(void)\n{\n    return 0;\n}\n' >> "$TMP/t/src/net/b.c"
printf 'int\npn_b_other(void)\n{\n    return 0;\n}\n' >> "$TMP/t/src/net/b.c"
expect 0 "layers: ok" "static functions and one folder's prefix pass"

fresh
mkdir -p "$TMP/t/src/extra"
printf 'core\n' > "$TMP/t/src/extra/.may_include"
printf 'int e;\n' > "$TMP/t/src/extra/e.h"
expect 1 "src/extra/: not a layer of DESIGN.md" "folder outside the order"

[ "$fails" -eq 0 ] || { echo "check_layers_test: $fails case(s) failed"; exit 1; }
echo "check_layers_test: all cases passed"
