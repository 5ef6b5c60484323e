#!/usr/bin/env bash
# Headless Chromium + chromedriver for the browser tests (pytest -m browser), from Debian's packages,
# and an emoji font so the screenshots show the status icons.
# Non-interactive; exits 0 with a clear note when they cannot be installed (not root, no apt-get),
# and the browser tests then skip, saying so.
set -uo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 \
   && [ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: chromium/chromedriver missing and apt-get is not usable here (need root + apt); browser tests will skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-noto-color-emoji >/dev/null; }; then
  echo "note: apt-get could not install chromium chromium-driver; browser tests will skip" >&2
fi
exit 0
