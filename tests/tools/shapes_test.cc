#include "tools/shapes.h"

#include <cmath>
#include <set>

#include "gtest/gtest.h"

namespace nimbus::tools {
namespace {

constexpr int64_t kStartMs = 1'767'225'600'000;

TEST(Shapes, SameSeedGivesTheSameSeries) {
  for (Shape shape : kAllShapes) {
    const auto a = GenerateSeries(shape, 12, kStartMs, 10'000, 500);
    const auto b = GenerateSeries(shape, 12, kStartMs, 10'000, 500);
    EXPECT_EQ(a.timestamps_ms, b.timestamps_ms);
    EXPECT_EQ(a.values, b.values) << ShapeName(shape);
  }
}

TEST(Shapes, DifferentSeedsGiveDifferentSeries) {
  for (Shape shape : kAllShapes) {
    if (shape == Shape::kMemTotalBytes || shape == Shape::kQueueDepth) continue;
    const auto a = GenerateSeries(shape, 1, kStartMs, 10'000, 100);
    const auto b = GenerateSeries(shape, 2, kStartMs, 10'000, 100);
    EXPECT_NE(a.values, b.values) << ShapeName(shape);
  }
}

TEST(Shapes, TimestampsAreRegular) {
  const auto d = GenerateSeries(Shape::kLatencyMs, 1, kStartMs, 10'000, 360);
  ASSERT_EQ(d.timestamps_ms.size(), 360u);
  for (size_t i = 0; i < d.timestamps_ms.size(); ++i) {
    EXPECT_EQ(d.timestamps_ms[i], kStartMs + static_cast<int64_t>(i) * 10'000);
  }
}

TEST(Shapes, CpuUtilizationHasTwoDecimalsWithinBounds) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const auto d =
        GenerateSeries(Shape::kCpuUtilization, seed, 0, 10'000, 2000);
    for (size_t i = 0; i < d.values.size(); ++i) {
      const double v = d.values[i];
      EXPECT_GE(v, 0);
      EXPECT_LE(v, 100);
      EXPECT_EQ(std::round(v * 100) / 100, v);
      if (i > 0) {
        EXPECT_LE(std::fabs(v - d.values[i - 1]), 1.5 + 1e-9);
      }
    }
  }
}

TEST(Shapes, MemUsedIsWholePagesWithinBounds) {
  const auto d = GenerateSeries(Shape::kMemUsedBytes, 3, 0, 10'000, 5000);
  for (double v : d.values) {
    EXPECT_EQ(std::fmod(v, 4096), 0);
    EXPECT_GE(v, 1024.0 * 1024 * 1024);
    EXPECT_LE(v, 16.0 * 1024 * 1024 * 1024);
  }
}

TEST(Shapes, CountersNeverDecrease) {
  for (Shape shape :
       {Shape::kRequestCount, Shape::kErrorCount, Shape::kNetworkInBytes}) {
    const auto d = GenerateSeries(shape, 4, 0, 10'000, 5000);
    for (size_t i = 1; i < d.values.size(); ++i) {
      ASSERT_GE(d.values[i], d.values[i - 1]) << ShapeName(shape);
      ASSERT_EQ(std::floor(d.values[i]), d.values[i]);
    }
  }
}

TEST(Shapes, ErrorCountIncrementsInAboutFivePercentOfIntervals) {
  const auto d = GenerateSeries(Shape::kErrorCount, 5, 0, 10'000, 100'000);
  size_t changes = 0;
  for (size_t i = 1; i < d.values.size(); ++i)
    changes += d.values[i] != d.values[i - 1];
  EXPECT_NEAR(static_cast<double>(changes) / d.values.size(), 0.05, 0.005);
}

TEST(Shapes, QueueDepthIsMostlyUnchangedOrZero) {
  const auto d = GenerateSeries(Shape::kQueueDepth, 6, 0, 10'000, 100'000);
  size_t unchanged_or_zero = 0;
  for (size_t i = 1; i < d.values.size(); ++i) {
    unchanged_or_zero += d.values[i] == d.values[i - 1] || d.values[i] == 0;
    ASSERT_GE(d.values[i], 0);
  }
  EXPECT_GT(static_cast<double>(unchanged_or_zero) / d.values.size(), 0.8);
}

TEST(Shapes, LatencyUsesFullPrecision) {
  const auto d = GenerateSeries(Shape::kLatencyMs, 7, 0, 10'000, 1000);
  std::set<double> distinct(d.values.begin(), d.values.end());
  EXPECT_EQ(distinct.size(), d.values.size());
  for (double v : d.values) {
    EXPECT_GT(v, 0);
    EXPECT_NE(std::round(v * 1e6) / 1e6, v) << "looks rounded: " << v;
  }
}

TEST(Shapes, MemTotalIsConstant) {
  const auto d = GenerateSeries(Shape::kMemTotalBytes, 8, 0, 10'000, 100);
  EXPECT_EQ(std::set<double>(d.values.begin(), d.values.end()).size(), 1u);
  EXPECT_EQ(d.information_bits, 0);
}

TEST(Rng, UniformStaysInRangeAndHitsBothEnds) {
  Rng rng(1);
  bool lo = false, hi = false;
  for (int i = 0; i < 10000; ++i) {
    const int64_t v = rng.Uniform(-3, 3);
    ASSERT_GE(v, -3);
    ASSERT_LE(v, 3);
    lo |= v == -3;
    hi |= v == 3;
  }
  EXPECT_TRUE(lo && hi);
}

}  // namespace
}  // namespace nimbus::tools
