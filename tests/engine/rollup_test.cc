// Rollup records and blocks: their byte form round-trips, and damaged bytes
// are DataLoss, never a crash or a wrong figure.
#include "engine/rollup.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nimbus::engine {
namespace {

using ::testing::HasSubstr;

PeriodStatistics Stats(std::vector<double> values) {
  PeriodStatistics p;
  for (double v : values) p.AddSample(v);
  return p;
}

TEST(RollupBlock, RoundTripsRecordsAtTheirIndexes) {
  const PeriodStatistics a = Stats({1, 2, 3}), b = Stats({-5.5});
  PeriodStatistics c;
  c.AddSet(4, 10, 1, 4);  // not exact: percentiles unknown
  const PeriodStatistics* records[60] = {};
  records[0] = &a;
  records[17] = &b;
  records[59] = &c;
  std::string block;
  EncodeRollupBlock(records, 60, &block);
  std::vector<int> seen;
  absl::Status s =
      DecodeRollupBlock(block, 60, true, [&](int i, PeriodStatistics& r) {
        seen.push_back(i);
        const PeriodStatistics& want = *records[i];
        EXPECT_EQ(r.count, want.count);
        EXPECT_EQ(r.sum, want.sum);
        EXPECT_EQ(r.minimum, want.minimum);
        EXPECT_EQ(r.maximum, want.maximum);
        EXPECT_EQ(r.percentiles_known, want.percentiles_known);
        if (want.percentiles_known) {
          EXPECT_EQ(r.sketch.Quantile(0.5), want.sketch.Quantile(0.5));
        }
      });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(seen, (std::vector<int>{0, 17, 59}));
}

TEST(RollupBlock, DamagedBytesAreDataLoss) {
  const PeriodStatistics a = Stats({1, 2, 3}), b = Stats({7});
  const PeriodStatistics* records[12] = {};
  records[3] = &a;
  records[4] = &b;
  std::string block;
  EncodeRollupBlock(records, 12, &block);
  auto decode = [](const std::string& bytes, int slots) {
    return DecodeRollupBlock(bytes, slots, true, [](int, PeriodStatistics&) {});
  };
  ASSERT_TRUE(decode(block, 12).ok());
  for (size_t len = 0; len < block.size(); ++len) {
    EXPECT_EQ(decode(block.substr(0, len), 12).code(),
              absl::StatusCode::kDataLoss)
        << len;
  }
  EXPECT_EQ(decode(block + "x", 12).code(), absl::StatusCode::kDataLoss);
  std::string version = block;
  version[0] = 2;
  EXPECT_THAT(decode(version, 12).message(), HasSubstr("version 2"));
  // Index 4 does not fit a one-slot (hour) block.
  EXPECT_THAT(decode(block, 1).message(), HasSubstr("period index"));
  // Indexes out of order: the two entries swapped.
  const size_t first = 2;  // version, count, then entry 0
  const size_t len0 = 2 + static_cast<uint8_t>(block[first + 1]);
  std::string swapped = block.substr(0, first) + block.substr(first + len0) +
                        block.substr(first, len0);
  EXPECT_THAT(decode(swapped, 12).message(), HasSubstr("period index"));
}

TEST(PeriodStatistics, ShortRecordsAreDataLoss) {
  const std::string record = Stats({1}).Encode();
  for (size_t len = 0; len < record.size(); ++len) {
    EXPECT_EQ(
        PeriodStatistics::Decode(record.substr(0, len), true).status().code(),
        absl::StatusCode::kDataLoss)
        << len;
  }
}

}  // namespace
}  // namespace nimbus::engine
