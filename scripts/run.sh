#!/bin/sh
# The main job on an embedded default: build postern and run it as a
# single-end forwarder in front of a small local web service, so it can be
# tried at once. Stop with Ctrl-C.
set -eu
cd "$(dirname "$0")/.."

sh scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
LISTEN_PORT=${POSTERN_DEMO_PORT:-8080}
BACKEND_PORT=${POSTERN_DEMO_BACKEND:-8000}
site=$(mktemp -d)
echo "hello from the service behind postern" > "$site/index.html"

"$PY" -m http.server "$BACKEND_PORT" --bind 127.0.0.1 --directory "$site" >/dev/null 2>&1 &
backend=$!
cleanup() {
    kill "$backend" 2>/dev/null || true
    wait "$backend" 2>/dev/null || true
    rm -rf "$site"
}
trap cleanup EXIT INT TERM

cat <<MSG

postern is forwarding 127.0.0.1:$LISTEN_PORT to a web service on 127.0.0.1:$BACKEND_PORT.
Try it from another terminal:

    curl http://127.0.0.1:$LISTEN_PORT/

A CHECK_POINT line with the traffic counters follows every 5 seconds. Ctrl-C stops.

MSG
./build/postern "client://127.0.0.1:$LISTEN_PORT/127.0.0.1:$BACKEND_PORT?mode=1" || true
