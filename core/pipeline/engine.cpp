#include "pipeline/engine.h"

#include <chrono>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "kernels/quantized_attention.h"
#include "lora/lora_identity.h"
#include "lora/lora_merge.h"
#include "model/block_streamer.h"
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
  return plan_memory(gib_to_bytes(*settings.vram_budget_gib), memory_needs(*weights, settings, options_.pipeline, text_bytes));
}

ParallelPlan Engine::plan_ranks(const GenerationSettings& s) const {
  if (!options_.parallel) return plan_parallel(1, 1, s.guidance_enabled(), options_.parallel_mode);
  std::int64_t heads = 0;
  if (pipeline_) {
    heads = pipeline_->dit()->config().num_heads;
  } else {  // from the checkpoint's header and config.json: nothing loads
    heads = model::read_wan_dit_config(*model::open_wan_dit_weights(files_.dit), files_.dit_config).num_heads;
  }
  return plan_parallel(options_.parallel->size(), heads, s.guidance_enabled(), options_.parallel_mode,
                       options_.cfg_groups.available());
}

void Engine::load(const EventSink& events, bool fp8, int streamed_blocks) {
  // float8 weights are made while loading (converting a loaded bf16 model in place would peak at the
  // bf16 model's size) and cannot be undone: the other kind reloads. So does other streaming: the
  // blocks' new home is filled as they load, and the device may not hold them all at once.
  if (pipeline_ && !loaded_as(fp8, streamed_blocks)) unload_dit();
  if (pipeline_) return;
  const auto start = std::chrono::steady_clock::now();
  emit(events, PhaseStarted{Phase::LoadingModels, "DiT " + files_.dit + (fp8 ? " (float8)" : "") +
                                                     (streamed_blocks > 0 ? ", " + std::to_string(streamed_blocks) +
                                                                                " blocks streamed from host memory"
                                                                          : "")});
  model::DitStreaming streaming;
  streaming.streamed_blocks = streamed_blocks;
  auto dit = model::load_wan_dit(files_.dit, files_.dit_config, options_.device, fp8, streaming);
  if (fp8) telemetry::release_cached_memory(options_.device);  // what the bf16 blocks left in the cache
  emit(events, PhaseStarted{Phase::LoadingModels, "VAE " + files_.vae});
  const auto vae_dtype = options_.vae_dtype.value_or(options_.device.is_cuda() ? at::kBFloat16 : at::kFloat);
  auto vae = model::load_wan_vae(files_.vae, options_.device, vae_dtype);
  pipeline_ = std::make_unique<DfPipeline>(std::move(dit), std::move(vae), options_.pipeline);
  logger("pipeline")->info("models of {} on {} in {:.1f} s", files_.root, options_.device.str(),
                           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

bool Engine::loaded_as(bool fp8, int streamed_blocks) const {
  if (!pipeline_) return false;
  const auto* streamer = pipeline_->dit()->block_streamer();
  const int loaded_streamed = streamer ? static_cast<int>(streamer->streamed_blocks()) : 0;
  return pipeline_->dit()->fp8() == fp8 && loaded_streamed == streamed_blocks;
}

void Engine::unload_dit() {
  merger_.reset();
  merged_.clear();
  pipeline_.reset();
  telemetry::release_cached_memory(options_.device);
}

void Engine::unload() {
  unload_dit();
  text_.reset();
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
    // Streamed blocks merge into their host copies: no copy of the last call may still be reading them.
    if (auto* streamer = pipeline_->dit()->block_streamer()) streamer->wait_for_copies();
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
  // Out of memory anywhere (loading, rows, decoding): the engine lets go of its models so the next job
  // starts clean, and the error names what to change with the figures it saw. Frames delivered before
  // stay valid (the job runner keeps them in the file).
  std::string phase = "generating";
  EventSink tracked;
  if (events)
    tracked = [&](const GenerationEvent& event) {
      if (const auto* p = std::get_if<PhaseStarted>(&event)) phase = to_string(p->phase);
      events(event);
    };
  try {
    return run_job(request, tracked, cancel);
  } catch (const c10::OutOfMemoryError& e) {
    throw out_of_memory(request.settings, phase, true, e.what());
  } catch (const std::bad_alloc&) {
    throw out_of_memory(request.settings, phase, false, "an allocation failed");
  }
}

Error Engine::out_of_memory(const GenerationSettings& s, const std::string& phase, bool gpu, const std::string& what) {
  const auto seen = telemetry::memory_stats(options_.device);
  unload();
  const auto first_line = what.substr(0, what.find('\n'));
  std::string message = std::string("out of ") + (gpu ? "GPU" : "host") + " memory while " + phase + " (" +
                        std::to_string(s.width) + "x" + std::to_string(s.height) + ", " + std::to_string(s.num_frames) +
                        " frames" + (s.vram_budget_gib ? ", budget " + gib_text(gib_to_bytes(*s.vram_budget_gib)) : "") +
                        "): " + gib_text(seen.reserved_bytes) + " in use, peak " + gib_text(seen.peak_reserved_bytes) +
                        ". The models were unloaded; the next job reloads them. To fit, ";
  if (!gpu) message += "lower the resolution or the frames, or free host memory";
  else if (s.vram_budget_gib) message += "lower the resolution or the frames, tile the VAE (--vae-tile 32), or raise the budget if the card has room";
  else message += "set a GPU-memory budget (--vram-budget, a little below what the card has free: the DiT's blocks then stream from host memory), tile the VAE (--vae-tile 32), or lower the resolution or the frames";
  logger("pipeline")->error("{} ({})", message, first_line);
  return Error(ErrorCode::Runtime, message + " [" + first_line + "]");
}

GenerationResult Engine::run_job(const GenerationRequest& request, const EventSink& events,
                                 const std::atomic<bool>* cancel) {
  auto recorded = request.settings;
  // Missing or changed LoRA files are named before any work.
  lora::record_lora_files(recorded.loras);
  const auto& s = recorded;
  check_conditioning(s, request.start_image, request.end_image, request.input_video);
  if (s.fp8)
    if (const auto why = model::fp8_unsupported_reason(options_.device); !why.empty())
      throw Error(ErrorCode::Unsupported, "fp8 fast mode: " + why);
  if (s.int8_attention)
    if (const auto why = kernels::quantized_attention_unsupported_reason(options_.device); !why.empty())
      throw Error(ErrorCode::Unsupported, "int8-attention fast mode: " + why);

  // A budget too small for the job fails here, before the text encoder or the DiT loads. On a GPU the
  // allocator is capped at the budget, so the plan is held to it (an overrun is an out-of-memory error,
  // not a silent excess); no budget lifts the cap.
  const auto plan = memory_plan(s);
  const auto ranks = plan_ranks(s);
  // On the CPU the plan is only shown: host memory is all there is, and streaming would copy for nothing.
  const int streamed = plan && options_.device.is_cuda() ? plan->streamed_blocks : 0;
  // A DiT loaded for another plan (or kind) goes before the prompts are encoded: the plan counts the
  // text encoder beside this job's DiT, not beside the last one's.
  if (pipeline_ && !loaded_as(s.fp8, streamed)) unload_dit();
  telemetry::cap_device_memory(options_.device, plan ? plan->budget_bytes : 0);

  const auto* parallel = options_.parallel;
  const bool leader = !parallel || parallel->rank() == 0;
  const EventSink reported = leader ? events : EventSink{};
  if (plan) {
    logger("pipeline")->info("memory plan: {}", plan->description);
    emit(reported, MemoryPlanned{plan->description, plan->budget_bytes, plan->resident_blocks, plan->streamed_blocks,
                                 options_.device.is_cuda()});
  }
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
    // The engine's own choice wins; else the plan's (a budget with no room for it beside the DiT runs it
    // on the CPU); else the GPU, freed after use.
    auto placement = options_.text_placement.value_or(options_.device.is_cuda() ? Placement::GpuThenFree : Placement::Cpu);
    if (!options_.text_placement && plan && plan->text == TextPlacement::Cpu) placement = Placement::Cpu;
    if (text_ && text_placement_ != placement) text_.reset();
    if (!text_) {
      TextEncoderOptions text;
      text.device = options_.device;
      text.placement = placement;
      text_placement_ = placement;
      if (options_.device.is_cuda()) text.gpu = options_.device;
      text.use_cache = options_.use_prompt_cache;
      text.cache_dir = options_.prompt_cache_dir;
      text.t5_config = files_.t5_config;
      text_ = std::make_unique<TextEncoder>(files_.t5, files_.tokenizer, text);
    }
    contexts = text_->encode(prompts);
  }
  if (stop_now()) return stop();

  load(reported, s.fp8, streamed);  // reloads for another kind (fp8 or exact) or other streaming
  // The plan's execution choices for this job (the engine's own options otherwise): CFG batched or split,
  // VAE tiles unless the engine was given its own, and the DiT parked for the last decode.
  auto& run = pipeline_->options();
  run.batched_cfg = options_.pipeline.batched_cfg;
  run.vae_tiling = options_.pipeline.vae_tiling;
  run.park_dit_up_to_bytes = options_.pipeline.park_dit_up_to_bytes;
  if (plan && options_.device.is_cuda()) apply_memory_plan(*plan, run);
  run.cfg = ranks.cfg_parallel() ? options_.cfg_groups : CfgGroups{};
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

  if (parallel) logger("pipeline")->info("ranks: {}", ranks.description);
  emit(reported, PhaseStarted{Phase::Denoising, parallel ? ranks.description : std::string()});
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
