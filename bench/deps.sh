#!/bin/sh
# Install the peers that bench/compare.py measures postern against, from Debian's
# packages: iperf3, socat, haproxy, nginx (with the stream module), OpenSSH (client and
# server), stunnel, wrk and v2ray. Safe to run again.
#
# The benchmark starts its own instances of every peer, with its own configurations, on
# free loopback ports; a system service that a package's postinst starts (nginx, haproxy,
# ssh, v2ray) is stopped again here, so nothing is left listening.
set -eu

PKGS="python3 openssl procps iperf3 socat haproxy nginx libnginx-mod-stream
openssh-server openssh-client stunnel4 wrk"
# v2ray is in Debian 12 (bookworm/main); install it only where the archive has it.
OPTIONAL="v2ray"

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

# name:pidfile of the services a postinst may start.
SERVICES="nginx:/run/nginx.pid haproxy:/run/haproxy.pid ssh:/run/sshd.pid v2ray:/run/v2ray.pid"
running() {
    if [ -s "$2" ] && kill -0 "$(cat "$2")" 2>/dev/null; then
        return 0
    fi
    [ -d /run/systemd/system ] && systemctl is-active --quiet "$1" 2>/dev/null
}
before=""
for svc in $SERVICES; do
    running "${svc%%:*}" "${svc#*:}" && before="$before ${svc%%:*}"
done

missing=""
for p in $PKGS; do
    installed "$p" || missing="$missing $p"
done
optional_missing=""
for p in $OPTIONAL; do
    installed "$p" || optional_missing="$optional_missing $p"
done

if [ -n "$missing$optional_missing" ]; then
    $SUDO apt-get update -qq
    for p in $optional_missing; do
        if apt-cache show "$p" >/dev/null 2>&1; then
            missing="$missing $p"
        else
            echo "deps: $p: not available from this system's archive, skipped"
        fi
    done
fi
if [ -n "$missing" ]; then
    echo "deps: installing:$missing"
    # shellcheck disable=SC2086  # $missing is a list of package names
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
else
    echo "deps: all present"
fi

# Stop the system services that the install started (idempotent: nothing to do when none
# runs, as in a container whose policy-rc.d forbids starting services). A service that was
# already running before this script is left alone.
for svc in $SERVICES; do
    name=${svc%%:*}
    case " $before " in *" $name "*) continue ;; esac
    pidfile=${svc#*:}
    if running "$name" "$pidfile"; then
        echo "deps: stopping the $name service the package started"
        $SUDO service "$name" stop >/dev/null 2>&1 || true
        if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            $SUDO kill "$(cat "$pidfile")" 2>/dev/null || true
        fi
    fi
done
