#include "storage/internal/coding.h"

#include <cstdint>
#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace nimbus::storage::internal {
namespace {

TEST(Coding, ZigZagRoundTripsExtremes) {
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1}, int64_t{-64},
                    int64_t{63}, std::numeric_limits<int64_t>::min(),
                    std::numeric_limits<int64_t>::max()}) {
    EXPECT_EQ(ZigZagDecode(ZigZagEncode(v)), v);
  }
  EXPECT_EQ(ZigZagEncode(0), 0u);
  EXPECT_EQ(ZigZagEncode(-1), 1u);
  EXPECT_EQ(ZigZagEncode(1), 2u);
}

TEST(Coding, VarintRoundTripsAndLengthMatches) {
  for (int shift = 0; shift < 64; ++shift) {
    for (uint64_t v : {uint64_t{1} << shift, (uint64_t{1} << shift) - 1,
                       ~uint64_t{0} >> shift}) {
      std::string s;
      PutVarint64(&s, v);
      EXPECT_EQ(static_cast<int>(s.size()), VarintLength(v)) << v;
      const char* p = s.data();
      uint64_t got = 0;
      ASSERT_TRUE(GetVarint64(&p, s.data() + s.size(), &got));
      EXPECT_EQ(got, v);
      EXPECT_EQ(p, s.data() + s.size());
    }
  }
}

TEST(Coding, VarintRejectsTruncationWithoutReadingPastLimit) {
  std::string s;
  PutVarint64(&s, ~uint64_t{0});  // ten bytes
  for (size_t len = 0; len < s.size(); ++len) {
    const std::string cut = s.substr(0, len);  // exact-size buffer for ASan
    const char* p = cut.data();
    uint64_t v;
    EXPECT_FALSE(GetVarint64(&p, cut.data() + cut.size(), &v)) << len;
    EXPECT_EQ(p, cut.data());
  }
}

TEST(Coding, VarintRejectsOverlongAndOverflowingEncodings) {
  const std::string eleven(10, '\x80');  // no terminator within ten bytes
  const char* p = eleven.data();
  uint64_t v;
  EXPECT_FALSE(GetVarint64(&p, eleven.data() + eleven.size(), &v));
  std::string overflow(9, '\xff');
  overflow.push_back('\x02');  // the tenth byte may only carry one bit
  p = overflow.data();
  EXPECT_FALSE(GetVarint64(&p, overflow.data() + overflow.size(), &v));
}

}  // namespace
}  // namespace nimbus::storage::internal
