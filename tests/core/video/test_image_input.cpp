#include <gtest/gtest.h>

#include <functional>
#include <string>

#include <ATen/ATen.h>

#include "skyreels/error.h"
#include "test_support.h"
#include "video/frame_convert.h"
#include "video/image_input.h"
#include "video_test_support.h"

namespace skyreels::video {
namespace {

using test::from_hex;
using test::synthetic_rgb;
using test::TempDir;

using test::code_of;

// The reference's resizecrop + PIL's round(), run in Python (tests/core/video/pil_golden.py).
struct CropCase {
  int w, h, th, tw;
  int left, top, right, bottom;
};
const CropCase kCropCases[] = {
    {1920, 1080, 544, 960, 8, 0, 1912, 1080},
    {1080, 1920, 960, 544, 0, 8, 1080, 1912},
    {1000, 1000, 544, 960, 0, 217, 1000, 783},
    {641, 479, 544, 960, 0, 58, 641, 421},
    {333, 777, 544, 960, 0, 294, 333, 482},
    {1279, 719, 720, 1280, 0, 0, 1278, 719},
    {12, 7, 544, 960, 0, 0, 12, 6},
    {960, 544, 544, 960, 0, 0, 960, 544},
    {101, 50, 16, 16, 26, 0, 76, 50},
    {100, 51, 16, 16, 24, 0, 76, 51},
    {7, 5, 2, 3, 0, 0, 7, 4},
};

TEST(ImageInput, CenterCropMatchesReference) {
  for (const CropCase& c : kCropCases) {
    SCOPED_TRACE(std::to_string(c.w) + "x" + std::to_string(c.h) + " to " + std::to_string(c.tw) + ":" +
                 std::to_string(c.th));
    const CropBox box = reference_center_crop(c.w, c.h, c.th, c.tw);
    EXPECT_EQ(box.left, c.left);
    EXPECT_EQ(box.top, c.top);
    EXPECT_EQ(box.right, c.right);
    EXPECT_EQ(box.bottom, c.bottom);
  }
}

TEST(ImageInput, PortraitImagesSwapTheFrameSize) {
  const FrameSize landscape = reference_frame_size(1920, 1080, 544, 960);
  EXPECT_EQ(landscape.height, 544);
  EXPECT_EQ(landscape.width, 960);
  const FrameSize portrait = reference_frame_size(1080, 1920, 544, 960);
  EXPECT_EQ(portrait.height, 960);
  EXPECT_EQ(portrait.width, 544);
  const FrameSize square = reference_frame_size(512, 512, 544, 960);
  EXPECT_EQ(square.height, 544);
}

// Pillow: img.crop(resizecrop(img, th, tw)).resize((tw, th)) of synthetic_rgb.
struct PipelineCase {
  int w, h, th, tw;
  const char* hex;
};
const PipelineCase kPipelineCases[] = {
    {50, 20, 12, 16,
     "d9996d45cf9c3c68d9801caec9631787ab5628ad887129bfb388bec3ad71202c3e619b749d42a2e25dd94294c54a3821"
     "d1a4a247de8d4f795b922669d26ebe79b7843cc06983349ac5938ab1bfc431376b73a746b84ebe8f68e527a0a961434f"
     "87caa11fd04869453ea84b60cb8bc41cc9d3587346955227deb5904779a24152b785be7ed0655b8b857f2cb389766095"
     "a1d056333e777b3d46bd7f759cca7d2c8c9b6a2c76ac8f5dc2ba513f437f578eb099a195d0446e65bf314558678893db"
     "3445424e4f6b8d8bb1d5b49d4cb14c3651177d7fbdc7a3b897346e2269326ead7fae53cbd0858c1f79595e67669ab8c9"
     "237b8d63acb4a0c7d6e15cab5f35874a8a4791a468c82ebf4f629d3f9e2980385dc56f8981b69b303fc37195acac4007"
     "3ab8c774829bbb3d93aa689323aeca65ba79a3434dd4752922a46e553cd892718bdcbc5e5368b73ca6c984968bbf7a42"
     "4c6435876f57cbac4193b070327796786bc3b89093c5a64135586b677db7a7acddda763558a72c519a49967b6bd15e8c"
     "5ebc359a7926d9884b2b6a614b8a688a82a4d660946461aa32a7777c7c6ec2646cab869922824e6c8f1da86244ea6fce"
     "716f4bb1893fb0734a3085515e6440a06a7fc98dd44c86c24a62578e8744ce8c377d71cd396a8a7e8053be727cb99cb2"
     "838a4ccb5a6f6a764529742373914fb88e95ad76b61a737664737da1683fde76812e909a505b96908aaada7d9b6b786a"
     "95a780dcb44d826e4a3d833c856824c9afc4c27c9731644f758b47ba75909c6bae2e9d736491aaa768abc0636c3f762f"},
    {23, 41, 8, 6,
     "92a07d70926198825b68717c9c8c9d567d58a68e7261717f98795c668a749482886a86939d70867071648982ab7f7f48"
     "6d7c44917a8d7077828b93836c77889b8785618052b285785a787f9891775e7c7098868d6b7ea4977b53609d9a968174"
     "75767a8a8582887f606c7c858b7772748595917c84687b799f818c5f8b6ea573c3698c5e9a83a5616948977f8d627d69"},
};

TEST(ImageInput, PngStartImageMatchesThePillowPipeline) {
  TempDir dir;
  for (const PipelineCase& c : kPipelineCases) {
    SCOPED_TRACE(std::to_string(c.w) + "x" + std::to_string(c.h));
    const auto path = dir / ("start_" + std::to_string(c.w) + ".png");
    test::write_image(path.string(), synthetic_rgb(c.w, c.h));
    const at::Tensor expected = from_hex(c.hex, {c.th, c.tw, 3});

    const at::Tensor rgb = load_image_rgb(path);
    EXPECT_TRUE(at::equal(rgb, synthetic_rgb(c.w, c.h)));  // PNG is lossless, channels in RGB order
    EXPECT_TRUE(at::equal(center_crop_resize(rgb, c.th, c.tw), expected));

    const at::Tensor input = load_image_input(path, c.th, c.tw);
    ASSERT_EQ(input.sizes(), (at::IntArrayRef{3, 1, c.th, c.tw}));
    EXPECT_EQ(input.scalar_type(), at::kFloat);
    EXPECT_TRUE(at::equal(input, to_input_video(expected.unsqueeze(0))));
    EXPECT_GE(input.min().item<float>(), -1.0f);
    EXPECT_LE(input.max().item<float>(), 1.0f);
  }
}

TEST(ImageInput, GreyAndJpegImagesBecomeRgb) {
  TempDir dir;
  const at::Tensor grey = at::full({20, 30, 3}, 77, at::kByte);
  test::write_image((dir / "grey.png").string(), grey);  // OpenCV may store it as 3 equal channels
  EXPECT_TRUE(at::equal(load_image_rgb(dir / "grey.png"), grey));

  test::write_image((dir / "photo.jpg").string(), test::moving_pattern(1, 48, 64)[0]);
  const at::Tensor jpeg = load_image_input(dir / "photo.jpg", 32, 32);
  EXPECT_EQ(jpeg.sizes(), (at::IntArrayRef{3, 1, 32, 32}));
}

TEST(ImageInput, MissingCorruptAndUnsupportedInputsGiveClearErrors) {
  TempDir dir;
  std::string message;
  const auto missing = dir / "nope.png";
  EXPECT_EQ(code_of([&] { load_image_input(missing, 16, 16); }, &message), ErrorCode::NotFound);
  EXPECT_NE(message.find(missing.string()), std::string::npos) << message;

  test::write_file(dir / "text.png", "this is not a picture\n");
  EXPECT_EQ(code_of([&] { load_image_input(dir / "text.png", 16, 16); }, &message), ErrorCode::CorruptFile);
  EXPECT_NE(message.find("text.png"), std::string::npos) << message;
  EXPECT_NE(message.find("not an image"), std::string::npos) << message;

  // A PNG cut short after its header.
  test::write_image((dir / "whole.png").string(), synthetic_rgb(64, 64));
  test::write_file(dir / "cut.png", test::read_file(dir / "whole.png").substr(0, 60));
  EXPECT_EQ(code_of([&] { load_image_input(dir / "cut.png", 16, 16); }), ErrorCode::CorruptFile);

  EXPECT_EQ(code_of([&] { load_image_input(dir.path(), 16, 16); }), ErrorCode::BadArgument);
  EXPECT_EQ(code_of([&] { load_image_input(dir / "whole.png", 0, 16); }), ErrorCode::BadArgument);
  EXPECT_EQ(code_of([&] { center_crop_resize(at::zeros({8, 8, 4}, at::kByte), 4, 4); }), ErrorCode::ShapeMismatch);
}

}  // namespace
}  // namespace skyreels::video
