#!/usr/bin/env bash
# Make sure what the subject pages' tests need is installed from Debian: Chromium and the Noto
# fonts for the browser tests (Playwright drives /usr/bin/chromium; it downloads no browser of
# its own), DejaVu Serif for their "no font" rendering, and gettext, whose xgettext and msgfmt
# check that the catalogues are complete. Safe to run again.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

missing=()
command -v chromium >/dev/null || missing+=(chromium)
# So the test browser renders like a device that has fonts for the portal's scripts.
dpkg -s fonts-noto-core >/dev/null 2>&1 || missing+=(fonts-noto-core)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf ] || missing+=(fonts-dejavu-core)
command -v msgfmt >/dev/null && command -v xgettext >/dev/null || missing+=(gettext)

if [ ${#missing[@]} -gt 0 ]; then
    echo "browser: installing ${missing[*]}"
    apt_install "${missing[@]}"
fi
command -v chromium >/dev/null || { echo "browser: chromium is not installed" >&2; exit 1; }
