#include "video/image_input.h"

#include <cstdint>
#include <sstream>

#include <sys/stat.h>

#include <ATen/ATen.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "skyreels/error.h"
#include "skyreels/log.h"
#include "video/frame_convert.h"
#include "video/image_resample.h"

namespace skyreels::video {

namespace {

// Python's round() of v / 2 for an integer v: halves go to the even neighbour.
int half_round_even(long long v) {
  const long long floor_half = (v >= 0) ? v / 2 : -((-v + 1) / 2);
  if (v % 2 == 0) return static_cast<int>(floor_half);
  return static_cast<int>(floor_half % 2 == 0 ? floor_half : floor_half + 1);
}

void check_size(int height, int width, const char* what) {
  if (height < 1 || width < 1) {
    std::ostringstream msg;
    msg << what << ": the frame size must be positive, got " << width << "x" << height;
    throw Error(ErrorCode::BadArgument, msg.str());
  }
}

}  // namespace

CropBox reference_center_crop(int image_width, int image_height, int target_height, int target_width) {
  check_size(image_height, image_width, "reference_center_crop (image)");
  check_size(target_height, target_width, "reference_center_crop (target)");
  const long long w = image_width;
  const long long h = image_height;
  long long new_w = 0;
  long long new_h = 0;
  // Python: `h / w > th / tw` and `int(new_w * th / tw)`: integer products, true division in double.
  if (static_cast<double>(h) / static_cast<double>(w) >
      static_cast<double>(target_height) / static_cast<double>(target_width)) {
    new_w = w;
    new_h = static_cast<long long>(static_cast<double>(new_w * target_height) / static_cast<double>(target_width));
  } else {
    new_h = h;
    new_w = static_cast<long long>(static_cast<double>(new_h * target_width) / static_cast<double>(target_height));
  }
  // (w - new_w) / 2 etc. are integers or halves, so PIL's round() is half_round_even exactly.
  CropBox box;
  box.left = half_round_even(w - new_w);
  box.top = half_round_even(h - new_h);
  box.right = half_round_even(w + new_w);
  box.bottom = half_round_even(h + new_h);
  if (box.width() < 1 || box.height() < 1) {
    std::ostringstream msg;
    msg << "reference_center_crop: a " << image_width << "x" << image_height << " image leaves no pixels at aspect "
        << target_width << ":" << target_height;
    throw Error(ErrorCode::BadArgument, msg.str());
  }
  return box;
}

FrameSize reference_frame_size(int image_width, int image_height, int height, int width) {
  if (image_height > image_width) return FrameSize{width, height};
  return FrameSize{height, width};
}

at::Tensor load_image_rgb(const std::filesystem::path& path) {
  const std::string name = path.string();
  struct stat info {};
  if (::stat(name.c_str(), &info) != 0) throw Error(ErrorCode::NotFound, name + ": no such image file");
  if (S_ISDIR(info.st_mode)) throw Error(ErrorCode::BadArgument, name + ": is a directory, expected an image file");
  cv::Mat bgr;
  try {
    bgr = cv::imread(name, cv::IMREAD_COLOR);  // 8-bit, 3 channels, EXIF orientation applied
  } catch (const cv::Exception& e) {
    throw Error(ErrorCode::CorruptFile, name + ": cannot decode the image: " + e.what());
  }
  if (bgr.empty()) {
    throw Error(ErrorCode::CorruptFile,
                name + ": not an image this build can read (corrupt, or a format OpenCV does not decode)");
  }
  at::Tensor rgb = at::empty({bgr.rows, bgr.cols, 3}, at::kByte);
  cv::Mat out(bgr.rows, bgr.cols, CV_8UC3, rgb.data_ptr<std::uint8_t>());
  cv::cvtColor(bgr, out, cv::COLOR_BGR2RGB);
  logger("video")->debug("{}: image {}x{}", name, bgr.cols, bgr.rows);
  return rgb;
}

at::Tensor center_crop_resize(const at::Tensor& rgb, int height, int width) {
  if (!rgb.defined() || rgb.scalar_type() != at::kByte || rgb.dim() != 3 || rgb.size(2) != 3) {
    std::ostringstream msg;
    msg << "center_crop_resize: expected an RGB uint8 image [H, W, 3], got ";
    if (rgb.defined()) {
      msg << rgb.scalar_type() << " " << rgb.sizes();
    } else {
      msg << "an undefined tensor";
    }
    throw Error(ErrorCode::ShapeMismatch, msg.str());
  }
  check_size(height, width, "center_crop_resize");
  const CropBox box =
      reference_center_crop(static_cast<int>(rgb.size(1)), static_cast<int>(rgb.size(0)), height, width);
  const at::Tensor cropped = rgb.slice(0, box.top, box.bottom).slice(1, box.left, box.right);
  return resize_like_pil(cropped, width, height);
}

at::Tensor prepare_image_input(const at::Tensor& rgb, int height, int width) {
  const at::Tensor frame = center_crop_resize(rgb, height, width);
  return to_input_video(frame.unsqueeze(0));  // [1, H, W, 3] -> [3, 1, H, W]
}

at::Tensor load_image_input(const std::filesystem::path& path, int height, int width) {
  check_size(height, width, "load_image_input");
  return prepare_image_input(load_image_rgb(path), height, width);
}

}  // namespace skyreels::video
