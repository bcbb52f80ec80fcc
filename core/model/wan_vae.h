#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include "io/tensor_source.h"

namespace skyreels::model {

// Wan2.1 VAE (also SkyReels-V2's): causal 3D convolutions, time stride 4, space stride 8, 16 latent
// channels normalised with fixed per-channel mean and std.
struct WanVaeConfig {
  std::int64_t dim = 96;
  std::int64_t z_dim = 16;
  std::array<std::int64_t, 4> dim_mult{1, 2, 4, 4};
  std::int64_t num_res_blocks = 2;
  std::array<bool, 3> temporal_downsample{false, true, true};
  std::vector<float> mean = {-0.7571f, -0.7089f, -0.9113f, 0.1075f,  -0.1745f, 0.9653f,  -0.1517f, 1.5508f,
                             0.4134f,  -0.0715f, 0.5517f,  -0.3632f, -0.1922f, -0.9497f, 0.2503f,  -0.2921f};
  std::vector<float> std = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
                            3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f};

  // dim and z_dim from the weights (official key names). The latent statistics are the official
  // VAE's constants above, or the checkpoint's own 1-D tensors "latents_mean" and "latents_std" when
  // it has them (a VAE trained here carries its own, and may then have any number of channels).
  static WanVaeConfig detect(const io::TensorSource& weights);
};

// Per-call-site state of the chunked causal processing (the reference's feat_cache): the trailing
// frames each causal convolution needs from the previous chunk.
class CausalCache {
public:
  struct Slot {
    bool seen = false;     // a chunk went through this call site already
    bool repeat = false;   // upsample3d after its first chunk (the reference's "Rep" marker)
    at::Tensor frames;     // trailing frames of the previous chunk's input
  };
  void start_chunk() { next_ = 0; }
  bool empty() const noexcept { return slots_.empty(); }  // no chunk went through yet
  Slot& next_slot();
  void clear() {
    slots_.clear();
    next_ = 0;
    nested_.reset();
  }
  // Moves the cached frames to `device` (tiled decoding parks idle tiles' caches in host memory).
  void move_to(c10::Device device);
  // A cache of its own for layers that run in smaller chunks than the rest (the decoder's
  // full-resolution stages, frame by frame).
  CausalCache& nested();

private:
  std::vector<Slot> slots_;
  std::size_t next_ = 0;
  std::unique_ptr<CausalCache> nested_;
};

// nn.Conv3d with causal time padding: (2*pt, 0) frames of zeros in front, or the previous chunk's frames.
class CausalConv3dImpl : public torch::nn::Module {
public:
  CausalConv3dImpl(std::int64_t in, std::int64_t out, std::array<std::int64_t, 3> kernel,
                   std::array<std::int64_t, 3> stride, std::array<std::int64_t, 3> padding,
                   const at::TensorOptions& options);
  // `previous`: frames of the previous chunk to put in front instead of zeros (may be undefined).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& previous = {});

  at::Tensor weight, bias;
  std::array<std::int64_t, 3> stride, padding;
};
TORCH_MODULE(CausalConv3d);

// RMS_norm of the reference: F.normalize over channels * sqrt(dim) * gamma; float32 out.
class ChannelRMSNormImpl : public torch::nn::Module {
public:
  ChannelRMSNormImpl(std::int64_t dim, bool images, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor gamma;
};
TORCH_MODULE(ChannelRMSNorm);

// Conv2d weights used by the resamplers and the attention block.
class Conv2dImpl : public torch::nn::Module {
public:
  Conv2dImpl(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride, std::int64_t padding,
             const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight, bias;
  std::int64_t stride, padding;
};
TORCH_MODULE(Conv2d);

class VaeResidualBlockImpl : public torch::nn::Module {
public:
  VaeResidualBlockImpl(std::int64_t in, std::int64_t out, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x, CausalCache& cache);

  torch::nn::Sequential residual{nullptr};  // 0 norm, 1 SiLU, 2 conv, 3 norm, 4 SiLU, 5 dropout, 6 conv
  CausalConv3d shortcut{nullptr};           // when in != out
private:
  ChannelRMSNorm norm1_{nullptr}, norm2_{nullptr};
  CausalConv3d conv1_{nullptr}, conv2_{nullptr};
};
TORCH_MODULE(VaeResidualBlock);

// Single-head self-attention over each frame's pixels (the middle blocks).
class VaeAttentionBlockImpl : public torch::nn::Module {
public:
  VaeAttentionBlockImpl(std::int64_t dim, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);

  ChannelRMSNorm norm{nullptr};
  Conv2d to_qkv{nullptr}, proj{nullptr};
};
TORCH_MODULE(VaeAttentionBlock);

enum class ResampleMode { Upsample2d, Upsample3d, Downsample2d, Downsample3d };

class VaeResampleImpl : public torch::nn::Module {
public:
  VaeResampleImpl(std::int64_t dim, ResampleMode mode, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x, CausalCache& cache);

  ResampleMode mode;
  torch::nn::Sequential resample{nullptr};  // 0 upsample / zero-pad, 1 Conv2d
  CausalConv3d time_conv{nullptr};
private:
  Conv2d conv_{nullptr};
};
TORCH_MODULE(VaeResample);

class VaeEncoderImpl : public torch::nn::Module {
public:
  VaeEncoderImpl(const WanVaeConfig& config, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x, CausalCache& cache);  // [B, 3, t, H, W] -> [B, 2*z, t', H/8, W/8]

  CausalConv3d conv1{nullptr};
  torch::nn::ModuleList downsamples{nullptr}, middle{nullptr};
  torch::nn::Sequential head{nullptr};  // 0 norm, 1 SiLU, 2 conv
};
TORCH_MODULE(VaeEncoder);

class VaeDecoderImpl : public torch::nn::Module {
public:
  VaeDecoderImpl(const WanVaeConfig& config, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x, CausalCache& cache);  // one latent frame in, 1 or 4 frames out

  CausalConv3d conv1{nullptr};
  torch::nn::ModuleList middle{nullptr}, upsamples{nullptr};
  torch::nn::Sequential head{nullptr};

private:
  std::size_t per_frame_from_ = 0;  // upsamples from this index on run one frame at a time
};
TORCH_MODULE(VaeDecoder);

// The VAE. Convolutions run in the dtype of `options` (float32, or bf16 as the pipeline's autocast
// runs them); the norms' gammas stay float32 as in the reference.
class WanVaeImpl : public torch::nn::Module {
public:
  WanVaeImpl(const WanVaeConfig& config, const at::TensorOptions& options);

  // video [B, 3, 1 + 4k, H, W] in [-1, 1] -> normalised latents [B, 16, 1 + k, H/8, W/8] float32.
  at::Tensor encode(const at::Tensor& video);
  // The encoder's raw statistics [B, 2 * z_dim, 1 + k, H/8, W/8] (mean, then log-variance; not
  // normalised): what encode() normalises, and what training samples from.
  at::Tensor moments(const at::Tensor& video);
  // The same, continuing `cache`: with a fresh cache as above; with one that has seen earlier frames
  // the video continues them, in chunks of 4 frames ([B, 3, 4k, H, W] -> k latent frames).
  at::Tensor moments(const at::Tensor& video, CausalCache& cache);
  // Raw (not normalised) latents -> frames, unclamped, in the compute dtype, continuing `cache`.
  at::Tensor decode_raw(const at::Tensor& latents, CausalCache& cache);
  // Normalised latents [B, 16, T, h, w] -> video [B, 3, 1 + 4(T-1), 8h, 8w] float32 clamped to [-1, 1].
  at::Tensor decode(const at::Tensor& z);

  const WanVaeConfig& config() const noexcept { return config_; }
  at::ScalarType compute_dtype() const noexcept { return compute_dtype_; }

  VaeEncoder encoder{nullptr};
  CausalConv3d conv1{nullptr}, conv2{nullptr};
  VaeDecoder decoder{nullptr};

private:
  WanVaeConfig config_;
  at::ScalarType compute_dtype_;
};
TORCH_MODULE(WanVae);

// Spatial tiling of the decoder for cards with little memory: latent tiles of tile x tile with
// `overlap` latent rows/columns shared by neighbours, blended linearly across the shared pixels.
struct VaeTiling {
  std::int64_t tile = 0;     // latent tile size; 0 = no tiling
  std::int64_t overlap = 8;  // latent overlap between neighbouring tiles
};

// Streaming decode: feed latent frames in order, get pixel frames as soon as they exist. The causal
// cache is carried between calls, so any split of the latents gives the same frames as one decode.
class VaeDecodeSession {
public:
  explicit VaeDecodeSession(WanVae vae, VaeTiling tiling = {});

  // z: the next n normalised latent frames [B, 16, n, h, w]. Returns the pixel frames they complete,
  // [B, 3, f, 8h, 8w] float32 in [-1, 1], with f = 4n (+1 on the first call, whose first latent gives
  // one frame).
  at::Tensor decode(const at::Tensor& z);
  std::int64_t latents_done() const noexcept { return latents_done_; }
  std::int64_t frames_done() const noexcept { return latents_done_ == 0 ? 0 : 1 + 4 * (latents_done_ - 1); }

private:
  at::Tensor decode_untiled(const at::Tensor& z, CausalCache& cache);
  at::Tensor decode_tiled(const at::Tensor& z);

  WanVae vae_;
  VaeTiling tiling_;
  CausalCache cache_;
  std::vector<CausalCache> tile_caches_;
  std::int64_t latents_done_ = 0;
};

// Builds the VAE on `device` with convolutions in `dtype` and fills it from `weights` (official or
// diffusers names), strictly.
WanVae load_wan_vae(const io::TensorSourcePtr& weights, c10::Device device, at::ScalarType dtype);
// From Wan2.1_VAE.pth, a safetensors file or a folder of shards (pipeline/model_folder.h finds it).
WanVae load_wan_vae(const std::string& weights, c10::Device device, at::ScalarType dtype);

}  // namespace skyreels::model
