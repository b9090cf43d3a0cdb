#include "storage/internal/bitpack.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tools/shapes.h"

namespace nimbus::storage::internal {
namespace {

// Unpacks from a heap copy of exactly the packed bytes, so AddressSanitizer
// sees any read past them.
std::vector<uint64_t> UnpackExact(const std::string& packed, size_t n,
                                  int width) {
  auto copy = std::make_unique<char[]>(packed.size());
  if (!packed.empty()) std::memcpy(copy.get(), packed.data(), packed.size());
  std::vector<uint64_t> out(n);
  UnpackBits(copy.get(), copy.get() + packed.size(), n, width, out.data());
  return out;
}

TEST(Bitpack, RoundTripsEveryWidthAndLength) {
  tools::Rng rng(1);
  for (int width = 0; width <= 64; ++width) {
    for (size_t n : {0, 1, 2, 7, 8, 9, 63, 64, 65, 127, 128}) {
      std::vector<uint64_t> in(n);
      const uint64_t mask =
          width == 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
      for (auto& v : in) v = rng.Next() & mask;
      if (n > 0) in[0] = mask;  // the widest value
      std::string packed;
      PackBits(in.data(), n, width, &packed);
      ASSERT_EQ(packed.size(), PackedBytes(n, width));
      EXPECT_EQ(UnpackExact(packed, n, width), in)
          << "width " << width << " n " << n;
    }
  }
}

TEST(Bitpack, MasksOffReadableBytesAfterThePayload) {
  // Word loads may read past the payload up to readable_end; those bytes must
  // not leak into the values.
  tools::Rng rng(2);
  for (int width = 1; width <= 64; ++width) {
    for (size_t n : {1, 3, 17, 128}) {
      std::vector<uint64_t> in(n);
      const uint64_t mask =
          width == 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
      for (auto& v : in) v = rng.Next() & mask;
      std::string packed;
      PackBits(in.data(), n, width, &packed);
      const size_t payload = packed.size();
      packed.append(16, '\xff');  // readable garbage after the payload
      std::vector<uint64_t> out(n);
      UnpackBits(packed.data(), packed.data() + packed.size(), n, width,
                 out.data());
      EXPECT_EQ(out, in) << "width " << width << " n " << n;
      ASSERT_EQ(PackedBytes(n, width), payload);
    }
  }
}

TEST(Bitpack, AppendsAfterExistingBytes) {
  std::string out = "xy";
  const uint64_t in[] = {5, 0, 7, 1};
  PackBits(in, 4, 3, &out);
  ASSERT_EQ(out.size(), 2 + PackedBytes(4, 3));
  EXPECT_EQ(out.substr(0, 2), "xy");
  // LSB-first: 101 000 111 001 -> bits 0..11 = 0b001'111'000'101.
  EXPECT_EQ(static_cast<uint8_t>(out[2]), 0b11000101);
  EXPECT_EQ(static_cast<uint8_t>(out[3]), 0b0011);
}

}  // namespace
}  // namespace nimbus::storage::internal
