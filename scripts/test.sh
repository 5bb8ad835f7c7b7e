#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds with warnings as errors, checks formatting, runs every
# test (unit, contract, integration against wazo-dev-engine and Kamailio over loopback), then fuzzes the SIP
# parser for 30 s.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
bash scripts/browser-setup.sh  # the browser peer's npm packages (playwright-core, sip.js), pinned by its lock file

build="${WAZO_BUILD_DIR:-build-ci}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWAZO_WERROR=ON >/dev/null
cmake --build "$build" -j "$(nproc)"

# Formatting is part of the build's contract.
mapfile -t sources < <(git ls-files '*.cpp' '*.hpp' 2>/dev/null || true)
if [ ${#sources[@]} -gt 0 ]; then
  clang-format --dry-run --Werror "${sources[@]}"
fi

ctest --test-dir "$build" --output-on-failure -j "$(nproc)" --timeout 300

# The SIP parser's libFuzzer target (clang-14, ASan + UBSan), for a bounded time.
scripts/fuzz.sh "${WAZO_FUZZ_SECONDS:-30}"
