#!/usr/bin/env bash
# Builds KOS and boots the ping_pong example on the sim platform, showing its
# console. This is the README's first command after install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

cmake --preset dev >/dev/null
cmake --build --preset dev -j "$(nproc)"
exec build/dev/bin/kos-tool run --trust build/dev/kos-keys/release.pub \
  build/dev/examples/ping_pong/ping_pong.zip
