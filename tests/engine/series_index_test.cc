// The series index: ids beyond reason on open are a damaged store, the key
// arena keeps every key, however many and however large, and the identity
// cache answers only for the bytes it was given.
#include "engine/series_index.h"

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
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
// those bytes whatever the hash says, and bounded.
TEST_F(SeriesIndexTest, IdentitiesAreFoundOnlyForTheBytesRemembered) {
  auto index = SeriesIndex::Load(*store_);
  ASSERT_TRUE(index.ok()) << index.status();
  const std::string k1 = Key("a"), k2 = Key("b");
  const std::vector<absl::string_view> keys = {k1, k2};
  auto series = (*index)->Resolve(keys);
  ASSERT_TRUE(series.ok()) << series.status();
  // The views point into buffers that are gone once remembered: the index
  // keeps copies.
  auto ia_bytes = std::make_unique<std::string>("\x0a\x01Ma");
  const IdentityView ia{"Test", *ia_bytes, ""},
      ib{"Test", "\x0a\x01Mb", "None"};
  const uint64_t ha = absl::Hash<IdentityView>{}(ia);
  const uint64_t hb = absl::Hash<IdentityView>{}(ib);
  Series* out[2] = {nullptr, nullptr};
  const std::vector<IdentityView> ids = {ia, ib};
  const std::vector<uint64_t> hashes = {ha, hb};
  (*index)->FindByIdentity(ids, hashes, out);
  EXPECT_EQ(out[0], nullptr);  // nothing remembered yet
  EXPECT_EQ(out[1], nullptr);
  const std::vector<SeriesIndex::RememberedIdentity> remember = {
      {ha, ia, (*series)[0]}, {hb, ib, (*series)[1]}};
  (*index)->RememberIdentities(remember);
  const std::string same = *ia_bytes;
  ia_bytes->assign("xxxx");
  const std::vector<IdentityView> again = {{"Test", same, ""}, ib};
  (*index)->FindByIdentity(again, hashes, out);
  EXPECT_EQ(out[0], (*series)[0]);
  EXPECT_EQ(out[1], (*series)[1]);
  // Hash 0: not looked up.
  const std::vector<uint64_t> none = {0, 0};
  (*index)->FindByIdentity(again, none, out);
  EXPECT_EQ(out[0], nullptr);
  EXPECT_EQ(out[1], nullptr);
  // A hash that names another identity's series is not taken on trust.
  const std::vector<uint64_t> crossed = {hb, ha};
  (*index)->FindByIdentity(again, crossed, out);
  EXPECT_EQ(out[0], nullptr);
  EXPECT_EQ(out[1], nullptr);
  // Nor is one whose bytes differ in any field, or only where a field ends.
  const std::string shifted = "t" + same;
  for (const IdentityView& other :
       {IdentityView{"Test", same, "Seconds"}, IdentityView{"Tesu", same, ""},
        IdentityView{"Test", "\x0a\x01Mc", ""},
        IdentityView{"Tes", shifted, ""}}) {
    const std::vector<IdentityView> one = {other};
    const std::vector<uint64_t> under_ha = {ha};
    (*index)->FindByIdentity(one, under_ha, out);
    EXPECT_EQ(out[0], nullptr) << other.namespace_name << " " << other.unit;
  }
  // A colliding identity remembered under a taken hash takes the slot.
  const IdentityView ic{"Test", "\x0a\x01Mc", ""};
  const std::vector<SeriesIndex::RememberedIdentity> collide = {
      {ha, ic, (*series)[1]}};
  (*index)->RememberIdentities(collide);
  const std::vector<IdentityView> c = {ic, again[0]};
  const std::vector<uint64_t> both_ha = {ha, ha};
  (*index)->FindByIdentity(c, both_ha, out);
  EXPECT_EQ(out[0], (*series)[1]);
  EXPECT_EQ(out[1], nullptr);
}

TEST_F(SeriesIndexTest, RememberedIdentitiesAreBoundedBySeriesCount) {
  auto index = SeriesIndex::Load(*store_);
  ASSERT_TRUE(index.ok()) << index.status();
  const std::string k = Key("a");
  const std::vector<absl::string_view> keys = {k};
  auto series = (*index)->Resolve(keys);
  ASSERT_TRUE(series.ok()) << series.status();
  // One series sent under many identities: at most 2 + kIdentitySlack kept.
  const size_t limit = 2 + SeriesIndex::kIdentitySlack;
  std::vector<std::string> units;
  for (size_t i = 0; i < limit + 100; ++i) units.push_back(absl::StrCat(i));
  std::vector<IdentityView> ids;
  std::vector<uint64_t> hashes;
  std::vector<SeriesIndex::RememberedIdentity> many;
  for (const std::string& u : units) {
    ids.push_back({"Test", "\x0a\x01M", u});
    hashes.push_back(absl::Hash<IdentityView>{}(ids.back()));
    many.push_back({hashes.back(), ids.back(), (*series)[0]});
  }
  (*index)->RememberIdentities(many);
  std::vector<Series*> out(ids.size());
  (*index)->FindByIdentity(ids, hashes, out.data());
  size_t found = 0;
  for (Series* s : out) found += s != nullptr;
  EXPECT_EQ(found, limit);
}

}  // namespace
}  // namespace nimbus::engine
