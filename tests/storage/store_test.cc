// storage::Store: the format version guard and the column families.
#include "storage/store.h"

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/keys.h"

namespace nimbus::storage {
namespace {

std::string TempDir(const std::string& name) {
  const auto dir = std::filesystem::path(::testing::TempDir()) /
                   ("store_test_" + std::to_string(::getpid()) + "_" + name);
  std::filesystem::remove_all(dir);
  return dir.string();
}

TEST(Store, RefusesAStoreOfAnotherFormatVersion) {
  const std::string dir = TempDir("version");
  {
    auto store = Store::Open({dir});
    ASSERT_TRUE(store.ok()) << store.status();
    auto v = (*store)->Get(Column::kMeta, "format_version");
    ASSERT_TRUE(v.ok() && v->has_value());
    EXPECT_EQ(**v, "3");
    WriteBatch b;
    b.Put(Column::kMeta, "format_version", "1");
    ASSERT_TRUE((*store)->Write(b).ok());
  }
  auto again = Store::Open({dir});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(again.status().message()),
              ::testing::HasSubstr(
                  "format version 1; this build reads versions 2 and 3"));
  std::filesystem::remove_all(dir);
}

TEST(Store, KeepsWritesAcrossReopenAndIteratesInKeyOrder) {
  const std::string dir = TempDir("reopen");
  {
    auto store = Store::Open({dir});
    ASSERT_TRUE(store.ok());
    WriteBatch b;
    b.Put(Column::kPoints, "b", "2");
    b.Put(Column::kPoints, "a", "1");
    b.Put(Column::kSeries, "a", "other family");
    ASSERT_TRUE((*store)->Write(b).ok());
  }
  auto store = Store::Open({dir});
  ASSERT_TRUE(store.ok());
  auto it = (*store)->NewIterator(Column::kPoints);
  std::string seen;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    seen += std::string(it->key()) + "=" + std::string(it->value()) + ";";
  }
  EXPECT_EQ(seen, "a=1;b=2;");
  it->SeekForPrev("az");
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), "a");
  std::filesystem::remove_all(dir);
}

// Retention is applied by compaction filters, per column, from the key's
// timestamp: chunks span up to 2 hours past their first timestamp, rollup
// blocks their hour, statistic sets nothing.
TEST(Store, CompactionDropsRecordsPastEachColumnsRetention) {
  const std::string dir = TempDir("retention");
  constexpr int64_t kHour = 3'600'000;
  constexpr int64_t kNow = 1'000 * kHour;
  StoreOptions o;
  o.path = dir;
  o.points_retention_ms = 10 * kHour;
  o.stat_sets_retention_ms = 10 * kHour;
  o.rollup_60_retention_ms = 20 * kHour;
  o.rollup_300_retention_ms = 30 * kHour;
  o.rollup_3600_retention_ms = 40 * kHour;
  o.now_ms = [] { return kNow; };
  auto store = Store::Open(o);
  ASSERT_TRUE(store.ok()) << store.status();
  auto stat_set_key = [](int64_t ts) {
    return ChunkKeyPrefix(7, ts) + std::string(12, '\0');
  };
  WriteBatch b;
  // Chunks: kept while first timestamp + 2 h >= now - retention.
  b.Put(Column::kPoints, EncodeChunkKey({7, kNow - 12 * kHour, 1, 0}), "keep");
  b.Put(Column::kPoints, EncodeChunkKey({7, kNow - 12 * kHour - 1, 1, 0}),
        "drop");
  b.Put(Column::kStatSets, stat_set_key(kNow - 10 * kHour), "keep");
  b.Put(Column::kStatSets, stat_set_key(kNow - 10 * kHour - 1), "drop");
  // Rollup keys carry the hour of their block, whatever the tier.
  const int64_t period[] = {kHour, kHour, kHour};
  const int64_t kept[] = {20 * kHour, 30 * kHour, 40 * kHour};
  const Column column[] = {Column::kRollup60, Column::kRollup300,
                           Column::kRollup3600};
  for (int t = 0; t < 3; ++t) {
    b.Put(column[t], EncodeRollupKey(7, kNow - kept[t] - period[t]), "keep");
    b.Put(column[t], EncodeRollupKey(7, kNow - kept[t] - period[t] - 1),
          "drop");
  }
  // Not time-keyed: never dropped.
  b.Put(Column::kRollupDirty, EncodeLogKey(1), "keep");
  ASSERT_TRUE((*store)->Write(b).ok());
  ASSERT_TRUE((*store)->CompactAll().ok());
  for (Column c :
       {Column::kPoints, Column::kStatSets, Column::kRollup60,
        Column::kRollup300, Column::kRollup3600, Column::kRollupDirty}) {
    auto it = (*store)->NewIterator(c);
    std::string values;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      values += std::string(it->value()) + ";";
    }
    EXPECT_EQ(values, "keep;") << "column " << static_cast<int>(c);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace nimbus::storage
