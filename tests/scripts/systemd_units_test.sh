#!/bin/sh
# contrib/systemd/*.service pass `systemd-analyze verify` (with ExecStart pointed at the
# built binary, as /usr/bin/postern is not installed here).
# Usage: sh tests/scripts/systemd_units_test.sh [path/to/postern]
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-${POSTERN_BIN:-$here/build/postern}}
if ! command -v systemd-analyze >/dev/null 2>&1; then
    # scripts/test.sh sets POSTERN_REQUIRE_TOOLS=1: there deps.sh installed systemd.
    [ "${POSTERN_REQUIRE_TOOLS:-}" = 1 ] && { echo "systemd units: no systemd-analyze" >&2; exit 1; }
    echo "systemd units: skip (no systemd-analyze)"; exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
for unit in "$here"/contrib/systemd/*.service; do
    name=$(basename "$unit")
    case $name in *@.service) inst=${name%@.service}@test.service;; *) inst=$name;; esac
    sed -e "s|/usr/bin/postern|$bin|" -e '/^Documentation=/d' "$unit" > "$tmp/$name"
    out=$(cd "$tmp" && systemd-analyze verify "$tmp/$inst" 2>&1)
    if [ $? -ne 0 ] || [ -n "$out" ]; then
        echo "FAIL $name:"; echo "$out"; fail=1
    else
        echo "ok   $name"
    fi
    grep -q '^Type=notify' "$unit" || { echo "FAIL $name: not Type=notify"; fail=1; }
done
[ $fail -eq 0 ] && echo "systemd units: ok" || echo "systemd units: FAILED"
exit $fail
