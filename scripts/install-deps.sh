#!/usr/bin/env bash
# Installs the Debian 12 packages SkyReels Studio builds with. Idempotent: installs only what is missing.
# libqt6opengl6-dev is only a Recommends of qt6-base-dev, but Qt6Charts' CMake package needs it.
# dpkg-dev and file make the .deb (CPack runs dpkg-shlibdeps on what file calls ELF); desktop-file-utils
# checks its desktop entry in the package test. libcurl4-openssl-dev: the model manager's downloads.
# libopenblas0-openmp: LibTorch's float32 GEMMs go to whatever provides libblas.so.3, and with
# --no-install-recommends that is the reference BLAS, one thread and about 10x slower (a DF-1.3B call on
# 512 tokens: self-attention 9.3 s against 0.94 s, the call 29.1 s against 13.9 s, on the 2-core machine).
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libspdlog-dev nlohmann-json3-dev libsentencepiece-dev libgtest-dev libgloo-dev
  libcurl4-openssl-dev libopenblas0-openmp
  qt6-base-dev qt6-charts-dev libqt6opengl6-dev
  libavcodec-dev libavformat-dev libswscale-dev libavutil-dev libopencv-dev
  xvfb xauth
  dpkg-dev file desktop-file-utils
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
