#!/bin/sh
# The main job on an embedded default: build postern and run its master (REST API,
# live events, metrics and the web dashboard) on loopback, with its SQLite database
# in a local folder and one demo instance: a forwarder from 127.0.0.1:8080 to a
# small local web service. Prints where to look. Stop with Ctrl-C.
#
# Environment: POSTERN_DEMO_DIR (default ./.postern-demo), POSTERN_DEMO_MASTER (9090),
# POSTERN_DEMO_PORT (8080), POSTERN_DEMO_BACKEND (8000).
set -eu
cd "$(dirname "$0")/.."

sh scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
DIR=${POSTERN_DEMO_DIR:-$PWD/.postern-demo}
MASTER_PORT=${POSTERN_DEMO_MASTER:-9090}
LISTEN_PORT=${POSTERN_DEMO_PORT:-8080}
BACKEND_PORT=${POSTERN_DEMO_BACKEND:-8000}
mkdir -p "$DIR/site"
chmod 700 "$DIR"
echo "hello from the service behind postern" > "$DIR/site/index.html"

"$PY" -m http.server "$BACKEND_PORT" --bind 127.0.0.1 --directory "$DIR/site" >/dev/null 2>&1 &
backend=$!
master=
cleanup() {
    # A second Ctrl-C or SIGTERM (timeout(1) sends one to the process and one to its
    # group) must not cut the clean-up short and turn the exit status into 130/143.
    trap - EXIT
    trap '' INT TERM
    [ -n "$master" ] && kill "$master" 2>/dev/null && wait "$master" 2>/dev/null
    kill "$backend" 2>/dev/null || true
    wait "$backend" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# The master prints its API key once, on the first start with a new database; the
# demo keeps it in its own folder (mode 0600) so that later runs can show it again.
./build/postern "master://127.0.0.1:$MASTER_PORT?db=$DIR/master.db" > "$DIR/master.log" 2>&1 &
master=$!
api="http://127.0.0.1:$MASTER_PORT/api/v1"
i=0
until curl -s -o /dev/null "$api/openapi.json"; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$master" 2>/dev/null; then
        echo "run: the master did not start:" >&2
        cat "$DIR/master.log" >&2
        exit 1
    fi
    sleep 0.1
done
key=$(sed -n 's/^API key: \([0-9a-f]*\)$/\1/p' "$DIR/master.log" | head -n 1)
if [ -n "$key" ]; then
    (umask 077 && printf '%s\n' "$key" > "$DIR/api-key")
elif [ -f "$DIR/api-key" ]; then
    key=$(cat "$DIR/api-key")
else
    echo "run: $DIR/master.db has a key this demo does not know; remove $DIR to start afresh" >&2
    exit 1
fi

# One demo instance, made on the first run; later runs find it restored by the master.
if curl -sf -H "X-API-Key: $key" "$api/instances" | grep -q '"id"'; then
    :
else
    curl -sf -H "X-API-Key: $key" -H 'Content-Type: application/json' \
        -d "{\"alias\": \"demo\", \"url\": \"client://127.0.0.1:$LISTEN_PORT/127.0.0.1:$BACKEND_PORT?mode=1\"}" \
        "$api/instances" >/dev/null
fi

cat <<MSG

postern's master is running on 127.0.0.1:$MASTER_PORT (database: $DIR/master.db).

  dashboard:  http://127.0.0.1:$MASTER_PORT/         (sign in with the API key below)
  API key:    $key   (also in $DIR/api-key)
  API docs:   http://127.0.0.1:$MASTER_PORT/api/v1/docs
  demo:       an instance forwards 127.0.0.1:$LISTEN_PORT to a web service on 127.0.0.1:$BACKEND_PORT

Try, from another terminal:

    curl http://127.0.0.1:$LISTEN_PORT/
    curl -H 'X-API-Key: $key' $api/instances
    curl -N -H 'X-API-Key: $key' $api/events

Ctrl-C stops the master and its instances; the next run brings them back.

MSG
wait "$master" || true
