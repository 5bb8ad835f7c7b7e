#!/usr/bin/env bash
# The demo: builds the SDK, starts wazo-dev-engine on a free loopback port, and uses the `wazo` CLI against it:
# alice logs in, asks who she is, calls the REST API, and logs out. The engine is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build

build="${WAZO_BUILD_DIR:-build}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWAZO_BUILD_TESTS=OFF -DWAZO_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target wazo wazo-dev-engine >/dev/null
bin="$build/bin"

work="$(mktemp -d)"
engine_pid=""
cleanup() {
  [ -n "$engine_pid" ] && kill "$engine_pid" 2>/dev/null && wait "$engine_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin/wazo-dev-engine" --listen 127.0.0.1:0 >"$work/engine.out" 2>"$work/engine.err" &
engine_pid=$!
for _ in $(seq 1 100); do
  grep -q '^listening on ' "$work/engine.out" 2>/dev/null && break
  sleep 0.1
done
url="$(sed -n 's/^listening on //p' "$work/engine.out")"
[ -n "$url" ] || { echo "wazo-dev-engine did not start:" >&2; cat "$work/engine.err" >&2; exit 1; }
echo "== wazo-dev-engine (pid $engine_pid) at $url"

export WAZO_SESSION_FILE="$work/session.json"
run() { echo "\$ wazo $*"; "$bin/wazo" "$@"; echo; }

run --host "$url" login alice secret
run whoami
uuid="$("$bin/wazo" --json whoami | sed -n 's/.*"uuid" *: *"\([^"]*\)".*/\1/p')"
run api GET "/api/auth/0.1/users/$uuid"
run api GET /api/auth/0.1/users
echo "\$ wazo --host $url login alice wrong-password   (expected to fail)"
"$bin/wazo" --host "$url" login alice wrong-password || echo "(exit code $?)"
echo

echo "== live events: bob listens while alice changes her presence and sends him a chat message"
bob() { WAZO_SESSION_FILE="$work/bob.json" "$bin/wazo" "$@"; }
bob --host "$url" login bob secret
echo "\$ wazo events --count 3 chatd_presence_updated chatd_user_room_message_created   (as bob, in the background)"
bob events --count 3 chatd_presence_updated chatd_user_room_message_created >"$work/bob-events.txt" 2>"$work/bob-events.err" &
events_pid=$!
for _ in $(seq 1 100); do
  grep -q 'listening for events' "$work/bob-events.err" 2>/dev/null && break
  sleep 0.1
done
run presence set away "in a meeting"
run chat send bob "Hello Bob, the meeting moved to 3 pm"
run presence set available
wait "$events_pid" || { echo "bob's event stream failed:" >&2; cat "$work/bob-events.err" >&2; exit 1; }
echo "-- what bob saw, live:"
cat "$work/bob-events.txt"
echo

echo "== SIP over WebSocket: alice registers her WebRTC line (credentials from confd) on the engine's registrar"
run sip register --for 2
echo "\$ wazo sip register --ws ${url/http/ws}/api/asterisk/ws --user alicewebrtc --password wrong --for 1   (expected to fail)"
"$bin/wazo" sip register --ws "${url/http/ws}/api/asterisk/ws" --user alicewebrtc --password wrong --for 1 ||
  echo "(exit code $?)"
echo

run logout
bob logout >/dev/null
echo "== done"
