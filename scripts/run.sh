#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running SkyReels Studio.
# The desktop app is not built yet (issue 9); until then this runs the engine's command line
# on the reference fixtures, which exercises the schedule and solver against the reference.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
build_dir=${SKYREELS_BUILD_DIR:-build}
exec "$build_dir/app/skyreels-cli" check "$@" tests/fixtures/reference
