#include "pipeline/memory_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>

#include "skyreels/error.h"

namespace skyreels::pipeline {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// --- The estimate's constants, all in one place --------------------------------------------------------
// Calibrated from docs/performance.md's measured peaks (H200, 2026-12-01, unless marked). Each is to be
// re-measured on the GPU with the budget enforced (next session, skyreels-bench) and replaced here.

// Kept free of every estimate: the allocator's fragmentation (peak reserved runs above peak allocated) and
// the fit's error. A fraction of the budget, so small cards keep a small but proportional reserve.
constexpr double kSafetyMarginFraction = 0.08;

// A DiT call's activations (peak allocated minus weights) = kPerTokenDim x batch x tokens x dim
//                                               + kPerChunkFfn x min(batch x tokens, chunk) x ffn_dim.
// The chunks cut the batch's rows together (FrameChunks over batch x tokens), so above the chunk the
// second term does not grow with the batch. Fitted, fused bf16 kernels, 51,000 tokens, chunk 16384, as
// the smallest estimate that is never below a measurement: exact at batch 1 (H100, 2026-12-07:
// DF-14B 3.18 GiB, DF-1.3B 1.31 GiB, skyreels-bench dit --batch 1) and above the batch-2 rows (H200,
// 2026-12-01: DF-14B 31.67 - 26.69 = 4.98 GiB, estimate 5.34; DF-1.3B 4.43 - 2.68 = 1.75, estimate
// 1.96). float8 leaves the activations as they are (18.55 - 13.61 GiB at batch 2). Without the fused
// kernels (SKYREELS_CUDA_KERNELS=OFF) they are larger: DF-14B batch 1 3.91 GiB (H100, 2026-12-07).
constexpr double kDitBytesPerTokenDim = 8.87;
constexpr double kDitBytesPerChunkTokenFfn = 4.85;
// The allocator's reserve beyond the activations it hands out (peak reserved minus peak allocated), a
// fraction of the activations: 0.22 (DF-14B resident) to 0.34 (DF-14B, every block streamed, 6.08 GiB
// reserved for 5.00 allocated); DF-1.3B 0.33 resident, 0.14 streamed (H100, 2026-12-07, batch 1).
constexpr double kAllocatorSlackOfActivations = 0.35;

// A VAE decode call, untiled = kVaePerPixel x H x W (causal caches, working set, weights)
//                             + kVaePerFramePixel x frames x H x W (the float32 output and per-frame work).
// 540P: 4.86 GiB for one 97-frame call ("VAE decode"), 4.13 GiB for 16-frame calls in a generation with
// the DiT parked ("Memory", DF-1.3B sync).
constexpr double kVaeBytesPerPixel = 8194.9;
constexpr double kVaeBytesPerFramePixel = 18.53;
// Tiled: the caches follow one tile's pixels ((tile x 8)^2); the output stays whole-frame. Fitted to
// 1.86 GiB for 34/8 at 540P, 97 frames (H100, 2026-11-25, measured before the full-resolution stages
// went frame by frame: likely an overestimate now).
constexpr double kVaeBytesPerTilePixel = 14307.0;
constexpr std::int64_t kVaeSpatialScale = 8;
// Tiles tried when the whole frame does not fit, largest first (latents, overlap). 34/8 is the measured one.
constexpr std::int64_t kVaeTiles[][2] = {{34, 8}, {24, 6}, {16, 4}};

// umT5-XXL's activations for a 512-token prompt: 10.85 allocated - 10.58 of weights (H100, 2026-11-25).
constexpr double kTextActivationBytes = 0.27 * kGiB;

std::int64_t to_bytes(double bytes) { return static_cast<std::int64_t>(std::ceil(bytes)); }

const char* cfg_text(CfgPlacement cfg) {
  switch (cfg) {
    case CfgPlacement::Batched: return "CFG as one batch-2 call";
    case CfgPlacement::Split: return "CFG as two calls";
    case CfgPlacement::None: break;
  }
  return "no CFG";
}

const char* text_text(TextPlacement text) {
  switch (text) {
    case TextPlacement::GpuThenFree: return "text encoder on the GPU, then freed";
    case TextPlacement::Cpu: return "text encoder on the CPU";
    case TextPlacement::None: break;
  }
  return "prompts cached";
}

void check_needs(const MemoryNeeds& n) {
  if (n.dit_blocks <= 0 || n.block_bytes <= 0 || n.dit_other_bytes < 0 || n.dim <= 0 || n.ffn_dim <= 0 ||
      n.tokens_per_call <= 0 || n.chunk_tokens < 0 || n.text_encoder_bytes < 0 || n.decode_height <= 0 ||
      n.decode_width <= 0 || n.decode_frames <= 0)
    throw Error(ErrorCode::BadArgument, "memory plan: the model's or job's sizes are missing or negative");
}

std::string label(const MemoryNeeds& n) { return n.job_label.empty() ? "this size" : n.job_label; }

// The DiT's bytes on the device with `resident` blocks kept and the rest streamed through two slots.
std::int64_t dit_device_bytes(const MemoryNeeds& n, int resident) {
  const int streamed = n.dit_blocks - resident;
  return n.dit_other_bytes + static_cast<std::int64_t>(resident + std::min(streamed, 2)) * n.block_bytes;
}

// Most blocks kept resident with these activations within `usable`, or -1 when not even the streaming
// minimum fits.
int max_resident(const MemoryNeeds& n, std::int64_t activations, std::int64_t usable) {
  for (int r = n.dit_blocks; r >= 0; --r)
    if (dit_device_bytes(n, r) + activations <= usable) return r;
  return -1;
}

}  // namespace

std::int64_t dit_tokens(std::int64_t latent_frames, std::int64_t height, std::int64_t width) {
  return latent_frames * (height / 16) * (width / 16);
}

std::int64_t usable_bytes(std::int64_t budget_bytes) {
  return static_cast<std::int64_t>(static_cast<double>(budget_bytes) * (1.0 - kSafetyMarginFraction));
}

std::int64_t dit_activation_bytes(const MemoryNeeds& n, int batch) {
  const double tokens = static_cast<double>(n.tokens_per_call);
  const double rows = batch * tokens;
  const double chunk = n.chunk_tokens > 0 ? std::min(rows, static_cast<double>(n.chunk_tokens)) : rows;
  return to_bytes(kDitBytesPerTokenDim * rows * n.dim + kDitBytesPerChunkTokenFfn * chunk * n.ffn_dim);
}

// What a DiT call takes beyond its weights: its activations and the allocator's reserve around them.
std::int64_t dit_call_bytes(const MemoryNeeds& n, int batch) {
  return to_bytes(static_cast<double>(dit_activation_bytes(n, batch)) * (1.0 + kAllocatorSlackOfActivations));
}

std::int64_t vae_decode_bytes(std::int64_t height, std::int64_t width, std::int64_t frames, std::int64_t tile) {
  const double pixels = static_cast<double>(height) * width;
  const double output = kVaeBytesPerFramePixel * frames * pixels;
  if (tile <= 0) return to_bytes(kVaeBytesPerPixel * pixels + output);
  const double side_h = std::min<double>(tile * kVaeSpatialScale, height);
  const double side_w = std::min<double>(tile * kVaeSpatialScale, width);
  return to_bytes(kVaeBytesPerTilePixel * side_h * side_w + output);
}

std::string gib_text(std::int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes) / kGiB);
  return text;
}

std::int64_t gib_to_bytes(double gib) { return static_cast<std::int64_t>(gib * kGiB); }

MemoryPlan plan_memory(std::int64_t budget_bytes, const MemoryNeeds& n) {
  check_needs(n);
  if (budget_bytes <= 0) throw Error(ErrorCode::BadArgument, "memory plan: the budget must be positive");
  const std::int64_t usable = usable_bytes(budget_bytes);
  const auto needed_budget = [](std::int64_t bytes) {
    return to_bytes(static_cast<double>(bytes) / (1.0 - kSafetyMarginFraction));
  };

  MemoryPlan plan;
  plan.budget_bytes = budget_bytes;

  // CFG: batching gains nothing measurable (docs/performance.md, "DiT call"), so the split is taken
  // whenever it keeps more blocks resident; a tie keeps the caller's preference.
  const std::int64_t act_single = dit_call_bytes(n, 1);
  std::int64_t activations = act_single;
  plan.cfg = n.guidance ? CfgPlacement::Split : CfgPlacement::None;
  int resident = max_resident(n, act_single, usable);
  if (n.guidance && n.prefer_batched_cfg) {
    const std::int64_t act_batched = dit_call_bytes(n, 2);
    const int resident_batched = max_resident(n, act_batched, usable);
    if (resident_batched >= 0 && resident_batched >= resident) {
      resident = resident_batched;
      activations = act_batched;
      plan.cfg = CfgPlacement::Batched;
    }
  }
  if (resident < 0) {
    const std::int64_t minimum = dit_device_bytes(n, 0) + act_single;
    throw Error(ErrorCode::BadArgument,
                "the budget " + gib_text(budget_bytes) + " cannot hold the DiT's streaming minimum (" +
                    gib_text(n.dit_other_bytes) + " outside the blocks + two block slots of " +
                    gib_text(n.block_bytes) + ") plus a call's activations with the allocator's reserve (" +
                    gib_text(act_single) + ") at " +
                    label(n) + "; raise it to at least " + gib_text(needed_budget(minimum)) +
                    " or lower the resolution/frames");
  }

  // The VAE: whole frames when they fit, else the largest tile that does. Decodes between rows share the
  // device with the DiT; that can cost resident blocks, which are given up one at a time.
  const auto decode_bytes = [&](std::int64_t tile) {
    return vae_decode_bytes(n.decode_height, n.decode_width, n.decode_frames, tile);
  };
  const auto fits_decode = [&](int r, std::int64_t tile) {
    const std::int64_t with_dit = dit_device_bytes(n, r) + decode_bytes(tile);
    if (n.decodes_between_rows && with_dit > usable) return false;
    return decode_bytes(tile) <= usable;  // the last decode can always park the DiT
  };
  std::int64_t tile = -1, overlap = 0;
  for (; resident >= 0 && tile < 0; --resident) {
    if (fits_decode(resident, 0)) { tile = 0; break; }
    for (const auto& t : kVaeTiles)
      if (fits_decode(resident, t[0])) { tile = t[0]; overlap = t[1]; break; }
    if (tile >= 0) break;
  }
  if (tile < 0) {
    const std::int64_t smallest = decode_bytes(kVaeTiles[std::size(kVaeTiles) - 1][0]);
    const std::int64_t minimum = n.decodes_between_rows ? dit_device_bytes(n, 0) + smallest : smallest;
    throw Error(ErrorCode::BadArgument,
                "the budget " + gib_text(budget_bytes) + " cannot hold a VAE decode of " +
                    std::to_string(n.decode_frames) + " frames at " + std::to_string(n.decode_height) + "x" +
                    std::to_string(n.decode_width) + " even in the smallest tiles (" + gib_text(smallest) +
                    (n.decodes_between_rows ? " beside the DiT's streaming minimum" : "") + "); raise it to at least " +
                    gib_text(needed_budget(minimum)) + " or lower the resolution");
  }
  plan.resident_blocks = resident;
  plan.streamed_blocks = n.dit_blocks - resident;
  plan.stream_slots = std::min(plan.streamed_blocks, 2);
  plan.vae_tile = tile;
  plan.vae_overlap = overlap;

  const std::int64_t dit_bytes = dit_device_bytes(n, resident);
  const std::int64_t decode = decode_bytes(tile);
  plan.park_dit_for_last_decode = dit_bytes + decode > usable;
  plan.dit_peak = dit_bytes + activations;
  plan.decode_peak = (plan.park_dit_for_last_decode ? 0 : dit_bytes) + decode;
  if (n.decodes_between_rows) plan.decode_peak = std::max(plan.decode_peak, dit_bytes + decode);

  // The text encoder runs once per job with the DiT's device part loaded (the engine loads the DiT first).
  if (n.text_encoder_bytes == 0) {
    plan.text = TextPlacement::None;
    plan.text_peak = dit_bytes;
  } else if (dit_bytes + n.text_encoder_bytes + to_bytes(kTextActivationBytes) <= usable) {
    plan.text = TextPlacement::GpuThenFree;
    plan.text_peak = dit_bytes + n.text_encoder_bytes + to_bytes(kTextActivationBytes);
  } else {
    plan.text = TextPlacement::Cpu;
    plan.text_peak = dit_bytes;
  }
  plan.peak = std::max({plan.text_peak, plan.dit_peak, plan.decode_peak});

  std::string d = "DiT: " + std::to_string(plan.resident_blocks) + " of " + std::to_string(n.dit_blocks) +
                  " blocks resident";
  if (plan.streamed_blocks > 0)
    d += ", " + std::to_string(plan.streamed_blocks) + " streamed through " + std::to_string(plan.stream_slots) +
         (plan.stream_slots == 1 ? " slot" : " slots");
  d += std::string("; ") + cfg_text(plan.cfg) + "; " + text_text(plan.text) + "; VAE ";
  d += plan.vae_tiled() ? "tiled " + std::to_string(plan.vae_tile) + "/" + std::to_string(plan.vae_overlap)
                        : std::string("untiled");
  if (plan.park_dit_for_last_decode) d += "; DiT parked for the last decode";
  char peak[96];
  std::snprintf(peak, sizeof peak, "; peak ≈ %.1f of %.1f GiB", static_cast<double>(plan.peak) / kGiB,
                static_cast<double>(budget_bytes) / kGiB);
  plan.description = d + peak;
  return plan;
}

}  // namespace skyreels::pipeline
