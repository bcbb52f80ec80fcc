#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running SkyReels Studio: installs what is missing,
# builds, and starts the desktop app. Without --model it opens on the embedded demo model (tiny random
# weights made by the build), so Generate works at once on a CPU. Options are passed to the app
# (e.g. --model ~/models/SkyReels-V2-DF-1.3B-540P).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
build_dir=${SKYREELS_BUILD_DIR:-build}
if [ -x "$build_dir/app/skyreels-studio" ]; then
  exec "$build_dir/app/skyreels-studio" "$@"
fi
# A build without Qt or FFmpeg has no desktop app: make one demo video with the command line instead.
echo "run.sh: the desktop app was not built (see the configure summary); running the CLI on the demo model" >&2
exec "$build_dir/app/skyreels-cli" generate --output skyreels-demo.safetensors --overwrite "$@"
