#!/usr/bin/env bash
# The browser peer of the media tests (tests/browser): installs its npm packages exactly as package-lock.json pins
# them (playwright-core, sip.js) with `npm ci`, unless they are already installed from this very lock file.
# Chromium is the Debian package (/usr/bin/chromium): no browser is downloaded. Needs Node >= 18 and npm.
# Idempotent; safe to call before every test run.
set -euo pipefail
cd "$(dirname "$0")/../tests/browser"

missing=()
command -v node >/dev/null || missing+=("node (Debian: nodejs)")
command -v npm >/dev/null || missing+=("npm (Debian: npm)")
[ -x "${WAZO_CHROMIUM:-/usr/bin/chromium}" ] || missing+=("chromium (Debian: chromium)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "browser-setup: missing ${missing[*]}; scripts/install-deps.sh installs them" >&2
  exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 18 ]; then
  echo "browser-setup: Node $(node --version) is too old: the browser peer needs Node 18 or later" >&2
  exit 1
fi

# The lock file's hash, remembered in node_modules: the same lock means nothing to do.
stamp="node_modules/.wazo-browser-setup"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
   [ -f node_modules/playwright-core/package.json ] && [ -f node_modules/sip.js/lib/index.js ]; then
  exit 0
fi
# playwright-core never downloads a browser; the variable only makes sure no postinstall step tries.
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
echo "browser-setup: installed $(node -p 'require("./node_modules/playwright-core/package.json").version' 2>/dev/null || echo '?') playwright-core and $(node -p 'require("./node_modules/sip.js/package.json").version') sip.js in tests/browser"
