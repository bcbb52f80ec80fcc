#!/usr/bin/env bash
# On a GPU machine with several cards, after cuda-build-test.sh built build-cuda: sequence-parallel
# correctness (the reference fixtures over N ranks on NCCL) and DiT scaling (time per model call and
# peak memory per card on 1..N GPUs). Results go to $OUT (or ./out).
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-out}
mkdir -p "$out"
build_dir=build-cuda
cli="$build_dir/app/skyreels-cli"
bench="$build_dir/app/skyreels-bench"
gpus=$(nvidia-smi -L | wc -l)
fixtures=tests/fixtures/reference

parts=" ${SKYREELS_MULTI:-check scaling} "

# Correctness: the DiT fixtures with their tokens split over 2 ranks (Ulysses), the guided pipeline
# fixtures with the conditional and unconditional calls on one rank each (CFG-parallel), on NCCL.
[[ $parts == *" check "* ]] && "$cli" check --device cuda --ranks 2 "$fixtures/dit_df_fps" "$fixtures/dit_wan_scalar_t" "$fixtures/df_sync" \
  "$fixtures/df_async" "$fixtures/df_long_addnoise" "$fixtures/df_i2v" 2>&1 | tee "$out/check-2ranks.log"

# Scaling: DF-14B 720P (81 frames = 21 latents), batch 2 (CFG), on 1..gpus cards, Ulysses and (even
# counts) CFG-parallel; rank 0 also runs the whole forward alone once (--check 1) to report the deviation
# of the split run. SKYREELS_MULTI picks the parts ("check scaling"), SKYREELS_MODELS the models
# ("14b 1.3b": DF-1.3B at 540P, 97 frames).
if [[ $parts == *" scaling "* ]]; then
  for model in ${SKYREELS_MODELS:-14b}; do
    shape=(--frames 21 --height 720 --width 1280); heads=40
    [ "$model" = 1.3b ] && shape=(--frames 25 --height 544 --width 960) && heads=12
    for n in $(seq 1 "$gpus"); do
      for mode in ulysses cfg; do
        [ "$n" -eq 1 ] && [ "$mode" = cfg ] && continue
        split=$n; [ "$mode" = cfg ] && split=$((n / 2))
        [ "$mode" = cfg ] && [ $((n % 2)) -ne 0 ] && continue
        [ $((heads % split)) -ne 0 ] && continue  # the ranks that split a call must divide the heads
        extra=()
        [ "$n" -gt 1 ] && extra=(--gpus "$n" --parallel "$mode" --check 1)
        "$bench" dit --model "$model" "${shape[@]}" --batch 2 --repeat 3 "${extra[@]}" \
          --json "$out/bench.jsonl" 2>&1 | tee -a "$out/scaling.log"
      done
    done
  done
fi
