#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <gtest/gtest.h>
#include <ATen/ATen.h>
#include <torch/version.h>

#include "io/dtype.h"
#include "skyreels/error.h"

namespace skyreels::io {
namespace {

const std::vector<DType> kAllDTypes = {DType::F64, DType::F32, DType::F16,  DType::BF16, DType::F8_E4M3, DType::F8_E5M2,
                                       DType::I64, DType::I32, DType::I16, DType::I8,   DType::U8,      DType::BOOL};

TEST(DType, NamesAndSizes) {
  const std::vector<std::pair<const char*, std::size_t>> expected = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
      {"I64", 8}, {"I32", 4}, {"I16", 2}, {"I8", 1},   {"U8", 1},      {"BOOL", 1}};
  ASSERT_EQ(expected.size(), kAllDTypes.size());
  for (std::size_t i = 0; i < kAllDTypes.size(); ++i) {
    EXPECT_STREQ(dtype_name(kAllDTypes[i]), expected[i].first);
    EXPECT_EQ(dtype_size(kAllDTypes[i]), expected[i].second) << expected[i].first;
    EXPECT_EQ(dtype_from_name(expected[i].first), kAllDTypes[i]) << expected[i].first;
  }
  EXPECT_EQ(dtype_size(DType::Invalid), 0u);
}

TEST(DType, UnknownNamesAreRejected) {
  for (const char* name : {"", "f32", "F4", "C64", "U16", "F8_E4M3FN", "F32 ", " BOOL"}) {
    EXPECT_FALSE(dtype_from_name(name).has_value()) << name;
  }
}

TEST(DType, TorchMapping) {
  EXPECT_EQ(to_torch_dtype(DType::F64), at::kDouble);
  EXPECT_EQ(to_torch_dtype(DType::F32), at::kFloat);
  EXPECT_EQ(to_torch_dtype(DType::F16), at::kHalf);
  EXPECT_EQ(to_torch_dtype(DType::BF16), at::kBFloat16);
  EXPECT_EQ(to_torch_dtype(DType::I64), at::kLong);
  EXPECT_EQ(to_torch_dtype(DType::I32), at::kInt);
  EXPECT_EQ(to_torch_dtype(DType::I16), at::kShort);
  EXPECT_EQ(to_torch_dtype(DType::I8), at::kChar);
  EXPECT_EQ(to_torch_dtype(DType::U8), at::kByte);
  EXPECT_EQ(to_torch_dtype(DType::BOOL), at::kBool);
  EXPECT_FALSE(to_torch_dtype(DType::Invalid).has_value());
  for (const DType dtype : kAllDTypes) {
    const auto torch_type = to_torch_dtype(dtype);
    if (!torch_type) continue;
    EXPECT_EQ(from_torch_dtype(*torch_type), dtype) << dtype_name(dtype);
    EXPECT_EQ(c10::elementSize(*torch_type), dtype_size(dtype)) << dtype_name(dtype);
  }
}

TEST(DType, Float8MappingFollowsTorchVersion) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  EXPECT_EQ(to_torch_dtype(DType::F8_E4M3), c10::ScalarType::Float8_e4m3fn);
  EXPECT_EQ(to_torch_dtype(DType::F8_E5M2), c10::ScalarType::Float8_e5m2);
#else
  EXPECT_FALSE(to_torch_dtype(DType::F8_E4M3).has_value());
  EXPECT_FALSE(to_torch_dtype(DType::F8_E5M2).has_value());
#endif
}

TEST(DType, TypesWithoutNameAreUnsupported) {
  for (const auto type : {at::kComplexFloat, at::kComplexDouble, at::kQInt8}) {
    try {
      from_torch_dtype(type);
      ADD_FAILURE() << "no error for " << c10::toString(type);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::Unsupported);
      EXPECT_NE(std::string(e.what()).find(c10::toString(type)), std::string::npos) << e.what();
    }
  }
}

TEST(DType, F8E4M3KnownValues) {
  EXPECT_EQ(f8_e4m3_to_float(0x38), 1.0f);
  EXPECT_EQ(f8_e4m3_to_float(0xB8), -1.0f);
  EXPECT_EQ(f8_e4m3_to_float(0x40), 2.0f);
  EXPECT_EQ(f8_e4m3_to_float(0x3C), 1.5f);
  EXPECT_EQ(f8_e4m3_to_float(0x7E), 448.0f);   // largest finite value
  EXPECT_EQ(f8_e4m3_to_float(0xFE), -448.0f);
  EXPECT_EQ(f8_e4m3_to_float(0x08), std::ldexp(1.0f, -6));  // smallest normal
  EXPECT_EQ(f8_e4m3_to_float(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(f8_e4m3_to_float(0x07), 7 * std::ldexp(1.0f, -9));
  EXPECT_EQ(f8_e4m3_to_float(0x00), 0.0f);
  EXPECT_TRUE(std::signbit(f8_e4m3_to_float(0x80)));
  EXPECT_EQ(f8_e4m3_to_float(0x80), 0.0f);
  EXPECT_TRUE(std::isnan(f8_e4m3_to_float(0x7F)));
  EXPECT_TRUE(std::isnan(f8_e4m3_to_float(0xFF)));
  EXPECT_EQ(f8_e4m3_to_float(0x78), 256.0f);  // S.1111.000 is a number, not infinity
  int nan_count = 0;
  for (int byte = 0; byte < 256; ++byte) {
    const float value = f8_e4m3_to_float(static_cast<unsigned char>(byte));
    EXPECT_FALSE(std::isinf(value)) << byte;
    nan_count += std::isnan(value) ? 1 : 0;
  }
  EXPECT_EQ(nan_count, 2);
}

TEST(DType, F8E5M2KnownValues) {
  EXPECT_EQ(f8_e5m2_to_float(0x3C), 1.0f);
  EXPECT_EQ(f8_e5m2_to_float(0xBC), -1.0f);
  EXPECT_EQ(f8_e5m2_to_float(0x3E), 1.5f);
  EXPECT_EQ(f8_e5m2_to_float(0x7B), 57344.0f);  // largest finite value
  EXPECT_EQ(f8_e5m2_to_float(0x04), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(f8_e5m2_to_float(0x01), std::ldexp(1.0f, -16));  // smallest subnormal
  EXPECT_EQ(f8_e5m2_to_float(0x7C), std::numeric_limits<float>::infinity());
  EXPECT_EQ(f8_e5m2_to_float(0xFC), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(f8_e5m2_to_float(0x7D)));
  EXPECT_TRUE(std::isnan(f8_e5m2_to_float(0xFF)));
  EXPECT_TRUE(std::signbit(f8_e5m2_to_float(0x80)));
}

// E5M2 is the top byte of an IEEE half: every finite value must agree with LibTorch's half decoding.
TEST(DType, F8E5M2MatchesHalfPrecision) {
  for (int byte = 0; byte < 256; ++byte) {
    const float decoded = f8_e5m2_to_float(static_cast<unsigned char>(byte));
    const float via_half = static_cast<float>(c10::Half(static_cast<std::uint16_t>(byte << 8), c10::Half::from_bits()));
    if (std::isnan(via_half)) {
      EXPECT_TRUE(std::isnan(decoded)) << byte;
    } else {
      EXPECT_EQ(decoded, via_half) << byte;
    }
  }
}

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
// Where LibTorch has float8, its conversion is a second, independent reference.
TEST(DType, F8DecodingMatchesTorch) {
  at::Tensor bytes = at::arange(256, at::kInt).to(at::kByte);
  at::Tensor e4m3 = bytes.view(c10::ScalarType::Float8_e4m3fn).to(at::kFloat);
  at::Tensor e5m2 = bytes.view(c10::ScalarType::Float8_e5m2).to(at::kFloat);
  for (int byte = 0; byte < 256; ++byte) {
    const float torch_e4m3 = e4m3[byte].item<float>();
    const float torch_e5m2 = e5m2[byte].item<float>();
    const float ours_e4m3 = f8_e4m3_to_float(static_cast<unsigned char>(byte));
    const float ours_e5m2 = f8_e5m2_to_float(static_cast<unsigned char>(byte));
    if (std::isnan(torch_e4m3)) EXPECT_TRUE(std::isnan(ours_e4m3)) << byte; else EXPECT_EQ(ours_e4m3, torch_e4m3) << byte;
    if (std::isnan(torch_e5m2)) EXPECT_TRUE(std::isnan(ours_e5m2)) << byte; else EXPECT_EQ(ours_e5m2, torch_e5m2) << byte;
  }
}
#endif

}  // namespace
}  // namespace skyreels::io
