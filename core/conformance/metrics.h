#pragma once

#include <ATen/core/Tensor.h>

namespace skyreels::conformance {

// ||out - ref|| / ||ref|| in double precision (on the CPU). Shapes must match (skyreels::Error
// otherwise); NaN anywhere gives +inf so a comparison against a tolerance fails.
double relative_l2(const at::Tensor& out, const at::Tensor& ref);

// <out, ref> / (||out|| ||ref||) over all elements, in double precision (on the CPU). Shapes must match;
// NaN anywhere, or an all-zero side, gives NaN, which fails any comparison against a bar.
double cosine_similarity(const at::Tensor& out, const at::Tensor& ref);

// Mean of |out - ref| in double precision.
double mean_abs_error(const at::Tensor& out, const at::Tensor& ref);

}  // namespace skyreels::conformance
