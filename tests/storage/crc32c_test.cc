#include "storage/internal/crc32c.h"

#include <string>

#include "gtest/gtest.h"
#include "tools/shapes.h"

namespace nimbus::storage::internal {
namespace {

TEST(Crc32c, MatchesPublishedCheckValue) {
  // The CRC-32C "check" value: the CRC of the ASCII digits 1..9.
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);
}

TEST(Crc32c, MatchesRfc3720Vectors) {
  const std::string zeros(32, '\0');
  const std::string ones(32, '\xff');
  std::string ascending(32, '\0');
  for (int i = 0; i < 32; ++i) ascending[i] = static_cast<char>(i);
  EXPECT_EQ(Crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  EXPECT_EQ(Crc32c(ascending.data(), ascending.size()), 0x46DD794Eu);
}

TEST(Crc32c, ExtendEqualsOneShot) {
  const std::string s = "the quick brown fox jumps over the lazy dog";
  for (size_t split = 0; split <= s.size(); ++split) {
    const uint32_t first = Crc32c(s.data(), split);
    EXPECT_EQ(Crc32cExtend(first, s.data() + split, s.size() - split),
              Crc32c(s.data(), s.size()));
  }
}

TEST(Crc32c, HardwareAndPortablePathsAgree) {
  tools::Rng rng(7);
  std::string buf(4096, '\0');
  for (char& c : buf) c = static_cast<char>(rng.Next());
  for (size_t len = 0; len < 300; ++len) {
    for (size_t offset : {0, 1, 3, 7}) {
      EXPECT_EQ(Crc32cExtend(0x1234, buf.data() + offset, len),
                Crc32cExtendPortable(0x1234, buf.data() + offset, len))
          << "len " << len << " offset " << offset;
    }
  }
}

}  // namespace
}  // namespace nimbus::storage::internal
