#!/bin/sh
# Headless Chromium for tests/test_reports_render.py: the Debian package `chromium`, installed only
# when `chromium` is not on PATH. Installing needs root (or sudo) and a Debian/Ubuntu apt archive.
set -eu

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: chromium is missing and there is no apt-get here: install Chromium so that" \
        "'chromium' is on PATH, then run make test again" >&2
    exit 1
fi
echo "chromium is missing: installing the Debian package chromium (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" = 0 ]; then
    apt-get update -q
    apt-get install -y -q --no-install-recommends chromium
elif command -v sudo >/dev/null 2>&1; then
    sudo DEBIAN_FRONTEND=noninteractive apt-get update -q
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
else
    echo "error: chromium is missing and installing it needs root: as root run" \
        "'apt-get update && apt-get install -y --no-install-recommends chromium'" >&2
    exit 1
fi
if ! command -v chromium >/dev/null 2>&1; then
    echo "error: apt-get installed chromium but 'chromium' is still not on PATH" >&2
    exit 1
fi
