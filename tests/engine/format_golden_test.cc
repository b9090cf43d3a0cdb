// Golden bytes of the engine's formats (storage/FORMAT.md): each test
// encodes a small example and compares it with bytes written by hand from
// the format's description, then decodes those bytes back. A failure here
// is a format change: it takes a new version number, and readers keep
// reading the old one.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "engine/head_buffer.h"
#include "engine/ingest_log.h"
#include "engine/quantile_sketch.h"
#include "engine/rollup.h"
#include "engine/series_key.h"
#include "gtest/gtest.h"

namespace nimbus::engine {
namespace {

// "01 0a ff" -> the three bytes; spaces and newlines are ignored.
std::string Bytes(absl::string_view hex) {
  std::string digits;
  for (char c : hex) {
    if (!absl::ascii_isspace(static_cast<unsigned char>(c))) digits += c;
  }
  std::string out;
  for (size_t i = 0; i + 1 < digits.size(); i += 2) {
    out += static_cast<char>(std::stoi(digits.substr(i, 2), nullptr, 16));
  }
  return out;
}

// The bytes as "01 0a ff", for readable failures.
std::string Hex(absl::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    absl::StrAppend(&out, out.empty() ? "" : " ",
                    absl::string_view("0123456789abcdef" + (c >> 4), 1),
                    absl::string_view("0123456789abcdef" + (c & 15), 1));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Quantile sketch, version 2.

TEST(FormatGolden, EmptySketch) {
  // version 2, zero count 0, no positive buckets, no negative buckets.
  EXPECT_EQ(Hex(QuantileSketch().Serialize()), "02 00 00 00");
}

TEST(FormatGolden, SketchOfOneIsBucketZero) {
  QuantileSketch s;
  s.Add(1.0);  // ceil(ln 1 / ln gamma) = 0
  EXPECT_EQ(Hex(s.Serialize()), "02 00 01 00 02 00");
}

TEST(FormatGolden, SketchWithZeroPositiveAndNegativeBuckets) {
  QuantileSketch s;
  s.Add(0);        // zero count
  s.Add(2, 2);     // ln 2 / ln gamma = 34.66: bucket 35
  s.Add(100);      // 230.25: bucket 231
  s.Add(-3, 0.5);  // 54.93: bucket 55 of the negative store, weight 0.5
  const std::string golden = Bytes(
      "02"                           // version 2
      "02"                           // zero count: varint 2c, c = 1
      "02"                           // positive store: 2 buckets
      "  46 04"                      //   zvarint delta 35 (from 0), count 2
      "  88 03 02"                   //   zvarint delta 196 (to 231), count 1
      "01"                           // negative store: 1 bucket
      "  6e 01"                      //   zvarint delta 55, count not integral:
      "  00 00 00 00 00 00 e0 3f");  //   varint 1 then f64 LE 0.5
  EXPECT_EQ(Hex(s.Serialize()), Hex(golden));
  auto parsed = QuantileSketch::Parse(golden);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->count(), 4.5);
  EXPECT_EQ(parsed->Serialize(), golden);
}

TEST(FormatGolden, SketchCountsOfAtLeastTwoToThe52AreDoubles) {
  QuantileSketch s;
  s.Add(1.0, 4503599627370496.0);  // 2^52: not below 2^52
  EXPECT_EQ(Hex(s.Serialize()), "02 00 01 00 01 00 00 00 00 00 00 30 43 00");
}

TEST(FormatGolden, SketchVersionOneIsStillRead) {
  // version 1, zero count 1, positive store at offset 3 with counts 2, 0, 1,
  // negative store empty: every bucket of a store's span is listed.
  const std::string v1 = Bytes("01 02  06 03 04 00 02  00 00");
  auto parsed = QuantileSketch::Parse(v1);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->count(), 4);
  // Written back as version 2: only the non-empty buckets, 3 and 5.
  EXPECT_EQ(Hex(parsed->Serialize()), "02 02 02 06 04 04 02 00");
}

TEST(FormatGolden, SixSamplesBetweenThreeAndAThousandTakeUnderThirtyBytes) {
  QuantileSketch s;
  for (double v : {3.0, 10.0, 42.0, 100.0, 420.0, 1000.0}) s.Add(v);
  EXPECT_LT(s.Serialize().size(), 30u);
}

// ---------------------------------------------------------------------------
// Rollup record, version 1.

TEST(FormatGolden, RollupRecordOfOneSample) {
  PeriodStatistics p;
  p.AddSample(2);
  const std::string golden = Bytes(
      "01"                       // version 1
      "00"                       // flags: percentiles known
      "00 00 00 00 00 00 f0 3f"  // sample count 1.0
      "00 00 00 00 00 00 00 40"  // sum 2.0
      "00 00 00 00 00 00 00 40"  // minimum 2.0
      "00 00 00 00 00 00 00 40"  // maximum 2.0
      "02 00 01 46 02 00");      // sketch: one sample in bucket 35
  EXPECT_EQ(Hex(p.Encode()), Hex(golden));
  auto decoded = PeriodStatistics::Decode(golden, true);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->count, 1);
  EXPECT_EQ(decoded->sum, 2);
  EXPECT_EQ(decoded->minimum, 2);
  EXPECT_EQ(decoded->maximum, 2);
  EXPECT_TRUE(decoded->percentiles_known);
  EXPECT_EQ(decoded->sketch.Serialize(), p.sketch.Serialize());
}

TEST(FormatGolden, RollupRecordOfAnInexactSetHasPercentilesUnknown) {
  PeriodStatistics p;
  p.AddSet(4, 10, 1, 4);  // samples not all equal: not in the sketch
  EXPECT_EQ(Hex(p.Encode()), Hex(Bytes("01 01"
                                       "00 00 00 00 00 00 10 40"  // 4.0
                                       "00 00 00 00 00 00 24 40"  // 10.0
                                       "00 00 00 00 00 00 f0 3f"  // 1.0
                                       "00 00 00 00 00 00 10 40"  // 4.0
                                       "02 00 00 00")));          // empty
}

// ---------------------------------------------------------------------------
// Rollup block, version 1.

TEST(FormatGolden, RollupBlockListsRecordsByIndex) {
  PeriodStatistics two, minus;
  two.AddSample(2);
  minus.AddSample(-1);
  const PeriodStatistics* records[12] = {};
  records[3] = &two;
  records[11] = &minus;
  std::string block;
  EncodeRollupBlock(records, 12, &block);
  const std::string golden =
      absl::StrCat(Bytes("01"       // version 1
                         "02"       // two records
                         "03 28"),  // index 3, 40 bytes of record
                   two.Encode(),
                   Bytes("0b 28"),  // index 11, 40 bytes
                   minus.Encode());
  EXPECT_EQ(Hex(block), Hex(golden));
  // The second record: -1 goes to bucket 0 of the negative store.
  EXPECT_EQ(Hex(minus.Encode().substr(34)), "02 00 00 01 00 02");
  std::vector<int> indexes;
  ASSERT_TRUE(
      DecodeRollupBlock(golden, 12, true, [&](int i, PeriodStatistics&) {
        indexes.push_back(i);
      }).ok());
  EXPECT_EQ(indexes, (std::vector<int>{3, 11}));
}

TEST(FormatGolden, EmptyRollupBlock) {
  std::string block;
  EncodeRollupBlock(nullptr, 0, &block);
  EXPECT_EQ(Hex(block), "01 00");
}

// ---------------------------------------------------------------------------
// Encoded series key.

TEST(FormatGolden, SeriesKeyIsLengthPrefixedFieldsThenDimensions) {
  const SeriesKey key{"NS", "Cpu", {{"Host", "a"}}, "Percent"};
  const std::string golden = Bytes(
      "02 4e 53"                 // "NS"
      "03 43 70 75"              // "Cpu"
      "07 50 65 72 63 65 6e 74"  // "Percent": the unit comes third
      "01"                       // one dimension
      "04 48 6f 73 74  01 61");  // "Host" = "a"
  EXPECT_EQ(Hex(key.Encode()), Hex(golden));
  SeriesKey decoded;
  ASSERT_TRUE(SeriesKey::Decode(golden, &decoded));
  EXPECT_EQ(decoded, key);
}

TEST(FormatGolden, SeriesKeyDimensionsAreSortedByNameAndLengthsAreVarints) {
  std::vector<Dimension> dims = {{"b", std::string(200, 'v')}, {"a", ""}};
  size_t duplicate;
  ASSERT_TRUE(SortDimensions(&dims, &duplicate));
  const SeriesKey key{"", "M", dims, "None"};
  const std::string golden =
      absl::StrCat(Bytes("00"              // empty namespace
                         "01 4d"           // "M"
                         "04 4e 6f 6e 65"  // "None"
                         "02"              // two dimensions
                         "01 61 00"        // "a" = ""
                         "01 62 c8 01"),   // "b", a 200-byte value
                   std::string(200, 'v'));
  EXPECT_EQ(Hex(key.Encode()), Hex(golden));
}

// ---------------------------------------------------------------------------
// Ingest-log record, version 1.

TEST(FormatGolden, IngestLogRecordOfTwoEntries) {
  const Sample a[] = {{1000, 1.5}, {3000, -2}};
  const Sample b[] = {{-5, 0}};
  std::string record;
  StartLogRecord(2, &record);
  AppendLogEntry(7, a, 2, &record);
  AppendLogEntry(300, b, 1, &record);
  const std::string golden = Bytes(
      "01"                           // version 1
      "02"                           // two entries
      "07 02"                        // series 7, two points
      "  d0 0f"                      //   zvarint 1000 (from 0)
      "  00 00 00 00 00 00 f8 3f"    //   1.5
      "  a0 1f"                      //   zvarint 2000 (to 3000)
      "  00 00 00 00 00 00 00 c0"    //   -2.0
      "ac 02 01"                     // series 300, one point
      "  09"                         //   zvarint -5
      "  00 00 00 00 00 00 00 00");  //   0.0
  EXPECT_EQ(Hex(record), Hex(golden));
  std::vector<std::pair<uint64_t, std::vector<int64_t>>> seen;
  ASSERT_TRUE(
      DecodeLogRecord(golden, [&](uint64_t id, const std::vector<Sample>& s) {
        std::vector<int64_t> ts;
        for (const Sample& x : s) ts.push_back(x.ts_ms);
        seen.push_back({id, ts});
        return absl::OkStatus();
      }).ok());
  EXPECT_EQ(seen, (std::vector<std::pair<uint64_t, std::vector<int64_t>>>{
                      {7, {1000, 3000}}, {300, {-5}}}));
}

TEST(FormatGolden, IngestLogRecordOfTheFormatsExample) {
  // storage/FORMAT.md: series 7 with points (1000, 1.5) and (1010, 2.0).
  const Sample points[] = {{1000, 1.5}, {1010, 2.0}};
  std::string record;
  StartLogRecord(1, &record);
  AppendLogEntry(7, points, 2, &record);
  EXPECT_EQ(Hex(record),
            "01 01 07 02 d0 0f 00 00 00 00 00 00 f8 3f 14 00 00 00 00 00 00 "
            "00 40");
}

TEST(FormatGolden, EmptyIngestLogRecord) {
  std::string record;
  StartLogRecord(0, &record);
  EXPECT_EQ(Hex(record), "01 00");
}

TEST(FormatGolden,
     IngestLogRecordOfAnotherVersionOrWithTrailingBytesIsDataLoss) {
  auto decode = [](const std::string& bytes) {
    return DecodeLogRecord(bytes,
                           [](uint64_t, const std::vector<Sample>&) {
                             return absl::OkStatus();
                           })
        .code();
  };
  EXPECT_EQ(decode(Bytes("01 00")), absl::StatusCode::kOk);
  EXPECT_EQ(decode(Bytes("02 00")), absl::StatusCode::kDataLoss);
  EXPECT_EQ(decode(Bytes("01 00 00")), absl::StatusCode::kDataLoss);
  EXPECT_EQ(decode(""), absl::StatusCode::kDataLoss);
}

// ---------------------------------------------------------------------------
// Dirty record, version 1.

TEST(FormatGolden, DirtyRecordListsSeriesAndHourIndexes) {
  const int64_t hour = 3'600'000;
  const std::string golden = Bytes(
      "01"          // version 1
      "02"          // two pairs
      "05 04"       // series 5, zvarint hour index 2
      "ac 02 01");  // series 300, zvarint hour index -1
  EXPECT_EQ(Hex(EncodeDirtyRecord({{5, 2 * hour}, {300, -hour}})), Hex(golden));
  std::vector<DirtyHour> decoded;
  ASSERT_TRUE(DecodeDirtyRecord(golden, &decoded).ok());
  EXPECT_EQ(decoded, (std::vector<DirtyHour>{{5, 2 * hour}, {300, -hour}}));
  EXPECT_EQ(Hex(EncodeDirtyRecord({})), "01 00");
  EXPECT_EQ(DecodeDirtyRecord(Bytes("02 00"), &decoded).code(),
            absl::StatusCode::kDataLoss);
}

TEST(FormatGolden, VersionTwoStoreRecordsHaveNoVersionByte) {
  std::vector<DirtyHour> decoded;
  ASSERT_TRUE(DecodeLegacyDirtyRecord(Bytes("01 05 04"), &decoded).ok());
  EXPECT_EQ(decoded, (std::vector<DirtyHour>{{5, 2 * 3'600'000}}));
  size_t entries = 0;
  ASSERT_TRUE(
      DecodeLegacyLogRecord(Bytes("01 07 01 d0 0f 00 00 00 00 00 00 f8 3f"),
                            [&](uint64_t id, const std::vector<Sample>& s) {
                              EXPECT_EQ(id, 7u);
                              EXPECT_EQ(s.size(), 1u);
                              ++entries;
                              return absl::OkStatus();
                            })
          .ok());
  EXPECT_EQ(entries, 1u);
}

}  // namespace
}  // namespace nimbus::engine
