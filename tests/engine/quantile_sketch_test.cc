#include "engine/quantile_sketch.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "tools/shapes.h"

namespace nimbus::engine {
namespace {

// Nearest rank over raw values, as GetMetricStatistics computes it.
double Exact(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double rank = std::ceil(q * static_cast<double>(v.size()));
  const size_t i =
      rank < 1 ? 0 : std::min(v.size(), static_cast<size_t>(rank)) - 1;
  return v[i];
}

void ExpectWithinBound(const std::vector<double>& values,
                       const QuantileSketch& s, const char* what) {
  for (double q :
       {0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0}) {
    const double exact = Exact(values, q);
    const double got = s.Quantile(q);
    EXPECT_LE(std::fabs(got - exact), QuantileSketch::kRelativeAccuracy *
                                          std::fabs(exact) * (1 + 1e-12))
        << what << " q=" << q << " exact " << exact << " sketch " << got;
  }
}

TEST(QuantileSketch, QuantilesAreWithinOnePercentOfTheExactNearestRank) {
  tools::Rng rng(11);
  std::vector<double> lognormal, uniform, mixed;
  QuantileSketch sl, su, sm;
  for (int i = 0; i < 100'000; ++i) {
    const double l = 50 * std::exp(0.8 * rng.Normal());
    const double u = 1 + rng.UniformDouble() * 1e6;
    double m = rng.Normal() * 100;
    if (i % 50 == 0) m = 0;
    lognormal.push_back(l);
    uniform.push_back(u);
    mixed.push_back(m);
    sl.Add(l);
    su.Add(u);
    sm.Add(m);
  }
  ExpectWithinBound(lognormal, sl, "lognormal");
  ExpectWithinBound(uniform, su, "uniform");
  ExpectWithinBound(mixed, sm, "mixed signs and zeros");
  EXPECT_EQ(sl.count(), 100'000);
}

TEST(QuantileSketch, EveryReferenceShapeStaysWithinTheBound) {
  for (tools::Shape shape : tools::kAllShapes) {
    const auto d = tools::GenerateSeries(shape, 5, 0, 10'000, 5000);
    QuantileSketch s;
    for (double v : d.values) s.Add(v);
    ExpectWithinBound(d.values, s,
                      std::string(tools::ShapeName(shape)).c_str());
  }
}

TEST(QuantileSketch, MergingEqualsSketchingTheUnion) {
  tools::Rng rng(3);
  QuantileSketch a, b, all;
  for (int i = 0; i < 20'000; ++i) {
    const double v = std::exp(rng.Normal() * 3);
    (i % 3 == 0 ? a : b).Add(v);
    all.Add(v);
  }
  QuantileSketch merged = a;
  merged.Merge(b);
  EXPECT_EQ(merged.Serialize(), all.Serialize());
  EXPECT_EQ(merged.count(), all.count());
}

TEST(QuantileSketch, WeightsCountLikeRepeatedSamples) {
  QuantileSketch weighted, repeated;
  weighted.Add(10, 3);
  weighted.Add(20, 1);
  for (int i = 0; i < 3; ++i) repeated.Add(10);
  repeated.Add(20);
  EXPECT_EQ(weighted.Serialize(), repeated.Serialize());
  EXPECT_NEAR(weighted.Quantile(0.75), 10, 0.1);
  EXPECT_NEAR(weighted.Quantile(0.76), 20, 0.2);
  weighted.Add(30, 0.5);  // fractional weights are kept exactly
  EXPECT_EQ(weighted.count(), 4.5);
}

TEST(QuantileSketch, IgnoresNonFiniteValuesAndBadCounts) {
  QuantileSketch s;
  EXPECT_TRUE(std::isnan(s.Quantile(0.5)));
  s.Add(std::numeric_limits<double>::quiet_NaN());
  s.Add(std::numeric_limits<double>::infinity());
  s.Add(5, 0);
  s.Add(5, -1);
  s.Add(5, std::numeric_limits<double>::infinity());
  EXPECT_TRUE(s.empty());
  s.Add(5);
  EXPECT_NEAR(s.Quantile(0.5), 5, 0.05);
}

TEST(QuantileSketch, KeepsTheUpperQuantilesWhenItCollapsesTheLowestBuckets) {
  // 1e-30 .. 1e30 needs about 6900 buckets at 1%; 2048 keep the top ~17.8
  // decades, so quantiles from about 0.71 up stay within the bound.
  std::vector<double> values;
  QuantileSketch s;
  for (int e = -30; e <= 30; ++e) {
    for (int k = 1; k <= 9; ++k) {
      values.push_back(k * std::pow(10.0, e));
      s.Add(values.back());
    }
  }
  for (double q : {0.75, 0.9, 0.99, 1.0}) {
    const double exact = Exact(values, q);
    EXPECT_LE(std::fabs(s.Quantile(q) - exact), 0.01 * exact * (1 + 1e-12))
        << q;
  }
  // Below the kept range the answer is the lowest kept bucket, not the value.
  EXPECT_GT(s.Quantile(0.1), 1e10 * Exact(values, 0.1));
  EXPECT_LT(s.Serialize().size(), 3 * 2048u);
}

TEST(QuantileSketch, SerializesAndParsesBack) {
  tools::Rng rng(9);
  QuantileSketch s;
  for (int i = 0; i < 1000; ++i)
    s.Add(rng.Normal() * 1000, i % 7 == 0 ? 2.5 : 1);
  s.Add(0, 3);
  const std::string bytes = s.Serialize();
  auto back = QuantileSketch::Parse(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->Serialize(), bytes);
  EXPECT_EQ(back->count(), s.count());
  for (double q : {0.0, 0.5, 0.99}) EXPECT_EQ(back->Quantile(q), s.Quantile(q));
}

TEST(QuantileSketch, ParseRejectsDamagedBytes) {
  QuantileSketch s;
  for (int i = 1; i <= 100; ++i) s.Add(i * 1.5);
  const std::string bytes = s.Serialize();
  for (size_t len = 0; len < bytes.size(); ++len) {
    EXPECT_EQ(QuantileSketch::Parse(bytes.substr(0, len)).status().code(),
              absl::StatusCode::kDataLoss)
        << len;
  }
  std::string versioned = bytes;
  versioned[0] = 3;
  EXPECT_EQ(QuantileSketch::Parse(versioned).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(QuantileSketch::Parse(bytes + "x").status().code(),
            absl::StatusCode::kDataLoss);
}

// Values across the whole accepted range (1e-300 .. 2^360 and their
// negatives) never widen a store past its limit: the lowest values fold,
// the upper quantiles keep their bound, and adding or merging stays cheap.
TEST(QuantileSketch, ExtremeRangesFoldWithoutGrowing) {
  QuantileSketch s, other;
  const double huge = std::ldexp(1.0, 360);
  for (int i = 0; i < 20'000; ++i) {
    s.Add(i % 2 ? 1e-300 : huge);
    other.Add(i % 2 ? -1e-300 : -huge);
  }
  EXPECT_LE(s.BucketsAllocated(), 2u * QuantileSketch::kMaxBuckets);
  s.Merge(other);
  EXPECT_LE(s.BucketsAllocated(), 4u * QuantileSketch::kMaxBuckets);
  EXPECT_EQ(s.count(), 40'000);
  EXPECT_NEAR(s.Quantile(1), huge, huge * QuantileSketch::kRelativeAccuracy);
  // Both stores hold at most kMaxBuckets buckets, two of them non-empty.
  EXPECT_LT(s.Serialize().size(), 64u);
  auto back = QuantileSketch::Parse(s.Serialize());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->Quantile(1), s.Quantile(1));
  EXPECT_EQ(back->Quantile(0), s.Quantile(0));
}

// Version 2 lists only non-empty buckets: a minute's few samples spread over
// a wide range stay small (version 1 spent a byte on every bucket between).
TEST(QuantileSketch, AFewSpreadSamplesSerializeSmall) {
  QuantileSketch s;
  for (double v : {12.0, 480.0, 75.5, 999.0, 3.25, 250.0}) s.Add(v);
  EXPECT_LT(s.Serialize().size(), 30u);
}

// Version 1 bytes (dense buckets from an offset) still parse.
TEST(QuantileSketch, ParsesVersionOne) {
  // version 1; zero count 0; positive store: offset 10 (zigzag 20), three
  // buckets with counts 2, 0, 1 (varints 2c); negative store: empty.
  const std::string v1 = {1, 0, 20, 3, 4, 0, 2, 0, 0};
  auto s = QuantileSketch::Parse(v1);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->count(), 3);
  // The lowest bucket, 10, answers its representative value.
  EXPECT_NEAR(
      s->Quantile(0),
      std::pow((1 + 0.01) / (1 - 0.01), 10) * 2 / ((1 + 0.01) / (1 - 0.01) + 1),
      1e-12);
  // Written back as version 2, and equal to itself after another round.
  auto again = QuantileSketch::Parse(s->Serialize());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->Quantile(1), s->Quantile(1));
  EXPECT_EQ(again->count(), 3);
}

}  // namespace
}  // namespace nimbus::engine

namespace nimbus::engine {
namespace {

// Found by quantile_sketch_fuzz: with only negative values and fractional
// weights, the running sum could end just short of the total, and the top
// quantile answered 0, a value not in the data.
TEST(QuantileSketch,
     TheTopQuantileOfNegativeFractionalWeightsIsTheLargestValue) {
  QuantileSketch s;
  s.Add(-8, 0.1);
  s.Add(-4, 0.2);
  s.Add(-2, 0.3);
  const double top = s.Quantile(1.0);
  EXPECT_LT(top, 0);
  EXPECT_NEAR(top, -2, 2 * QuantileSketch::kRelativeAccuracy);
}

// Found by quantile_sketch_fuzz: the short count form was read beyond
// 2^52, and a version-1 store's span was checked by its first bucket only.
TEST(QuantileSketch, ParseRefusesNonCanonicalCountsAndStoresPastTheIndexRange) {
  // Version 2, zero count 2^52 in the short form (varint of 2^53).
  std::string big = {2};
  uint64_t v = uint64_t{1} << 53;
  while (v >= 0x80) {
    big.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  big.push_back(static_cast<char>(v));
  big += std::string("\x00\x00", 2);
  EXPECT_EQ(QuantileSketch::Parse(big).status().code(),
            absl::StatusCode::kDataLoss);
  // Version 1: a positive store at offset 2^20 with two buckets, so its
  // last index is 2^20 + 1. zigzag(2^20) = 2^21 = varint 80 80 80 01.
  const std::string v1("\x01\x00\x80\x80\x80\x01\x02\x02\x02\x00\x00", 11);
  EXPECT_EQ(QuantileSketch::Parse(v1).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace nimbus::engine
