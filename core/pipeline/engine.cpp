#include "pipeline/engine.h"

#include <chrono>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "lora/lora_identity.h"
#include "lora/lora_merge.h"
#include "model/sequence_parallel.h"
#include "model/wan_dit.h"
#include "model/wan_vae.h"
#include "pipeline/memory_needs.h"
#include "pipeline/noise_source.h"
#include "skyreels/error.h"
#include "skyreels/log.h"
#include "telemetry/device_memory.h"

namespace skyreels::pipeline {
namespace {

void emit(const EventSink& events, GenerationEvent event) {
  if (events) events(event);
}

bool cancelled(const std::atomic<bool>* cancel) { return cancel && cancel->load(); }

// The same LoRAs: files, contents (as recorded) and strengths, in order.
bool same_loras(const std::vector<LoraSetting>& a, const std::vector<AppliedLora>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].path != b[i].path || a[i].hash != b[i].hash || a[i].strength != b[i].strength) return false;
  return true;
}

}  // namespace

Engine::Engine(const std::string& model_folder, EngineOptions options)
    : files_(locate_model_files(model_folder)), options_(std::move(options)) {
  options_.pipeline.parallel = options_.parallel;
  if (options_.device.is_cuda() && !telemetry::cuda_built())
    throw Error(ErrorCode::Unsupported, "device " + options_.device.str() + " asked for, but this build has no CUDA");
}

Engine::~Engine() = default;

GenerationSettings Engine::default_settings() const { return read_recommended_settings(files_); }

std::optional<MemoryPlan> Engine::memory_plan(const GenerationSettings& settings) const {
  require_valid(settings);
  if (!settings.vram_budget_gib) return std::nullopt;
  // umT5 on the device only when the engine would put it there; the .pth's size is its bf16 weights.
  const bool text_on_cpu = options_.text_placement == Placement::Cpu;
  const auto text_bytes = text_on_cpu ? 0 : weights_file_bytes(files_.t5);
  const auto weights = model::open_wan_dit_weights(files_.dit);
  // TODO(issue 24): enforce the plan: cap the allocator at the budget, and the streaming executor
  // (streamed blocks in pinned host memory, copied on a side stream into two device slots one block
  // ahead of compute) which needs the GPU. Until then the plan is shown, and nothing changes.
  return plan_memory(gib_to_bytes(*settings.vram_budget_gib), memory_needs(*weights, settings, options_.pipeline, text_bytes));
}

void Engine::load(const EventSink& events, bool fp8) {
  // float8 weights are made while loading (converting a loaded bf16 model in place would peak at the
  // bf16 model's size) and cannot be undone: the other kind reloads.
  if (pipeline_ && pipeline_->dit()->fp8() != fp8) {
    merger_.reset();
    merged_.clear();
    pipeline_.reset();
    telemetry::release_cached_memory(options_.device);
  }
  if (pipeline_) return;
  const auto start = std::chrono::steady_clock::now();
  emit(events, PhaseStarted{Phase::LoadingModels, "DiT " + files_.dit + (fp8 ? " (float8)" : "")});
  auto dit = model::load_wan_dit(files_.dit, files_.dit_config, options_.device, fp8);
  if (fp8) telemetry::release_cached_memory(options_.device);  // what the bf16 blocks left in the cache
  emit(events, PhaseStarted{Phase::LoadingModels, "VAE " + files_.vae});
  const auto vae_dtype = options_.vae_dtype.value_or(options_.device.is_cuda() ? at::kBFloat16 : at::kFloat);
  auto vae = model::load_wan_vae(files_.vae, options_.device, vae_dtype);
  pipeline_ = std::make_unique<DfPipeline>(std::move(dit), std::move(vae), options_.pipeline);
  logger("pipeline")->info("models of {} on {} in {:.1f} s", files_.root, options_.device.str(),
                           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

void Engine::unload() {
  merger_.reset();
  merged_.clear();
  pipeline_.reset();
  text_.reset();
  telemetry::release_cached_memory(options_.device);
}

GenerationResult Engine::generate(const GenerationRequest& request, const EventSink& events,
                                  const std::atomic<bool>* cancel) {
  // Everything the user can get wrong is checked before minutes of model loading.
  require_valid(request.settings);
  return generate_validated(request, events, cancel);
}

void Engine::apply_loras(const std::vector<LoraSetting>& loras, const EventSink& events) {
  if (!pipeline_) throw Error(ErrorCode::BadArgument, "apply_loras: the models are not loaded");
  LorasApplied applied;
  if (!same_loras(loras, merged_)) {
    if (!merger_) {
      auto& dit = *pipeline_->dit().ptr();
      // A float8 layer keeps no bf16 weight: the merge reads it from the checkpoint.
      merger_ = std::make_unique<lora::LoraMerger>(dit, dit.fp8() ? model::open_wan_dit_weights(files_.dit) : nullptr);
    }
    std::vector<lora::LoraUse> uses;
    for (const auto& l : loras) uses.push_back({l.path, l.strength});
    merged_.clear();  // until the merge has succeeded (an Error leaves none merged)
    const auto report = merger_->apply(uses);
    applied.merged = true;
    applied.seconds = report.seconds;
    for (std::size_t i = 0; i < loras.size(); ++i) {
      const auto& r = report.loras[i];
      applied.loras.push_back({loras[i].path, loras[i].name, loras[i].hash, loras[i].strength,
                               static_cast<std::int64_t>(r.parameters), static_cast<std::int64_t>(r.unmatched_keys.size()),
                               static_cast<std::int64_t>(r.skipped_image_keys)});
    }
    merged_ = applied.loras;
  } else {
    if (loras.empty()) return;  // none before, none now: nothing to report
    applied.loras = merged_;
  }
  for (const auto& l : applied.loras)
    logger("lora")->info("LoRA {} (hash {}) at strength {}{}", l.path, l.hash, l.strength,
                         applied.merged ? "" : " (merged already)");
  emit(events, applied);
}

GenerationResult Engine::generate_validated(const GenerationRequest& request, const EventSink& events,
                                            const std::atomic<bool>* cancel) {
  auto recorded = request.settings;
  // Missing or changed LoRA files are named before any work.
  lora::record_lora_files(recorded.loras);
  const auto& s = recorded;
  check_conditioning(s, request.start_image, request.end_image, request.input_video);
  if (s.fp8)
    if (const auto why = model::fp8_unsupported_reason(options_.device); !why.empty())
      throw Error(ErrorCode::Unsupported, "fp8 fast mode: " + why);

  // A budget too small for the job fails here, before the text encoder or the DiT loads.
  if (const auto plan = memory_plan(s))
    logger("pipeline")->info("memory plan (not enforced yet): {}", plan->description);

  const auto* parallel = options_.parallel;
  const bool leader = !parallel || parallel->rank() == 0;
  const EventSink reported = leader ? events : EventSink{};
  // With several ranks, rank 0's cancel decides for all (they must stop together).
  auto stop_now = [&] { return model::rank0_decides(parallel, cancelled(cancel)); };
  GenerationResult stopped;
  stopped.cancelled = true;
  auto stop = [&]() {
    emit(reported, GenerationCancelled{0, 0.0});
    return stopped;
  };

  std::vector<std::string> prompts{s.prompt};
  if (s.guidance_enabled()) prompts.push_back(s.negative_prompt);
  std::vector<at::Tensor> contexts;
  if (leader) {
    emit(reported, PhaseStarted{Phase::EncodingPrompts, s.guidance_enabled() ? "prompt and negative prompt" : "prompt"});
    if (!text_) {
      TextEncoderOptions text;
      text.device = options_.device;
      text.placement =
          options_.text_placement.value_or(options_.device.is_cuda() ? Placement::GpuThenFree : Placement::Cpu);
      if (options_.device.is_cuda()) text.gpu = options_.device;
      text.use_cache = options_.use_prompt_cache;
      text.cache_dir = options_.prompt_cache_dir;
      text.t5_config = files_.t5_config;
      text_ = std::make_unique<TextEncoder>(files_.t5, files_.tokenizer, text);
    }
    contexts = text_->encode(prompts);
  }
  if (stop_now()) return stop();

  load(reported, s.fp8);  // reloads when the loaded DiT is of the other kind (fp8 or exact)
  apply_loras(s.loras, reported);  // every rank merges into its own DiT
  if (parallel) {
    // Rank 0's embeddings, [max_length, text_dim] bf16, to every rank.
    const auto text_dim = pipeline_->dit()->config().text_dim;
    contexts.resize(prompts.size());
    for (auto& c : contexts) {
      c = leader ? c.to(options_.device, at::kBFloat16).contiguous()
                 : at::empty({model::T5Tokenizer::kDefaultMaxLength, text_dim},
                             at::TensorOptions().device(options_.device).dtype(at::kBFloat16));
      parallel->broadcast(c, 0);
    }
  }
  if (stop_now()) return stop();

  emit(reported, PhaseStarted{Phase::Denoising, {}});
  GenerationInputs inputs;
  inputs.settings = s;
  inputs.context = contexts[0];
  if (s.guidance_enabled()) inputs.negative_context = contexts[1];
  inputs.start_image = request.start_image;
  inputs.end_image = request.end_image;
  inputs.input_video = request.input_video;
  SeededNoise noise(s.seed, options_.device);
  return pipeline_->generate_validated(inputs, noise, events, cancel);
}

}  // namespace skyreels::pipeline
