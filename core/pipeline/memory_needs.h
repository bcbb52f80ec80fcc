#pragma once

#include <cstdint>
#include <string>

#include "pipeline/memory_plan.h"
#include "skyreels/settings.h"

// What a job needs of the device, for the memory planner: from the DiT's weights (shapes only, nothing is
// read) and the settings. Kept apart from the planner so that stays free of LibTorch and model code.

namespace skyreels::io {
class TensorSource;
}

namespace skyreels::pipeline {

struct PipelineOptions;

// `text_encoder_bytes`: what the text encoder would put on the device (0: it runs on the CPU or the
// prompts are cached). Bytes are as loaded: bf16, with `settings.fp8` the blocks' linear weights float8
// with one float32 scale per row.
MemoryNeeds memory_needs(const io::TensorSource& dit_weights, const GenerationSettings& settings,
                         const PipelineOptions& options, std::int64_t text_encoder_bytes);

// The plan's execution choices onto a job's pipeline options: CFG batched or split, the VAE's tiles
// (unless the options already tile), and the DiT parked for the last decode. Where the blocks live is
// the DiT's load (DitStreaming), and the allocator's cap the caller's.
void apply_memory_plan(const MemoryPlan& plan, PipelineOptions& run);

// Bytes of a weights file, or of the files in a folder of shards (a bf16 .pth is about its weights).
std::int64_t weights_file_bytes(const std::string& path);

}  // namespace skyreels::pipeline
