#!/usr/bin/env bash
# On the GPU machine: build skyreels-train against PyTorch's LibTorch and train, or resume, the demo
# model (README, "Retraining the demo model"). The first call times a few steps of each stage and sizes
# the run to SKYREELS_TRAIN_VAE_S + SKYREELS_TRAIN_DIT_S seconds of training; later calls resume the run
# folder (kept on a warm machine) with the same sizes. Each call trains for at most
# SKYREELS_TRAIN_MINUTES. Logs, loss curve and, when finished, the model (demo-model.tar) go to $OUT.
# A tokenizer trained beforehand (train-tokenizer/spiece.model, e.g. on a CPU) is used when present.
set -uo pipefail
started=$(date +%s)
cd "$(dirname "$0")/../.."
out=${OUT:-out}
mkdir -p "$out"
run=${SKYREELS_TRAIN_RUN:-train-run}
build_dir=build-train
prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/device.txt"

if [ ! -x "$build_dir/app/skyreels-train" ]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DSKYREELS_USE_CCACHE=OFF -DSKYREELS_CUDA_KERNELS=OFF > "$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
  ( time cmake --build "$build_dir" --parallel "$(nproc)" --target skyreels-train ) > "$out/build.log" 2>&1 ||
    { tail -40 "$out/build.log"; exit 1; }
  tail -3 "$out/build.log"
fi
train="$build_dir/app/skyreels-train"
quiet() { grep --line-buffered -v -E '^(sentencepiece_trainer|trainer_interface|unigram_model_trainer|normalizer)'; }

if [ ! -f "$run/config.json" ]; then
  if [ -f train-tokenizer/spiece.model ]; then mkdir -p "$run/tokenizer" && cp train-tokenizer/spiece.model "$run/tokenizer/"; fi
  probe=/tmp/skyreels-probe
  rm -rf "$probe" && mkdir -p "$probe"
  [ -f train-tokenizer/spiece.model ] && mkdir -p "$probe/tokenizer" && cp train-tokenizer/spiece.model "$probe/tokenizer/"
  "$train" --run "$probe" --vae-steps 12 --dit-steps 12 --dit-clips 64 2>&1 | quiet | tee "$out/probe.log"
  sizes=$(python3 - "$out/probe.log" <<'PY'
import re, sys
log = open(sys.argv[1]).read()
ms = lambda stage: float(re.findall(stage + r" step 12/12 .*? ([0-9.]+) ms/step", log)[-1])
import os
vae_s = float(os.environ.get("SKYREELS_TRAIN_VAE_S", 150)); dit_s = float(os.environ.get("SKYREELS_TRAIN_DIT_S", 600))
print(int(vae_s * 1000 / ms("vae")) // 100 * 100, int(dit_s * 1000 / ms("dit")) // 100 * 100)
PY
)
  read -r vae_steps dit_steps <<< "$sizes"
else
  vae_steps=$(python3 -c "import json;print(json.load(open('$run/config.json'))['vae_steps'])")
  dit_steps=$(python3 -c "import json;print(json.load(open('$run/config.json'))['dit_steps'])")
fi
# What is left of this call's SKYREELS_CALL_SECONDS (the device tool's limit, less a margin for the copies).
minutes=$(python3 -c "print(max(0.5, (${SKYREELS_CALL_SECONDS:-560} - ($(date +%s) - $started)) / 60))")
echo "run: vae $vae_steps steps, dit $dit_steps steps, $minutes minutes this call" | tee -a "$out/train.log"
"$train" --run "$run" --vae-steps "$vae_steps" --dit-steps "$dit_steps" --minutes "$minutes" --export-when-stopped 2>&1 |
  quiet | tee -a "$out/train.log"
status=${PIPESTATUS[0]}
cp "$run/loss.csv" "$run/loss.png" "$out/" 2>/dev/null
[ -d "$run/model" ] && tar -C "$run" -cf "$out/demo-model.tar" model
echo "skyreels-train exit $status"
exit "$status"
