// A corrupt chunk gives a clear error, never a crash and never an
// out-of-bounds read (run under `make test SANITIZE=1` to have the latter
// checked by AddressSanitizer).
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/chunk_codec.h"
#include "storage/internal/crc32c.h"
#include "tools/shapes.h"

namespace nimbus::storage {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kStartMs = 1'767'225'600'000;

// Decodes from a heap buffer of exactly the chunk's size, so that a read
// past the end is caught by AddressSanitizer.
absl::Status DecodeExact(const std::string& chunk, size_t* points) {
  auto buf = std::make_unique<char[]>(chunk.size());
  std::memcpy(buf.get(), chunk.data(), chunk.size());
  ChunkIterator it(absl::string_view(buf.get(), chunk.size()));
  *points = 0;
  for (; it.Valid(); it.Next()) ++*points;
  return it.status();
}

// Recomputes the trailing CRC32C so that a corruption reaches the decoder's
// structural checks instead of stopping at the checksum.
void FixCrc(std::string* chunk) {
  if (chunk->size() < 4) return;
  const uint32_t crc = internal::Crc32c(chunk->data(), chunk->size() - 4);
  std::memcpy(chunk->data() + chunk->size() - 4, &crc, 4);
}

std::vector<std::string> SampleChunks() {
  std::vector<std::string> chunks;
  for (tools::Shape shape : tools::kAllShapes) {
    for (size_t n : {1, 2, 130, 300}) {
      const auto d = tools::GenerateSeries(shape, n, kStartMs, 10'000, n);
      std::string c;
      EXPECT_TRUE(EncodeChunk(d.timestamps_ms, d.values, &c).ok());
      chunks.push_back(c);
    }
  }
  // A decimal chunk with exceptions.
  std::vector<int64_t> ts(200);
  std::vector<double> vs(200);
  for (size_t i = 0; i < ts.size(); ++i) {
    ts[i] = kStartMs + static_cast<int64_t>(i) * 1000;
    vs[i] = i % 17 == 0 ? 0.1 + 0.2 : static_cast<double>(i) / 10;
  }
  std::string c;
  EXPECT_TRUE(EncodeChunk(ts, vs, &c).ok());
  chunks.push_back(c);
  return chunks;
}

TEST(ChunkCorruption, EveryFlippedBitIsReportedAsDataLoss) {
  for (const std::string& good : SampleChunks()) {
    for (size_t offset = 0; offset < good.size(); ++offset) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string bad = good;
        bad[offset] = static_cast<char>(bad[offset] ^ (1 << bit));
        size_t points;
        const absl::Status s = DecodeExact(bad, &points);
        ASSERT_EQ(s.code(), absl::StatusCode::kDataLoss)
            << "offset " << offset << " bit " << bit;
        EXPECT_EQ(points, 0u) << "points produced before the checksum check";
      }
    }
  }
}

TEST(ChunkCorruption, EveryTruncationIsReportedAsDataLoss) {
  for (const std::string& good : SampleChunks()) {
    for (size_t len = 0; len < good.size(); ++len) {
      size_t points;
      const absl::Status s = DecodeExact(good.substr(0, len), &points);
      ASSERT_EQ(s.code(), absl::StatusCode::kDataLoss) << "length " << len;
    }
  }
}

TEST(ChunkCorruption, AppendedBytesAreReportedAsDataLoss) {
  for (const std::string& good : SampleChunks()) {
    size_t points;
    EXPECT_EQ(DecodeExact(good + "x", &points).code(),
              absl::StatusCode::kDataLoss);
  }
}

TEST(ChunkCorruption, BytesLeftOverBehindAValidChecksumAreReported) {
  for (const std::string& good : SampleChunks()) {
    if (ReadChunkHeader(good)->point_count == 0) continue;
    std::string c = good;
    c.insert(c.size() - 4, "x");  // one byte after the value section
    FixCrc(&c);
    size_t points;
    const absl::Status s = DecodeExact(c, &points);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(s.message(), HasSubstr("bytes left over"));
  }
}

TEST(ChunkCorruption, EveryTruncationBehindAValidChecksumIsReported) {
  // Every byte of a chunk is needed: cutting any of them, even with the
  // checksum recomputed, leaves a section short.
  for (const std::string& good : SampleChunks()) {
    const std::string body = good.substr(0, good.size() - 4);
    for (size_t len = 3; len < body.size(); ++len) {
      std::string c = body.substr(0, len) + "CRC!";
      FixCrc(&c);
      size_t points;
      const absl::Status s = DecodeExact(c, &points);
      ASSERT_EQ(s.code(), absl::StatusCode::kDataLoss) << "length " << len;
    }
  }
}

TEST(ChunkCorruption, AnEmptyChunkWithANonZeroModeIsReported) {
  std::string c;
  ASSERT_TRUE(EncodeChunk({}, {}, &c).ok());
  c[2] = 1;
  FixCrc(&c);
  size_t points;
  const absl::Status s = DecodeExact(c, &points);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("empty chunk's mode byte"));
}

TEST(ChunkCorruption, ChecksumErrorNamesBothValues) {
  std::string c;
  ASSERT_TRUE(EncodeChunk({kStartMs}, {1.0}, &c).ok());
  c[c.size() - 1] ^= 0x40;
  auto h = ReadChunkHeader(c);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(h.status().message(), HasSubstr("CRC32C mismatch (stored 0x"));
  EXPECT_THAT(h.status().message(), HasSubstr("computed 0x"));
}

TEST(ChunkCorruption, AnUnknownVersionIsUnimplementedNotCorrupt) {
  std::string c;
  ASSERT_TRUE(EncodeChunk({kStartMs}, {1.0}, &c).ok());
  c[0] = 2;
  FixCrc(&c);
  auto h = ReadChunkHeader(c);
  EXPECT_EQ(h.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(h.status().message(),
              HasSubstr("format version 2 is not supported"));
  size_t points;
  EXPECT_EQ(DecodeExact(c, &points).code(), absl::StatusCode::kUnimplemented);
}

TEST(ChunkCorruption, AnUnknownModeByteIsReported) {
  std::string c;
  ASSERT_TRUE(EncodeChunk({kStartMs}, {1.0}, &c).ok());
  c[2] = 0x06;  // version, count (1 byte), mode
  FixCrc(&c);
  size_t points;
  const absl::Status s = DecodeExact(c, &points);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("unknown mode byte 0x06"));
}

TEST(ChunkCorruption, DecreasingTimestampsWithAValidChecksumAreReported) {
  std::string c;
  ASSERT_TRUE(EncodeChunk({10, 15}, {1.0, 1.0}, &c).ok());
  // [0] version  [1] count  [2] mode  [3] timestamp section length
  // [4] zigzag(t0 = 10)  [5] zigzag(d1 = 5)
  // [6] block: order 0, shift 0  [7] width 0  [8] zigzag(min = 15) = 30
  ASSERT_EQ(static_cast<uint8_t>(c[6]), 0);
  ASSERT_EQ(static_cast<uint8_t>(c[7]), 0);
  ASSERT_EQ(static_cast<uint8_t>(c[8]), 30);
  c[8] = 10;  // t1 = 5, before t0 = 10
  FixCrc(&c);
  size_t points;
  const absl::Status s = DecodeExact(c, &points);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("timestamps decrease"));
  EXPECT_EQ(points, 0u);
}

TEST(ChunkCorruption, SparsePositionsOutOfOrderWithAValidChecksumAreReported) {
  // The golden sparse counter (chunk_golden_test.cc): its value block lists
  // residuals 4 and 12 as "04 06" (7-bit positions). Swap them to 12, 4.
  std::vector<int64_t> ts(60);
  std::vector<double> vs(60);
  for (int i = 0; i < 60; ++i) {
    ts[i] = i * 1000;
    vs[i] = i < 5 ? 7 : i < 13 ? 9 : 12;
  }
  std::string c;
  ASSERT_TRUE(EncodeChunk(ts, vs, &c).ok());
  const size_t at = c.size() - 4 - 3;  // positions (2 bytes), values (1 byte)
  ASSERT_EQ(static_cast<uint8_t>(c[at]), 0x04);
  ASSERT_EQ(static_cast<uint8_t>(c[at + 1]), 0x06);
  c[at] = static_cast<char>(12 | (4 & 1) << 7);
  c[at + 1] = static_cast<char>(4 >> 1);
  FixCrc(&c);
  size_t points;
  const absl::Status s = DecodeExact(c, &points);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("sparse block positions"));
}

// Random mutations behind a valid checksum must never crash the decoder or
// read out of bounds; the decoder may accept or reject them.
TEST(ChunkCorruption, RandomMutationsBehindAValidChecksumNeverCrash) {
  tools::Rng rng(17);
  const std::vector<std::string> chunks = SampleChunks();
  size_t rejected = 0, total = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string c = chunks[rng.Uniform(0, chunks.size() - 1)];
    const int edits = static_cast<int>(rng.Uniform(1, 4));
    for (int e = 0; e < edits; ++e) {
      const size_t at = static_cast<size_t>(rng.Uniform(0, c.size() - 5));
      switch (rng.Uniform(0, 2)) {
        case 0:
          c[at] = static_cast<char>(rng.Next());
          break;
        case 1:
          c.erase(at, static_cast<size_t>(rng.Uniform(1, 8)));
          break;
        default:
          c.insert(at, std::string(rng.Uniform(1, 8),
                                   static_cast<char>(rng.Next())));
      }
      if (c.size() < 8) break;
    }
    FixCrc(&c);
    size_t points;
    const absl::Status s = DecodeExact(c, &points);
    ++total;
    if (!s.ok()) {
      ++rejected;
      EXPECT_TRUE(s.code() == absl::StatusCode::kDataLoss ||
                  s.code() == absl::StatusCode::kUnimplemented)
          << s;
    }
  }
  // Most structural damage is caught by the layout checks.
  EXPECT_GT(rejected, total / 2);
}

}  // namespace
}  // namespace nimbus::storage
