#!/usr/bin/env bash
# Configures and builds SkyReels Studio into ./build (or $SKYREELS_BUILD_DIR).
# Extra arguments go to CMake's configure step (e.g. -DCMAKE_PREFIX_PATH=... for a CUDA LibTorch).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${SKYREELS_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=${SKYREELS_BUILD_TYPE:-RelWithDebInfo} "$@"
cmake --build "$build_dir" --parallel "${SKYREELS_JOBS:-$(nproc)}"
