#pragma once

// LibTorch version checks in one place. The engine builds against Debian's LibTorch 1.13 (CPU) and
// CUDA LibTorch 2.x; features that exist only in newer versions are guarded with these.
#include <torch/version.h>

#define SKYREELS_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

// at::scaled_dot_product_attention with an explicit `scale` argument (2.1+).
#define SKYREELS_HAS_SDPA SKYREELS_TORCH_AT_LEAST(2, 1)

// at::_scaled_mm with row-wise float32 scales and a bf16 result (2.5+; float8 GEMMs of the fast mode).
#define SKYREELS_HAS_FP8_GEMM SKYREELS_TORCH_AT_LEAST(2, 5)
