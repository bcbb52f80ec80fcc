#!/usr/bin/env bash
# On the GPU machine: two jobs in one call of the device tool, so their device time does not add up.
# Run 8's DiT training (train-demo.sh, issue 22) runs in the background; beside it the CUDA build of the
# bench and device tests, then the 8-bit attention tests on every kernel variant (issue 26), and, once
# the training has stopped (the GPU quiet again), the kernel variants timed against bf16 SDPA.
#
#   SKYREELS_CALL_SECONDS=430 bash scripts/device/train-beside-attention.sh first
#   SKYREELS_CALL_SECONDS=430 bash scripts/device/train-beside-attention.sh second   (same warm machine)
#
# first: the training's files stay on the machine; second resumes it and returns the model folder's
# files in $OUT, which brings back 8 files at most, so that call's kernel logs stay on the machine (their
# lines are printed). Carry .deps/googletest (the device tests build it). SKYREELS_CALL_SECONDS bounds
# the training; the timings after it take about 90 s of the call's 600. SKYREELS_TRAIN_DIT_STEPS (6000)
# sizes the DiT's run to the device time left (80-130 ms a step on an H100).
set -u
cd "$(dirname "$0")/../.."
logs=$OUT/attention
train_out=/tmp/train-out
[ "${1:-first}" = second ] && train_out=$OUT && logs=/tmp/attention
mkdir -p "$logs" "$train_out"

( OUT=$train_out SKYREELS_TRAIN_STAGE=dit SKYREELS_CALL_SECONDS=${SKYREELS_CALL_SECONDS:-430} \
  SKYREELS_TRAIN_DIT_STEPS=${SKYREELS_TRAIN_DIT_STEPS:-6000} SKYREELS_TRAIN_RESCALE_TEXT_QUERIES=1 \
  SKYREELS_TRAIN_DIT_INIT=resources/demo-model-checkpoint/dit bash scripts/device/train-demo.sh > /tmp/train-call.log 2>&1 ) &
train=$!
# The trainer builds first on all cores (about 2 minutes); the CUDA build follows while it trains.
while [ ! -x build-train/app/skyreels-train ] && kill -0 $train 2>/dev/null; do sleep 5; done
if [ ! -x build-cuda/tests/skyreels_core_device_tests ]; then
  OUT=/tmp/cuda-out SKYREELS_BUILD_TARGETS="skyreels-bench skyreels_core_device_tests" SKYREELS_SKIP_TESTS=1 \
    SKYREELS_SKIP_BENCH=1 bash scripts/device/cuda-build-test.sh > /tmp/cuda-build.log 2>&1
  grep -E "error|FAILED|^real" /tmp/cuda-build.log | head -30
fi
# The test runs every kernel variant itself; `timeout`: a hung kernel must not take the training's call.
SKYREELS_TEST_DEVICE=cuda timeout 200 build-cuda/tests/skyreels_core_device_tests --gtest_filter='QuantizedAttention.*' \
  > "$logs/gtest.log" 2>&1
grep -E "OK \]|FAILED|Hopper kernel|Failure|Expected|Which|actual" "$logs/gtest.log" | head -40

wait $train
grep -E "run:|dit step [0-9]*000/|exit|stopped|export" /tmp/train-call.log | tail -12
for variant in two one pipelined; do
  echo "== kernel variant $variant"
  SKYREELS_INT8_ATTENTION_KERNEL=$variant timeout 100 build-cuda/app/skyreels-bench attention --model 1.3b --frames 25 \
    --height 544 --width 960 --blocks 0,1,2 --formats int8-bf16 --repeat 5 --device cuda 2>&1 |
    tee "$logs/bench-$variant.log" | grep -v "^bars"
done
