// Golden bytes: these pin format version 1 (storage/FORMAT.md, which walks
// through them byte by byte). A change that alters any of them is a format
// change: it needs a new version byte, not an updated test.
#include <bit>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "storage/chunk_codec.h"

namespace nimbus::storage {
namespace {

std::string EncodeHex(const std::vector<int64_t>& ts,
                      const std::vector<double>& vs) {
  std::string chunk;
  EXPECT_TRUE(EncodeChunk(ts, vs, &chunk).ok());
  // The golden chunk must also decode back to the points.
  std::vector<int64_t> ts2;
  std::vector<double> vs2;
  EXPECT_TRUE(DecodeChunk(chunk, &ts2, &vs2).ok());
  EXPECT_EQ(ts2, ts);
  EXPECT_EQ(vs2.size(), vs.size());
  for (size_t i = 0; i < vs.size() && i < vs2.size(); ++i) {
    EXPECT_EQ(std::bit_cast<uint64_t>(vs2[i]), std::bit_cast<uint64_t>(vs[i]))
        << "value " << i;
  }
  return absl::BytesToHexString(chunk);
}

TEST(ChunkGolden, Empty) { EXPECT_EQ(EncodeHex({}, {}), "010000043125c5"); }

TEST(ChunkGolden, OnePoint) {
  EXPECT_EQ(EncodeHex({1000}, {1.5}), "01010002d00f01001e348c99fd");
}

TEST(ChunkGolden, TwoDecimalGaugeAtTenSeconds) {
  EXPECT_EQ(EncodeHex({1'767'225'600'000, 1'767'225'610'000, 1'767'225'620'000,
                       1'767'225'630'000},
                      {12.34, 12.5, 11.99, 12.01}),
            "0104000c80a0d5edee66a09c018000000200a4132040076543400dd321ce89");
}

TEST(ChunkGolden, NoisyFloatsUseXor) {
  EXPECT_EQ(EncodeHex({0, 1000, 2000}, {0.1 + 0.2, 1.0 / 3, 2.0 / 3}),
            "0103010600d00f800000343333333333d33f003661666666666606000000000000"
            "0c375bdfac");
}

TEST(ChunkGolden, DecimalWithAnException) {
  EXPECT_EQ(
      EncodeHex({0, 0, 5, 5, 5, 5, 5, 5, 5}, {1, 2, 3, -0.0, 5, 6, 7, 8, 9}),
      "01090008000000030068dbb6000103000000000000008002024002008555cc551b10");
}

TEST(ChunkGolden, SparseCounterIncrements) {
  // 60 points at 1 s of a counter that steps 7 -> 9 at point 5 and 9 -> 12 at
  // point 13: two of the 59 deltas are non-zero, so the value block is sparse.
  std::vector<int64_t> ts(60);
  std::vector<double> vs(60);
  for (int i = 0; i < 60; ++i) {
    ts[i] = i * 1000;
    vs[i] = i < 5 ? 7 : i < 13 ? 9 : 12;
  }
  EXPECT_EQ(EncodeHex(ts, vs),
            "013c000600d00f80000000000e00408200000204060ec6515cae");
}

}  // namespace
}  // namespace nimbus::storage
