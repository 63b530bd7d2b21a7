#!/usr/bin/env bash
# Runs the whole test suite: first builds of the cross-aarch64 and
# cross-armhf presets (the device runtime must keep compiling for the
# reference device and for 32-bit boards), then the dev
# build's tests, then the same suite under AddressSanitizer and
# UndefinedBehaviorSanitizer (the asan preset). Each test stage prints
# CTest's summary; the script fails if any stage fails.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc)

for arch in aarch64 armhf; do
  echo "== cross-$arch: configure and build the device runtime (libkos, components, kos-init, boot files)"
  cmake --preset "cross-$arch" >/dev/null
  cmake --build --preset "cross-$arch" -j "$jobs"
done

echo "== dev build: configure, build, test"
cmake --preset dev >/dev/null
cmake --build --preset dev -j "$jobs"
ctest --preset dev -j "$jobs"

echo "== asan build: configure, build, test"
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$jobs"
ctest --preset asan -j "$jobs"
