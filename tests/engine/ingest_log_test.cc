// The ingest-log record, version 1 (storage/FORMAT.md): its bytes, and the
// damaged records a reader refuses.
#include "engine/ingest_log.h"

#include <bit>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace nimbus::engine {
namespace {

struct Entry {
  uint64_t id;
  std::vector<Sample> samples;
};

absl::Status Decode(absl::string_view bytes, std::vector<Entry>* out) {
  return DecodeLogRecord(bytes, [&](uint64_t id, const std::vector<Sample>& s) {
    out->push_back({id, s});
    return absl::OkStatus();
  });
}

TEST(IngestLogRecord, GoldenBytesOfTheFormatExample) {
  std::string r;
  StartLogRecord(1, &r);
  const std::vector<Sample> s = {{1000, 1.5}, {1010, 2.0}};
  AppendLogEntry(7, s.data(), s.size(), &r);
  EXPECT_EQ(absl::BytesToHexString(r),
            "01010702d00f000000000000f83f140000000000000040");
  std::vector<Entry> got;
  ASSERT_TRUE(Decode(r, &got).ok());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, 7u);
  ASSERT_EQ(got[0].samples.size(), 2u);
  EXPECT_EQ(got[0].samples[1].ts_ms, 1010);
  EXPECT_EQ(got[0].samples[1].value, 2.0);
}

TEST(IngestLogRecord, RoundTripsExtremeTimestampsAndValueBits) {
  const std::vector<Sample> a = {{INT64_MIN, -0.0}, {INT64_MAX, 1e308}, {0, 0}};
  const std::vector<Sample> b = {
      {-5, std::numeric_limits<double>::denorm_min()}};
  std::string r;
  StartLogRecord(3, &r);
  AppendLogEntry(1, a.data(), a.size(), &r);
  AppendLogEntry(~uint64_t{0}, b.data(), b.size(), &r);
  AppendLogEntry(2, nullptr, 0, &r);
  std::vector<Entry> got;
  ASSERT_TRUE(Decode(r, &got).ok());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[1].id, ~uint64_t{0});
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(got[0].samples[i].ts_ms, a[i].ts_ms);
    EXPECT_EQ(std::bit_cast<uint64_t>(got[0].samples[i].value),
              std::bit_cast<uint64_t>(a[i].value));
  }
  EXPECT_TRUE(got[2].samples.empty());
}

TEST(IngestLogRecord, RefusesDamagedRecordsWithDataLoss) {
  std::string r;
  StartLogRecord(1, &r);
  const std::vector<Sample> s = {{1000, 1.5}, {1010, 2.0}};
  AppendLogEntry(7, s.data(), s.size(), &r);
  std::vector<Entry> got;
  EXPECT_EQ(Decode("", &got).code(), absl::StatusCode::kDataLoss);
  std::string v2 = r;
  v2[0] = 2;  // an unknown version
  EXPECT_EQ(Decode(v2, &got).code(), absl::StatusCode::kDataLoss);
  // The same bytes without the version byte (a version-2 store's record)
  // are read only by the legacy decoder.
  EXPECT_TRUE(
      DecodeLegacyLogRecord(r.substr(1), [](uint64_t,
                                            const std::vector<Sample>&) {
        return absl::OkStatus();
      }).ok());
  for (size_t n = 1; n < r.size(); ++n) {
    EXPECT_EQ(Decode(r.substr(0, n), &got).code(), absl::StatusCode::kDataLoss)
        << n << " bytes";
  }
  EXPECT_EQ(Decode(r + "x", &got).code(), absl::StatusCode::kDataLoss);
  // A point count larger than the bytes left could hold.
  std::string huge;
  StartLogRecord(1, &huge);
  huge += std::string("\x07\xff\xff\xff\xff\x0f", 6);
  EXPECT_EQ(Decode(huge, &got).code(), absl::StatusCode::kDataLoss);
}

TEST(IngestLogRecord, AnEntryVisitorsErrorEndsDecoding) {
  std::string r;
  StartLogRecord(2, &r);
  const std::vector<Sample> s = {{1, 1}};
  AppendLogEntry(1, s.data(), s.size(), &r);
  AppendLogEntry(2, s.data(), s.size(), &r);
  int calls = 0;
  const absl::Status st =
      DecodeLogRecord(r, [&](uint64_t, const std::vector<Sample>&) {
        ++calls;
        return absl::DataLossError("unknown series");
      });
  EXPECT_EQ(st.message(), "unknown series");
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace nimbus::engine
