// The series index on open: ids beyond reason are a damaged store, and the
// key arena keeps every key, however many and however large.
#include "engine/series_index.h"

#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/keys.h"
#include "storage/store.h"

namespace nimbus::engine {
namespace {

using storage::Column;

class SeriesIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("nimbus_series_index_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    storage::StoreOptions so;
    so.path = dir_.string();
    auto store = storage::Store::Open(so);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  static std::string Key(const std::string& host, size_t value_size = 0) {
    SeriesKey k;
    k.namespace_name = "Test";
    k.metric_name = "M";
    k.dimensions = {{"Host", host}};
    if (value_size > 0)
      k.dimensions.push_back({"Z", std::string(value_size, 'z')});
    k.unit = "None";
    return k.Encode();
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::Store> store_;
};

TEST_F(SeriesIndexTest, AnIdFarBeyondTheSeriesStoredIsDataLoss) {
  storage::WriteBatch b;
  std::string id;
  storage::PutBigEndian64(&id, uint64_t{1} << 60);
  b.Put(Column::kSeries, storage::EncodeSeriesIndexKey(Key("a")), id);
  ASSERT_TRUE(store_->Write(b).ok());
  auto index = SeriesIndex::Load(*store_);
  ASSERT_FALSE(index.ok());
  EXPECT_EQ(index.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(index.status().message().find("damaged series record"),
            std::string::npos)
      << index.status();
}

TEST_F(SeriesIndexTest, KeysOfEverySizeSurviveAndReload) {
  auto index = SeriesIndex::Load(*store_);
  ASSERT_TRUE(index.ok()) << index.status();
  // Enough small keys to fill several arena blocks, with keys larger than a
  // block (64 KiB) in between.
  std::vector<std::string> keys;
  for (int i = 0; i < 5000; ++i) {
    keys.push_back(
        Key("host-" + std::to_string(i), i % 1000 == 7 ? 70'000 : 0));
  }
  std::vector<absl::string_view> views(keys.begin(), keys.end());
  auto series = (*index)->Resolve(views);
  ASSERT_TRUE(series.ok()) << series.status();
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ((*series)[i]->encoded, keys[i]) << i;
    ASSERT_EQ((*index)->Find((*series)[i]->id), (*series)[i]) << i;
  }
  EXPECT_EQ((*index)->Find(1'000'000), nullptr);
  auto reloaded = SeriesIndex::Load(*store_);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ((*reloaded)->size(), keys.size());
  auto again = (*reloaded)->Resolve(views);
  ASSERT_TRUE(again.ok()) << again.status();
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ((*again)[i]->encoded, keys[i]) << i;
    ASSERT_EQ((*again)[i]->id, (*series)[i]->id) << i;
  }
}

}  // namespace
}  // namespace nimbus::engine
