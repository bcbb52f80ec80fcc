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
# NCCL's header ships in the nvidia-nccl wheel next to PyTorch's (for the multi-GPU process group).
nccl_include=$(python3 -c 'import os, nvidia.nccl as n; print(os.path.join(list(n.__path__)[0], "include"))' 2>/dev/null || true)
[ -n "$nccl_include" ] && [ -f "$nccl_include/nccl.h" ] && export NCCL_INCLUDE_DIR="$nccl_include"
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
# SKYREELS_BUILD_TARGETS narrows the build (e.g. "skyreels-bench skyreels-cli skyreels_core_device_tests").
targets=()
for t in ${SKYREELS_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
time cmake --build "$build_dir" --parallel "$(nproc)" "${targets[@]}" 2>&1 | tail -n 30 | tee "$out/build.log"
set +e

status=0
# SKYREELS_CTEST_ARGS narrows the run (e.g. "-L gpu", the tests that use CUDA, or "-R WanDit|Engine"); the
# fixtures are checked on CUDA below either way.
if [ "${SKYREELS_SKIP_TESTS:-0}" != 1 ]; then
  SKYREELS_TEST_DEVICE=cuda ctest --test-dir "$build_dir" --output-on-failure ${SKYREELS_CTEST_ARGS:-} 2>&1 | tee "$out/ctest-cuda.log" || status=1
  "$build_dir/app/skyreels-cli" check --device cuda ${SKYREELS_CHECK_CASES:-tests/fixtures/reference} 2>&1 | tee "$out/check-cuda.log" || status=1
fi

# Benchmarks at real shapes with random weights; SKYREELS_BENCH picks which ("dit vae t5 pipeline").
bench="$build_dir/app/skyreels-bench"
benches=" ${SKYREELS_BENCH:-dit vae t5} "
[ "${SKYREELS_SKIP_BENCH:-0}" = 1 ] && benches=""
run_bench() { "$bench" "$@" --json "$out/bench.jsonl" 2>&1 | tee -a "$out/bench.log"; }

# DiT forward: DF-1.3B 540P, batch 2 (CFG), 512 context rows; attention backends; DF-14B.
if [[ $benches == *" dit "* ]]; then
  run_bench dit --model 1.3b --frames 25 --height 544 --width 960 --batch 2 --repeat 5
  for backend in cudnn flash efficient; do
    run_bench dit --model 1.3b --frames 25 --height 544 --width 960 --batch 2 --repeat 3 --attention $backend
  done
  run_bench dit --model 1.3b --frames 25 --height 544 --width 960 --batch 2 --repeat 3 --chunk-tokens 0
  run_bench dit --model 1.3b --frames 25 --height 544 --width 960 --batch 1 --repeat 3
  run_bench dit --model 14b --frames 25 --height 544 --width 960 --batch 2 --repeat 2
fi
# Issue 24: the last blocks streamed from pinned host memory through two device slots, against the
# resident run in the same process, with the allocator capped at the budget: the planner's choices at
# 540P, 97 frames, batch 1 (memory_plan.cpp, refitted 2026-12-07: DF-14B at 8 GiB streams 39 of 40,
# float8 at 6 GiB all 40, DF-1.3B at 3 GiB 22 of 30), and the measured limits beside them (DF-14B 38
# streamed, DF-1.3B 16: every block streamed peaked at 6.08 / 1.74 GiB reserved, each resident block adds
# its bytes). Each line prints the planner's estimate beside the measured activations and reserve.
if [[ $benches == *" stream "* ]]; then
  run_bench dit --model 14b --frames 25 --height 544 --width 960 --batch 1 --repeat 3 --stream-blocks 39 --vram-budget 8
  run_bench dit --model 14b --frames 25 --height 544 --width 960 --batch 1 --repeat 3 --stream-blocks 38 --vram-budget 8
  run_bench dit --model 14b --frames 25 --height 544 --width 960 --batch 1 --repeat 3 --stream-blocks 40 --vram-budget 6 --fp8 1
  run_bench dit --model 1.3b --frames 25 --height 544 --width 960 --batch 1 --repeat 5 --stream-blocks 22 --vram-budget 3
  run_bench dit --model 1.3b --frames 25 --height 544 --width 960 --batch 1 --repeat 5 --stream-blocks 16 --vram-budget 3
fi
# Issue 24's whole-generation target: DF-1.3B 540P 97 frames with decode under a 3 GiB budget (the
# planner's plan, the allocator capped) against the resident fast path in the same process.
if [[ $benches == *" budget "* ]]; then
  run_bench pipeline --model 1.3b --frames 97 --height 544 --width 960 --path fast --vram-budget 3
fi
# Fused kernels on and off (issue 10), same process kind, same card.
if [[ $benches == *" fused "* ]]; then
  for fused in 1 0; do
    run_bench dit --model 1.3b --frames 25 --height 544 --width 960 --batch 2 --repeat 5 --fused $fused
  done
  for fused in 1 0; do
    run_bench dit --model 14b --frames 25 --height 544 --width 960 --batch 2 --repeat 2 --fused $fused
  done
fi
# 8-bit attention (issue 26) on the DiT's real q, k, v, every block, against bf16 attention.
if [[ $benches == *" attention "* ]]; then
  run_bench attention --model 1.3b --frames 25 --height 544 --width 960 --formats int8-bf16,int8-e4m3
fi
# The Hopper 8-bit attention kernel's three CTA variants (SKYREELS_INT8_ATTENTION_KERNEL, launch.h),
# each timed against bf16 SDPA (cuDNN) in the same process on blocks 0-2 at DF-1.3B 540P, 97 frames.
if [[ $benches == *" attention-kernel "* ]]; then
  for variant in two one pipelined; do
    echo "kernel variant: $variant" | tee -a "$out/bench.log"
    SKYREELS_INT8_ATTENTION_KERNEL=$variant run_bench attention --model 1.3b --frames 25 --height 544 --width 960 \
      --blocks 0,1,2 --formats int8-bf16 --repeat 5
  done
fi
# float8 fast mode (issue 10): the DiT forward with fp8 weights and GEMMs.
if [[ $benches == *" fp8 "* ]]; then
  run_bench dit --model 1.3b --frames 25 --height 544 --width 960 --batch 2 --repeat 5 --fp8 1
  run_bench dit --model 14b --frames 25 --height 544 --width 960 --batch 2 --repeat 2 --fp8 1
fi
# Whole generations with the fast modes against the exact fast path, in one process (issue 10).
# SKYREELS_MODES_RUNS picks which ("sync async").
if [[ $benches == *" modes "* ]]; then
  runs=" ${SKYREELS_MODES_RUNS:-sync} "
  modes=${SKYREELS_MODES:-cfg-skip:6,step-cache:0.1,fp8,fp8+cfg-skip:6+step-cache:0.1}
  [[ $runs == *" sync "* ]] && run_bench pipeline --model 1.3b --frames 97 --steps 30 --path ${SKYREELS_PATHS:-both} --modes "$modes"
  [[ $runs == *" async "* ]] && run_bench pipeline --model 1.3b --frames 97 --steps 30 --ar-step 5 --causal-block-size 5 --path ${SKYREELS_PATHS:-both} --modes "$modes"
  # DF-14B, 6 steps: float8 loaded block by block as the Engine loads it, against the exact fast path.
  [[ $runs == *" 14b "* ]] && run_bench pipeline --model 14b --frames 97 --steps 6 --path fast --modes fp8 --fp8-load ${SKYREELS_FP8_LOAD:-by-block}
fi
if [[ $benches == *" vae540 "* ]]; then
  run_bench vae --latents 25 --height 544 --width 960 --repeat 3
  run_bench vae --latents 25 --height 544 --width 960 --repeat 2 --fused 0
fi
# VAE decode of a window (bf16 as the pipeline runs it, and float32), and spatial tiling's deviation.
if [[ $benches == *" vae "* ]]; then
  run_bench vae --latents 25 --height 544 --width 960 --repeat 3 --tile 34 --overlap 8
  run_bench vae --latents 25 --height 544 --width 960 --repeat 2 --dtype fp32
  run_bench vae --latents 31 --height 720 --width 1280 --repeat 3 --tile 45 --overlap 8
fi
# umT5-XXL, one 512-token prompt: on the GPU, and on the CPU (4 of 24 layers, scaled).
if [[ $benches == *" t5 "* ]]; then
  run_bench t5 --device cuda --repeat 3
  run_bench t5 --device cpu --layers 4 --repeat 2 --dtype bf16
  run_bench t5 --device cpu --layers 4 --repeat 2 --dtype fp32
fi
# Whole generations (issue 8): fast path and the reference's execution choices in one process.
# SKYREELS_PIPELINE_RUNS picks which ("sync async 14b"; one call of the device tool may not fit all).
if [[ $benches == *" pipeline "* ]]; then
  runs=" ${SKYREELS_PIPELINE_RUNS:-sync async 14b} "
  [[ $runs == *" sync "* ]] && run_bench pipeline --model 1.3b --frames 97 --steps 30 --path both
  [[ $runs == *" async "* ]] && run_bench pipeline --model 1.3b --frames 97 --steps 30 --ar-step 5 --causal-block-size 5 --path both
  [[ $runs == *" 14b "* ]] && run_bench pipeline --model 14b --frames 97 --steps 3 --path both
fi
exit $status
