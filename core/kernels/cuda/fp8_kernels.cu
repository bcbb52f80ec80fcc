// Row-wise float8 (e4m3) quantization of GEMM inputs: one pass reads a bf16 row, finds its largest
// magnitude and writes the scaled float8 row and its scale.

#include <cuda_fp8.h>

#include "kernels/cuda/launch.h"
#include "kernels/cuda/vector_io.cuh"

namespace skyreels::kernels::cuda {
namespace {

constexpr int kMaxChunks = 8;

// LibTorch's tanh GELU of a bf16 value: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) in float32, in
// its order, rounded to bf16.
__device__ __forceinline__ float gelu_tanh_bf16(float x) {
  constexpr float kBeta = 0.7978845608028654f;  // sqrt(2) * 2/sqrt(pi) * 0.5
  constexpr float kKappa = 0.044715f;
  const float cube = __fmul_rn(__fmul_rn(x, x), x);
  const float inner = __fmul_rn(kBeta, __fadd_rn(x, __fmul_rn(kKappa, cube)));
  const float g = __fmul_rn(__fmul_rn(0.5f, x), __fadd_rn(1.f, tanhf(inner)));
  return __bfloat162float(__float2bfloat16_rn(g));
}

template <bool kGelu>
__global__ void quantize_rows_kernel(QuantizeRowsArgs a) {
  __shared__ float shared[32];
  const std::int64_t r = blockIdx.x;
  const int chunks = static_cast<int>(a.K / kVec);
  float v[kMaxChunks][kVec];
  float amax = 0.f;
#pragma unroll
  for (int i = 0; i < kMaxChunks; ++i) {
    const int c = threadIdx.x + i * blockDim.x;
    if (c >= chunks) break;
    load8(a.x, DType::BFloat16, r * a.x_stride + c * kVec, v[i]);
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      if (kGelu) v[i][k] = gelu_tanh_bf16(v[i][k]);
      amax = fmaxf(amax, fabsf(v[i][k]));
    }
  }
  const float scale = __fmul_rn(fmaxf(block_max(amax, shared), kFp8TinyAmax), kFp8InverseE4m3Max);
  if (threadIdx.x == 0) a.scale[r] = scale;
#pragma unroll
  for (int i = 0; i < kMaxChunks; ++i) {
    const int c = threadIdx.x + i * blockDim.x;
    if (c >= chunks) break;
    __nv_fp8_e4m3 q[kVec];
#pragma unroll
    for (int k = 0; k < kVec; ++k) q[k] = __nv_fp8_e4m3(__fdiv_rn(v[i][k], scale));
    *reinterpret_cast<uint2*>(static_cast<unsigned char*>(a.q) + r * a.K + c * kVec) = *reinterpret_cast<uint2*>(q);
  }
}

}  // namespace

const char* quantize_rows_fp8(const QuantizeRowsArgs& args, void* stream) {
  if (args.M == 0) return nullptr;
  const std::int64_t chunks = args.K / kVec;
  if (args.K % kVec != 0 || chunks > 256 * kMaxChunks) return "quantize_rows_fp8: row size unsupported";
  const dim3 grid(static_cast<unsigned>(args.M)), block(256);
  if (args.gelu_tanh)
    quantize_rows_kernel<true><<<grid, block, 0, static_cast<cudaStream_t>(stream)>>>(args);
  else
    quantize_rows_kernel<false><<<grid, block, 0, static_cast<cudaStream_t>(stream)>>>(args);
  return launch_status();
}

}  // namespace skyreels::kernels::cuda
