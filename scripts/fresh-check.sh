#!/bin/sh
# Does the README's promise hold on a fresh Debian 12 machine? Build a new Debian 12
# root (debootstrap --variant=minbase, from this machine's own Debian mirror), copy the
# repository's tracked files into it, install the Debian package in it, and run the
# README's two commands in it, as root, in a chroot, exactly as written:
#
#   the package           built on this machine by scripts/deb-check.sh (lintian: no E:
#                         line), installed in the still minimal root with dpkg -i (and
#                         apt-get install -f for its dependencies), then `postern
#                         --version` and a single-end forwarder run from /usr/bin/postern
#                         carry a line to a tiny perl service and back; purged after;
#   sh scripts/run.sh     started, waited for until it prints where to look, checked
#                         (dashboard, API and demo forwarder answer on loopback), then
#                         stopped with SIGTERM as Ctrl-C would: it must exit 0;
#   sh scripts/test.sh    run to the end: it must exit 0.
#
# Then print a report: each command, its exit status and duration, and the tail of its
# log when it failed. Exit 0 when every step passed, 1 when one failed, 2 on bad usage.
#
# Usage (as root, from anywhere; slow: ~30-60 min on 2 cores, not part of test.sh):
#
#   sh scripts/fresh-check.sh [--keep] [--root DIR] [--only pkg|run|test] [--head]
#                             [--reuse] [--cmd 'COMMAND']
#
#   --keep         keep the root (default: deleted at the end, when this run made it)
#   --root DIR     where to build the root (default: a new ${TMPDIR:-/tmp}/postern-fresh.*);
#                  DIR must not exist or be empty, unless --reuse
#   --reuse        DIR (--root) already holds a root from an earlier --keep run: skip
#                  debootstrap, copy the tree over the old one (quick, but not fresh)
#   --only pkg|run|test  run only the package step or one of the two README commands
#   --head         copy `git archive HEAD` (default: the work tree's files, as they are,
#                  that git tracks or would add; ignored files such as build/ stay out)
#   --cmd 'CMD'    run CMD (sh -c, in the copied tree) instead of the README commands
#
# Environment: FRESH_DEBOOTSTRAP_TIMEOUT (s, default 1800), FRESH_PKG_TIMEOUT (s for each
# of the package build and its install, default 1800), FRESH_RUN_TIMEOUT (s until
# run.sh is ready, default 3000: it installs the packages and builds), FRESH_TEST_TIMEOUT
# (s, default 5400), FRESH_CMD_TIMEOUT (s, default 3600), FRESH_LOG_DIR (default: a new
# ${TMPDIR:-/tmp}/postern-fresh-logs.*, kept).
#
# What the root gets from this machine, and nothing else: its Debian mirror and apt
# sources for bookworm (entries of other suites and third-party archives are left out),
# the apt.conf.d files that say how to reach the mirror (proxies, date checks), the local CA
# certificates (/usr/local/share/ca-certificates), /etc/resolv.conf, and the npm
# configuration (~/.npmrc, /etc/npmrc, the registry) so that apt and npm reach the same
# registries. /etc/hosts is Debian's standard one. Services that packages would start
# are not started (usr/sbin/policy-rc.d exits 101), as in any chroot. The commands run
# with a clean root login environment (env -i; proxy and NPM_CONFIG_* variables are
# passed on): no pyenv, no LANG, no Node.js but what deps.sh installs.
#
# The chroot shares this machine's kernel and network namespace: everything in it
# listens and connects on loopback only (the registries aside). The root is bound on
# itself (/ a mount point inside, as ip netns wants), /proc, /sys, /dev, /dev/pts and
# a new /dev/shm are mounted in it, and all are always unmounted on exit;
# every process left in the root is killed by PID before that.
set -eu

usage() {
    sed -n '/^# Usage/,/^# Environment/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

KEEP=0 ROOT='' ONLY='' HEAD=0 REUSE=0 CMD=''
while [ $# -gt 0 ]; do
    case $1 in
        --keep) KEEP=1 ;;
        --head) HEAD=1 ;;
        --reuse) REUSE=1 ;;
        --root|--only|--cmd)
            [ $# -ge 2 ] || { echo "fresh-check: $1 needs a value" >&2; exit 2; }
            case $1 in --root) ROOT=$2 ;; --only) ONLY=$2 ;; --cmd) CMD=$2 ;; esac
            shift ;;
        --root=*) ROOT=${1#--root=} ;;
        --only=*) ONLY=${1#--only=} ;;
        --cmd=*) CMD=${1#--cmd=} ;;
        -h|--help) usage; exit 0 ;;
        *) echo "fresh-check: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
case $ONLY in
    ''|pkg|run|test) ;;
    *) echo "fresh-check: --only takes pkg, run or test, not '$ONLY'" >&2; exit 2 ;;
esac
if [ "$REUSE" = 1 ] && [ -z "$ROOT" ]; then
    echo "fresh-check: --reuse needs --root DIR" >&2; exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "fresh-check: run as root (debootstrap, mount and chroot need it)" >&2; exit 2
fi
for t in timeout chroot mount umount git tar curl; do
    command -v "$t" >/dev/null 2>&1 || { echo "fresh-check: '$t' is needed on this machine" >&2; exit 2; }
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
T_BOOT=${FRESH_DEBOOTSTRAP_TIMEOUT:-1800}
T_RUN=${FRESH_RUN_TIMEOUT:-3000}
T_TEST=${FRESH_TEST_TIMEOUT:-5400}
T_CMD=${FRESH_CMD_TIMEOUT:-3600}
T_PKG=${FRESH_PKG_TIMEOUT:-1800}
SUITE=bookworm
TREE=/root/postern                  # where the repository goes inside the root

say() { printf 'fresh-check: %s\n' "$*"; }
now() { date +%s; }

# ---- the root and the log folder -------------------------------------------------------
MADE_ROOT=0
if [ -z "$ROOT" ]; then
    ROOT=$(mktemp -d "${TMPDIR:-/tmp}/postern-fresh.XXXXXX")
    MADE_ROOT=1
elif [ "$REUSE" = 1 ]; then
    [ -f "$ROOT/etc/debian_version" ] || { echo "fresh-check: --reuse: $ROOT holds no Debian root" >&2; exit 2; }
else
    if [ -e "$ROOT" ] && [ -n "$(ls -A "$ROOT" 2>/dev/null)" ]; then
        echo "fresh-check: $ROOT exists and is not empty (use a new folder, or --reuse)" >&2; exit 2
    fi
    mkdir -p "$ROOT"
    MADE_ROOT=1
fi
ROOT=$(cd "$ROOT" && pwd -P)
# It becomes /: 0755 as on any Debian (mktemp makes 0700, and then only root could reach
# a file in it; the tests run some programs as nobody).
chmod 755 "$ROOT"
case $ROOT/ in
    /|/./) echo "fresh-check: refusing / as the root" >&2; exit 2 ;;
    "$REPO"/*) say "note: the root is inside the repository; it is not tracked, but git status will show it" ;;
esac
LOGS=${FRESH_LOG_DIR:-}
if [ -z "$LOGS" ]; then
    LOGS=$(mktemp -d "${TMPDIR:-/tmp}/postern-fresh-logs.XXXXXX")
else
    mkdir -p "$LOGS"
fi
REPORT=$LOGS/report.txt
: > "$REPORT"
FAILED=0
PASSED=0
TAILS=

# One line of the report per step: what ran, its exit status, how long it took, a note.
record() { # record NAME STATUS SECONDS NOTE [LOG]
    printf '  %-44s exit %-4s %6s s  %s\n' "$1" "$2" "$3" "$4" >> "$REPORT"
    if [ "$2" = 0 ]; then
        PASSED=$((PASSED + 1))
    else
        FAILED=$((FAILED + 1))
        [ -n "${5:-}" ] && TAILS="$TAILS $5"
    fi
}

# ---- cleanup: always ---------------------------------------------------------------------
STEP_PID=""         # the `timeout` of the step that runs now (its own process group)

in_root_pids() {    # every process whose root directory is the new root
    for p in /proc/[0-9]*; do
        r=$(readlink "$p/root" 2>/dev/null) || continue
        case $r in "$ROOT"|"$ROOT"/*) echo "${p#/proc/}" ;; esac
    done
}
kill_root_procs() { # TERM what is left in the root, then KILL what outlives 5 s
    pids=$(in_root_pids)
    [ -n "$pids" ] || return 0
    say "stopping processes left in the root: $(echo "$pids" | tr '\n' ' ')"
    for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
    i=0
    while [ $i -lt 50 ] && [ -n "$(in_root_pids)" ]; do sleep 0.1; i=$((i + 1)); done
    for p in $(in_root_pids); do kill -KILL "$p" 2>/dev/null || true; done
    sleep 0.5
}
stop_step() {
    if [ -n "$STEP_PID" ] && kill -0 "$STEP_PID" 2>/dev/null; then
        kill -TERM "$STEP_PID" 2>/dev/null || true
        i=0
        while [ $i -lt 100 ] && kill -0 "$STEP_PID" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
        kill -KILL "$STEP_PID" 2>/dev/null || true
        wait "$STEP_PID" 2>/dev/null || true
    fi
    STEP_PID=""
}
mounted_under_root() {
    awk -v r="$ROOT" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts
}
# Every mount in the root, ours and the others (the tests' network namespaces under
# run/netns, a package's script, debootstrap cut short): the deepest first, the root's
# bind on itself last; twice, for mounts stacked on one point.
unmount_all() {
    for _ in 1 2; do
        for m in $(mounted_under_root | sort -r); do
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
        done
    done
    for m in $(mounted_under_root); do
        say "could not unmount $m"
    done
}
cleanup() {
    rc=$?
    trap - EXIT INT TERM
    stop_step
    kill_root_procs
    unmount_all
    if [ -n "$(mounted_under_root)" ]; then
        say "file systems are still mounted in $ROOT: it is kept"
    elif [ "$KEEP" = 0 ] && [ "$MADE_ROOT" = 1 ]; then
        rm -rf --one-file-system "$ROOT"
    else
        say "the root is kept: $ROOT (chroot $ROOT /bin/bash; delete it with rm -rf --one-file-system $ROOT)"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mnt() { # mnt TARGET MOUNT-ARGS...: mount and make it private (unmount_all finds it)
    t=$1
    shift
    mkdir -p "$t"
    mount "$@" "$t"
    mount --make-private "$t" 2>/dev/null || true
}

# Run "$@" bounded by $1 seconds in the background (own process group: timeout makes
# one) and wait for it, interruptibly. Sets RC.
bounded() { # bounded SECONDS LOG CMD...
    secs=$1 log=$2
    shift 2
    timeout -k 30 "$secs" "$@" > "$log" 2>&1 < /dev/null &
    STEP_PID=$!
    RC=0
    wait "$STEP_PID" || RC=$?
    STEP_PID=""
}

# ---- this machine's Debian mirror and sources ----------------------------------------
# One-line format: deb [options] URI SUITE COMPONENT...; deb822: stanzas with Types,
# URIs, Suites. Prints "URI SUITE" for every deb entry, in order.
host_entries() {
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" {
                i = 2
                if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                print $i, $(i + 1)
            }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk 'BEGIN { RS = ""; FS = "\n" }
            {
                types = ""; uris = ""; suites = ""; enabled = "yes"
                for (i = 1; i <= NF; i++) {
                    l = $i
                    if (l ~ /^[ \t]*#/) continue
                    k = tolower(l); sub(/:.*/, "", k)
                    v = l; sub(/^[^:]*:[ \t]*/, "", v)
                    if (k == "types") types = v
                    else if (k == "uris") uris = v
                    else if (k == "suites") suites = v
                    else if (k == "enabled") enabled = tolower(v)
                }
                if (enabled == "no" || (" " types " ") !~ / deb /) next
                nu = split(uris, u, /[ \t]+/); ns = split(suites, s, /[ \t]+/)
                for (a = 1; a <= nu; a++) for (b = 1; b <= ns; b++) if (u[a] != "" && s[b] != "") print u[a], s[b]
            }' "$f"
    done
}
MIRROR=$(host_entries | awk -v s="$SUITE" '$2 == s { print $1; exit }')
if [ -z "$MIRROR" ]; then
    MIRROR=http://deb.debian.org/debian
    say "no $SUITE entry in this machine's apt sources: using $MIRROR"
fi

# Copy the host's sources for bookworm (bookworm, -updates, -security) into the root,
# with the keyrings they name; leave out other suites and third-party archives.
copy_apt_config() {
    d=$ROOT/etc/apt
    keep='^'$SUITE'(-updates|-security|/updates)?$'
    out_list=$d/sources.list.d/host.list
    out_src=$d/sources.list.d/host.sources
    : > "$out_list.new"
    : > "$out_src.new"
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v keep="$keep" '$1 == "deb" || $1 == "deb-src" {
                i = 2
                if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if ($(i + 1) ~ keep) print
            }' "$f" >> "$out_list.new"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v keep="$keep" 'BEGIN { RS = ""; FS = "\n" }
            {
                ok = 1; found = 0
                for (i = 1; i <= NF; i++) {
                    l = $i; k = tolower(l); sub(/:.*/, "", k)
                    if (k != "suites") continue
                    v = l; sub(/^[^:]*:[ \t]*/, "", v)
                    n = split(v, s, /[ \t]+/)
                    for (j = 1; j <= n; j++) if (s[j] != "") { found = 1; if (s[j] !~ keep) ok = 0 }
                }
                if (ok && found) { print; print "" }
            }' "$f" >> "$out_src.new"
    done
    if [ -s "$out_list.new" ] || [ -s "$out_src.new" ]; then
        rm -f "$d/sources.list"
        for x in "$out_list" "$out_src"; do
            if [ -s "$x.new" ]; then mv "$x.new" "$x"; else rm -f "$x.new"; fi
        done
        # the keyrings they name (Signed-By: / [signed-by=...]) that the root lacks
        for k in $(cat "$out_list" "$out_src" 2>/dev/null | tr ' []\t' '\n' \
                   | sed -n 's/^signed-by[=:]//Ip; s/^\(\/[^ ]*\.\(gpg\|asc\)\)$/\1/p' | sort -u); do
            if [ -f "$k" ] && [ ! -e "$ROOT$k" ]; then
                mkdir -p "$ROOT$(dirname "$k")"
                cp "$k" "$ROOT$k"
            fi
        done
    else
        rm -f "$out_list.new" "$out_src.new"
    fi
    # apt.conf files that say how to reach the mirror (a proxy, its date checks)
    for f in /etc/apt/apt.conf /etc/apt/apt.conf.d/*; do
        [ -f "$f" ] || continue
        if grep -qiE '^[^/#]*(acquire::(https?|ftp|socks)::|proxy|check-valid-until|check-date)' "$f"; then
            mkdir -p "$ROOT$(dirname "$f")"
            cp "$f" "$ROOT$f"
        fi
    done
}

# The npm registry and its settings, the local CA certificates, name resolution.
copy_net_config() {
    cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
    cat > "$ROOT/etc/hosts" <<'EOF'
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF
    if [ -d /usr/local/share/ca-certificates ]; then
        mkdir -p "$ROOT/usr/local/share/ca-certificates"
        cp -R /usr/local/share/ca-certificates/. "$ROOT/usr/local/share/ca-certificates/"
    fi
    mkdir -p "$ROOT/root" "$ROOT/etc"
    home=${HOME:-/root}
    [ -f "$home/.npmrc" ] && cp "$home/.npmrc" "$ROOT/root/.npmrc"
    [ -f /etc/npmrc ] && cp /etc/npmrc "$ROOT/etc/npmrc"
    if command -v npm >/dev/null 2>&1; then
        g=$(timeout 30 npm config get globalconfig 2>/dev/null || true)
        if [ -n "$g" ] && [ "$g" != /etc/npmrc ] && [ -f "$g" ] && [ ! -f /etc/npmrc ]; then
            cp "$g" "$ROOT/etc/npmrc"
        fi
        reg=$(timeout 30 npm config get registry 2>/dev/null || true)
        if [ -n "$reg" ] && [ "$reg" != https://registry.npmjs.org/ ] &&
           ! grep -qs '^registry *=' "$ROOT/root/.npmrc"; then
            printf 'registry=%s\n' "$reg" >> "$ROOT/root/.npmrc"
        fi
        # a cafile outside the CA bundle that ca-certificates makes
        ca=$(timeout 30 npm config get cafile 2>/dev/null || true)
        case $ca in
            ''|null|undefined|/etc/ssl/certs/ca-certificates.crt) ;;
            /*) if [ -f "$ca" ]; then mkdir -p "$ROOT$(dirname "$ca")"; cp "$ca" "$ROOT$ca"; fi ;;
        esac
    fi
    [ -f "$ROOT/root/.npmrc" ] && chmod 600 "$ROOT/root/.npmrc"
    # no service starts from a package's install script inside a chroot
    printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
    chmod 755 "$ROOT/usr/sbin/policy-rc.d"
    # a clean root login environment, with this machine's proxy and npm variables
    {
        echo 'export HOME=/root USER=root LOGNAME=root SHELL=/bin/sh'
        echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
        env | grep -E '^(http_proxy|https_proxy|no_proxy|HTTP_PROXY|HTTPS_PROXY|NO_PROXY|NPM_CONFIG_[A-Za-z_]+|npm_config_[a-z_]+)=' \
            | grep -v -E '^npm_config_(user_agent|node_gyp|global_prefix|local_prefix|prefix|cache|userconfig|globalconfig|init_module|npm_version|noproxy)=' \
            | sed "s/'/'\\\\''/g; s/=/='/; s/\$/'/; s/^/export /" || true
    } > "$ROOT/root/.fresh-check-env"
}

copy_tree() {
    mkdir -p "$ROOT$TREE"
    if [ "$HEAD" = 1 ]; then
        git -C "$REPO" archive --format=tar HEAD | tar -x -C "$ROOT$TREE"
    else
        (cd "$REPO" && git ls-files -z --cached --others --exclude-standard | tar --null -T - --ignore-failed-read -cf -) \
            | tar -x -C "$ROOT$TREE"
    fi
}

mount_all() {
    # The root on itself first, so that / is a mount point inside, as on a machine:
    # ip netns (the tests' network namespaces) runs "mount --make-rslave /", which
    # fails on a chroot's plain directory ("Invalid argument").
    mnt "$ROOT" --bind "$ROOT"
    mnt "$ROOT/proc" -t proc proc
    mnt "$ROOT/sys" -t sysfs sysfs
    mnt "$ROOT/dev" --bind /dev
    mnt "$ROOT/dev/pts" --bind /dev/pts
    mnt "$ROOT/dev/shm" -t tmpfs -o mode=1777,nosuid,nodev tmpfs
}

# Run a shell command in the copied tree inside the root, as a fresh root login would.
in_root() { # in_root SECONDS LOG COMMAND
    bounded "$1" "$2" chroot "$ROOT" /usr/bin/env -i TERM=dumb /bin/sh -c \
        ". /root/.fresh-check-env && cd $TREE && $3"
}

tail_log() {
    echo
    echo "---- last lines of $1"
    tail -n 40 "$1" | sed 's/^/    /'
}

# ---- 1. the root ------------------------------------------------------------------------
say "root: $ROOT"
say "logs: $LOGS"
say "mirror: $MIRROR ($SUITE, from this machine's apt sources)"
if [ "$REUSE" = 0 ]; then
    if ! command -v debootstrap >/dev/null 2>&1; then
        say "installing debootstrap"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    fi
    include=
    case $MIRROR in https:*) include=--include=ca-certificates ;; esac
    say "debootstrap --variant=minbase $SUITE (up to $T_BOOT s)"
    t0=$(now)
    # shellcheck disable=SC2086
    bounded "$T_BOOT" "$LOGS/debootstrap.log" debootstrap --variant=minbase $include "$SUITE" "$ROOT" "$MIRROR"
    record "debootstrap --variant=minbase $SUITE" "$RC" $(($(now) - t0)) "$MIRROR" "$LOGS/debootstrap.log"
    if [ "$RC" != 0 ]; then
        cat "$REPORT"
        tail_log "$LOGS/debootstrap.log"
        exit 1
    fi
    unmount_all     # debootstrap's own /proc, if any is left
fi
copy_apt_config
copy_net_config
copy_tree
mount_all
say "tree: $(cd "$ROOT$TREE" && find . -type f | wc -l) files copied into $TREE ($([ "$HEAD" = 1 ] && echo 'git archive HEAD' || echo 'work tree, without ignored files'))"

# ---- 2. the commands --------------------------------------------------------------------
port_busy() { # is something listening on 127.0.0.1:$1 (on this machine: the chroot shares it)?
    rc=0
    curl -s -o /dev/null --max-time 3 "http://127.0.0.1:$1/" || rc=$?
    [ "$rc" != 7 ]
}

check_run() {
    mport=9090 lport=8080 bport=8000 note=
    for p in $mport $lport $bport; do
        if port_busy "$p"; then
            note="ports 9090/8080/8000 busy on this machine: used 19090/18080/18000; "
            mport=19090 lport=18080 bport=18000
            break
        fi
    done
    for p in $mport $lport $bport; do
        if port_busy "$p"; then
            record "sh scripts/run.sh" skip 0 "127.0.0.1:$p is busy on this machine"
            return
        fi
    done
    log=$LOGS/run.log
    envs=
    [ $mport = 9090 ] || envs="POSTERN_DEMO_MASTER=$mport POSTERN_DEMO_PORT=$lport POSTERN_DEMO_BACKEND=$bport "
    say "${envs}sh scripts/run.sh (up to $T_RUN s until it prints where to look; log: $log)"
    t0=$(now)
    timeout -k 30 "$T_RUN" chroot "$ROOT" /usr/bin/env -i TERM=dumb /bin/sh -c \
        ". /root/.fresh-check-env && cd $TREE && ${envs}exec sh scripts/run.sh" > "$log" 2>&1 < /dev/null &
    STEP_PID=$!
    ready=0
    while kill -0 "$STEP_PID" 2>/dev/null; do
        if grep -q 'Ctrl-C stops' "$log"; then ready=1; break; fi
        sleep 2
    done
    t_ready=$(($(now) - t0))
    problem=
    if [ $ready = 1 ]; then
        # what a person would try: the dashboard, the API, the demo forwarder
        key=$(sed -n 's/^ *API key: *\([0-9a-f]\{64\}\).*/\1/p' "$log" | head -n 1)
        curl -sf --max-time 10 "http://127.0.0.1:$mport/" | grep -qi '<html' || problem="the dashboard did not answer; "
        curl -sf --max-time 10 -H "X-API-Key: $key" "http://127.0.0.1:$mport/api/v1/instances" \
            | grep -q '"alias": *"demo"' || problem="${problem}the API did not list the demo instance; "
        i=0 hello=0
        while [ $i -lt 20 ]; do
            if curl -sf --max-time 5 "http://127.0.0.1:$lport/" | grep -q 'hello from the service behind postern'; then
                hello=1; break
            fi
            sleep 0.5; i=$((i + 1))
        done
        [ $hello = 1 ] || problem="${problem}the demo forwarder did not answer; "
        # stop it as Ctrl-C would (timeout passes the signal on to the script's group)
        kill -TERM "$STEP_PID" 2>/dev/null || true
    fi
    RC=0
    wait "$STEP_PID" || RC=$?
    STEP_PID=""
    secs=$(($(now) - t0))
    if [ $ready = 0 ]; then
        [ "$RC" = 124 ] && problem="not ready after $T_RUN s; " || problem="exited before it was ready; "
        [ "$RC" = 0 ] && RC=1
    elif [ -n "$problem" ] && [ "$RC" = 0 ]; then
        RC=1
    fi
    if [ -z "$problem" ] && [ "$RC" = 0 ]; then
        note="${note}ready after $t_ready s (deps, build, master); dashboard, API and demo answered; SIGTERM: exit 0"
    elif [ $ready = 1 ]; then
        note="${note}${problem}ready after $t_ready s"
    else
        note="${note}${problem%; }"
    fi
    record "${envs}sh scripts/run.sh" "$RC" "$secs" "$note" "$log"
    kill_root_procs
}

# The Debian package: built here (scripts/deb-check.sh: CPack, lintian), installed in
# the root before anything else is, so that its dependencies are tried on a minimal
# system; then what a user would try first, from the installed binary. Purged at the
# end: the README commands that follow build and run their own binary.
check_pkg() {
    log=$LOGS/deb-check.log
    say "sh scripts/deb-check.sh on this machine (up to $T_PKG s; log: $log)"
    t0=$(now)
    bounded "$T_PKG" "$log" sh "$REPO/scripts/deb-check.sh"
    deb=$(sed -n 's/^package: //p' "$log" | tail -n 1)
    note=$(grep -c '^W:' "$log" || true)
    note="$([ -n "$deb" ] && basename "$deb"), lintian: $(grep -c '^E:' "$log" || true) E, $note W"
    [ "$HEAD" = 1 ] && note="$note (built from the work tree, not HEAD)"
    record "sh scripts/deb-check.sh (this machine)" "$RC" $(($(now) - t0)) "$note" "$log"
    case $deb in /*) ;; *) deb=$REPO/$deb ;; esac
    if [ -z "$deb" ] || [ ! -f "$deb" ]; then
        record "dpkg -i postern_*.deb (in the root)" skip 0 "no package was built"
        return
    fi
    cp "$deb" "$ROOT/root/postern.deb"
    cat > "$ROOT/root/pkg-check.sh" <<'PKG'
set -eu
cd /root
export DEBIAN_FRONTEND=noninteractive
if ! dpkg -i postern.deb; then
    echo "pkg-check: dpkg -i wants dependencies: apt-get install -f"
    apt-get update -qq
    apt-get install -f -y -qq --no-install-recommends
fi
dpkg-query -W -f='${Status} ${Version}\n' postern | grep '^install ok installed'
test "$(command -v postern)" = /usr/bin/postern
echo "pkg-check: version: $(postern --version)"
for f in /lib/systemd/system/postern.service /lib/systemd/system/postern@.service \
         /usr/share/man/man1/postern.1.gz /usr/share/doc/postern/copyright; do
    test -f "$f" || { echo "pkg-check: $f is missing"; exit 1; }
done
grep -q 'License: BSD-3-Clause' /usr/share/doc/postern/copyright
# A tiny service (perl-base is in every Debian): one line in, "fresh-ok <line>" out.
rm -f /tmp/svc.port
perl -MIO::Socket::INET -e '
    my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 5,
                                  ReuseAddr => 1) or die "listen: $!";
    open(my $f, ">", "/tmp/svc.port.new") or die; print $f $s->sockport, "\n"; close $f;
    rename("/tmp/svc.port.new", "/tmp/svc.port");
    while (my $c = $s->accept) { my $l = <$c>; print $c "fresh-ok $l"; close $c }' &
svc=$!
fwd=
stop() { [ -z "$fwd" ] || kill "$fwd" 2>/dev/null || true; kill "$svc" 2>/dev/null || true; }
trap stop EXIT
i=0
while [ ! -s /tmp/svc.port ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
sport=$(cat /tmp/svc.port)
fport=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(LocalAddr => "127.0.0.1",
                                      LocalPort => 0, Listen => 1)->sockport')
/usr/bin/postern "client://127.0.0.1:$fport/127.0.0.1:$sport?mode=1" > /tmp/fwd.log 2>&1 &
fwd=$!
reply=
i=0
while [ $i -lt 100 ]; do
    reply=$(perl -MIO::Socket::INET -e '
        my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:'"$fport"'", Timeout => 5) or exit 1;
        print $c "through postern\n"; my $r = <$c>; print $r if defined $r' 2>/dev/null || true)
    [ -n "$reply" ] && break
    sleep 0.1; i=$((i + 1))
done
echo "pkg-check: forwarder 127.0.0.1:$fport -> service 127.0.0.1:$sport answered: $reply"
[ "$reply" = "fresh-ok through postern" ] || { cat /tmp/fwd.log; exit 1; }
kill -TERM "$fwd"
rc=0
wait "$fwd" || rc=$?
fwd=
[ "$rc" = 0 ] || { echo "pkg-check: the forwarder exited $rc on SIGTERM"; cat /tmp/fwd.log; exit 1; }
dpkg --purge postern >/dev/null
echo "pkg-check: ok"
PKG
    log=$LOGS/pkg.log
    say "dpkg -i, postern --version and a forwarder in the root (up to $T_PKG s; log: $log)"
    t0=$(now)
    in_root "$T_PKG" "$log" "sh /root/pkg-check.sh"
    note=$(sed -n 's/^pkg-check: version: //p' "$log" | head -n 1)
    grep -q 'apt-get install -f' "$log" && note="$note; dependencies by apt-get install -f"
    grep -q '^pkg-check: ok' "$log" && note="$note; forwarder carried a line; purged"
    record "dpkg -i postern_*.deb, --version, forwarder" "$RC" $(($(now) - t0)) "$note" "$log"
    rm -f "$ROOT/root/postern.deb" "$ROOT/root/pkg-check.sh"
    kill_root_procs
}

check_test() {
    log=$LOGS/test.log
    say "sh scripts/test.sh (up to $T_TEST s; log: $log)"
    t0=$(now)
    in_root "$T_TEST" "$log" "sh scripts/test.sh"
    secs=$(($(now) - t0))
    note=$(grep -E '^checks: |^[0-9]+ (passed|failed)|^=+ .*(passed|failed).* =+$|^dashboard.test: |^openapi_check: ' "$log" \
           | sed 's/^=* *//; s/ *=*$//' | tr '\n' ';' | sed 's/;$//; s/;/; /g' | cut -c1-300)
    if [ "$RC" != 0 ]; then      # which of test.sh's stages ("== ...") it stopped in
        stage=$(sed -n 's/^== //p' "$log" | tail -n 1)
        [ -n "$stage" ] && note="stopped in '$stage'; $note"
    fi
    [ "$RC" = 124 ] && note="timed out after $T_TEST s; $note"
    record "sh scripts/test.sh" "$RC" "$secs" "$note" "$log"
    kill_root_procs
}

if [ -n "$CMD" ]; then
    log=$LOGS/cmd.log
    say "$CMD (up to $T_CMD s; log: $log)"
    t0=$(now)
    in_root "$T_CMD" "$log" "$CMD"
    record "$CMD" "$RC" $(($(now) - t0)) "" "$log"
    kill_root_procs
else
    case $ONLY in ''|pkg) check_pkg ;; esac
    case $ONLY in ''|run) check_run ;; esac
    case $ONLY in ''|test) check_test ;; esac
fi

# what the root ended up with
# shellcheck disable=SC2016
versions=$(chroot "$ROOT" /bin/sh -c 'for c in node npm python3 chromium cmake; do
        command -v $c >/dev/null 2>&1 && printf "%s %s; " $c "$($c --version 2>/dev/null | head -n 1 | sed "s/^[^0-9]*//")"
    done' 2>/dev/null || true)

# ---- 3. the report ------------------------------------------------------------------------
echo
say "report ($(date -u '+%Y-%m-%d %H:%M UTC'); root $ROOT; logs $LOGS)"
cat "$REPORT"
[ -n "$versions" ] && echo "  in the root: ${versions%; }"
for l in $TAILS; do tail_log "$l"; done
echo
echo "fresh-check: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
