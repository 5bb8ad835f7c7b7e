#!/usr/bin/env bash
# The demo: builds the SDK, starts wazo-dev-engine on a free loopback port, and uses the `wazo` CLI against it:
# alice logs in, asks who she is, calls the REST API, registers her SIP line, calls bob (a WebRTC call with a tone
# each way, a hold and a resume), and logs out. The engine is stopped by its PID.
# The scenario (engine and CLI) runs in a private network namespace that has only loopback, so that the calls'
# ICE never sees or uses another interface: after the install and the build, which need the network, the script
# runs itself again under `unshare -n` (`unshare -rn` when not root) with the argument --scenario.
set -euo pipefail
self="$(readlink -f "$0")"
cd "$(dirname "$self")/.."

build="${WAZO_BUILD_DIR:-build}"
if [ "${1:-}" != "--scenario" ]; then
  scripts/install-deps.sh build
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWAZO_BUILD_TESTS=OFF -DWAZO_BUILD_BENCH=OFF >/dev/null
  cmake --build "$build" -j "$(nproc)" --target wazo wazo-dev-engine >/dev/null
  if [ "$(id -u)" -eq 0 ]; then
    exec unshare --net -- "$self" --scenario
  fi
  exec unshare --map-root-user --net -- "$self" --scenario
fi
ip link set lo up
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

echo "== WebRTC call: bob answers (660 Hz tone), alice calls him (440 Hz tone), holds at 1.5 s for 1 s, resumes,"
echo "   hangs up at 4 s; both print the call's events and the media statistics"
echo "\$ wazo answer --auto --play tone:660   (as bob, in the background)"
bob answer --auto --wait 30 --play tone:660 >"$work/bob-call.txt" 2>&1 &
answer_pid=$!
for _ in $(seq 1 100); do
  grep -q 'waiting for' "$work/bob-call.txt" 2>/dev/null && break
  sleep 0.1
done
run call 1002 --play tone:440 --hold 1.5:1 --for 4
wait "$answer_pid" || { echo "bob's side of the call failed:" >&2; cat "$work/bob-call.txt" >&2; exit 1; }
echo "-- what bob saw:"
cat "$work/bob-call.txt"
echo
echo "\$ wazo call 1999 --for 1   (no such extension: expected to fail)"
"$bin/wazo" call 1999 --for 1 || echo "(exit code $?)"
echo

run logout
bob logout >/dev/null
echo "== done"
