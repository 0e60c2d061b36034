#!/bin/bash
# Tests of the bash completion (contrib/bash-completion/postern): it is sourced into
# this bash, `complete -p postern` must name its function, and the function is driven
# as bash drives it (COMP_LINE, COMP_POINT, COMP_WORDS, COMP_CWORD) on typed lines whose
# candidates (COMPREPLY) are compared with the expected ones. The parameter lists it
# offers per mode must equal the parser's lists in src/ (client_params, server_params,
# hub_params, agent_params, proxy_params, master_params, route_opts), wherever those now live.
# Usage: bash tests/scripts/completion_test.sh   (from anywhere; exits 1 on a failure)
set -u
cd "$(dirname "$0")/../.."
pass=0 fail=0

# shellcheck source=/dev/null
source contrib/bash-completion/postern || { echo "completion: cannot source"; exit 1; }

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

spec=$(complete -p postern 2>&1)
[[ $spec == "complete -F _postern postern" ]] && ok || bad "complete -p postern: $spec"

# comp <line>: run the completion with the cursor at the end of <line>; the
# candidates, sorted, one per line, in $got. COMP_WORDS is split as bash splits it
# (blanks and COMP_WORDBREAKS characters end words; the latter are words of their own).
comp() {
    local line=$1 w="" i c
    COMP_LINE=$line COMP_POINT=${#line} COMP_WORDS=()
    for ((i = 0; i < ${#line}; i++)); do
        c=${line:i:1}
        if [[ $c == [[:blank:]] ]]; then
            [[ -n $w ]] && COMP_WORDS+=("$w"); w=""
        elif [[ $COMP_WORDBREAKS == *"$c"* ]]; then
            [[ -n $w ]] && COMP_WORDS+=("$w"); COMP_WORDS+=("$c"); w=""
        else
            w+=$c
        fi
    done
    COMP_WORDS+=("$w")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _postern
    got=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort)
}

# expect <line> <candidate...>: the candidates must be exactly these (any order).
expect() {
    local line=$1
    shift
    comp "$line"
    local want
    want=$(printf '%s\n' "$@" | sed '/^$/d' | sort)
    if [[ $got == "$want" ]]; then ok; else bad "[$line]: got {$(echo $got)}, want {$(echo $want)}"; fi
}

# Options and modes.
expect "postern " client:// server:// hub:// agent:// proxy:// master://
expect "postern -" --help --version --url-from-env --url-from-file -h -V
expect "postern --ve" --version
expect "postern h" hub://
# Unquoted, readline replaces only what follows the last ':' (COMP_WORDBREAKS).
expect "postern client:" //
# Inside an open quote the whole URL is replaced; a single match comes twice (once with
# a blank) so that readline does not close the quote.
expect "postern 'ag" "agent://" "agent:// "
expect "postern --url-from-env "
expect "postern 'client://:1/h:2?tls=1' "
expect "postern 'nope://h:1?"

# Parameters after '?' and '&', per mode.
expect "postern 'client://:8080/h:80?tl" "client://:8080/h:80?tls=" "client://:8080/h:80?tls= "
expect "postern 'client://:8080/h:80?tls=" client://:8080/h:80?tls=0 client://:8080/h:80?tls=1 client://:8080/h:80?tls=2
expect "postern 'server://:8080/h:80?type=" server://:8080/h:80?type=0 server://:8080/h:80?type=1 server://:8080/h:80?type=2 server://:8080/h:80?type=3
expect "postern 'server://k@:1/:2?mode=2&l" "server://k@:1/:2?mode=2&lbs=" "server://k@:1/:2?mode=2&log="
expect "postern 'server://k@:1/:2?m" "server://k@:1/:2?mode=" "server://k@:1/:2?max=" "server://k@:1/:2?metrics="
expect "postern 'client://:1/h:2?m" "client://:1/h:2?mode=" "client://:1/h:2?min=" "client://:1/h:2?metrics="
expect "postern 'master://127.0.0.1:9090?log=" \
    master://127.0.0.1:9090?log=info master://127.0.0.1:9090?log=debug master://127.0.0.1:9090?log=warn \
    master://127.0.0.1:9090?log=error master://127.0.0.1:9090?log=event master://127.0.0.1:9090?log=none
expect "postern 'hub://:1?accounts=a.json&p" "hub://:1?accounts=a.json&path=" "hub://:1?accounts=a.json&peer=" "hub://:1?accounts=a.json&ports=" "hub://:1?accounts=a.json&public="
expect "postern 'agent://t@h:1?tcp=:22,pro" "agent://t@h:1?tcp=:22,probe=" "agent://t@h:1?tcp=:22,probe_interval=" "agent://t@h:1?tcp=:22,proto="
expect "postern 'agent://t@h:1?http=:80,probe=" "agent://t@h:1?http=:80,probe=tcp" "agent://t@h:1?http=:80,probe=http:/"
expect "postern 'agent://t@h:1?http=:80,proto=" "agent://t@h:1?http=:80,proto=h2c" "agent://t@h:1?http=:80,proto=http/1.1"
expect "postern 'proxy://:1080?users=u.json&method=" "proxy://:1080?users=u.json&method=chacha20-ietf-poly1305" "proxy://:1080?users=u.json&method=aes-256-gcm" "proxy://:1080?users=u.json&method=aes-128-gcm"
# A parameter without a fixed set of values gets nothing.
expect "postern 'client://:1/h:2?read="
# Unquoted: only the part after the last '=' or '&' is replaced; an escaped '&' is not
# a word break, and an '&' in what is inserted comes escaped.
expect "postern client://:1/h:2?notcp=" 0 1
expect "postern server://k@:1/:2?egress=" 0 1
expect "postern 'proxy://:1080?users=u.json&v" "proxy://:1080?users=u.json&via=" "proxy://:1080?users=u.json&via= "
expect "postern client://:1/h:2?tls=1\\&no" "1\\&notcp=" "1\\&noudp="
# File parameters complete file names.
expect "postern 'hub://:1?accounts=contrib/bash-completion/pos" \
    "hub://:1?accounts=contrib/bash-completion/postern" "hub://:1?accounts=contrib/bash-completion/postern "

# The lists equal the parser's. c_list <array name>: the strings of that C array in src/.
c_list() {
    local f
    f=$(grep -rlE "$1\[\] *= *\{" src | head -n1)
    [[ -n $f ]] || { echo "?"; return; }
    awk -v a="$1" 'index($0, a "[]") { on = 1 } on { print } on && /};/ { exit }' "$f" | grep -oE '"[a-z_]+"' | tr -d '"' | sort | tr '\n' ' '
}
offered() {
    comp "postern '$1"
    printf '%s\n' "$got" | sed '/ $/d' | sed -E 's/.*[?&,]([a-z_]+)=$/\1/' | sort | tr '\n' ' '
}
for m in client server hub agent proxy master; do
    want=$(c_list "${m}_params")
    have=$(offered "$m://h:1/h:2?")
    [[ $want != "?" && $have == "$want" ]] && ok || bad "$m:// parameters: completion {$have}, parser {$want}"
done
want=$(c_list route_opts)
have=$(offered "agent://t@h:1?udp=:53,")
[[ $want != "?" && $have == "$want" ]] && ok || bad "agent route options: completion {$have}, parser {$want}"

echo "completion: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
