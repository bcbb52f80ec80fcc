// 8-bit self-attention on Hopper (sm_90a): the `--int8-attention` fast mode's kernels (issue 26), the
// math of quantized_attention_reference (kernels/quantized_attention.cpp) with INT8 Q·K and bf16 P·V.
//
// quantize_blocks_int8 writes q and k as int8 rows of 128 bytes, per (b, h), padded to whole tiles,
// with one scale per block of tokens. int8_attention_kernel then takes one (b, h) and 128 queries per
// CTA: two warpgroups of 64 query rows. Over key tiles of 128 (loaded with cp.async one tile ahead into
// two stages of shared memory, in the 128-byte swizzle wgmma reads):
//   S = Q·K^T       wgmma s8 x s8 -> s32, Q and K from shared memory (both K-major: 128 bytes a row);
//   S * scales      to float32 in log2 units (q scale x k scale x softmax scale x log2 e);
//   online softmax  running row max m and row sum l in float32 (FlashAttention's recurrence);
//   O += P·V        P rounded to bf16 in registers (the accumulator's layout is wgmma's A layout), V
//                   bf16 from shared memory, N-major (a key's 128 channels are contiguous);
// and O / l rounded to bf16 at the end.

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "kernels/cuda/launch.h"
#include "kernels/cuda/vector_io.cuh"

namespace skyreels::kernels::cuda {
namespace {

constexpr int kDim = kInt8AttentionHeadDim;
constexpr int kTile = kInt8AttentionTile;         // keys per tile
constexpr int kQuantizeThreads = 256;
constexpr int kRowBytesI8 = kDim;                 // an int8 row: 128 bytes, one swizzle row
constexpr int kTileBytesI8 = kTile * kRowBytesI8;  // 16 KiB
constexpr int kHalfBytesV = kTile * 128;          // 64 channels of 128 keys in bf16
constexpr int kTileBytesV = 2 * kHalfBytesV;      // 32 KiB
constexpr int kSmemAlign = 1024;  // the 128-byte swizzle repeats every 1024 bytes

// A CTA of `kWarpgroups` warpgroups, 64 query rows each: two share each key tile loaded (half the
// loads per query), one leaves room for two CTAs an SM whose softmax and products interleave.
// `kStages` key tiles in flight: 2 (load the next while this one is used), or 3 for the pipelined
// loop, whose P·V of tile t still reads its V while tile t + 2 loads.
template <int kWarpgroups, int kStages>
struct CtaShape {
  static constexpr int kThreads = 128 * kWarpgroups;
  static constexpr int kRows = 64 * kWarpgroups;
  static constexpr int kSmemQ = 0;
  static constexpr int kSmemK = kSmemQ + kRows * kRowBytesI8;
  static constexpr int kSmemV = kSmemK + kStages * kTileBytesI8;
  static constexpr int kSmemBytes = kSmemV + kStages * kTileBytesV + kSmemAlign;
};
constexpr float kLog2E = 1.4426950408889634f;
constexpr float kInt8Max = 127.f;
constexpr int kMaxQuantizeChunks = 8;  // 8-element chunks per thread: 128 tokens x 16 chunks / 256 threads

// ---- quantization ----

__global__ void quantize_blocks_kernel(QuantizeBlocksArgs a) {
  __shared__ float shared[32];
  const std::int64_t block = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int chunks = static_cast<int>(a.block) * (kDim / kVec);
  float v[kMaxQuantizeChunks][kVec];
  float amax = 0.f;
#pragma unroll
  for (int i = 0; i < kMaxQuantizeChunks; ++i) {
    const int c = threadIdx.x + i * blockDim.x;
    if (c >= chunks) break;
    const std::int64_t token = block * a.block + c / (kDim / kVec);
    const int d0 = (c % (kDim / kVec)) * kVec;
    if (token < a.L) {
      load8(a.x, DType::BFloat16, b * a.s0 + token * a.s1 + h * a.s2 + d0, v[i]);
      if (a.mean) {
        const float* mean = a.mean + (b * a.H + h) * kDim + d0;
#pragma unroll
        for (int k = 0; k < kVec; ++k) v[i][k] = __fsub_rn(v[i][k], mean[k]);
      }
    } else {
#pragma unroll
      for (int k = 0; k < kVec; ++k) v[i][k] = 0.f;
    }
#pragma unroll
    for (int k = 0; k < kVec; ++k) amax = fmaxf(amax, fabsf(v[i][k]));
  }
  amax = block_max(amax, shared);
  const float scale = amax > 0.f ? __fdiv_rn(amax, kInt8Max) : 1.f;
  const std::int64_t head = b * a.H + h;
  if (threadIdx.x == 0) a.scales[head * (a.Lpad / a.block) + block] = scale;
  // Chunk c is channels 8 (c % 16) on of token c / 16: c * 8 bytes into the block's int8 rows.
  auto* dst = static_cast<char4*>(a.values) + (head * a.Lpad + block * a.block) * kDim / 4;
#pragma unroll
  for (int i = 0; i < kMaxQuantizeChunks; ++i) {
    const int c = threadIdx.x + i * blockDim.x;
    if (c >= chunks) break;
    signed char q[kVec];
#pragma unroll
    for (int k = 0; k < kVec; ++k)
      q[k] = static_cast<signed char>(fminf(fmaxf(rintf(__fdiv_rn(v[i][k], scale)), -kInt8Max), kInt8Max));
    dst[2 * c] = make_char4(q[0], q[1], q[2], q[3]);
    dst[2 * c + 1] = make_char4(q[4], q[5], q[6], q[7]);
  }
}

// ---- Hopper primitives ----

__device__ __forceinline__ std::uint32_t smem_address(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, asynchronously; `bytes` 0 writes zeros (rows past the keys).
__device__ __forceinline__ void cp_async_16(std::uint32_t dst, const void* src, int bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}
// Makes this thread's shared-memory writes visible to wgmma (the async proxy).
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
// Keeps registers that an in-flight wgmma reads alive (and unmoved) until this point: without it the
// compiler sees their last use at the instruction that issued the wgmma and may reuse them.
template <typename T, int kN>
__device__ __forceinline__ void keep_registers(T (&r)[kN]) {
#pragma unroll
  for (int i = 0; i < kN; ++i) asm volatile("" : "+r"(r[i])::"memory");
}

template <int kPending>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
}

// A shared-memory matrix descriptor with the 128-byte swizzle: start address, leading and stride byte
// offsets (PTX ISA, "Matrix Descriptor Format"), each encoded as (x & 0x3FFFF) >> 4.
__device__ __forceinline__ std::uint64_t smem_descriptor(std::uint32_t address, std::uint32_t leading,
                                                         std::uint32_t stride) {
  constexpr std::uint64_t kSwizzle128B = 1;
  return static_cast<std::uint64_t>((address & 0x3FFFF) >> 4) |
         static_cast<std::uint64_t>((leading & 0x3FFFF) >> 4) << 16 |
         static_cast<std::uint64_t>((stride & 0x3FFFF) >> 4) << 32 | kSwizzle128B << 62;
}

// The byte offset of 16-byte chunk `chunk` (0-7) of 128-byte row `row` in a 128-byte-swizzled region.
__device__ __forceinline__ std::uint32_t swizzled(int row, int chunk) {
  return static_cast<std::uint32_t>(row * 128 + ((chunk ^ (row & 7)) << 4));
}

__device__ __forceinline__ std::uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const std::uint32_t*>(&v);
}

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// S = Q·K^T (the first 32 channels: D is written, not read): int8 A (Q) and B (K) from shared
// memory, int32 accumulators (m64n128k32).
__device__ __forceinline__ void wgmma_s8_m64n128k32_first(std::int32_t (&d)[64], std::uint64_t a, std::uint64_t b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k32.s32.s8.s8 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p;\n}\n"
      : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3]), "=r"(d[4]), "=r"(d[5]), "=r"(d[6]), "=r"(d[7]), "=r"(d[8]), "=r"(d[9]), "=r"(d[10]), "=r"(d[11]), "=r"(d[12]), "=r"(d[13]), "=r"(d[14]), "=r"(d[15]), "=r"(d[16]), "=r"(d[17]), "=r"(d[18]), "=r"(d[19]), "=r"(d[20]), "=r"(d[21]), "=r"(d[22]), "=r"(d[23]), "=r"(d[24]), "=r"(d[25]), "=r"(d[26]), "=r"(d[27]), "=r"(d[28]), "=r"(d[29]), "=r"(d[30]), "=r"(d[31]), "=r"(d[32]), "=r"(d[33]), "=r"(d[34]), "=r"(d[35]), "=r"(d[36]), "=r"(d[37]), "=r"(d[38]), "=r"(d[39]), "=r"(d[40]), "=r"(d[41]), "=r"(d[42]), "=r"(d[43]), "=r"(d[44]), "=r"(d[45]), "=r"(d[46]), "=r"(d[47]), "=r"(d[48]), "=r"(d[49]), "=r"(d[50]), "=r"(d[51]), "=r"(d[52]), "=r"(d[53]), "=r"(d[54]), "=r"(d[55]), "=r"(d[56]), "=r"(d[57]), "=r"(d[58]), "=r"(d[59]), "=r"(d[60]), "=r"(d[61]), "=r"(d[62]), "=r"(d[63])
      : "l"(a), "l"(b), "n"(0));
}

// S += Q·K^T over the next 32 channels.
__device__ __forceinline__ void wgmma_s8_m64n128k32(std::int32_t (&d)[64], std::uint64_t a, std::uint64_t b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k32.s32.s8.s8 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p;\n}\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]), "+r"(d[6]), "+r"(d[7]), "+r"(d[8]), "+r"(d[9]), "+r"(d[10]), "+r"(d[11]), "+r"(d[12]), "+r"(d[13]), "+r"(d[14]), "+r"(d[15]), "+r"(d[16]), "+r"(d[17]), "+r"(d[18]), "+r"(d[19]), "+r"(d[20]), "+r"(d[21]), "+r"(d[22]), "+r"(d[23]), "+r"(d[24]), "+r"(d[25]), "+r"(d[26]), "+r"(d[27]), "+r"(d[28]), "+r"(d[29]), "+r"(d[30]), "+r"(d[31]), "+r"(d[32]), "+r"(d[33]), "+r"(d[34]), "+r"(d[35]), "+r"(d[36]), "+r"(d[37]), "+r"(d[38]), "+r"(d[39]), "+r"(d[40]), "+r"(d[41]), "+r"(d[42]), "+r"(d[43]), "+r"(d[44]), "+r"(d[45]), "+r"(d[46]), "+r"(d[47]), "+r"(d[48]), "+r"(d[49]), "+r"(d[50]), "+r"(d[51]), "+r"(d[52]), "+r"(d[53]), "+r"(d[54]), "+r"(d[55]), "+r"(d[56]), "+r"(d[57]), "+r"(d[58]), "+r"(d[59]), "+r"(d[60]), "+r"(d[61]), "+r"(d[62]), "+r"(d[63])
      : "l"(a), "l"(b), "n"(1));
}

// O += P·V: bf16 A (P) from registers, B (V) from shared memory N-major, float32 accumulators (m64n128k16).
__device__ __forceinline__ void wgmma_bf16_m64n128k16(float (&d)[64], const std::uint32_t (&a)[4], std::uint64_t b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "n"(1));
}

// ---- attention ----

// `kRows` int8 rows (128 bytes each) of a quantized [.., Lpad, 128] head into `dst`.
template <int kRows, int kThreads>
__device__ __forceinline__ void load_int8_rows(std::uint32_t dst, const signed char* src) {
  constexpr int kChunks = kRows * kRowBytesI8 / 16;
#pragma unroll
  for (int i = 0; i < kChunks / kThreads; ++i) {
    const int c = threadIdx.x + i * kThreads, row = c / 8, chunk = c % 8;
    cp_async_16(dst + swizzled(row, chunk), src + row * kRowBytesI8 + chunk * 16, 16);
  }
}

// Keys [first, first + 128) of v (bf16 rows of 128 channels) as two N-major halves of 64 channels;
// rows past Lk are zeros.
template <int kThreads>
__device__ __forceinline__ void load_v_tile(std::uint32_t dst, const __nv_bfloat16* v, std::int64_t row_stride,
                                            std::int64_t first, std::int64_t Lk) {
  constexpr int kChunksPerRow = kDim * 2 / 16;  // 16
#pragma unroll
  for (int i = 0; i < kTile * kChunksPerRow / kThreads; ++i) {
    const int c = threadIdx.x + i * kThreads, row = c / kChunksPerRow, chunk = c % kChunksPerRow;
    const bool inside = first + row < Lk;
    const __nv_bfloat16* src = inside ? v + (first + row) * row_stride + chunk * 8 : v;
    cp_async_16(dst + (chunk / 8) * kHalfBytesV + swizzled(row, chunk % 8), src, inside ? 16 : 0);
  }
}

// S = Q·K^T over the 128 channels, 32 at a time (32 bytes further along the swizzled rows); not waited.
__device__ __forceinline__ void issue_qk(std::int32_t (&s)[64], std::uint64_t q_desc, std::uint64_t k_desc) {
  wgmma_s8_m64n128k32_first(s, q_desc, k_desc);
#pragma unroll
  for (int kk = 1; kk < kDim / 32; ++kk) wgmma_s8_m64n128k32(s, q_desc + 2 * kk, k_desc + 2 * kk);
  wgmma_commit();
}

// O += P·V over the tile's 128 keys, 16 at a time (2 KiB further: two 8-key groups); not waited.
__device__ __forceinline__ void issue_pv(float (&o)[64], const std::uint32_t (&pa)[32], std::uint64_t v_desc) {
#pragma unroll
  for (int kk = 0; kk < kTile / 16; ++kk) {
    const std::uint32_t frag[4] = {pa[4 * kk], pa[4 * kk + 1], pa[4 * kk + 2], pa[4 * kk + 3]};
    wgmma_bf16_m64n128k16(o, frag, v_desc + (16 * 128 >> 4) * kk);
  }
  wgmma_commit();
}

// This thread's share of the online softmax: its two rows (wgmma's accumulator layout: r0 = 16 warp +
// lane / 4 and r0 + 8) and, in each 8-key group, keys 2 (lane % 4) and the next.
struct SoftmaxRows {
  float m[2] = {-INFINITY, -INFINITY};  // running row maxima, log2 units
  float l[2] = {0.f, 0.f};              // running row sums of this thread's keys
};

// One tile's scores s (int32) -> P rounded to bf16 as wgmma's A fragments (16 keys each: (r0, c),
// (r0 + 8, c), (r0, c + 8), (r0 + 8, c + 8), which is the accumulator's order), with the new row maxima
// and sums; alpha = the factor O must take for the new maxima. `scale0` / `scale1`: q scale x k scale x
// softmax scale x log2 e of keys 0-63 / 64-127; keys from `valid_keys` on are masked.
__device__ __forceinline__ void softmax_tile(const std::int32_t (&s)[64], float scale0, float scale1, int valid_keys,
                                             SoftmaxRows& rows, float (&alpha)[2], std::uint32_t (&pa)[32]) {
  const int col0 = 2 * (threadIdx.x % 4);
  float p[64];
  float row_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
  for (int i = 0; i < 64; ++i) {
    const int col = (i / 4) * 8 + col0 + (i & 1);
    const float x = col < valid_keys ? static_cast<float>(s[i]) * (i < 32 ? scale0 : scale1) : -INFINITY;
    p[i] = x;
    row_max[(i >> 1) & 1] = fmaxf(row_max[(i >> 1) & 1], x);
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    row_max[r] = fmaxf(row_max[r], __shfl_xor_sync(0xffffffffu, row_max[r], 1));
    row_max[r] = fmaxf(row_max[r], __shfl_xor_sync(0xffffffffu, row_max[r], 2));
    const float m_new = fmaxf(rows.m[r], row_max[r]);
    alpha[r] = fast_exp2(rows.m[r] - m_new);  // 0 on the first tile (m = -inf)
    rows.m[r] = m_new;
    rows.l[r] *= alpha[r];
  }
#pragma unroll
  for (int i = 0; i < 64; ++i) {
    p[i] = fast_exp2(p[i] - rows.m[(i >> 1) & 1]);
    rows.l[(i >> 1) & 1] += p[i];
  }
#pragma unroll
  for (int i = 0; i < 32; ++i) pa[i] = pack_bf16(p[2 * i], p[2 * i + 1]);
}

__device__ __forceinline__ void rescale(float (&o)[64], const float (&alpha)[2]) {
#pragma unroll
  for (int i = 0; i < 64; ++i) o[i] *= alpha[(i >> 1) & 1];
}

template <int kWarpgroups, bool kPipelined>
__global__ void __launch_bounds__(128 * kWarpgroups, 3 - kWarpgroups) int8_attention_kernel(Int8AttentionArgs a) {
  constexpr int kStages = kPipelined ? 3 : 2;
  using Cta = CtaShape<kWarpgroups, kStages>;
  constexpr int kThreads = Cta::kThreads;
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = reinterpret_cast<unsigned char*>(
      (reinterpret_cast<std::uintptr_t>(smem_raw) + kSmemAlign - 1) & ~std::uintptr_t(kSmemAlign - 1));
  const std::uint32_t base = smem_address(smem);
  const std::int64_t q_tile = blockIdx.x, h = blockIdx.y, b = blockIdx.z, head = b * a.H + h;
  const int warpgroup = threadIdx.x / 128, warp = (threadIdx.x % 128) / 32, lane = threadIdx.x % 32;
  const int tiles = static_cast<int>(a.Lk_pad / kTile);

  const std::int64_t first_row = q_tile * Cta::kRows;
  const auto* q = static_cast<const signed char*>(a.q) + (head * a.Lq_pad + first_row) * kDim;
  const auto* k = static_cast<const signed char*>(a.k) + head * a.Lk_pad * kDim;
  const auto* v = static_cast<const __nv_bfloat16*>(a.v) + b * a.v_s0 + h * a.v_s2;
  const float* k_scales = a.k_scales + head * (a.Lk_pad / kInt8AttentionKeyBlock);
  const float q_scale = a.q_scales[head * (a.Lq_pad / kInt8AttentionQueryBlock) + first_row / kInt8AttentionQueryBlock] *
                        a.scale * kLog2E;
  // Tile t's stage, and its loads (one cp.async group).
  const auto k_stage = [&](int t) { return base + Cta::kSmemK + (t % kStages) * kTileBytesI8; };
  const auto v_stage = [&](int t) { return base + Cta::kSmemV + (t % kStages) * kTileBytesV; };
  const auto load_tile = [&](int t) {
    load_int8_rows<kTile, kThreads>(k_stage(t), k + std::int64_t(t) * kTile * kDim);
    load_v_tile<kThreads>(v_stage(t), v, a.v_s1, std::int64_t(t) * kTile, a.Lk);
  };
  const auto valid_keys = [&](int t) {
    const std::int64_t left = a.Lk - std::int64_t(t) * kTile;
    return static_cast<int>(left < kTile ? left : kTile);
  };
  const auto scale_of = [&](int t, int half) { return q_scale * k_scales[2 * t + half]; };

  // Descriptors: the warpgroup's 64 rows of Q (8 KiB in) and a K tile, K-major with 8-row groups 1 KiB
  // apart (the leading offset is unused); V N-major, its halves of 64 channels kHalfBytesV apart and its
  // 8-key groups 1 KiB apart.
  const std::uint64_t q_desc = smem_descriptor(base + Cta::kSmemQ + warpgroup * 64 * kRowBytesI8, 16, 1024);
  const auto k_desc = [&](int t) { return smem_descriptor(k_stage(t), 16, 1024); };
  const auto v_desc = [&](int t) { return smem_descriptor(v_stage(t), kHalfBytesV, 1024); };

  load_int8_rows<Cta::kRows, kThreads>(base + Cta::kSmemQ, q);
  load_tile(0);
  cp_async_commit();

  float o[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.f;
  SoftmaxRows rows;
  std::int32_t s[64];
  std::uint32_t pa[32];
  float alpha[2];

  if constexpr (!kPipelined) {
    for (int t = 0; t < tiles; ++t) {
      if (t + 1 < tiles) load_tile(t + 1);
      cp_async_commit();
      cp_async_wait<1>();  // everything but the tile just asked for
      fence_proxy_async();
      __syncthreads();
      wgmma_fence();
      issue_qk(s, q_desc, k_desc(t));
      wgmma_wait<0>();
      softmax_tile(s, scale_of(t, 0), scale_of(t, 1), valid_keys(t), rows, alpha, pa);
      rescale(o, alpha);
      wgmma_fence();
      issue_pv(o, pa, v_desc(t));
      wgmma_wait<0>();
      __syncthreads();  // this stage is loaded again next tile
    }
  } else {
    // Tile t's P·V runs while tile t + 1's scores go through the softmax: S(t + 1) and P·V(t) are
    // issued together, the softmax waits for the first only, and O takes tile t + 1's factor after
    // the second.
    if (tiles > 1) load_tile(1);
    cp_async_commit();
    cp_async_wait<1>();
    fence_proxy_async();
    __syncthreads();
    wgmma_fence();
    issue_qk(s, q_desc, k_desc(0));
    wgmma_wait<0>();
    softmax_tile(s, scale_of(0, 0), scale_of(0, 1), valid_keys(0), rows, alpha, pa);
    for (int t = 0; t + 1 < tiles; ++t) {
      cp_async_wait<0>();  // tile t + 1
      fence_proxy_async();
      __syncthreads();  // also: every warpgroup is done with tile t - 1's stage, which tile t + 2 takes
      if (t + 2 < tiles) load_tile(t + 2);
      cp_async_commit();
      const std::uint64_t kd = k_desc(t + 1), vd = v_desc(t);
      wgmma_fence();
      issue_qk(s, q_desc, kd);
      issue_pv(o, pa, vd);
      std::uint32_t pa_next[32];
      wgmma_wait<1>();
      softmax_tile(s, scale_of(t + 1, 0), scale_of(t + 1, 1), valid_keys(t + 1), rows, alpha, pa_next);
      wgmma_wait<0>();
      keep_registers(pa);
      rescale(o, alpha);
#pragma unroll
      for (int i = 0; i < 32; ++i) pa[i] = pa_next[i];
    }
    wgmma_fence();
    issue_pv(o, pa, v_desc(tiles - 1));
    wgmma_wait<0>();
  }

  // O / l; the row sums were this thread's keys only until now.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    rows.l[r] += __shfl_xor_sync(0xffffffffu, rows.l[r], 1);
    rows.l[r] += __shfl_xor_sync(0xffffffffu, rows.l[r], 2);
    rows.l[r] = 1.f / rows.l[r];
  }
  auto* out = static_cast<__nv_bfloat16*>(a.out) + b * a.out_s0 + h * a.out_s2;
  const std::int64_t row0 = first_row + warpgroup * 64 + warp * 16 + lane / 4;
  const int col0 = 2 * (lane % 4);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const std::int64_t row = row0 + 8 * r;
    if (row >= a.Lq) continue;
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      const int i = 4 * j + 2 * r;
      *reinterpret_cast<__nv_bfloat162*>(out + row * a.out_s1 + j * 8 + col0) =
          __floats2bfloat162_rn(o[i] * rows.l[r], o[i + 1] * rows.l[r]);
    }
  }
}

template <int kWarpgroups, bool kPipelined>
const char* launch_int8_attention(const Int8AttentionArgs& args, cudaStream_t stream) {
  using Cta = CtaShape<kWarpgroups, kPipelined ? 3 : 2>;
  const auto kernel = int8_attention_kernel<kWarpgroups, kPipelined>;
  static const cudaError_t attribute =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Cta::kSmemBytes);
  if (attribute != cudaSuccess) return cudaGetErrorString(attribute);
  const dim3 grid(static_cast<unsigned>(args.Lq_pad / Cta::kRows), static_cast<unsigned>(args.H),
                  static_cast<unsigned>(args.B));
  kernel<<<grid, Cta::kThreads, Cta::kSmemBytes, stream>>>(args);
  return launch_status();
}

}  // namespace

const char* quantize_blocks_int8(const QuantizeBlocksArgs& args, void* stream) {
  if (args.B == 0 || args.H == 0 || args.Lpad == 0) return nullptr;
  if (args.block < 1 || args.block * (kDim / kVec) > kQuantizeThreads * kMaxQuantizeChunks || args.Lpad % args.block != 0)
    return "quantize_blocks_int8: block size unsupported";
  const dim3 grid(static_cast<unsigned>(args.Lpad / args.block), static_cast<unsigned>(args.H),
                  static_cast<unsigned>(args.B));
  quantize_blocks_kernel<<<grid, kQuantizeThreads, 0, static_cast<cudaStream_t>(stream)>>>(args);
  return launch_status();
}

const char* int8_attention_sm90(const Int8AttentionArgs& args, void* stream) {
  if (args.B == 0 || args.H == 0 || args.Lq == 0) return nullptr;
  if (args.Lk < 1 || args.Lq_pad % kTile != 0 || args.Lk_pad % kTile != 0) return "int8_attention_sm90: bad padding";
  const auto s = static_cast<cudaStream_t>(stream);
  switch (args.variant) {
    case Int8AttentionVariant::TwoWarpgroups: return launch_int8_attention<2, false>(args, s);
    case Int8AttentionVariant::OneWarpgroup: return launch_int8_attention<1, false>(args, s);
    case Int8AttentionVariant::Pipelined: return launch_int8_attention<2, true>(args, s);
  }
  return "int8_attention_sm90: unknown variant";
}

}  // namespace skyreels::kernels::cuda
