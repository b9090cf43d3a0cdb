// storage::Store: the format version guard and the column families.
#include "storage/store.h"

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

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
    EXPECT_EQ(**v, "2");
    WriteBatch b;
    b.Put(Column::kMeta, "format_version", "1");
    ASSERT_TRUE((*store)->Write(b).ok());
  }
  auto again = Store::Open({dir});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(
      std::string(again.status().message()),
      ::testing::HasSubstr("format version 1; this build reads version 2"));
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

}  // namespace
}  // namespace nimbus::storage
