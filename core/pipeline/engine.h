#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "pipeline/df_pipeline.h"
#include "pipeline/generation_events.h"
#include "pipeline/generation_settings.h"
#include "pipeline/memory_plan.h"
#include "skyreels/error.h"
#include "pipeline/model_folder.h"
#include "pipeline/parallel_plan.h"
#include "pipeline/prompt_embedding_cache.h"

namespace skyreels::lora {
class LoraMerger;
}

namespace skyreels::pipeline {

struct EngineOptions {
  c10::Device device = c10::Device(c10::kCPU);
  // The VAE's convolutions; unset: bf16 on a GPU, as the reference (autocast), and float32 on the CPU,
  // where LibTorch's bf16 3D convolutions are many times slower than float32 ones.
  std::optional<at::ScalarType> vae_dtype;
  // Where umT5 runs; unset: GpuThenFree on a GPU, Cpu otherwise.
  std::optional<Placement> text_placement;
  bool use_prompt_cache = true;
  std::filesystem::path prompt_cache_dir;  // empty: PromptEmbeddingCache::default_dir()
  PipelineOptions pipeline;
  // A multi-process run (parallel::connect): rank 0 encodes the prompts and broadcasts them, every
  // rank holds the DiT and runs its share of the tokens, rank 0 reports and decodes. Null: alone.
  const model::SequenceParallel* parallel = nullptr;
  // With `parallel`: the groups a CFG-parallel job would use (set when the ranks are even), and how
  // the planner splits each job (parallel_plan.h).
  CfgGroups cfg_groups;
  ParallelMode parallel_mode = ParallelMode::Auto;
};

// One generation as a front end asks for it: settings (prompts included) and the conditioning pixels,
// already at the output size in [-1, 1] (core/video's image and video loaders make them).
struct GenerationRequest {
  GenerationSettings settings;
  at::Tensor start_image;  // [3, 1, H, W] when settings.has_start_image
  at::Tensor end_image;    // [3, 1, H, W] when settings.has_end_image
  at::Tensor input_video;  // [3, T, H, W] when settings.extends_video
};

// A model folder made ready to generate: prompts in, frames out. Models load on first use (the text
// encoder per batch of uncached prompts, the DiT and VAE once, then kept for the next request), so a
// queue of jobs pays the load once. Not thread-safe: one generation at a time, on the calling thread.
class Engine {
public:
  // Finds the model's files (an Error naming what is missing); loads nothing yet.
  Engine(const std::string& model_folder, EngineOptions options = {});
  ~Engine();

  // Settings are validated first, before any model loads, and the LoRA files found and recorded
  // (lora/lora_identity.h). Reports PhaseStarted for loading and prompt encoding, LorasApplied when the
  // job has LoRAs (merged only when they differ from the previous job's), then DfPipeline's events. Throws skyreels::Error for bad input (code BadArgument,
  // NotFound, ShapeMismatch, ...) and rethrows failures while running; frames already delivered by
  // BlockDecoded stay valid, and a cancel returns the finished part.
  GenerationResult generate(const GenerationRequest& request, const EventSink& events = {},
                            const std::atomic<bool>* cancel = nullptr);
  // The same for settings the caller has validated (the job runner validates once, before the inputs).
  GenerationResult generate_validated(const GenerationRequest& request, const EventSink& events = {},
                                      const std::atomic<bool>* cancel = nullptr);

  // Loads the DiT and VAE now (a front end may want the load out of the first job's timing).
  // With fp8 the DiT's blocks become float8 as they load, so the GPU never holds the bf16 model. With
  // streamed_blocks > 0 the DiT's last blocks wait in host memory and are streamed in as they run (a
  // GPU-memory budget's plan). A loaded model of another kind or streaming reloads.
  void load(const EventSink& events = {}, bool fp8 = false, int streamed_blocks = 0);
  // Frees the DiT and VAE (and the allocator's cached blocks).
  void unload();
  // Merges `loras` (recorded: lora/lora_identity.h) into the loaded DiT unless they are the ones merged
  // already (same files, contents and strengths, in the same order), and reports LorasApplied. The
  // model's own weights return when the list is empty. An Error leaves no LoRA merged.
  void apply_loras(const std::vector<LoraSetting>& loras, const EventSink& events = {});

  // Where the job's parts would live under settings.vram_budget_gib (pipeline/memory_plan.h), from the
  // weights' shapes: nothing loads. nullopt without a budget. The settings are validated first; a budget
  // too small for the job is an Error(BadArgument) naming the figures. A job with a budget follows the
  // plan's streamed blocks, and on a GPU the allocator is capped at the budget.
  std::optional<MemoryPlan> memory_plan(const GenerationSettings& settings) const;

  const ModelFiles& files() const noexcept { return files_; }
  const EngineOptions& options() const noexcept { return options_; }
  // Recommended settings of the folder (skyreels-defaults.json), or the reference's defaults.
  GenerationSettings default_settings() const;

private:
  // The loaded DiT is of this kind (float8 or not) with this many streamed blocks.
  bool loaded_as(bool fp8, int streamed_blocks) const;
  void unload_dit();  // the DiT and VAE (and merged LoRAs); the text encoder stays
  // How this job's calls are shared by the ranks (a one-rank plan without `parallel`): an Error before
  // any work when they cannot be.
  ParallelPlan plan_ranks(const GenerationSettings& settings) const;
  GenerationResult run_job(const GenerationRequest& request, const EventSink& events, const std::atomic<bool>* cancel);
  // Frees the models and makes the out-of-memory error: where, the figures, and what to change.
  Error out_of_memory(const GenerationSettings& settings, const std::string& phase, bool gpu, const std::string& what);

  ModelFiles files_;
  EngineOptions options_;
  std::unique_ptr<TextEncoder> text_;
  Placement text_placement_ = Placement::Cpu;  // where text_ runs
  std::unique_ptr<DfPipeline> pipeline_;
  std::unique_ptr<lora::LoraMerger> merger_;  // with the first LoRA; goes with the DiT it merges into
  std::vector<AppliedLora> merged_;           // the LoRAs in the DiT now
};

}  // namespace skyreels::pipeline
