#!/usr/bin/env bash
# CPU and memory of the C++ phone against a floor, in one run: `wazo answer` registered and idle, then answering an
# audio call from `wazo call` (a tone each way, through the dev engine), against one side of the same Opus call
# over plain RTP (wazo_bench_rtp_floor: same media elements, no ICE/DTLS/SRTP/RTCP/SDK); then an audio+video call.
# Rounds alternate them; the figures are % of one core from /proc over 10 s windows (5 s idle), and the ratio
# audio call / floor of their medians.
#
#   bench/footprint.sh [BUILD_DIR] [ROUNDS]     BUILD_DIR: a build with WAZO_BUILD_BENCH=ON (default build)
#
# Runs in a private network namespace with only loopback (unshare -n: root, as the media tests), so no candidate
# and no packet touches another interface. Servers are stopped by PID.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
rounds=${2:-3}
bin="$build/bin"
for b in wazo wazo-dev-engine wazo_bench_rtp_floor; do
  [ -x "$bin/$b" ] || { echo "footprint: $bin/$b is missing (configure with -DWAZO_BUILD_BENCH=ON and build)" >&2; exit 2; }
done
if [ -z "${WAZO_FOOTPRINT_IN_NETNS:-}" ]; then
  exec env WAZO_FOOTPRINT_IN_NETNS=1 unshare -n "$0" "$build" "$rounds"
fi
ip link set lo up

work=$(mktemp -d)
engine=""
cleanup() {
  [ -n "$engine" ] && kill "$engine" 2>/dev/null && wait "$engine" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# % of one core used by `pid` over `secs` seconds, and its RSS (MB) at the end: "cpu rss"
sample() {
  local pid=$1 secs=$2 c0 c1 t0 t1 rss
  c0=$(awk '{print $14+$15}' "/proc/$pid/stat"); t0=$(date +%s%N)
  sleep "$secs"
  c1=$(awk '{print $14+$15}' "/proc/$pid/stat"); t1=$(date +%s%N)
  rss=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
  awk -v c="$((c1 - c0))" -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v r="$rss" \
    'BEGIN { printf "%.2f %.1f\n", c / hz / (t / 1e9) * 100, r / 1024 }'
}
# record PID SECONDS LABEL FILE: one sample, printed and kept for the medians
record() {
  local cpu rss
  read -r cpu rss < <(sample "$1" "$2")
  printf 'round %s: %-30s %5s %% of one core, %s MB\n' "$round" "$3" "$cpu" "$rss"
  echo "$cpu" >>"$4"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

"$bin/wazo-dev-engine" --listen 127.0.0.1:0 >"$work/engine.out" 2>"$work/engine.err" &
engine=$!
for _ in $(seq 1 100); do grep -q '^listening on ' "$work/engine.out" && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$work/engine.out")
[ -n "$url" ] || { echo "footprint: the dev engine did not start" >&2; cat "$work/engine.err" >&2; exit 1; }
alice=(env "WAZO_SESSION_FILE=$work/alice.json" "$bin/wazo")
bob=(env "WAZO_SESSION_FILE=$work/bob.json" "$bin/wazo")
"${alice[@]}" --host "$url" login alice secret >/dev/null
"${bob[@]}" --host "$url" login bob secret >/dev/null

: >"$work/idle"; : >"$work/call"; : >"$work/floor"; : >"$work/video"
for round in $(seq 1 "$rounds"); do
  "${bob[@]}" answer --auto --count 1 --wait 60 --for 16 >"$work/bob.out" 2>&1 &
  answer=$!
  sleep 2
  record "$answer" 5 "idle registered phone" "$work/idle"
  "${alice[@]}" call 1002 --for 16 >"$work/alice.out" 2>&1 &
  caller=$!
  sleep 4
  record "$answer" 10 "audio call, answering side" "$work/call"
  wait "$caller" || { echo "footprint: the call failed" >&2; cat "$work/alice.out" >&2; exit 1; }
  wait "$answer" || { echo "footprint: the answer failed" >&2; cat "$work/bob.out" >&2; exit 1; }

  "$bin/wazo_bench_rtp_floor" 5002 5004 15 >"$work/floor1.out" 2>&1 &
  one=$!
  "$bin/wazo_bench_rtp_floor" 5004 5002 15 >"$work/floor2.out" 2>&1 &
  two=$!
  sleep 3
  record "$one" 10 "plain RTP floor, one side" "$work/floor"
  wait "$one" || { echo "footprint: the floor heard nothing" >&2; cat "$work/floor1.out" >&2; exit 1; }
  wait "$two" || true

  # Audio and video (VP8 640x480 at 30 fps each way, the CLI's test pattern): for the figure, no floor.
  "${bob[@]}" answer --auto --video --count 1 --wait 60 --for 16 >"$work/bob.out" 2>&1 &
  answer=$!
  sleep 2
  "${alice[@]}" call 1002 --video --for 16 >"$work/alice.out" 2>&1 &
  caller=$!
  sleep 4
  record "$answer" 10 "audio+video call, answering" "$work/video"
  wait "$caller" || { echo "footprint: the video call failed" >&2; cat "$work/alice.out" >&2; exit 1; }
  wait "$answer" || { echo "footprint: the video answer failed" >&2; cat "$work/bob.out" >&2; exit 1; }
done
idle=$(median <"$work/idle"); call=$(median <"$work/call"); floor=$(median <"$work/floor")
video=$(median <"$work/video")
echo "medians of $rounds: idle ${idle} %, audio call ${call} %, floor ${floor} %, audio+video call ${video} %"
awk -v c="$call" -v f="$floor" 'BEGIN { if (f > 0) printf "audio call / plain RTP floor: %.2f\n", c / f }'
