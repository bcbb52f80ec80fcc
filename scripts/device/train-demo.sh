#!/usr/bin/env bash
# On the GPU machine: build skyreels-train against PyTorch's LibTorch and train the demo model in two
# calls of the device tool, each self-contained (README, "Retraining the demo model"):
#
#   SKYREELS_TRAIN_STAGE=vae  times a few steps of each stage, sizes the run (about SKYREELS_TRAIN_VAE_S
#                             seconds of VAE and SKYREELS_TRAIN_DIT_S of DiT training), trains the VAE
#                             and returns its weights, statistics and the run's sizes
#                             ($OUT/final.safetensors, stats.json, config.json); with
#                             train-vae-init/final.safetensors (carried), or the file
#                             SKYREELS_TRAIN_VAE_INIT names (e.g. the one committed to
#                             resources/demo-model-checkpoint/), it trains that VAE further
#                             (skyreels-train --vae-init) instead of starting from random weights;
#                             SKYREELS_TRAIN_VAE_STEPS and SKYREELS_TRAIN_DIT_STEPS together size the
#                             run without the probe;
#   SKYREELS_TRAIN_STAGE=dit  takes those back from train-carry/ (carried by the tool), trains the text
#                             encoder and DiT, and returns the model folder's files plus extras.tar
#                             (loss.csv, loss.png, the log, the README). A DiT longer than one call
#                             (SKYREELS_TRAIN_DIT_S beyond a call's time) stops, exports what it has,
#                             and the same command again on the still-warm machine resumes it. With a
#                             model folder in train-dit-init/ (carried) or SKYREELS_TRAIN_DIT_INIT
#                             (e.g. resources/demo-model-checkpoint/dit), it trains that DiT and text
#                             encoder further for SKYREELS_TRAIN_DIT_STEPS steps
#                             (SKYREELS_TRAIN_RESCALE_TEXT_QUERIES=1 first gives a model of runs 1-7
#                             T5's query scaling: skyreels-train --rescale-text-queries).
#
# The tokenizer comes from train-tokenizer/spiece.model when present, trained beforehand on a CPU (the
# GPU machine may lack the SentencePiece trainer): build/app/skyreels-train --run /tmp/tok
# --stop-after tokenizer && mkdir -p train-tokenizer && cp /tmp/tok/tokenizer/spiece.model train-tokenizer/
# Each call ends within SKYREELS_CALL_SECONDS (the tool's limit, less a margin for the copies).
set -uo pipefail
started=$(date +%s)
cd "$(dirname "$0")/../.."
out=${OUT:-out}
mkdir -p "$out"
stage=${SKYREELS_TRAIN_STAGE:?set SKYREELS_TRAIN_STAGE to vae or dit}
run=train-run
build_dir=build-train
prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
# $OUT brings back at most 8 files: the build's logs stay here unless it fails.
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader

if [ ! -x "$build_dir/app/skyreels-train" ]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DSKYREELS_USE_CCACHE=OFF -DSKYREELS_CUDA_KERNELS=OFF > /tmp/configure.log 2>&1 || { tail -30 /tmp/configure.log; exit 1; }
  ( time cmake --build "$build_dir" --parallel "$(nproc)" --target skyreels-train ) > /tmp/build.log 2>&1 ||
    { tail -40 /tmp/build.log; exit 1; }
  tail -3 /tmp/build.log
fi
train="$build_dir/app/skyreels-train"
quiet() { grep --line-buffered -v -E '^(sentencepiece_trainer|trainer_interface|unigram_model_trainer|normalizer)'; }
minutes_left() { python3 -c "print(max(0.5, (${SKYREELS_CALL_SECONDS:-560} - ($(date +%s) - $started)) / 60))"; }
mkdir -p "$run/tokenizer"
[ -f train-tokenizer/spiece.model ] && cp train-tokenizer/spiece.model "$run/tokenizer/"

if [ "$stage" = vae ]; then
  probe=/tmp/skyreels-probe
  rm -rf "$probe" && mkdir -p "$probe/tokenizer"
  cp "$run/tokenizer/spiece.model" "$probe/tokenizer/" 2>/dev/null
  init=()
  vae_init=${SKYREELS_TRAIN_VAE_INIT:-train-vae-init/final.safetensors}
  [ -f "$vae_init" ] && init=(--vae-init "$vae_init")
  if [ -n "${SKYREELS_TRAIN_VAE_STEPS:-}" ] && [ -n "${SKYREELS_TRAIN_DIT_STEPS:-}" ]; then
    # Sizes given (from an earlier run's step times): no probe, its 40 s go to the VAE. "fill": as many
    # VAE steps as the call's time left allows at the measured step times (run 3, H200: 410 ms; run 2,
    # H100: 400 to 540 ms), less 60 s for the statistics, the PSNR report and the copies.
    vae_steps=$SKYREELS_TRAIN_VAE_STEPS dit_steps=$SKYREELS_TRAIN_DIT_STEPS
    if [ "$vae_steps" = fill ]; then
      # Run 5 (H100), with the first-frame and edge terms: 750 steps in 259 s, 346 ms a step.
      step_ms=360; nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H200 && step_ms=450
      vae_steps=$(python3 -c "print(int((${SKYREELS_CALL_SECONDS:-560} - ($(date +%s) - $started) - 60) * 1000 / $step_ms) // 50 * 50)")
    fi
  else
  "$train" --run "$probe" --vae-steps 24 --dit-steps 40 --dit-clips 64 "${init[@]}" 2>&1 | quiet > "$out/probe.log"
  # Seconds a step from the loss log's clock over the probe's second half: the first steps pay warm-up
  # (each new crop length its own kernels), which over-read run 3's steps (VAE 686 ms read, 410 ms in
  # the run; DiT 271 ms read, 65 ms in the run: the DiT got a quarter of the steps its time allowed).
  read -r vae_steps dit_steps <<< "$(python3 - "$probe/loss.csv" <<'PY'
import csv, os, sys
rows = list(csv.DictReader(open(sys.argv[1])))
def per_step(stage):
    t = {int(r["step"]): float(r["seconds"]) for r in rows if r["stage"] == stage}
    last = max(t); first = last // 2
    return (t[last] - t[first]) / (last - first)
vae_s = float(os.environ.get("SKYREELS_TRAIN_VAE_S", 360)); dit_s = float(os.environ.get("SKYREELS_TRAIN_DIT_S", 420))
print(int(vae_s / per_step("vae")) // 50 * 50, int(dit_s / per_step("dit")) // 100 * 100)
PY
)"
  grep -E "step (24/24|40/40)" "$out/probe.log"
  fi
  echo "run: vae $vae_steps steps, dit $dit_steps steps ${init[*]}" | tee "$out/train.log"
  "$train" --run "$run" --vae-steps "$vae_steps" --dit-steps "$dit_steps" "${init[@]}" --stop-after vae --minutes "$(minutes_left)" \
    2>&1 | quiet | tee -a "$out/train.log" | grep -v " step "
  status=${PIPESTATUS[0]}
  cp "$run/vae/final.safetensors" "$run/vae/stats.json" "$run/config.json" "$run/loss.csv" "$out/" 2>/dev/null
  cp "$run/tokenizer/spiece.model" "$out/" 2>/dev/null
else
  # A second dit call on the same (warm) machine resumes the run folder as it stands: its loss log
  # already holds the DiT's steps.
  # A VAE stage stopped by its call's time limit left its checkpoint in the run folder (same warm
  # machine): the trainer finishes it first.
  if [ ! -f "$run/vae/stats.json" ] && [ ! -f "$run/config.json" ]; then
    mkdir -p "$run/vae"
    # The VAE stage's output: carried, else the one kept in the repository between sessions.
    carry=train-carry
    [ -f "$carry/stats.json" ] || carry=resources/demo-model-checkpoint
    cp "$carry/final.safetensors" "$carry/stats.json" "$run/vae/" && cp "$carry/config.json" "$run/" &&
      cp "$carry/loss.csv" "$run/" || { echo "neither train-carry/ nor $carry holds the VAE stage's files"; exit 1; }
    [ -f "$run/tokenizer/spiece.model" ] || cp "$carry/spiece.model" "$run/tokenizer/" 2>/dev/null
  fi
  read -r vae_steps dit_steps <<< "$(python3 -c "import json;c=json.load(open('$run/config.json'));print(c['vae_steps'],c['dit_steps'])")"
  init=()
  dit_init=${SKYREELS_TRAIN_DIT_INIT:-train-dit-init}
  if [ -f "$dit_init/model.safetensors" ]; then
    dit_init=$(cd "$dit_init" && pwd -P)
    init=(--dit-init "$dit_init")
    dit_steps=${SKYREELS_TRAIN_DIT_STEPS:?set SKYREELS_TRAIN_DIT_STEPS with a DiT to start from}
    # The run folder's config names the DiT's start: the carried one was written without it.
    # SKYREELS_TRAIN_RESCALE_TEXT_QUERIES=1: skyreels-train --rescale-text-queries (models of runs 1-7).
    rescale=${SKYREELS_TRAIN_RESCALE_TEXT_QUERIES:-0}
    [ "$rescale" = 1 ] && init+=(--rescale-text-queries)
    python3 -c "import json;c=json.load(open('$run/config.json'));c.update(dit_steps=$dit_steps,dit_init='$dit_init');c.pop('rescale_text_queries',None);'$rescale'=='1' and c.update(rescale_text_queries=True);json.dump(c,open('$run/config.json','w'),indent=2)"
  fi
  echo "run: vae $vae_steps steps, dit $dit_steps steps ${init[*]}"
  "$train" --run "$run" --vae-steps "$vae_steps" --dit-steps "$dit_steps" "${init[@]}" --minutes "$(minutes_left)" --export-when-stopped \
    2>&1 | quiet | tee "$out/train.log" | grep -v " step [0-9]*[1-9]0/"
  status=${PIPESTATUS[0]}
  m="$run/model"
  cp "$m/model.safetensors" "$m/config.json" "$m/Wan2.1_VAE.safetensors" "$m/models_t5_umt5-xxl-enc-bf16.safetensors" \
    "$m/skyreels-defaults.json" "$m/google/umt5-xxl/spiece.model" "$out/" 2>/dev/null
  cp "$out/train.log" "$run/" && tar -cf "$out/extras.tar" -C "$run" loss.csv loss.png train.log -C model README.md
fi
echo "skyreels-train exit $status"
exit "$status"
