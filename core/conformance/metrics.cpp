#include "conformance/metrics.h"

#include <cmath>
#include <limits>

#include <ATen/ATen.h>

#include "skyreels/error.h"

namespace skyreels::conformance {
namespace {

void check_same_shape(const at::Tensor& out, const at::Tensor& ref) {
  if (!out.sizes().equals(ref.sizes()))
    throw Error(ErrorCode::ShapeMismatch, "compared tensors differ in shape: " + c10::str(out.sizes()) + " vs " +
                                              c10::str(ref.sizes()));
}

}  // namespace

double relative_l2(const at::Tensor& out, const at::Tensor& ref) {
  check_same_shape(out, ref);
  const auto o = out.detach().to(at::kCPU, at::kDouble);
  const auto r = ref.detach().to(at::kCPU, at::kDouble);
  const double diff = (o - r).norm().item<double>();
  const double norm = r.norm().item<double>();
  if (std::isnan(diff) || std::isnan(norm)) return std::numeric_limits<double>::infinity();
  if (norm == 0.0) return diff == 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
  return diff / norm;
}

double cosine_similarity(const at::Tensor& out, const at::Tensor& ref) {
  check_same_shape(out, ref);
  const auto o = out.detach().to(at::kCPU, at::kDouble).flatten();
  const auto r = ref.detach().to(at::kCPU, at::kDouble).flatten();
  return (o.dot(r) / (o.norm() * r.norm())).item<double>();
}

double mean_abs_error(const at::Tensor& out, const at::Tensor& ref) {
  check_same_shape(out, ref);
  const auto o = out.detach().to(at::kCPU, at::kDouble);
  const auto r = ref.detach().to(at::kCPU, at::kDouble);
  const double mae = (o - r).abs().mean().item<double>();
  return std::isnan(mae) ? std::numeric_limits<double>::infinity() : mae;
}

}  // namespace skyreels::conformance
