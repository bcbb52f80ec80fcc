#!/usr/bin/env bash
# On the GPU machine (Ubuntu 24.04, CUDA 13, PyTorch 2.x): build against PyTorch's LibTorch and run the
# unit tests and fixture checks on CUDA. Results go to $OUT (or ./out) as logs.
# GoogleTest: the system's if installed, else the source tree in .deps/googletest (carried along).
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-out}
mkdir -p "$out"
build_dir=build-cuda
prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
gtest_args=()
[ -d .deps/googletest ] && gtest_args=(-DSKYREELS_GTEST_SOURCE_DIR="$PWD/.deps/googletest")

{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c 'import torch;print("torch", torch.__version__, "cuda", torch.version.cuda)'
  nvcc --version | tail -1
} 2>&1 | tee "$out/device.txt"

set -e
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DSKYREELS_USE_CCACHE=OFF "${gtest_args[@]}" "$@" 2>&1 | tee "$out/configure.log"
time cmake --build "$build_dir" --parallel "$(nproc)" 2>&1 | tail -n 30 | tee "$out/build.log"
set +e

status=0
[ "${SKYREELS_SKIP_TESTS:-0}" != 1 ] && SKYREELS_TEST_DEVICE=cuda ctest --test-dir "$build_dir" --output-on-failure 2>&1 | tee "$out/ctest-cuda.log" || status=1
[ "${SKYREELS_SKIP_TESTS:-0}" != 1 ] && "$build_dir/app/skyreels-cli" check --device cuda tests/fixtures/reference 2>&1 | tee "$out/check-cuda.log"

# DiT forward at real shapes (random weights): DF-1.3B 540P, batch 2 (CFG), 512 context rows.
if [ "${SKYREELS_SKIP_BENCH:-0}" != 1 ]; then
  bench="$build_dir/app/skyreels-bench"
  "$bench" dit --model 1.3b --frames 25 --height 544 --width 960 --batch 2 --repeat 5 --json "$out/bench.jsonl" 2>&1 | tee -a "$out/bench.log"
  for backend in cudnn flash efficient; do
    "$bench" dit --model 1.3b --frames 25 --height 544 --width 960 --batch 2 --repeat 3 --attention $backend --json "$out/bench.jsonl" 2>&1 | tee -a "$out/bench.log"
  done
  "$bench" dit --model 1.3b --frames 25 --height 544 --width 960 --batch 2 --repeat 3 --chunk-tokens 0 --json "$out/bench.jsonl" 2>&1 | tee -a "$out/bench.log"
  "$bench" dit --model 1.3b --frames 25 --height 544 --width 960 --batch 1 --repeat 3 --json "$out/bench.jsonl" 2>&1 | tee -a "$out/bench.log"
  "$bench" dit --model 14b --frames 25 --height 544 --width 960 --batch 2 --repeat 2 --json "$out/bench.jsonl" 2>&1 | tee -a "$out/bench.log"
  "$bench" dit --model 14b --frames 25 --height 544 --width 960 --batch 2 --repeat 2 --attention cudnn --json "$out/bench.jsonl" 2>&1 | tee -a "$out/bench.log"
fi
exit $status
