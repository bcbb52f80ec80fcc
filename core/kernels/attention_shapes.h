#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/StringUtil.h>

#include "skyreels/error.h"

namespace skyreels::kernels {

// The layout every attention of ours takes: q [B, Lq, H, D] and k, v [B, Lk, H, D]; an
// Error(ShapeMismatch) naming the shapes otherwise. `what` starts the message ("attention").
inline void check_attention_shapes(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const char* what) {
  if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4 || q.size(0) != k.size(0) || q.size(2) != k.size(2) ||
      q.size(3) != k.size(3) || !k.sizes().equals(v.sizes()))
    throw Error(ErrorCode::ShapeMismatch, std::string(what) + " expects q [B, Lq, H, D] and k, v [B, Lk, H, D]; got " +
                                              c10::str(q.sizes()) + ", " + c10::str(k.sizes()) + ", " +
                                              c10::str(v.sizes()));
}

}  // namespace skyreels::kernels
