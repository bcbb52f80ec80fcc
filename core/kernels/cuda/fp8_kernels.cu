// Row-wise float8 (e4m3) quantization of GEMM inputs: one pass reads a bf16 row, finds its largest
// magnitude and writes the scaled float8 row and its scale.

#include <cuda_fp8.h>

#include "kernels/cuda/launch.h"
#include "kernels/cuda/vector_io.cuh"

namespace skyreels::kernels::cuda {
namespace {

constexpr int kMaxChunks = 8;

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
    for (int k = 0; k < kVec; ++k) amax = fmaxf(amax, fabsf(v[i][k]));
  }
  const float scale = fmaxf(block_max(amax, shared), kFp8TinyAmax) / kFp8E4m3Max;
  if (threadIdx.x == 0) a.scale[r] = scale;
#pragma unroll
  for (int i = 0; i < kMaxChunks; ++i) {
    const int c = threadIdx.x + i * blockDim.x;
    if (c >= chunks) break;
    __nv_fp8_e4m3 q[kVec];
#pragma unroll
    for (int k = 0; k < kVec; ++k) q[k] = __nv_fp8_e4m3(v[i][k] / scale);
    *reinterpret_cast<uint2*>(static_cast<unsigned char*>(a.q) + r * a.K + c * kVec) = *reinterpret_cast<uint2*>(q);
  }
}

}  // namespace

const char* quantize_rows_fp8(const QuantizeRowsArgs& args, void* stream) {
  if (args.M == 0) return nullptr;
  const std::int64_t chunks = args.K / kVec;
  if (args.K % kVec != 0 || chunks > 256 * kMaxChunks) return "quantize_rows_fp8: row size unsupported";
  quantize_rows_kernel<<<static_cast<unsigned>(args.M), 256, 0, static_cast<cudaStream_t>(stream)>>>(args);
  return launch_status();
}

}  // namespace skyreels::kernels::cuda
