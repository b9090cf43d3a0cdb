#include "storage/chunk_codec.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/shapes.h"

namespace nimbus::storage {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kStartMs = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

std::vector<uint64_t> Bits(const std::vector<double>& v) {
  std::vector<uint64_t> b(v.size());
  for (size_t i = 0; i < v.size(); ++i) b[i] = std::bit_cast<uint64_t>(v[i]);
  return b;
}

// Encodes, decodes both ways (DecodeChunk and a hand-driven iterator) and
// expects every timestamp and every value's bit pattern back. Returns the
// chunk.
std::string ExpectRoundTrip(const std::vector<int64_t>& ts,
                            const std::vector<double>& vs) {
  std::string chunk;
  EXPECT_TRUE(EncodeChunk(ts, vs, &chunk).ok());
  std::vector<int64_t> ts_out;
  std::vector<double> vs_out;
  const absl::Status s = DecodeChunk(chunk, &ts_out, &vs_out);
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(ts_out, ts);
  EXPECT_EQ(Bits(vs_out), Bits(vs));  // bit for bit, NaN payloads included

  ChunkIterator it(chunk);
  EXPECT_EQ(it.point_count(), ts.size());
  size_t i = 0;
  for (; it.Valid(); it.Next(), ++i) {
    if (i >= ts.size()) break;
    if (it.timestamp_ms() != ts[i] ||
        std::bit_cast<uint64_t>(it.value()) != std::bit_cast<uint64_t>(vs[i])) {
      ADD_FAILURE() << "point " << i << " differs";
      break;
    }
  }
  EXPECT_EQ(i, ts.size());
  EXPECT_TRUE(it.status().ok()) << it.status();
  return chunk;
}

std::vector<int64_t> Regular(size_t n, int64_t interval_ms) {
  std::vector<int64_t> ts(n);
  for (size_t i = 0; i < n; ++i)
    ts[i] = kStartMs + static_cast<int64_t>(i) * interval_ms;
  return ts;
}

// Property test: a million or more points of every shape, over chunk sizes
// that cross block boundaries, round-trip exactly.
TEST(ChunkCodec, RoundTripsMillionsOfPointsOfEveryShape) {
  const size_t kSizes[] = {1, 2, 3, 127, 128, 129, 255, 256, 257, 720, 7200};
  for (tools::Shape shape : tools::kAllShapes) {
    size_t points = 0;
    uint64_t series = 0;
    while (points < 1'100'000) {
      const size_t n = kSizes[series % std::size(kSizes)];
      const auto d = tools::GenerateSeries(
          shape, tools::SeriesSeed(2026, series), kStartMs, 10'000, n);
      ExpectRoundTrip(d.timestamps_ms, d.values);
      if (HasFailure()) {
        FAIL() << tools::ShapeName(shape) << " series " << series;
      }
      points += n;
      ++series;
    }
  }
}

TEST(ChunkCodec, RoundTripsEdgeValues) {
  const double kEdges[] = {
      0.0,
      -0.0,
      std::numeric_limits<double>::denorm_min(),
      -std::numeric_limits<double>::denorm_min(),
      std::numeric_limits<double>::min(),  // smallest normal
      std::nextafter(std::numeric_limits<double>::min(),
                     0.0),  // largest subnormal
      std::numeric_limits<double>::max(),
      std::numeric_limits<double>::lowest(),
      std::numeric_limits<double>::infinity(),
      -std::numeric_limits<double>::infinity(),
      std::numeric_limits<double>::quiet_NaN(),
      -std::numeric_limits<double>::quiet_NaN(),
      std::numeric_limits<double>::signaling_NaN(),
      std::bit_cast<double>(uint64_t{0x7FF0000000000001}),  // NaN, payload 1
      std::bit_cast<double>(uint64_t{0xFFFFFFFFFFFFFFFF}),  // NaN, all ones
      std::bit_cast<double>(uint64_t{0x7FF8DEADBEEF0001}),
      0.1 + 0.2,
      1e300,
      -1e-300,
      9007199254740993.0,     // 2^53 + 1 rounds to 2^53
      4611686018427387904.0,  // 2^62, just past the decimal range
      -4611686018427387904.0,
      1e18,
      123456789.123456789,
  };
  const std::vector<double> all(std::begin(kEdges), std::end(kEdges));
  ExpectRoundTrip(Regular(all.size(), 1000), all);
  for (double v : kEdges) {
    ExpectRoundTrip(Regular(1, 1000), {v});
    ExpectRoundTrip(Regular(300, 1000), std::vector<double>(300, v));
  }
}

TEST(ChunkCodec, KeepsEdgeValuesInsideDecimalChunksAsExceptions) {
  // 2-decimal gauge with a few values that are not decimals: the chunk stays
  // decimal and those few are stored raw.
  std::vector<double> vs(720);
  for (size_t i = 0; i < vs.size(); ++i)
    vs[i] = static_cast<double>(i % 1000) / 100;
  vs[0] = -0.0;
  vs[1] = std::numeric_limits<double>::quiet_NaN();
  vs[130] = std::bit_cast<double>(uint64_t{0x7FF0000000000001});
  vs[131] = 0.1 + 0.2;
  vs[719] = std::numeric_limits<double>::infinity();
  const std::string chunk = ExpectRoundTrip(Regular(vs.size(), 10'000), vs);
  auto h = ReadChunkHeader(chunk);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->value_codec, ValueCodec::kDecimal);
  EXPECT_EQ(h->decimal_exponent, 2);
  EXPECT_EQ(h->exception_count, 5u);
}

TEST(ChunkCodec, RaisesTheExponentWhenTheSampleMissesDigits) {
  // The encoder samples points 0, 90, 180, ...: here exactly those have one
  // decimal, while the rest have two.
  std::vector<double> vs(720);
  for (size_t i = 0; i < vs.size(); ++i) vs[i] = static_cast<double>(i) / 100;
  const std::string chunk = ExpectRoundTrip(Regular(vs.size(), 10'000), vs);
  auto h = ReadChunkHeader(chunk);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->value_codec, ValueCodec::kDecimal);
  EXPECT_EQ(h->decimal_exponent, 2);
  EXPECT_EQ(h->exception_count, 0u);
}

TEST(ChunkCodec,
     KeepsARareLongDecimalAsAnExceptionRatherThanRaisingTheExponent) {
  std::vector<double> vs(720);
  for (size_t i = 0; i < vs.size(); ++i)
    vs[i] = static_cast<double>(i % 300) / 100;
  vs[77] = 1.23456789012345;  // 14 decimals
  const std::string chunk = ExpectRoundTrip(Regular(vs.size(), 10'000), vs);
  auto h = ReadChunkHeader(chunk);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->value_codec, ValueCodec::kDecimal);
  EXPECT_EQ(h->decimal_exponent, 2);
  EXPECT_EQ(h->exception_count, 1u);
}

TEST(ChunkCodec, RoundTripsRandomBitPatterns) {
  tools::Rng rng(99);
  for (int round = 0; round < 200; ++round) {
    const size_t n = static_cast<size_t>(rng.Uniform(1, 5000));
    std::vector<double> vs(n);
    for (auto& v : vs) v = std::bit_cast<double>(rng.Next());
    ExpectRoundTrip(Regular(n, 1000), vs);
    if (HasFailure()) FAIL() << "round " << round;
  }
}

TEST(ChunkCodec, RoundTripsMixturesOfDecimalsAndNoise) {
  tools::Rng rng(5);
  for (int round = 0; round < 300; ++round) {
    const size_t n = static_cast<size_t>(rng.Uniform(1, 2000));
    const int exponent = static_cast<int>(rng.Uniform(0, 20));
    const int noise_percent = static_cast<int>(rng.Uniform(0, 30));
    const int64_t magnitude = int64_t{1} << rng.Uniform(0, 62);
    std::vector<double> vs(n);
    for (auto& v : vs) {
      if (rng.Uniform(0, 99) < noise_percent) {
        v = std::bit_cast<double>(rng.Next());
      } else {
        v = static_cast<double>(rng.Uniform(-magnitude, magnitude)) /
            std::pow(10.0, exponent);
      }
    }
    ExpectRoundTrip(Regular(n, 1000), vs);
    if (HasFailure()) FAIL() << "round " << round;
  }
}

TEST(ChunkCodec, RoundTripsIrregularTimestamps) {
  tools::Rng rng(11);
  for (int round = 0; round < 300; ++round) {
    const size_t n = static_cast<size_t>(rng.Uniform(1, 3000));
    std::vector<int64_t> ts(n);
    int64_t t = rng.Uniform(std::numeric_limits<int64_t>::min() / 2,
                            std::numeric_limits<int64_t>::max() / 2);
    const int64_t max_gap = int64_t{1} << rng.Uniform(0, 40);
    for (auto& x : ts) {
      switch (rng.Uniform(0, 3)) {
        case 0:
          break;  // a duplicate timestamp: a second sample
        case 1:
          t += 10'000 + rng.Uniform(-50, 50);
          break;  // jittered 10 s
        default:
          t += rng.Uniform(0, max_gap);
          break;
      }
      x = t;
    }
    std::vector<double> vs(n);
    for (auto& v : vs) v = static_cast<double>(rng.Uniform(0, 100));
    ExpectRoundTrip(ts, vs);
    if (HasFailure()) FAIL() << "round " << round;
  }
}

TEST(ChunkCodec, RoundTripsTheInt64TimestampExtremes) {
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  ExpectRoundTrip({kMin, kMin, -1, 0, 1, kMax, kMax}, {1, 2, 3, 4, 5, 6, 7});
  ExpectRoundTrip({kMin, kMax}, {1, 2});
  std::vector<int64_t> ts(400);
  for (size_t i = 0; i < ts.size(); ++i) ts[i] = i < 200 ? kMin : kMax;
  ExpectRoundTrip(ts, std::vector<double>(ts.size(), 1.5));
}

TEST(ChunkCodec, KeepsSamplesWithEqualTimestamps) {
  const std::vector<int64_t> ts = {kStartMs, kStartMs, kStartMs, kStartMs + 1};
  const std::vector<double> vs = {3, 1, 2, 0};
  ExpectRoundTrip(ts, vs);
}

TEST(ChunkCodec, RoundTripsAnEmptyChunk) {
  const std::string chunk = ExpectRoundTrip({}, {});
  EXPECT_EQ(chunk.size(), 7u);
  ChunkIterator it(chunk);
  EXPECT_FALSE(it.Valid());
  EXPECT_TRUE(it.status().ok());
}

TEST(ChunkCodec, RejectsADecreasingTimestampNamingTheIndex) {
  std::string out = "stale";
  const absl::Status s =
      EncodeChunk({1000, 2000, 1999, 3000}, {1, 2, 3, 4}, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("timestamps_ms[2] = 1999"));
  EXPECT_THAT(s.message(), HasSubstr("must not decrease"));
  EXPECT_TRUE(out.empty());
}

TEST(ChunkCodec, RejectsSpansOfDifferentLengths) {
  std::string out;
  const absl::Status s = EncodeChunk({1000, 2000}, {1}, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(),
              HasSubstr("timestamps_ms has 2 entries but values has 1"));
}

TEST(ChunkCodec, RejectsMoreThanTheMaximumPoints) {
  std::vector<int64_t> ts(kMaxChunkPoints + 1, kStartMs);
  std::vector<double> vs(ts.size(), 0);
  std::string out;
  const absl::Status s = EncodeChunk(ts, vs, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("exceeds the limit"));
}

TEST(ChunkCodec, ChoosesDecimalForDecimalShapesAndXorForNoise) {
  struct Case {
    tools::Shape shape;
    ValueCodec codec;
    int exponent;
  };
  const Case kCases[] = {
      {tools::Shape::kCpuUtilization, ValueCodec::kDecimal, 2},
      {tools::Shape::kMemUsedBytes, ValueCodec::kDecimal, 0},
      {tools::Shape::kRequestCount, ValueCodec::kDecimal, 0},
      {tools::Shape::kMemTotalBytes, ValueCodec::kDecimal, 0},
      {tools::Shape::kLatencyMs, ValueCodec::kXor, 0},
  };
  for (const Case& c : kCases) {
    const auto d = tools::GenerateSeries(c.shape, 1, kStartMs, 10'000, 720);
    const std::string chunk = ExpectRoundTrip(d.timestamps_ms, d.values);
    auto h = ReadChunkHeader(chunk);
    ASSERT_TRUE(h.ok()) << h.status();
    EXPECT_EQ(h->value_codec, c.codec) << tools::ShapeName(c.shape);
    EXPECT_EQ(h->decimal_exponent, c.exponent) << tools::ShapeName(c.shape);
    EXPECT_EQ(h->exception_count, 0u);
    EXPECT_EQ(h->point_count, 720u);
    EXPECT_EQ(h->version, kChunkFormatVersion);
  }
}

TEST(ChunkCodec, RegularTimestampsCostAlmostNothing) {
  // 720 points at 1 s, 10 s and 60 s with a constant value: the whole chunk
  // is its header, one stream header per section and block headers.
  for (int64_t interval : {1'000, 10'000, 60'000}) {
    const std::string chunk =
        ExpectRoundTrip(Regular(720, interval), std::vector<double>(720, 42.0));
    EXPECT_LE(chunk.size(), 64u) << interval;  // < 0.1 byte a point
  }
}

TEST(ChunkCodec, JitteredTimestampsCostAFewBitsEach) {
  // +-50 ms of jitter around 10 s: consecutive deltas span 10 s +- 100 ms,
  // 201 values, so 8 bits a point; a 64-bit timestamp would cost 64.
  tools::Rng rng(3);
  std::vector<int64_t> ts(720);
  for (size_t i = 0; i < ts.size(); ++i) {
    ts[i] = kStartMs + static_cast<int64_t>(i) * 10'000 + rng.Uniform(-50, 50);
  }
  std::sort(ts.begin(), ts.end());
  const std::string with_jitter =
      ExpectRoundTrip(ts, std::vector<double>(720, 42.0));
  EXPECT_LE(with_jitter.size(), 720u + 100);  // 8 bits a point + headers
}

TEST(ChunkBuilder, BuildsTheSameChunkAsEncodeChunk) {
  const auto d = tools::GenerateSeries(tools::Shape::kCpuUtilization, 3,
                                       kStartMs, 10'000, 500);
  ChunkBuilder b;
  for (size_t i = 0; i < d.values.size(); ++i) {
    ASSERT_TRUE(b.Append(d.timestamps_ms[i], d.values[i]).ok());
  }
  EXPECT_EQ(b.size(), 500u);
  EXPECT_EQ(b.last_timestamp_ms(), d.timestamps_ms.back());
  std::string built, encoded;
  b.Finish(&built);
  EXPECT_TRUE(b.empty());
  ASSERT_TRUE(EncodeChunk(d.timestamps_ms, d.values, &encoded).ok());
  EXPECT_EQ(built, encoded);
}

TEST(ChunkBuilder, RejectsATimestampBeforeTheLastOne) {
  ChunkBuilder b;
  ASSERT_TRUE(b.Append(2000, 1).ok());
  ASSERT_TRUE(b.Append(2000, 2).ok());  // equal is a second sample
  const absl::Status s = b.Append(1999, 3);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("1999 is before the last one, 2000"));
  EXPECT_EQ(b.size(), 2u);
}

}  // namespace
}  // namespace nimbus::storage
