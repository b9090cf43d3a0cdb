#include "engine/series_key.h"

#include <string>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nimbus::engine {
namespace {

using ::testing::ElementsAre;

SeriesKey MakeKey() {
  return SeriesKey{"AWS/EC2",
                   "CPUUtilization",
                   {{"AutoScalingGroupName", "web"}, {"InstanceId", "i-123"}},
                   "Percent"};
}

// Decodes `bytes`, expecting success, and returns the key.
SeriesKey DecodeOrDie(const std::string& bytes) {
  SeriesKey out;
  EXPECT_TRUE(SeriesKey::Decode(bytes, &out));
  return out;
}

TEST(SeriesKey, RoundTrips) {
  const SeriesKey key = MakeKey();
  EXPECT_EQ(DecodeOrDie(key.Encode()), key);
}

TEST(SeriesKey, RoundTripsWithNoDimensions) {
  const SeriesKey key{"Nimbus/Test", "Requests", {}, "Count"};
  const SeriesKey out = DecodeOrDie(key.Encode());
  EXPECT_EQ(out, key);
  EXPECT_TRUE(out.dimensions.empty());
}

TEST(SeriesKey, RoundTripsLongValues) {
  SeriesKey key{std::string(255, 'n'),
                std::string(255, 'm'),
                {{std::string(255, 'd'), std::string(1024, 'v')},
                 {"z", std::string(1024, '~')}},
                "Bytes/Second"};
  EXPECT_EQ(DecodeOrDie(key.Encode()), key);
}

TEST(SeriesKey, RoundTripsThirtyDimensions) {
  SeriesKey key{"NS", "M", {}, "None"};
  for (int i = 0; i < 30; ++i) {
    key.dimensions.push_back({absl::StrCat("Dim", i < 10 ? "0" : "", i),
                              std::string(static_cast<size_t>(i) * 37 + 1,
                                          static_cast<char>('a' + i % 26))});
  }
  const SeriesKey out = DecodeOrDie(key.Encode());
  EXPECT_EQ(out, key);
  EXPECT_EQ(out.dimensions.size(), 30u);
}

TEST(SeriesKey, RoundTripsBytesThatLookLikeLengths) {
  // Strings holding bytes >= 0x80 and NULs must not confuse the varint
  // framing.
  SeriesKey key{std::string("\x80\x81\x00", 3),
                std::string("\xff", 1),
                {{std::string("\x00", 1), std::string("\x7f\x80", 2)}},
                ""};
  EXPECT_EQ(DecodeOrDie(key.Encode()), key);
}

TEST(SeriesKey, DecodeOverwritesAPreviouslyUsedKey) {
  SeriesKey out = MakeKey();
  out.dimensions.push_back({"Extra", "x"});
  const SeriesKey key{"A", "B", {{"C", "D"}}, "None"};
  ASSERT_TRUE(SeriesKey::Decode(key.Encode(), &out));
  EXPECT_EQ(out, key);
}

TEST(SeriesKey, DecodeRejectsEveryTruncation) {
  std::vector<SeriesKey> keys = {
      MakeKey(), SeriesKey{"", "", {}, ""}, SeriesKey{"N", "M", {}, "None"},
      SeriesKey{
          std::string(200, 'n'), "M", {{"a", std::string(300, 'v')}}, "None"}};
  for (const SeriesKey& key : keys) {
    const std::string enc = key.Encode();
    for (size_t len = 0; len < enc.size(); ++len) {
      SeriesKey out;
      EXPECT_FALSE(SeriesKey::Decode(enc.substr(0, len), &out))
          << key.DebugString() << " truncated to " << len << " of "
          << enc.size() << " bytes";
    }
  }
}

TEST(SeriesKey, DecodeRejectsTrailingGarbage) {
  const std::string enc = MakeKey().Encode();
  for (const std::string& tail :
       {std::string(1, '\0'), std::string("x"), std::string("\x01\x02\x03")}) {
    SeriesKey out;
    EXPECT_FALSE(SeriesKey::Decode(enc + tail, &out)) << tail.size();
  }
  SeriesKey out;
  EXPECT_FALSE(
      SeriesKey::Decode(SeriesKey{"", "", {}, ""}.Encode() + "z", &out));
}

TEST(SeriesKey, DecodeRejectsALengthPastTheEnd) {
  // Namespace length 100 with only 3 bytes after it.
  SeriesKey out;
  EXPECT_FALSE(SeriesKey::Decode(std::string("\x64"
                                             "abc",
                                             4),
                                 &out));
  // An unterminated varint.
  EXPECT_FALSE(SeriesKey::Decode(std::string("\xff\xff", 2), &out));
}

TEST(SeriesKey, EqualKeysEncodeEqual) {
  const SeriesKey a = MakeKey();
  const SeriesKey b = MakeKey();
  ASSERT_EQ(a, b);
  EXPECT_EQ(a.Encode(), b.Encode());
}

TEST(SeriesKey, DifferentUnitsEncodeDifferently) {
  SeriesKey a = MakeKey();
  SeriesKey b = MakeKey();
  b.unit = "Count";
  EXPECT_NE(a.Encode(), b.Encode());
  a.unit = "None";
  b.unit = "";
  EXPECT_NE(a.Encode(), b.Encode());
}

TEST(SeriesKey, DifferentDimensionValuesEncodeDifferently) {
  SeriesKey a = MakeKey();
  SeriesKey b = MakeKey();
  b.dimensions[1].value = "i-124";
  EXPECT_NE(a.Encode(), b.Encode());
}

TEST(SeriesKey, FieldBoundariesAreUnambiguous) {
  // Moving bytes from one field to the next must change the encoding.
  const SeriesKey a{"ab", "c", {{"x", "yz"}}, "None"};
  const SeriesKey b{"a", "bc", {{"x", "yz"}}, "None"};
  const SeriesKey c{"ab", "c", {{"xy", "z"}}, "None"};
  const SeriesKey d{"ab", "c", {}, "None"};
  EXPECT_NE(a.Encode(), b.Encode());
  EXPECT_NE(a.Encode(), c.Encode());
  EXPECT_NE(a.Encode(), d.Encode());
  EXPECT_NE(b.Encode(), c.Encode());
}

TEST(SeriesKey, DifferentNamespacesAndNamesEncodeDifferently) {
  SeriesKey a = MakeKey();
  SeriesKey b = MakeKey();
  b.namespace_name = "AWS/EC3";
  EXPECT_NE(a.Encode(), b.Encode());
  b = MakeKey();
  b.metric_name = "CPUUtilisation";
  EXPECT_NE(a.Encode(), b.Encode());
}

TEST(SeriesKey, DebugStringFormat) {
  EXPECT_EQ(MakeKey().DebugString(),
            "AWS/EC2/CPUUtilization{AutoScalingGroupName=web,"
            "InstanceId=i-123} [Percent]");
  EXPECT_EQ((SeriesKey{"NS", "M", {}, "None"}.DebugString()), "NS/M{} [None]");
  EXPECT_EQ((SeriesKey{"NS", "M", {{"a", "1"}}, "Count"}.DebugString()),
            "NS/M{a=1} [Count]");
}

TEST(SeriesKey, SortDimensionsSortsByNameAndKeepsValues) {
  std::vector<Dimension> dims = {{"c", "3"}, {"a", "1"}, {"b", "2"}};
  size_t dup = 12345;
  EXPECT_TRUE(SortDimensions(&dims, &dup));
  EXPECT_THAT(dims, ElementsAre(Dimension{"a", "1"}, Dimension{"b", "2"},
                                Dimension{"c", "3"}));
  EXPECT_EQ(dup, 12345u) << "*duplicate is only written on failure";
}

TEST(SeriesKey, SortDimensionsAcceptsEmptyAndSingle) {
  size_t dup = 0;
  std::vector<Dimension> none;
  EXPECT_TRUE(SortDimensions(&none, &dup));
  std::vector<Dimension> one = {{"a", "1"}};
  EXPECT_TRUE(SortDimensions(&one, &dup));
  EXPECT_THAT(one, ElementsAre(Dimension{"a", "1"}));
}

TEST(SeriesKey, SortDimensionsReportsTheDuplicatesIndex) {
  std::vector<Dimension> dims = {{"b", "x"}, {"a", "1"}, {"b", "y"}};
  size_t dup = 0;
  EXPECT_FALSE(SortDimensions(&dims, &dup));
  // Sorted: a, b, b; the second "b" is at index 2.
  EXPECT_EQ(dup, 2u);
  EXPECT_EQ(dims[dup].name, "b");
  EXPECT_EQ(dims[dup - 1].name, "b");

  std::vector<Dimension> front = {{"a", "1"}, {"a", "2"}, {"z", "3"}};
  EXPECT_FALSE(SortDimensions(&front, &dup));
  EXPECT_EQ(dup, 1u);
  EXPECT_EQ(front[dup].name, "a");
}

TEST(SeriesKey, SortDimensionsIsStableForDuplicates) {
  std::vector<Dimension> dims = {{"k", "first"}, {"a", "0"}, {"k", "second"}};
  size_t dup = 0;
  EXPECT_FALSE(SortDimensions(&dims, &dup));
  ASSERT_EQ(dup, 2u);
  EXPECT_EQ(dims[1].value, "first");
  EXPECT_EQ(dims[2].value, "second");
}

}  // namespace
}  // namespace nimbus::engine

namespace nimbus::engine {
namespace {

// Found by series_key_fuzz: bytes with dimensions out of order, or a name
// twice, decoded to a key whose encoding differs from those bytes.
TEST(SeriesKey, DecodeRefusesDimensionsOutOfOrderOrRepeated) {
  SeriesKey key;
  key.namespace_name = "NS";
  key.metric_name = "M";
  key.unit = "None";
  key.dimensions = {{"a", "2"}, {"b", "1"}};
  const std::string good = key.Encode();
  SeriesKey out;
  ASSERT_TRUE(SeriesKey::Decode(good, &out));
  key.dimensions = {{"b", "1"}, {"a", "2"}};  // Encode() never writes this
  std::string unsorted;
  for (const char* part : {"NS", "M", "None"}) {
    unsorted.push_back(static_cast<char>(std::string(part).size()));
    unsorted += part;
  }
  unsorted.push_back(2);
  for (const char* part : {"b", "1", "a", "2"}) {
    unsorted.push_back(1);
    unsorted += part;
  }
  EXPECT_FALSE(SeriesKey::Decode(unsorted, &out));
  std::string repeated = unsorted;
  repeated[repeated.size() - 4] = 'b';  // b=1, b=2
  EXPECT_FALSE(SeriesKey::Decode(repeated, &out));
}

TEST(SeriesKey, IdentityHashCoversEveryFieldAndItsBoundaries) {
  auto h = [](const IdentityView& v) { return absl::Hash<IdentityView>{}(v); };
  const IdentityView base{"NS", "\x0a\x01M", ""};
  EXPECT_EQ(h(base), h(IdentityView{"NS", "\x0a\x01M", ""}));
  EXPECT_NE(h(base), h(IdentityView{"NS", "\x0a\x01M", "None"}));
  EXPECT_NE(h(base), h(IdentityView{"NS", "\x0a\x01N", ""}));
  EXPECT_NE(h(base), h(IdentityView{"NT", "\x0a\x01M", ""}));
  // Field boundaries count: "NS" + "M" is not "N" + "SM".
  EXPECT_NE(h(IdentityView{"NS", "M", ""}), h(IdentityView{"N", "SM", ""}));
  EXPECT_NE(h(IdentityView{"N", "M", "S"}), h(IdentityView{"N", "MS", ""}));
}

}  // namespace
}  // namespace nimbus::engine
