#!/usr/bin/env bash
# Installs the Debian 12 packages the build, the tests and the demo need; does nothing when all are present.
# Usage: scripts/install-deps.sh [build|test]   (test adds the tools the test suite uses)
set -euo pipefail
mode="${1:-test}"

packages=(
  g++ cmake ninja-build pkg-config ca-certificates
  libboost-dev libssl-dev libcurl4-openssl-dev nlohmann-json3-dev libsimdjson-dev
)
if [ "$mode" = test ]; then
  # kamailio: the real SIP registrar/proxy of the SIP tests; clang + its runtime: the libFuzzer targets.
  packages+=(libgtest-dev libgmock-dev libbenchmark-dev clang-format clang libclang-rt-14-dev
    kamailio kamailio-websocket-modules kamailio-tls-modules)
fi

missing=()
for p in "${packages[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
