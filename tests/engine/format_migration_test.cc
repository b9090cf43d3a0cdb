// A version-2 store (ingest-log and dirty records without a version byte)
// is migrated to version 3 on open, with nothing lost.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/ingest_log.h"
#include "engine/rollup.h"
#include "gtest/gtest.h"
#include "storage/internal/coding.h"
#include "storage/keys.h"
#include "storage/store.h"

namespace nimbus::engine {
namespace {

using storage::Column;

constexpr int64_t kNow = 1'795'950'000'000;  // 2026-11-29 (a ManualClock)
constexpr int64_t kHourMs = 3'600'000;

class FormatMigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("format_migration_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static SeriesKey Key(const std::string& host) {
    SeriesKey k;
    k.namespace_name = "Test";
    k.metric_name = "M";
    k.dimensions = {{"Host", host}};
    k.unit = "None";
    return k;
  }

  // Writes, as a version-2 build did, series 1 with a legacy log record of
  // three points (the first late, with its dirty record) at sequence 5.
  void WriteVersion2Store() {
    storage::StoreOptions so;
    so.path = dir_.string();
    auto store = storage::Store::Open(so);
    ASSERT_TRUE(store.ok()) << store.status();
    storage::WriteBatch b;
    b.Put(Column::kMeta, storage::kMetaFormatVersion, "2");
    std::string id;
    storage::PutBigEndian64(&id, 1);
    b.Put(Column::kSeries, storage::EncodeSeriesIndexKey(Key("a").Encode()),
          id);
    std::string record;                          // version 2: no version byte
    storage::internal::PutVarint64(&record, 1);  // entries
    storage::internal::PutVarint64(&record, 1);  // series id
    storage::internal::PutVarint64(&record, 3);  // points
    int64_t prev = 0;
    for (int64_t ts : {kNow - 5 * kHourMs, kNow - 60'000, kNow - 30'000}) {
      storage::internal::PutVarint64(
          &record, storage::internal::ZigZagEncode(ts - prev));
      prev = ts;
      storage::internal::PutFixed64(&record, std::bit_cast<uint64_t>(2.5));
    }
    b.Put(Column::kIngestLog, storage::EncodeLogKey(5), record);
    std::string dirty;  // version 2: no version byte
    storage::internal::PutVarint64(&dirty, 1);
    storage::internal::PutVarint64(&dirty, 1);
    storage::internal::PutVarint64(&dirty, storage::internal::ZigZagEncode(
                                               (kNow - 5 * kHourMs) / kHourMs));
    b.Put(Column::kRollupDirty, storage::EncodeLogKey(5), dirty);
    ASSERT_TRUE((*store)->Write(b).ok());
  }

  std::filesystem::path dir_;
  ManualClock clock_{kNow};
};

TEST_F(FormatMigrationTest,
       AVersion2StoreOpensWithEveryPointAndBecomesVersion3) {
  WriteVersion2Store();
  EngineOptions o;
  o.data_dir = dir_.string();
  o.sweep_interval_ms = 0;
  o.rollup_interval_ms = 0;
  {
    auto e = Engine::Open(o, clock_);
    ASSERT_TRUE(e.ok()) << e.status();
    StatisticsQuery q;
    q.key = Key("a");
    q.start_ms = kNow - 6 * kHourMs;
    q.end_ms = kNow;
    q.period_ms = 6 * kHourMs;
    auto r = (*e)->GetStatistics(q);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ((*r)[0].sample_count, 3);
    EXPECT_EQ((*r)[0].sum, 7.5);
    EXPECT_EQ((*e)->Stats().head_points, 0);  // sealed by the migration
    EXPECT_EQ((*e)->Stats().dirty_hours_pending, 1);
    // New writes go on above the migrated sequence.
    std::vector<SeriesWrite> w = {{Key("a"), {{kNow - 10'000, 1}}, {}}};
    ASSERT_TRUE((*e)->Write(w).ok());
    ASSERT_TRUE((*e)->RunRollups().ok());
    EXPECT_EQ((*e)->Stats().dirty_hours_pending, 0);
  }
  storage::StoreOptions so;
  so.path = dir_.string();
  auto store = storage::Store::Open(so);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->format_version(), 3);
  {
    // Every log record left is version 1.
    auto it = (*store)->NewIterator(Column::kIngestLog);
    int records = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next(), ++records) {
      EXPECT_TRUE(DecodeLogRecord(it->value(), [](uint64_t,
                                                  const std::vector<Sample>&) {
                    return absl::OkStatus();
                  }).ok());
    }
    EXPECT_EQ(records, 1);
  }
  store->reset();
  auto e = Engine::Open(o, clock_);
  ASSERT_TRUE(e.ok()) << e.status();
  StatisticsQuery q;
  q.key = Key("a");
  q.start_ms = kNow - 6 * kHourMs;
  q.end_ms = kNow;
  q.period_ms = 6 * kHourMs;
  auto r = (*e)->GetStatistics(q);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].sample_count, 4);
  EXPECT_EQ((*r)[0].sum, 8.5);
}

TEST_F(FormatMigrationTest, AStoreOfAnUnknownVersionIsRefused) {
  {
    storage::StoreOptions so;
    so.path = dir_.string();
    auto store = storage::Store::Open(so);
    ASSERT_TRUE(store.ok()) << store.status();
    storage::WriteBatch b;
    b.Put(Column::kMeta, storage::kMetaFormatVersion, "4");
    ASSERT_TRUE((*store)->Write(b).ok());
  }
  storage::StoreOptions so;
  so.path = dir_.string();
  auto store = storage::Store::Open(so);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("version 4"), std::string::npos)
      << store.status();
}

}  // namespace
}  // namespace nimbus::engine
