#!/usr/bin/env bash
# Installs the Debian 12 packages the build, the tests and the demo need; does nothing when all are present.
# Usage: scripts/install-deps.sh [build|test]   (test adds the tools the test suite uses)
set -euo pipefail
mode="${1:-test}"

packages=(
  g++ cmake ninja-build pkg-config ca-certificates iproute2
  libboost-dev libssl-dev libcurl4-openssl-dev nlohmann-json3-dev libsimdjson-dev
  # WebRTC media: webrtcbin (plugins-bad), libnice, Opus (base), VP8 (good), DTLS/SRTP (bad).
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-nice
)
if [ "$mode" = test ]; then
  # kamailio: the real SIP registrar/proxy of the SIP tests; clang + its runtime: the libFuzzer targets.
  packages+=(libgtest-dev libgmock-dev libbenchmark-dev clang-format clang libclang-rt-14-dev
    kamailio kamailio-websocket-modules kamailio-tls-modules
    # the browser peer (Chromium driven by playwright-core with sip.js, from npm) and the TURN server
    chromium nodejs coturn iproute2
    # Xvfb: a display for the screen-sharing test (ximagesrc); PulseAudio (virtual speakers and microphones),
    # parec and GStreamer's pulsesrc/pulsesink: the device tests
    xvfb pulseaudio pulseaudio-utils gstreamer1.0-pulseaudio
    # PipeWire with WirePlumber on a private session bus, and virtual cameras (gst-launch-1.0 publishing test
    # patterns as Video/Source nodes): the camera test
    dbus-daemon pipewire pipewire-bin wireplumber gstreamer1.0-pipewire gstreamer1.0-tools)
  # Debian's npm package; a Node.js that brings its own npm (NodeSource) must not get it.
  command -v npm >/dev/null 2>&1 || packages+=(npm)
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
