#!/usr/bin/env bash
# Builds the SIP message libFuzzer target with clang-14 (ASan + UBSan) and runs it for a bounded time.
#   scripts/fuzz.sh [seconds]        (default 20)
# Seeds: the shared SIP messages and tests/fixtures/sip (valid, invalid, and fuzz-regressions: inputs that once
# broke an invariant; add each new crash there, and it becomes a unit test too). Runs in a temporary directory; on a crash the directory
# is kept (with the crashing input) and the script exits non-zero.
set -euo pipefail

seconds="${1:-20}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared_messages="${WAZO_SIP_MESSAGES:-$root/../shared/bench-data/sip-messages}"
cxx="${WAZO_FUZZ_CXX:-clang++-14}"
if ! command -v "$cxx" >/dev/null 2>&1; then
  cxx=clang++
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/wazo-sip-fuzz.XXXXXX")"
keep=0
cleanup() { if [[ $keep == 0 ]]; then rm -rf "$work"; fi; }
trap cleanup EXIT

echo "fuzz: building with $cxx in $work"
"$cxx" -std=c++20 -O1 -g -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I "$root/include" -I "$root/src" \
  "$root/fuzz/sip_message_fuzzer.cpp" \
  "$root/src/sip/message.cpp" "$root/src/sip/uri.cpp" "$root/src/sip/digest.cpp" \
  "$root/src/core/error.cpp" \
  -lcrypto -o "$work/sip_message_fuzzer"

mkdir -p "$work/corpus"
if [[ -d "$shared_messages" ]]; then
  cp "$shared_messages"/*.txt "$work/corpus/" 2>/dev/null || true
fi
for kind in valid invalid fuzz-regressions; do
  for f in "$root/tests/fixtures/sip/$kind"/*; do
    [[ -e "$f" ]] && cp "$f" "$work/corpus/$kind-$(basename "$f")"
  done
done

echo "fuzz: running for ${seconds}s on $(ls "$work/corpus" | wc -l) seeds"
set +e
(cd "$work" && ./sip_message_fuzzer -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
  -dict="$root/fuzz/sip.dict" -print_final_stats=1 -artifact_prefix="$work/" corpus > fuzz.log 2>&1)
status=$?
set -e
tail -n 25 "$work/fuzz.log"
if [[ $status != 0 ]]; then
  keep=1
  echo "fuzz: FAILED (exit $status); the log and the crashing input are in $work" >&2
  exit 1
fi
echo "fuzz: no crash in ${seconds}s"
