// The series index: ids beyond reason on open are a damaged store, the key
// arena keeps every key, however many and however large, and the identity
// cache answers only for the bytes it was given.
#include "engine/series_index.h"

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/hash/hash.h"
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
    ASSERT_EQ((*series)[i]->encoded(), keys[i]) << i;
    ASSERT_EQ((*index)->Find((*series)[i]->id), (*series)[i]) << i;
  }
  EXPECT_EQ((*index)->Find(1'000'000), nullptr);
  auto reloaded = SeriesIndex::Load(*store_);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ((*reloaded)->size(), keys.size());
  auto again = (*reloaded)->Resolve(views);
  ASSERT_TRUE(again.ok()) << again.status();
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ((*again)[i]->encoded(), keys[i]) << i;
    ASSERT_EQ((*again)[i]->id, (*series)[i]->id) << i;
  }
}

// The identity cache: a hit only for the bytes remembered, checked against
// the series' key whatever the hash says, and bounded.
TEST_F(SeriesIndexTest, IdentitiesAreFoundOnlyForTheBytesRemembered) {
  auto index = SeriesIndex::Load(*store_);
  ASSERT_TRUE(index.ok()) << index.status();
  const std::string k1 = Key("a"), k2 = Key("b");
  const std::vector<absl::string_view> keys = {k1, k2};
  auto series = (*index)->Resolve(keys);
  ASSERT_TRUE(series.ok()) << series.status();
  const std::vector<DimensionView> da = {{"Host", "a"}}, db = {{"Host", "b"}};
  const IdentityView ia{"Test", "M", "", da}, ib{"Test", "M", "None", db};
  const uint64_t ha = absl::Hash<IdentityView>{}(ia);
  const uint64_t hb = absl::Hash<IdentityView>{}(ib);
  Series* out[2] = {nullptr, nullptr};
  const std::vector<IdentityView> ids = {ia, ib};
  const std::vector<uint64_t> hashes = {ha, hb};
  (*index)->FindByIdentity(ids, hashes, out);
  EXPECT_EQ(out[0], nullptr);  // nothing remembered yet
  EXPECT_EQ(out[1], nullptr);
  const std::vector<std::pair<uint64_t, Series*>> remember = {
      {ha, (*series)[0]}, {hb, (*series)[1]}};
  (*index)->RememberIdentities(remember);
  (*index)->FindByIdentity(ids, hashes, out);
  EXPECT_EQ(out[0], (*series)[0]);  // "" is the unit None
  EXPECT_EQ(out[1], (*series)[1]);
  // A hash that names another identity's series is not taken on trust.
  const std::vector<uint64_t> crossed = {hb, ha};
  (*index)->FindByIdentity(ids, crossed, out);
  EXPECT_EQ(out[0], nullptr);
  EXPECT_EQ(out[1], nullptr);
  // Another unit is another series, even under a remembered hash.
  const IdentityView seconds{"Test", "M", "Seconds", da};
  const std::vector<IdentityView> one = {seconds};
  const std::vector<uint64_t> under_ha = {ha};
  (*index)->FindByIdentity(one, under_ha, out);
  EXPECT_EQ(out[0], nullptr);
}

TEST_F(SeriesIndexTest, RememberedIdentitiesAreBoundedBySeriesCount) {
  auto index = SeriesIndex::Load(*store_);
  ASSERT_TRUE(index.ok()) << index.status();
  const std::string k = Key("a");
  const std::vector<absl::string_view> keys = {k};
  auto series = (*index)->Resolve(keys);
  ASSERT_TRUE(series.ok()) << series.status();
  // One series sent under many hashes: at most 2 + kIdentitySlack kept.
  const size_t limit = 2 + SeriesIndex::kIdentitySlack;
  std::vector<std::pair<uint64_t, Series*>> many;
  for (uint64_t h = 1; h <= limit + 100; ++h) many.push_back({h, (*series)[0]});
  (*index)->RememberIdentities(many);
  const std::vector<DimensionView> da = {{"Host", "a"}};
  const std::vector<IdentityView> ids(limit + 100,
                                      IdentityView{"Test", "M", "None", da});
  std::vector<uint64_t> hashes;
  for (uint64_t h = 1; h <= limit + 100; ++h) hashes.push_back(h);
  std::vector<Series*> out(ids.size());
  (*index)->FindByIdentity(ids, hashes, out.data());
  size_t found = 0;
  for (Series* s : out) found += s != nullptr;
  EXPECT_EQ(found, limit);
}

}  // namespace
}  // namespace nimbus::engine
