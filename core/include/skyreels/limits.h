#pragma once

#include <cstdint>

// The bounds every generation setting is checked against, whatever its source (command line, settings
// file, a video's metadata, the app's form, a fixture): one place, so every front end agrees.

namespace skyreels::limits {

inline constexpr std::int64_t kMaxSide = 8192;                 // width or height, pixels
inline constexpr std::int64_t kMaxPixelsPerFrame = 4096 * 4096;  // width x height
inline constexpr std::int64_t kMaxFrames = 100000;             // pixel frames of one job
// The DiT's RoPE table has 1024 positions per axis: a window holds at most 1024 latent frames.
inline constexpr std::int64_t kMaxWindowLatents = 1024;
inline constexpr std::int64_t kMaxWindowFrames = 1 + 4 * (kMaxWindowLatents - 1);
inline constexpr int kMaxSteps = 1000;
inline constexpr int kMaxFps = 240;
inline constexpr double kMaxShift = 1000.0;
inline constexpr double kMaxGuidance = 100.0;
inline constexpr double kMaxVramBudgetGib = 16384.0;  // a GPU-memory budget, GiB (far above any card)
inline constexpr int kMaxArStep = 1000;
inline constexpr double kMaxStepCacheThreshold = 1e12;  // past ~10 every row between first and last steps reuses
inline constexpr std::uint64_t kMaxSeed = (std::uint64_t{1} << 53) - 1;  // exact in every JSON reader
inline constexpr std::int64_t kMaxPromptBytes = 16384;         // the encoder reads 512 tokens; this is far past it
inline constexpr int kMaxLoras = 32;               // LoRAs merged into one job's DiT
inline constexpr double kMaxLoraStrength = 10.0;   // |strength|; LoRAs are used between about -2 and 2

}  // namespace skyreels::limits
