#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a green (or red) test run:
# installs dependencies, builds everything, runs every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh "$@"
build_dir=${SKYREELS_BUILD_DIR:-build}
ctest --test-dir "$build_dir" --output-on-failure --parallel "${SKYREELS_JOBS:-$(nproc)}"
