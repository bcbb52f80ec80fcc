// Row kernels of the DiT block: residual + LayerNorm + modulation, and RMSNorm + RoPE, each one pass
// over a row held in registers. Rounding follows the LibTorch fallbacks op by op (explicit _rn
// intrinsics: no contraction into FMAs the reference does not do), so the kernels differ from them
// only in the order of the row reductions.

#include "kernels/cuda/launch.h"
#include "kernels/cuda/vector_io.cuh"

namespace skyreels::kernels::cuda {
namespace {

constexpr int kMaxChunks = 4;  // 8-element chunks per thread: rows up to 8 * 4 * threads elements

int threads_for(std::int64_t chunks) { return chunks <= 128 * kMaxChunks / 2 ? 128 : 256; }

__device__ __forceinline__ const float* table_row(const RowTable& t, std::int64_t r) {
  return t.data + ((r / t.divisor) % t.rows) * t.row_stride;
}

__device__ __forceinline__ float round_bf16(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }

__global__ void residual_norm_kernel(ResidualNormArgs a) {
  __shared__ float shared[32];
  const std::int64_t r = blockIdx.x;
  const std::int64_t b = r / (a.F * a.S), f = (r / a.S) % a.F, s = r % a.S;
  const auto offset = [&](const RowTensor& t) { return b * t.s0 + f * t.s1 + s * t.s2; };
  const int chunks = static_cast<int>(a.D / kVec);
  const float* gate = a.gate.data ? table_row(a.gate, r) : nullptr;

  float v[kMaxChunks][kVec];
  float sum = 0.f;
#pragma unroll
  for (int i = 0; i < kMaxChunks; ++i) {
    const int c = threadIdx.x + i * blockDim.x;
    if (c >= chunks) break;
    load8(a.x.data, a.x.dtype, offset(a.x) + c * kVec, v[i]);
    if (a.y.data) {
      float y[kVec];
      load8(a.y.data, DType::BFloat16, offset(a.y) + c * kVec, y);
#pragma unroll
      for (int k = 0; k < kVec; ++k)
        v[i][k] = gate ? __fadd_rn(v[i][k], __fmul_rn(y[k], gate[c * kVec + k])) : __fadd_rn(v[i][k], y[k]);
    }
    if (a.h_out.data) store8(a.h_out.data, DType::Float32, offset(a.h_out) + c * kVec, v[i]);
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      if (a.round_h_to_bf16) v[i][k] = round_bf16(v[i][k]);
      sum += v[i][k];
    }
  }

  float mean = 0.f, rstd = 1.f;
  if (a.norm != NormKind::None) {
    mean = block_sum(sum, shared) / static_cast<float>(a.D);
    float squares = 0.f;
#pragma unroll
    for (int i = 0; i < kMaxChunks; ++i) {
      const int c = threadIdx.x + i * blockDim.x;
      if (c >= chunks) break;
#pragma unroll
      for (int k = 0; k < kVec; ++k) {
        const float d = v[i][k] - mean;
        squares += d * d;
      }
    }
    rstd = rsqrtf(block_sum(squares, shared) / static_cast<float>(a.D) + a.eps);
  }

  const float* shift = a.shift.data ? table_row(a.shift, r) : nullptr;
  const float* scale = a.scale.data ? table_row(a.scale, r) : nullptr;
#pragma unroll
  for (int i = 0; i < kMaxChunks; ++i) {
    const int c = threadIdx.x + i * blockDim.x;
    if (c >= chunks) break;
    float n[kVec], w[kVec], bias[kVec];
    if (a.norm == NormKind::Affine) {
      load8(a.weight, a.weight_dtype, c * kVec, w);
      load8(a.bias, a.weight_dtype, c * kVec, bias);
    }
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      const int d = c * kVec + k;
      float x = v[i][k];
      if (a.norm != NormKind::None) x = __fmul_rn(__fsub_rn(x, mean), rstd);
      if (a.norm == NormKind::Affine) x = __fadd_rn(__fmul_rn(x, w[k]), bias[k]);
      if (scale) x = __fmul_rn(x, __fadd_rn(1.f, scale[d]));
      if (shift) x = __fadd_rn(x, shift[d]);
      n[k] = x;
    }
    store8(a.out.data, a.out.dtype, offset(a.out) + c * kVec, n);
  }
}

__global__ void rms_norm_rope_kernel(RmsNormRopeArgs a) {
  __shared__ float shared[32];
  const std::int64_t r = blockIdx.x;
  const std::int64_t b = r / a.N, n = r % a.N;
  const int chunks = static_cast<int>(a.H * a.Dh / kVec);
  const std::int64_t half = a.Dh / 2;

  float v[kMaxChunks][kVec];
  float squares = 0.f;
#pragma unroll
  for (int i = 0; i < kMaxChunks; ++i) {
    const int c = threadIdx.x + i * blockDim.x;
    if (c >= chunks) break;
    load8(a.y, DType::BFloat16, b * a.y_s0 + n * a.y_s1 + c * kVec, v[i]);
#pragma unroll
    for (int k = 0; k < kVec; ++k) squares += v[i][k] * v[i][k];
  }
  const float rstd = rsqrtf(block_sum(squares, shared) / static_cast<float>(a.H * a.Dh) + a.eps);

  const float* cos = a.cos ? a.cos + n * half : nullptr;
  const float* sin = a.sin ? a.sin + n * half : nullptr;
#pragma unroll
  for (int i = 0; i < kMaxChunks; ++i) {
    const int c = threadIdx.x + i * blockDim.x;
    if (c >= chunks) break;
    float w[kVec], out[kVec];
    load8(a.weight, a.weight_dtype, c * kVec, w);
#pragma unroll
    for (int p = 0; p < kVec / 2; ++p) {
      // Adjacent channels are one complex number; its angle is that of pair j of the head.
      const std::int64_t j = (c * kVec / 2 + p) % half;
      const float re = __fmul_rn(__fmul_rn(v[i][2 * p], rstd), w[2 * p]);
      const float im = __fmul_rn(__fmul_rn(v[i][2 * p + 1], rstd), w[2 * p + 1]);
      if (a.cos) {
        out[2 * p] = __fsub_rn(__fmul_rn(re, cos[j]), __fmul_rn(im, sin[j]));
        out[2 * p + 1] = __fadd_rn(__fmul_rn(re, sin[j]), __fmul_rn(im, cos[j]));
      } else {
        out[2 * p] = re;
        out[2 * p + 1] = im;
      }
    }
    store8(a.out, DType::BFloat16, b * a.out_s0 + n * a.out_s1 + c * kVec, out);
  }
}

}  // namespace

const char* residual_norm(const ResidualNormArgs& args, void* stream) {
  const std::int64_t rows = args.B * args.F * args.S;
  const std::int64_t chunks = args.D / kVec;
  if (rows == 0) return nullptr;
  if (args.D % kVec != 0 || chunks > 256 * kMaxChunks) return "residual_norm: row size unsupported";
  residual_norm_kernel<<<static_cast<unsigned>(rows), threads_for(chunks), 0, static_cast<cudaStream_t>(stream)>>>(args);
  return launch_status();
}

const char* rms_norm_rope(const RmsNormRopeArgs& args, void* stream) {
  const std::int64_t rows = args.B * args.N;
  const std::int64_t chunks = args.H * args.Dh / kVec;
  if (rows == 0) return nullptr;
  if (args.Dh % kVec != 0 || chunks > 256 * kMaxChunks) return "rms_norm_rope: row size unsupported";
  rms_norm_rope_kernel<<<static_cast<unsigned>(rows), threads_for(chunks), 0, static_cast<cudaStream_t>(stream)>>>(args);
  return launch_status();
}

}  // namespace skyreels::kernels::cuda
