#include "engine/head_buffer.h"

#include <bit>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "tools/shapes.h"

namespace nimbus::engine {
namespace {

std::vector<Sample> Decode(const HeadBuffer& h) {
  std::vector<Sample> out;
  h.DecodeTo(&out);
  return out;
}

void ExpectSame(const std::vector<Sample>& a, const std::vector<Sample>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].ts_ms, b[i].ts_ms) << i;
    EXPECT_EQ(std::bit_cast<uint64_t>(a[i].value),
              std::bit_cast<uint64_t>(b[i].value))
        << i;
  }
}

TEST(HeadBuffer, KeepsPointsInArrivalOrderBitForBit) {
  tools::Rng rng(3);
  HeadBuffer h;
  std::vector<Sample> want;
  int64_t t = 1'795'950'000'000;
  for (int i = 0; i < 1000; ++i) {
    t += rng.Uniform(-20'000, 20'000);  // out of order and duplicates too
    const double v = std::bit_cast<double>(rng.Next());
    h.Append(t, v);
    want.push_back({t, v});
  }
  EXPECT_EQ(h.size(), 1000u);
  ExpectSame(Decode(h), want);
}

TEST(HeadBuffer, HandlesTheInt64Extremes) {
  HeadBuffer h;
  const int64_t lo = std::numeric_limits<int64_t>::min();
  const int64_t hi = std::numeric_limits<int64_t>::max();
  h.Append(lo, 1);
  h.Append(hi, 2);
  h.Append(lo, 3);
  ExpectSame(Decode(h), {{lo, 1}, {hi, 2}, {lo, 3}});
}

TEST(HeadBuffer, DropFrontKeepsTheRest) {
  HeadBuffer h;
  for (int i = 0; i < 10; ++i) h.Append(1000 + i * 10, i);
  h.DropFront(4);
  EXPECT_EQ(h.size(), 6u);
  std::vector<Sample> want;
  for (int i = 4; i < 10; ++i) want.push_back({1000 + i * 10, double(i)});
  ExpectSame(Decode(h), want);
  h.Append(5, -1);  // appending after a drop continues correctly
  want.push_back({5, -1});
  ExpectSame(Decode(h), want);
  h.DropFront(h.size());
  EXPECT_TRUE(h.empty());
  EXPECT_TRUE(Decode(h).empty());
}

}  // namespace
}  // namespace nimbus::engine
