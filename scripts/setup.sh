#!/usr/bin/env bash
# Creates .venv with the provider and its test extras. Uses uv when it can (fast), pip otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
# The Workbench's browser tests drive Debian's Chromium through Playwright (never Playwright's own
# browser download, which cannot work offline).
if command -v apt-get >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet "uv>=0.5,<1" || true
fi
if command -v uv >/dev/null 2>&1; then
  [ -x .venv/bin/python ] || uv venv --quiet --python 3.11 .venv
  VIRTUAL_ENV="$PWD/.venv" uv pip install --quiet -e ".[test,bench]"
else
  [ -x .venv/bin/python ] || python3.11 -m venv .venv
  .venv/bin/pip install --quiet -e ".[test,bench]"
fi
