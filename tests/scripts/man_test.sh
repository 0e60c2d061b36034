#!/bin/sh
# docs/postern.1.scd builds with scdoc, `man --warnings -l` has nothing to say about it,
# and every option, URL parameter and environment variable that `postern --help` names
# appears in the rendered page. Usage: sh tests/scripts/man_test.sh [path/to/postern]
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-${POSTERN_BIN:-$here/build/postern}}
command -v scdoc >/dev/null 2>&1 || { echo "man page: FAIL (scdoc missing: scripts/deps.sh)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
scdoc < "$here/docs/postern.1.scd" > "$tmp/postern.1" || { echo "man page: FAIL (scdoc)"; exit 1; }
warn=$(LC_ALL=C.UTF-8 MANWIDTH=100 man --warnings -l "$tmp/postern.1" 2>&1 >/dev/null)
fail=0
if [ -n "$warn" ]; then echo "FAIL man --warnings:"; echo "$warn"; fail=1; fi
LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$tmp/postern.1" 2>/dev/null | col -b > "$tmp/page.txt"
"$bin" --help > "$tmp/help.txt"
{
    grep -o -- '--[a-z][a-z-]*' "$tmp/help.txt"
    grep -oE '^  [a-z]+=' "$tmp/help.txt" | tr -d ' '
    grep -oE '(POSTERN|NP)_[A-Z_]+' "$tmp/help.txt"
} | sort -u > "$tmp/names"
n=0
while read -r name; do
    n=$((n + 1))
    grep -qF -- "$name" "$tmp/page.txt" || { echo "FAIL --help names $name, the man page does not"; fail=1; }
done < "$tmp/names"
[ $fail -eq 0 ] && echo "man page: ok ($n names from --help found)" || echo "man page: FAILED"
exit $fail
