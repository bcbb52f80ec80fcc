#include "model/wan_vae.h"

#include <cmath>
#include <optional>

#include <ATen/ATen.h>
#include <torch/nn/modules/container/functional.h>

#include "io/key_map.h"
#include "kernels/fused_ops.h"
#include "model/attention.h"
#include "model/layers.h"
#include "model/weights.h"
#include "skyreels/error.h"
#include "skyreels/log.h"

namespace skyreels::model {
namespace {

using torch::nn::Functional;
using torch::nn::Sequential;

constexpr std::int64_t kCacheFrames = 2;  // frames a k=3 causal conv needs from the previous chunk

// Norm gammas stay float32 whatever the convolutions run in (autocast leaves them alone).
at::TensorOptions fp32(const at::TensorOptions& options) { return options.dtype(at::kFloat); }

at::Tensor identity(const at::Tensor& x) { return x; }

// An unpadded 3D convolution on the CPU as one 2D convolution per temporal tap, over every output
// frame at once, summed. LibTorch's CPU conv3d (vol2col with a reference GEMM in Debian's build) runs
// at ~2 GFLOP/s, its oneDNN conv2d about ten times faster; the sum differs only by float32 rounding.
at::Tensor conv3d_by_taps(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, at::IntArrayRef stride) {
  const auto batch = x.size(0), channels = x.size(1), kt = w.size(2), st = stride[0];
  const auto out_frames = (x.size(2) - kt) / st + 1;
  const auto span = st * (out_frames - 1) + 1;
  at::Tensor out;
  for (std::int64_t k = 0; k < kt; ++k) {
    const auto frames = x.narrow(2, k, span).slice(2, 0, span, st);  // [B, C, To, H, W]
    const auto planes = frames.transpose(1, 2).reshape({batch * out_frames, channels, x.size(3), x.size(4)});
    const auto y = at::conv2d(planes, w.select(2, k), k == 0 ? b : at::Tensor(), {stride[1], stride[2]});
    out = out.defined() ? out.add_(y) : y;
  }
  return out.view({batch, out_frames, out.size(1), out.size(2), out.size(3)}).transpose(1, 2).contiguous();
}

// A convolution in the weights' dtype. bf16 on the CPU is emulated: float32 convolution of the
// bf16-rounded operands, rounded back (what a bf16 kernel with float32 accumulation computes).
at::Tensor convolve(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, at::IntArrayRef stride,
                    at::IntArrayRef padding) {
  const auto dtype = weight.scalar_type();
  const bool emulate = dtype != at::kFloat && !x.is_cuda();
  const auto in = emulate ? x.to(dtype).to(at::kFloat) : x.to(dtype);
  const auto w = emulate ? weight.to(at::kFloat) : weight;
  const auto b = emulate ? bias.to(at::kFloat) : bias;
  at::Tensor out;
  if (weight.dim() == 4) out = at::conv2d(in, w, b, stride, padding);
  else if (!in.is_cuda() && padding == at::IntArrayRef{0, 0, 0}) out = conv3d_by_taps(in, w, b, stride);
  else out = at::conv3d(in, w, b, stride, padding);
  return emulate ? out.to(dtype) : out;
}

// The last `count` frames (fewer if x is shorter), as a copy that outlives x.
at::Tensor last_frames(const at::Tensor& x, std::int64_t count) {
  const auto n = std::min(count, x.size(2));
  return x.narrow(2, x.size(2) - n, n).clone();
}

// One call site of a causal conv in chunked processing: runs it with the previous chunk's trailing
// frames and keeps this chunk's for the next call.
at::Tensor cached_conv(CausalConv3dImpl& conv, const at::Tensor& x, CausalCache& cache) {
  auto& slot = cache.next_slot();
  // The conv reads its input in its own dtype anyway, so caching (and padding) that copy is exact;
  // for a bf16 VAE it halves the cache, which dominates decode memory at full resolution.
  const auto in = x.to(conv.weight.scalar_type());
  auto keep = last_frames(in, kCacheFrames);
  if (keep.size(2) < kCacheFrames && slot.frames.defined())
    keep = at::cat({last_frames(slot.frames, 1), keep}, 2);
  const auto out = conv.forward(in, slot.frames);
  slot.frames = keep;
  slot.seen = true;
  return out;
}

CausalConv3d causal_conv(std::int64_t in, std::int64_t out, std::array<std::int64_t, 3> kernel,
                         std::array<std::int64_t, 3> stride, std::array<std::int64_t, 3> padding,
                         const at::TensorOptions& options) {
  return CausalConv3d(std::make_shared<CausalConv3dImpl>(in, out, kernel, stride, padding, options));
}

// [B, C, T, H, W] <-> [B*T, C, H, W] for the per-frame 2D layers.
at::Tensor frames_as_images(const at::Tensor& x) {
  return x.permute({0, 2, 1, 3, 4}).reshape({x.size(0) * x.size(2), x.size(1), x.size(3), x.size(4)});
}
at::Tensor images_as_frames(const at::Tensor& x, std::int64_t batch) {
  return x.view({batch, x.size(0) / batch, x.size(1), x.size(2), x.size(3)}).permute({0, 2, 1, 3, 4});
}

}  // namespace

// --- configuration and cache -------------------------------------------------------------------------

namespace {

constexpr const char* kLatentsMean = "latents_mean";
constexpr const char* kLatentsStd = "latents_std";

// A checkpoint's own latent statistic: [z_dim] finite values (positive ones for the std).
std::vector<float> latent_statistic(const io::TensorSource& w, const char* key, std::int64_t z_dim, bool positive) {
  if (!w.contains(key))
    throw Error(ErrorCode::NotFound, w.describe() + ": has one of latents_mean and latents_std but not \"" + key + "\"");
  const auto t = w.tensor(key).to(at::kFloat).flatten().contiguous();
  if (t.numel() != z_dim || !at::isfinite(t).all().item<bool>() || (positive && !(t > 0).all().item<bool>()))
    throw Error(ErrorCode::ShapeMismatch, w.describe() + ": \"" + key + "\" must hold " + std::to_string(z_dim) +
                                              (positive ? " positive" : " finite") + " values, one per latent channel");
  return {t.data_ptr<float>(), t.data_ptr<float>() + t.numel()};
}

}  // namespace

WanVaeConfig WanVaeConfig::detect(const io::TensorSource& w) {
  for (const char* key : {"encoder.conv1.weight", "conv2.weight"})
    if (!w.contains(key))
      throw Error(ErrorCode::NotFound, w.describe() + ": not a Wan VAE checkpoint (no \"" + key + "\")");
  WanVaeConfig c;
  c.dim = w.shape("encoder.conv1.weight")[0];
  c.z_dim = w.shape("conv2.weight")[0];
  if (w.contains(kLatentsMean) || w.contains(kLatentsStd)) {
    c.mean = latent_statistic(w, kLatentsMean, c.z_dim, /*positive=*/false);
    c.std = latent_statistic(w, kLatentsStd, c.z_dim, /*positive=*/true);
  } else if (c.z_dim != static_cast<std::int64_t>(c.mean.size())) {
    throw Error(ErrorCode::Unsupported, w.describe() + ": latent channels " + std::to_string(c.z_dim) +
                                            " without latents_mean and latents_std (the official constants are for the "
                                            "16-channel Wan2.1 VAE)");
  }
  return c;
}

void CausalCache::move_to(c10::Device device) {
  for (auto& slot : slots_)
    if (slot.frames.defined() && slot.frames.device() != device) slot.frames = slot.frames.to(device);
  if (nested_) nested_->move_to(device);
}

CausalCache& CausalCache::nested() {
  if (!nested_) nested_ = std::make_unique<CausalCache>();
  return *nested_;
}

CausalCache::Slot& CausalCache::next_slot() {
  if (next_ == slots_.size()) slots_.emplace_back();
  return slots_[next_++];
}

// --- primitives ----------------------------------------------------------------------------------

CausalConv3dImpl::CausalConv3dImpl(std::int64_t in, std::int64_t out, std::array<std::int64_t, 3> kernel,
                                   std::array<std::int64_t, 3> stride_, std::array<std::int64_t, 3> padding_,
                                   const at::TensorOptions& options)
    : stride(stride_), padding(padding_) {
  weight = register_parameter("weight", at::empty({out, in, kernel[0], kernel[1], kernel[2]}, options), false);
  bias = register_parameter("bias", at::empty({out}, options), false);
}

at::Tensor CausalConv3dImpl::forward(const at::Tensor& x, const at::Tensor& previous) {
  std::int64_t front = 2 * padding[0];
  at::Tensor in = x;
  if (previous.defined() && front > 0) {
    in = at::cat({previous, x}, 2);
    front -= previous.size(2);
  }
  in = at::constant_pad_nd(in, {padding[2], padding[2], padding[1], padding[1], front, 0});
  return convolve(in, weight, bias, stride, {0, 0, 0});
}

ChannelRMSNormImpl::ChannelRMSNormImpl(std::int64_t dim, bool images, const at::TensorOptions& options) {
  std::vector<std::int64_t> shape = images ? std::vector<std::int64_t>{dim, 1, 1} : std::vector<std::int64_t>{dim, 1, 1, 1};
  gamma = register_parameter("gamma", at::empty(shape, fp32(options)), false);
}

at::Tensor ChannelRMSNormImpl::forward(const at::Tensor& x) { return kernels::channel_rms_norm_fp32(x, gamma); }

Conv2dImpl::Conv2dImpl(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride_,
                       std::int64_t padding_, const at::TensorOptions& options)
    : stride(stride_), padding(padding_) {
  weight = register_parameter("weight", at::empty({out, in, kernel, kernel}, options), false);
  bias = register_parameter("bias", at::empty({out}, options), false);
}

at::Tensor Conv2dImpl::forward(const at::Tensor& x) { return convolve(x, weight, bias, {stride, stride}, {padding, padding}); }

// --- blocks ---------------------------------------------------------------------------------------

VaeResidualBlockImpl::VaeResidualBlockImpl(std::int64_t in, std::int64_t out, const at::TensorOptions& o) {
  norm1_ = ChannelRMSNorm(in, false, o);
  conv1_ = causal_conv(in, out, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, o);
  norm2_ = ChannelRMSNorm(out, false, o);
  conv2_ = causal_conv(out, out, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, o);
  residual = register_module("residual", Sequential(norm1_, Functional(at::silu), conv1_, norm2_,
                                                    Functional(at::silu), Functional(identity), conv2_));
  if (in != out) shortcut = register_module("shortcut", causal_conv(in, out, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, o));
}

at::Tensor VaeResidualBlockImpl::forward(const at::Tensor& x, CausalCache& cache) {
  const auto h = shortcut ? shortcut(x) : x;
  // Norm and SiLU in float32, rounded to the conv's dtype (what the conv casts its input to anyway).
  const auto dtype = conv1_->weight.scalar_type();
  auto y = cached_conv(*conv1_, kernels::channel_rms_norm_silu(x, norm1_->gamma, dtype), cache);
  y = cached_conv(*conv2_, kernels::channel_rms_norm_silu(y, norm2_->gamma, dtype), cache);  // no dropout at inference
  return y + h;
}

VaeAttentionBlockImpl::VaeAttentionBlockImpl(std::int64_t dim, const at::TensorOptions& o) {
  norm = register_module("norm", ChannelRMSNorm(dim, true, o));
  to_qkv = register_module("to_qkv", Conv2d(dim, 3 * dim, 1, 1, 0, o));
  proj = register_module("proj", Conv2d(dim, dim, 1, 1, 0, o));
}

at::Tensor VaeAttentionBlockImpl::forward(const at::Tensor& x) {
  const auto b = x.size(0), c = x.size(1), h = x.size(3), w = x.size(4);
  const auto images = frames_as_images(x);
  // One head over the h*w pixels of each frame: [bt, 3c, h, w] -> three [bt, hw, 1, c].
  const auto qkv = to_qkv(norm(images)).reshape({images.size(0), 3 * c, h * w}).transpose(1, 2);
  const auto q = qkv.narrow(2, 0, c).unsqueeze(2), k = qkv.narrow(2, c, c).unsqueeze(2),
             v = qkv.narrow(2, 2 * c, c).unsqueeze(2);
  const auto attended = attention(q.contiguous(), k.contiguous(), v.contiguous(), 1.0 / std::sqrt(static_cast<double>(c)));
  const auto out = proj(attended.squeeze(2).transpose(1, 2).reshape({images.size(0), c, h, w}));
  return images_as_frames(out, b) + x;
}

VaeResampleImpl::VaeResampleImpl(std::int64_t dim, ResampleMode mode_, const at::TensorOptions& o) : mode(mode_) {
  const bool up = mode == ResampleMode::Upsample2d || mode == ResampleMode::Upsample3d;
  if (up) {
    conv_ = Conv2d(dim, dim / 2, 3, 1, 1, o);
    // Nearest x2 in float32, back to the input dtype (nearest and nearest-exact agree at exactly 2x).
    resample = register_module("resample", Sequential(Functional([](const at::Tensor& x) {
                                                        return at::upsample_nearest2d(x.to(at::kFloat),
                                                                                      {x.size(2) * 2, x.size(3) * 2})
                                                            .to(x.scalar_type());
                                                      }),
                                                      conv_));
  } else {
    conv_ = Conv2d(dim, dim, 3, 2, 0, o);
    resample = register_module(
        "resample", Sequential(Functional([](const at::Tensor& x) { return at::constant_pad_nd(x, {0, 1, 0, 1}); }), conv_));
  }
  if (mode == ResampleMode::Upsample3d)
    time_conv = register_module("time_conv", causal_conv(dim, 2 * dim, {3, 1, 1}, {1, 1, 1}, {1, 0, 0}, o));
  if (mode == ResampleMode::Downsample3d)
    time_conv = register_module("time_conv", causal_conv(dim, dim, {3, 1, 1}, {2, 1, 1}, {0, 0, 0}, o));
}

at::Tensor VaeResampleImpl::forward(const at::Tensor& input, CausalCache& cache) {
  auto x = input;
  const auto b = x.size(0), c = x.size(1);
  if (mode == ResampleMode::Upsample3d) {
    auto& slot = cache.next_slot();
    if (!slot.seen) {
      // The first latent frame stays one frame.
      slot.seen = slot.repeat = true;
    } else {
      auto keep = last_frames(x, kCacheFrames);
      if (keep.size(2) < kCacheFrames)
        keep = at::cat({slot.repeat ? at::zeros_like(keep) : last_frames(slot.frames, 1), keep}, 2);
      // After the first chunk the reference pads with zeros, not with the first frame.
      const auto doubled = slot.repeat ? time_conv(x) : time_conv(x, slot.frames);
      slot.frames = keep;
      slot.repeat = false;
      // [b, 2c, t] -> frames interleaved: 2i from the first c channels, 2i+1 from the second.
      const auto t = doubled.size(2);
      x = doubled.view({b, 2, c, t, doubled.size(3), doubled.size(4)})
              .permute({0, 2, 3, 1, 4, 5})
              .reshape({b, c, 2 * t, doubled.size(3), doubled.size(4)});
    }
  }
  x = images_as_frames(resample->forward(frames_as_images(x)), b);
  if (mode == ResampleMode::Downsample3d) {
    auto& slot = cache.next_slot();
    if (!slot.seen) {
      // The first frame passes through; later chunks of 4 reduce to one with the previous last frame.
      slot.frames = x.clone();
      slot.seen = true;
    } else {
      const auto keep = last_frames(x, 1);
      x = time_conv(at::cat({last_frames(slot.frames, 1), x}, 2));
      slot.frames = keep;
    }
  }
  return x;
}

// --- encoder and decoder ------------------------------------------------------------------------------

VaeEncoderImpl::VaeEncoderImpl(const WanVaeConfig& c, const at::TensorOptions& o) {
  std::vector<std::int64_t> dims = {c.dim};
  for (auto m : c.dim_mult) dims.push_back(c.dim * m);
  conv1 = register_module("conv1", causal_conv(3, dims[0], {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, o));
  downsamples = register_module("downsamples", torch::nn::ModuleList());
  for (std::size_t i = 0; i + 1 < dims.size(); ++i) {
    std::int64_t in = dims[i];
    for (std::int64_t r = 0; r < c.num_res_blocks; ++r) {
      downsamples->push_back(VaeResidualBlock(in, dims[i + 1], o));
      in = dims[i + 1];
    }
    if (i + 1 < c.dim_mult.size())
      downsamples->push_back(VaeResample(dims[i + 1], c.temporal_downsample[i] ? ResampleMode::Downsample3d : ResampleMode::Downsample2d, o));
  }
  const auto out = dims.back();
  middle = register_module("middle", torch::nn::ModuleList(VaeResidualBlock(out, out, o), VaeAttentionBlock(out, o),
                                                           VaeResidualBlock(out, out, o)));
  head = register_module("head", Sequential(ChannelRMSNorm(out, false, o), Functional(at::silu),
                                            causal_conv(out, 2 * c.z_dim, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, o)));
}

// Runs layers [first, last) of a ModuleList of residual blocks, resamplers and attention blocks (last
// -1: to the end).
static at::Tensor run_layers(torch::nn::ModuleList& layers, at::Tensor x, CausalCache& cache, std::size_t first = 0,
                             std::size_t last = static_cast<std::size_t>(-1)) {
  for (std::size_t i = first; i < std::min(last, layers->size()); ++i) {
    const auto& layer = layers[i];
    if (auto* block = layer->as<VaeResidualBlock>()) x = block->forward(x, cache);
    else if (auto* resample = layer->as<VaeResample>()) x = resample->forward(x, cache);
    else x = layer->as<VaeAttentionBlock>()->forward(x);
  }
  return x;
}

static at::Tensor run_head(torch::nn::Sequential& head, const at::Tensor& x, CausalCache& cache) {
  auto& conv = *head[2]->as<CausalConv3d>();
  const auto y = kernels::channel_rms_norm_silu(x, head[0]->as<ChannelRMSNorm>()->gamma, conv.weight.scalar_type());
  return cached_conv(conv, y, cache);
}

at::Tensor VaeEncoderImpl::forward(const at::Tensor& x, CausalCache& cache) {
  auto h = cached_conv(*conv1, x, cache);
  h = run_layers(downsamples, h, cache);
  h = run_layers(middle, h, cache);
  return run_head(head, h, cache);
}

VaeDecoderImpl::VaeDecoderImpl(const WanVaeConfig& c, const at::TensorOptions& o) {
  std::vector<std::int64_t> dims = {c.dim * c.dim_mult.back()};
  for (auto it = c.dim_mult.rbegin(); it != c.dim_mult.rend(); ++it) dims.push_back(c.dim * *it);
  conv1 = register_module("conv1", causal_conv(c.z_dim, dims[0], {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, o));
  middle = register_module("middle", torch::nn::ModuleList(VaeResidualBlock(dims[0], dims[0], o), VaeAttentionBlock(dims[0], o),
                                                           VaeResidualBlock(dims[0], dims[0], o)));
  upsamples = register_module("upsamples", torch::nn::ModuleList());
  for (std::size_t i = 0; i + 1 < dims.size(); ++i) {
    // After an upsampler the channels were halved by its 2D conv.
    std::int64_t in = i == 0 ? dims[i] : dims[i] / 2;
    for (std::int64_t r = 0; r < c.num_res_blocks + 1; ++r) {
      upsamples->push_back(VaeResidualBlock(in, dims[i + 1], o));
      in = dims[i + 1];
    }
    if (i + 1 < c.dim_mult.size()) {
      const bool temporal = c.temporal_downsample[c.temporal_downsample.size() - 1 - i];
      upsamples->push_back(VaeResample(dims[i + 1], temporal ? ResampleMode::Upsample3d : ResampleMode::Upsample2d, o));
    }
  }
  for (std::size_t i = 0; i < upsamples->size(); ++i) {
    const auto* resample = upsamples[i]->as<VaeResample>();
    if (resample && resample->mode == ResampleMode::Upsample3d) per_frame_from_ = i + 1;
  }
  const auto out = dims.back();
  head = register_module("head", Sequential(ChannelRMSNorm(out, false, o), Functional(at::silu),
                                            causal_conv(out, 3, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, o)));
}

at::Tensor VaeDecoderImpl::forward(const at::Tensor& x, CausalCache& cache) {
  auto h = cached_conv(*conv1, x, cache);
  h = run_layers(middle, h, cache);
  h = run_layers(upsamples, h, cache, 0, per_frame_from_);
  // Past the last temporal upsampler every layer is causal in time and per frame in space, so the
  // full-resolution stages take one frame at a time through their own cache: the same convolutions
  // of the same frames, with a quarter of the activations alive.
  auto& tail = cache.nested();
  std::vector<at::Tensor> frames;
  for (std::int64_t t = 0; t < h.size(2); ++t) {
    tail.start_chunk();
    frames.push_back(run_head(head, run_layers(upsamples, h.narrow(2, t, 1), tail, per_frame_from_), tail));
  }
  return frames.size() == 1 ? frames[0] : at::cat(frames, 2);
}

// --- the VAE ------------------------------------------------------------------------------------------

WanVaeImpl::WanVaeImpl(const WanVaeConfig& c, const at::TensorOptions& o)
    : config_(c), compute_dtype_(o.dtype().toScalarType()) {
  encoder = register_module("encoder", VaeEncoder(c, o));
  conv1 = register_module("conv1", causal_conv(2 * c.z_dim, 2 * c.z_dim, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, o));
  conv2 = register_module("conv2", causal_conv(c.z_dim, c.z_dim, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, o));
  decoder = register_module("decoder", VaeDecoder(c, o));
}

at::Tensor WanVaeImpl::moments(const at::Tensor& video) {
  CausalCache cache;
  return moments(video, cache);
}

at::Tensor WanVaeImpl::moments(const at::Tensor& video, CausalCache& cache) {
  const bool first = cache.empty();  // only a video's first chunk is a single frame
  const auto frames = video.dim() == 5 ? video.size(2) : 0;
  if (video.dim() != 5 || video.size(1) != 3 || frames < 1 || (first ? (frames - 1) % 4 : frames % 4) != 0 ||
      video.size(3) % 8 || video.size(4) % 8)
    throw Error(ErrorCode::ShapeMismatch,
                std::string("VAE encode takes video [B, 3, ") + (first ? "1 + 4k" : "4k, continuing its cache") +
                    ", H, W] with H, W multiples of 8; got " + c10::str(video.sizes()));
  const auto x = video.to(conv1->weight.device(), at::kFloat);
  // Chunks of frames [0], [1..4], [5..8], ...: the chunking is part of the numerics.
  std::vector<at::Tensor> chunks;
  for (std::int64_t start = 0; start < frames;) {
    const std::int64_t length = first && start == 0 ? 1 : 4;
    cache.start_chunk();
    chunks.push_back(encoder(x.narrow(2, start, length), cache));
    start += length;
  }
  return conv1(at::cat(chunks, 2));
}

at::Tensor WanVaeImpl::encode(const at::Tensor& video) {
  std::optional<FullFloat32Guard> full_fp32;  // a float32 VAE is float32 on CUDA too, not TF32
  if (compute_dtype_ == at::kFloat) full_fp32.emplace();
  const auto mu = moments(video).narrow(1, 0, config_.z_dim);
  const auto opts = at::TensorOptions().device(mu.device()).dtype(at::kFloat);
  const auto mean = at::tensor(config_.mean, opts).view({1, -1, 1, 1, 1});
  const auto inv_std = at::reciprocal(at::tensor(config_.std, opts)).view({1, -1, 1, 1, 1});
  return ((mu - mean) * inv_std).to(at::kFloat);
}

at::Tensor WanVaeImpl::decode_raw(const at::Tensor& latents, CausalCache& cache) {
  // One latent frame at a time, as the reference: the first gives 1 frame, each later one 4.
  const auto x = conv2(latents);
  std::vector<at::Tensor> frames;
  for (std::int64_t i = 0; i < x.size(2); ++i) {
    cache.start_chunk();
    frames.push_back(decoder(x.narrow(2, i, 1), cache));
  }
  return frames.size() == 1 ? frames[0] : at::cat(frames, 2);
}

at::Tensor WanVaeImpl::decode(const at::Tensor& z) {
  VaeDecodeSession session(WanVae(std::static_pointer_cast<WanVaeImpl>(shared_from_this())));
  return session.decode(z);
}

VaeDecodeSession::VaeDecodeSession(WanVae vae, VaeTiling tiling) : vae_(std::move(vae)), tiling_(tiling) {
  if (tiling_.tile < 0 || tiling_.overlap < 0 || (tiling_.tile > 0 && tiling_.overlap >= tiling_.tile))
    throw Error(ErrorCode::BadArgument, "VAE tiling: overlap must be smaller than the tile size");
}

at::Tensor VaeDecodeSession::decode(const at::Tensor& z) {
  const auto& c = vae_->config();
  if (z.dim() != 5 || z.size(1) != c.z_dim || z.size(2) < 1)
    throw Error(ErrorCode::ShapeMismatch, "VAE decode takes latents [B, " + std::to_string(c.z_dim) +
                                              ", T, h, w]; got " + c10::str(z.sizes()));
  const auto device = vae_->conv2->weight.device();
  const auto opts = at::TensorOptions().device(device).dtype(at::kFloat);
  const auto mean = at::tensor(c.mean, opts).view({1, -1, 1, 1, 1});
  const auto inv_std = at::reciprocal(at::tensor(c.std, opts)).view({1, -1, 1, 1, 1});
  const auto latents = z.to(device, at::kFloat) / inv_std + mean;
  std::optional<FullFloat32Guard> full_fp32;  // a float32 VAE is float32 on CUDA too, not TF32
  if (vae_->compute_dtype() == at::kFloat) full_fp32.emplace();
  const bool tiled = tiling_.tile > 0 && (z.size(3) > tiling_.tile || z.size(4) > tiling_.tile);
  auto out = tiled ? decode_tiled(latents) : decode_untiled(latents, cache_);
  latents_done_ += z.size(2);
  return out.to(at::kFloat).clamp(-1.0, 1.0);
}

at::Tensor VaeDecodeSession::decode_untiled(const at::Tensor& latents, CausalCache& cache) {
  return vae_->decode_raw(latents, cache);
}

namespace {

// Tile starts along one axis: step tile - overlap, the last tile flush with the end.
std::vector<std::int64_t> tile_starts(std::int64_t size, std::int64_t tile, std::int64_t overlap) {
  if (size <= tile) return {0};
  std::vector<std::int64_t> starts;
  for (std::int64_t s = 0;; s += tile - overlap) {
    if (s + tile >= size) {
      starts.push_back(size - tile);
      break;
    }
    starts.push_back(s);
  }
  return starts;
}

// Blend weights along one axis of a tile: linear ramps over the pixels shared with a neighbour.
at::Tensor blend_ramp(std::int64_t length, std::int64_t ramp_before, std::int64_t ramp_after, const at::TensorOptions& o) {
  auto w = at::ones({length}, o);
  for (std::int64_t i = 0; i < ramp_before; ++i) w[i] = (i + 0.5) / ramp_before;
  for (std::int64_t i = 0; i < ramp_after; ++i) w[length - 1 - i] = (i + 0.5) / ramp_after;
  return w;
}

}  // namespace

at::Tensor VaeDecodeSession::decode_tiled(const at::Tensor& latents) {
  const std::int64_t h = latents.size(3), w = latents.size(4), tile = tiling_.tile, overlap = tiling_.overlap;
  const auto rows = tile_starts(h, std::min(tile, h), overlap);
  const auto cols = tile_starts(w, std::min(tile, w), overlap);
  if (tile_caches_.empty()) tile_caches_.resize(rows.size() * cols.size());
  at::Tensor sum, weight;
  std::size_t index = 0;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t col = 0; col < cols.size(); ++col, ++index) {
      const auto th = std::min(tile, h), tw = std::min(tile, w);
      // Only the tile being decoded keeps its causal cache on the device; the others wait in host
      // memory, so the peak is one tile's, not the whole frame's.
      auto& tile_cache = tile_caches_[index];
      tile_cache.move_to(latents.device());
      const auto part = decode_untiled(latents.narrow(3, rows[r], th).narrow(4, cols[col], tw), tile_cache).to(at::kFloat);
      if (latents.is_cuda()) tile_cache.move_to(c10::Device(c10::kCPU));
      if (!sum.defined()) {
        sum = at::zeros({part.size(0), part.size(1), part.size(2), 8 * h, 8 * w}, part.options());
        weight = at::zeros({8 * h, 8 * w}, part.options());
      }
      // Ramps only where this tile overlaps a neighbour; the shared pixels are (overlap between starts) * 8.
      const auto before_r = r > 0 ? 8 * (rows[r - 1] + th - rows[r]) : 0;
      const auto after_r = r + 1 < rows.size() ? 8 * (rows[r] + th - rows[r + 1]) : 0;
      const auto before_c = col > 0 ? 8 * (cols[col - 1] + tw - cols[col]) : 0;
      const auto after_c = col + 1 < cols.size() ? 8 * (cols[col] + tw - cols[col + 1]) : 0;
      const auto wr = blend_ramp(8 * th, before_r, after_r, part.options());
      const auto wc = blend_ramp(8 * tw, before_c, after_c, part.options());
      const auto mask = wr.unsqueeze(1) * wc.unsqueeze(0);
      sum.narrow(3, 8 * rows[r], 8 * th).narrow(4, 8 * cols[col], 8 * tw).add_(part * mask);
      weight.narrow(0, 8 * rows[r], 8 * th).narrow(1, 8 * cols[col], 8 * tw).add_(mask);
    }
  }
  return sum / weight;
}

// --- loading -------------------------------------------------------------------------------------------

WanVae load_wan_vae(const io::TensorSourcePtr& weights, c10::Device device, at::ScalarType dtype) {
  auto source = weights;
  if (io::is_diffusers_vae(source->keys()))
    source = io::renamed_view(source, io::vae_key_from_diffusers, source->describe() + " (diffusers layout)");
  const auto config = WanVaeConfig::detect(*source);
  // The statistics went into the config; the network's own tensors are what must match strictly.
  if (source->contains(kLatentsMean) || source->contains(kLatentsStd))
    source = io::renamed_view(
        source, [](const std::string& key) { return key == kLatentsMean || key == kLatentsStd ? std::string() : key; },
        source->describe());
  WanVae vae(config, at::TensorOptions().device(device).dtype(dtype));
  load_weights_strict(*vae, *source);
  vae->eval();
  return vae;
}

WanVae load_wan_vae(const std::string& weights, c10::Device device, at::ScalarType dtype) {
  logger("model")->info("loading Wan VAE from {}", weights);
  return load_wan_vae(io::open_weights(weights), device, dtype);
}

}  // namespace skyreels::model
