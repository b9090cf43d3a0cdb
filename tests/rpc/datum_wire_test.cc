// DecodePutMetricDataRequest (rpc/datum_wire.h) against protobuf's generated
// parser: on every input here both must accept or both reject, and on
// accept give the same value of every field of every datum
// (tests/rpc/datum_wire_compare.h). Well-formed requests are built with the
// generated classes; malformed ones are written byte by byte.
#include "rpc/datum_wire.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/stubs/logging.h"
#include "nimbus/v1/metrics.pb.h"
#include "tests/rpc/datum_wire_compare.h"

namespace nimbus::rpc {
namespace {

using nimbus::rpc::testing::CompareWithProtobuf;
using nimbus::rpc::testing::ProtobufAccepts;
using nimbus::v1::MetricDatum;
using nimbus::v1::PutMetricDataRequest;
using namespace std::string_literals;

// Protobuf logs an error for every string field with invalid UTF-8; many
// inputs here have one on purpose.
[[maybe_unused]] const bool kQuietProtobuf = [] {
  google::protobuf::SetLogHandler(nullptr);
  return true;
}();

// ---- Wire bytes by hand

enum Wire : uint32_t {
  kVarint = 0,
  kI64 = 1,
  kLen = 2,
  kSGroup = 3,
  kEGroup = 4,
  kI32 = 5
};

std::string Varint(uint64_t v) {
  std::string s;
  while (v >= 0x80) {
    s.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  s.push_back(static_cast<char>(v));
  return s;
}

std::string Tag(uint32_t field, uint32_t wire) {
  return Varint((uint64_t{field} << 3) | wire);
}

std::string VarintField(uint32_t field, uint64_t v) {
  return Tag(field, kVarint) + Varint(v);
}

std::string Fixed64Field(uint32_t field, uint64_t bits) {
  std::string s = Tag(field, kI64);
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>(bits >> (8 * i)));
  return s;
}

std::string DoubleField(uint32_t field, double d) {
  return Fixed64Field(field, std::bit_cast<uint64_t>(d));
}

std::string Fixed32Field(uint32_t field, uint32_t bits) {
  std::string s = Tag(field, kI32);
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(bits >> (8 * i)));
  return s;
}

std::string LenField(uint32_t field, absl::string_view payload) {
  return absl::StrCat(Tag(field, kLen), Varint(payload.size()), payload);
}

std::string GroupField(uint32_t field, absl::string_view body) {
  return absl::StrCat(Tag(field, kSGroup), body, Tag(field, kEGroup));
}

std::string PackedDoubles(uint32_t field, const std::vector<double>& xs) {
  std::string payload;
  for (double x : xs) {
    const uint64_t bits = std::bit_cast<uint64_t>(x);
    for (int i = 0; i < 8; ++i) {
      payload.push_back(static_cast<char>(bits >> (8 * i)));
    }
  }
  return LenField(field, payload);
}

// Fields of the request, a datum and a dimension.
std::string Namespace(absl::string_view ns) { return LenField(1, ns); }
std::string Datum(absl::string_view body) { return LenField(2, body); }
std::string MetricName(absl::string_view s) { return LenField(1, s); }
std::string Dim(absl::string_view name, absl::string_view value) {
  return LenField(2, LenField(1, name) + LenField(2, value));
}
std::string Unit(absl::string_view s) { return LenField(8, s); }

std::string Hex(absl::string_view s) { return absl::BytesToHexString(s); }

// Unknown fields of every wire type, a group holding all of them and a
// group in a group among them; field numbers with one- to five-byte tags.
std::string UnknownFields() {
  const std::string flat = absl::StrCat(
      VarintField(100, 12345), VarintField(101, ~uint64_t{0}),
      Fixed64Field(15, 0x0123456789ABCDEF), LenField(16, "opaque\xff\x00"s),
      LenField(2047, ""), Fixed32Field(262143, 0xDEADBEEF),
      VarintField(536870911, 1));  // the largest field number
  return absl::StrCat(
      flat, GroupField(33, flat + GroupField(34, flat + GroupField(35, ""))),
      GroupField(536870911, flat));
}

// ---- Messages built with the generated classes

PutMetricDataRequest Typical(int datums) {
  PutMetricDataRequest req;
  req.set_namespace_("Nimbus/Service");
  for (int i = 0; i < datums; ++i) {
    MetricDatum* d = req.add_metric_data();
    d->set_metric_name(i % 2 == 0 ? "Latency" : "RequestCount");
    auto* dim = d->add_dimensions();
    dim->set_name("Host");
    dim->set_value(absl::StrCat("host-", i % 97));
    dim = d->add_dimensions();
    dim->set_name("Region");
    dim->set_value("eu-west-1");
    dim = d->add_dimensions();
    dim->set_name("Shard");
    dim->set_value(absl::StrCat(i));
    d->mutable_timestamp()->set_seconds(1700000000 + i);
    d->mutable_timestamp()->set_nanos(i * 1000);
    d->set_value(i * 0.25);
    d->set_unit(i % 2 == 0 ? "Milliseconds" : "Count");
    d->set_storage_resolution(i % 3 == 0 ? 1 : 60);
  }
  return req;
}

// Every field of a datum set, with doubles that need bit-exact comparison.
PutMetricDataRequest AllFields() {
  const double nan_payload =
      std::bit_cast<double>(uint64_t{0x7FF0000000000DEF});
  const double neg_nan = std::bit_cast<double>(uint64_t{0xFFF8000000000001});
  PutMetricDataRequest req;
  req.set_namespace_("Name/space \xE2\x82\xAC");  // €
  MetricDatum* d = req.add_metric_data();
  d->set_metric_name("m\xF0\x9D\x84\x9E");  // U+1D11E
  auto* dim = d->add_dimensions();
  dim->set_name("b");
  dim->set_value("2");
  dim = d->add_dimensions();
  dim->set_name("a");
  dim->set_value("\xC3\xA9");
  dim = d->add_dimensions();
  dim->set_name("");
  dim->set_value("");
  d->mutable_timestamp()->set_seconds(-62135596800);
  d->mutable_timestamp()->set_nanos(999999999);
  d->set_value(-0.0);
  for (double x : {1.5, -0.0, nan_payload, neg_nan,
                   std::numeric_limits<double>::infinity(),
                   std::numeric_limits<double>::denorm_min()}) {
    d->add_values(x);
  }
  for (double x : {1.0, 2.0, 0.0, -0.0, nan_payload, 3.0}) d->add_counts(x);
  d->mutable_statistic_values()->set_sample_count(4);
  d->mutable_statistic_values()->set_sum(-0.0);
  d->mutable_statistic_values()->set_minimum(neg_nan);
  d->mutable_statistic_values()->set_maximum(1e308);
  d->set_unit("Bytes/Second");
  d->set_storage_resolution(1);
  // A second datum with nothing set, and a third with only a value of 0
  // (has_value with a default value).
  req.add_metric_data();
  req.add_metric_data()->set_value(0.0);
  return req;
}

// ---- Expectations

// Both parsers agree on `bytes`; `accept` is what protobuf must say (so that
// each case tests what it means to).
void ExpectAgree(absl::string_view bytes, bool accept) {
  EXPECT_EQ(ProtobufAccepts(bytes), accept)
      << "protobuf's verdict is not the one this case is about; input "
      << Hex(bytes);
  EXPECT_EQ(CompareWithProtobuf(bytes), "");
}

void ExpectAccepted(absl::string_view bytes) { ExpectAgree(bytes, true); }
void ExpectRejected(absl::string_view bytes) { ExpectAgree(bytes, false); }

PutMetricDataView Decoded(absl::string_view bytes) {
  PutMetricDataView view;
  EXPECT_TRUE(DecodePutMetricDataRequest(bytes, &view)) << Hex(bytes);
  return view;
}

// ---- Well-formed requests

TEST(DatumWireTest, EmptyRequest) {
  ExpectAccepted("");
  const PutMetricDataView view = Decoded("");
  EXPECT_TRUE(view.datums.empty());
  EXPECT_TRUE(view.namespace_name.empty());
}

TEST(DatumWireTest, Typical1000DatumsWithThreeDimensions) {
  const std::string bytes = Typical(1000).SerializeAsString();
  ExpectAccepted(bytes);
  const PutMetricDataView view = Decoded(bytes);
  ASSERT_EQ(view.datums.size(), 1000u);
  EXPECT_EQ(view.dims.size(), 3000u);
  EXPECT_EQ(view.datums[999].dims_size(), 3u);
}

// identity_fields: the bytes of a leading run of name and dimension fields
// that holds all of them, else nothing.
TEST(DatumWireTest, IdentityFieldsAreTheLeadingNameAndDimensionFields) {
  auto identity = [](const std::string& datum) {
    const std::string bytes = Namespace("N") + Datum(datum);
    const PutMetricDataView view = Decoded(bytes);
    EXPECT_EQ(view.datums.size(), 1u);
    return view.datums.empty() ? std::string("?")
                               : std::string(view.datums[0].identity_fields);
  };
  // As protobuf writes a datum: name, dimensions, then the rest.
  const std::string run = MetricName("M") + Dim("a", "1") + Dim("b", "2");
  EXPECT_EQ(identity(run + DoubleField(4, 1.5) + Unit("Bytes")), run);
  EXPECT_EQ(identity(run), run);
  // What protobuf itself writes: the name and three dimensions, first.
  const PutMetricDataRequest typical = Typical(1);
  MetricDatum only_identity;
  only_identity.set_metric_name(typical.metric_data(0).metric_name());
  *only_identity.mutable_dimensions() = typical.metric_data(0).dimensions();
  EXPECT_EQ(identity(typical.metric_data(0).SerializeAsString()),
            only_identity.SerializeAsString());
  // Any order within the run.
  const std::string dims_first = Dim("a", "1") + MetricName("M");
  EXPECT_EQ(identity(dims_first + DoubleField(4, 1)), dims_first);
  // A name or dimension after another field: no identity bytes.
  EXPECT_EQ(identity(MetricName("M") + DoubleField(4, 1) + Dim("a", "1")), "");
  EXPECT_EQ(identity(run + Unit("Bytes") + MetricName("N")), "");
  EXPECT_EQ(identity(MetricName("M") + VarintField(99, 1) + Dim("a", "1")), "");
  // An unknown field, or a name field of another wire type, ends the run.
  EXPECT_EQ(identity(MetricName("M") + VarintField(99, 1)), MetricName("M"));
  EXPECT_EQ(identity(MetricName("M") + VarintField(1, 7) + DoubleField(4, 1)),
            MetricName("M"));
  // Neither name nor dimensions.
  EXPECT_EQ(identity(DoubleField(4, 1)), "");
}

TEST(DatumWireTest, EveryFieldSet) {
  const PutMetricDataRequest req = AllFields();
  const std::string bytes = req.SerializeAsString();
  ExpectAccepted(bytes);
  const PutMetricDataView view = Decoded(bytes);
  ASSERT_EQ(view.datums.size(), 3u);
  EXPECT_TRUE(view.datums[0].has_value);
  EXPECT_TRUE(std::signbit(view.datums[0].value));
  EXPECT_FALSE(view.datums[1].has_value);
  EXPECT_TRUE(view.datums[2].has_value);
}

TEST(DatumWireTest, ViewReusedForASmallerRequest) {
  PutMetricDataView view;
  ASSERT_TRUE(
      DecodePutMetricDataRequest(Typical(50).SerializeAsString(), &view));
  const std::string small = AllFields().SerializeAsString();
  EXPECT_EQ(CompareWithProtobuf(small, &view), "");
  const std::string only_ns = Namespace("x");
  EXPECT_EQ(CompareWithProtobuf(only_ns, &view), "");
  EXPECT_EQ(CompareWithProtobuf("", &view), "");
}

// Datums are reused, not rebuilt, from request to request: nothing of a
// larger request, or of one refused halfway, shows through.
TEST(DatumWireTest, ViewReusedAfterALargerAndARefusedRequest) {
  PutMetricDataView view;
  const std::string all = AllFields().SerializeAsString();
  ASSERT_TRUE(DecodePutMetricDataRequest(all + all + all, &view));
  ASSERT_EQ(view.datums.size(), 9u);
  const std::string typical = Typical(2).SerializeAsString();
  EXPECT_EQ(CompareWithProtobuf(typical, &view), "");
  // A good datum, then one cut short: refused.
  const std::string cut = typical + Datum(MetricName("M")).substr(0, 3);
  EXPECT_FALSE(DecodePutMetricDataRequest(all + cut, &view));
  EXPECT_EQ(CompareWithProtobuf(Typical(5).SerializeAsString(), &view), "");
  EXPECT_EQ(CompareWithProtobuf(all, &view), "");
  // Refused at a tag (field number 0) after two datums: only those two are
  // left, none of the nine before.
  ASSERT_TRUE(DecodePutMetricDataRequest(all + all + all, &view));
  EXPECT_FALSE(
      DecodePutMetricDataRequest(typical + std::string(1, '\0'), &view));
  EXPECT_EQ(view.datums.size(), 2u);
}

TEST(DatumWireTest, ValuesPackedUnpackedAndMixed) {
  const double nan_payload =
      std::bit_cast<double>(uint64_t{0x7FF4000000000123});
  // Packed, as protobuf writes them.
  ExpectAccepted(AllFields().SerializeAsString());
  // Unpacked: one fixed64 field per value.
  std::string unpacked = MetricName("u");
  for (double x : {1.0, -0.0, nan_payload}) unpacked += DoubleField(5, x);
  for (double x : {2.0, 3.0, 4.0}) unpacked += DoubleField(6, x);
  ExpectAccepted(Datum(unpacked));
  // Mixed in one datum, values and counts interleaved, empty packed runs.
  const std::string mixed = absl::StrCat(
      DoubleField(5, 1.0), PackedDoubles(6, {10.0, 20.0}),
      PackedDoubles(5, {2.0, 3.0}), DoubleField(6, 30.0), PackedDoubles(5, {}),
      MetricName("mixed"), DoubleField(5, -0.0), PackedDoubles(6, {}),
      PackedDoubles(5, {nan_payload}), DoubleField(6, 40.0));
  ExpectAccepted(Datum(mixed));
  const PutMetricDataView view = Decoded(Datum(mixed));
  ASSERT_EQ(view.datums.size(), 1u);
  EXPECT_EQ(view.datums[0].values_size(), 5u);
  EXPECT_EQ(view.datums[0].counts_size(), 4u);
  // Several datums with values, so that ranges of different datums follow
  // each other in the shared vectors.
  ExpectAccepted(
      absl::StrCat(Datum(mixed), Datum(unpacked), Datum(""), Datum(mixed)));
}

TEST(DatumWireTest, RepeatedSingularFieldLastWins) {
  const std::string datum =
      absl::StrCat(MetricName("first"), DoubleField(4, 1.0), Unit("Count"),
                   VarintField(9, 60), MetricName("second"),
                   DoubleField(4, -0.0), Unit("Bytes"), VarintField(9, 1));
  const std::string bytes =
      absl::StrCat(Namespace("ns1"), Datum(datum), Namespace("ns2"));
  ExpectAccepted(bytes);
  const PutMetricDataView view = Decoded(bytes);
  EXPECT_EQ(view.namespace_name, "ns2");
  ASSERT_EQ(view.datums.size(), 1u);
  EXPECT_EQ(view.datums[0].metric_name, "second");
  EXPECT_EQ(view.datums[0].unit, "Bytes");
  EXPECT_EQ(view.datums[0].storage_resolution, 1);
  EXPECT_TRUE(std::signbit(view.datums[0].value));
  // An empty string last replaces a non-empty one.
  ExpectAccepted(Datum(MetricName("x") + MetricName("")));
}

TEST(DatumWireTest, TimestampTwiceMerges) {
  const std::string datum =
      absl::StrCat(LenField(3, VarintField(1, 1700000000)), MetricName("t"),
                   LenField(3, VarintField(2, 42)));
  ExpectAccepted(Datum(datum));
  const PutMetricDataView view = Decoded(Datum(datum));
  ASSERT_EQ(view.datums.size(), 1u);
  EXPECT_TRUE(view.datums[0].has_timestamp);
  EXPECT_EQ(view.datums[0].timestamp_seconds, 1700000000);
  EXPECT_EQ(view.datums[0].timestamp_nanos, 42);
  // The second sets both, the third neither: still present.
  ExpectAccepted(Datum(absl::StrCat(
      LenField(3, VarintField(1, 5) + VarintField(2, 6)),
      LenField(3, VarintField(2, 7) + VarintField(1, 8)), LenField(3, ""))));
  // An empty timestamp is present.
  ExpectAccepted(Datum(LenField(3, "")));
}

TEST(DatumWireTest, StatisticValuesTwiceMerges) {
  const std::string datum = absl::StrCat(
      LenField(7, DoubleField(1, 10) + DoubleField(2, 100)), MetricName("s"),
      LenField(7,
               DoubleField(3, 1) + DoubleField(4, 50) + DoubleField(2, -0.0)));
  ExpectAccepted(Datum(datum));
  const PutMetricDataView view = Decoded(Datum(datum));
  ASSERT_EQ(view.datums.size(), 1u);
  const DatumView& d = view.datums[0];
  EXPECT_TRUE(d.has_statistic_values);
  EXPECT_EQ(d.sample_count, 10);
  EXPECT_TRUE(d.sum == 0 && std::signbit(d.sum));
  EXPECT_EQ(d.minimum, 1);
  EXPECT_EQ(d.maximum, 50);
  ExpectAccepted(Datum(LenField(7, "")));
}

TEST(DatumWireTest, UnknownFieldsOfEveryWireTypeAtEveryLevel) {
  const std::string u = UnknownFields();
  const std::string ts =
      absl::StrCat(u, VarintField(1, 12), u, VarintField(2, 34), u);
  const std::string stats =
      absl::StrCat(u, DoubleField(1, 3), u, DoubleField(4, 9), u);
  const std::string dim =
      LenField(2, absl::StrCat(u, LenField(1, "k"), u, LenField(2, "v"), u));
  const std::string datum = absl::StrCat(
      u, MetricName("n"), u, dim, u, LenField(3, ts), u, DoubleField(4, 2), u,
      DoubleField(5, 3), u, PackedDoubles(5, {4}), u, PackedDoubles(6, {5}), u,
      LenField(7, stats), u, Unit("Count"), u, VarintField(9, 60), u);
  const std::string bytes =
      absl::StrCat(u, Namespace("ns"), u, Datum(datum), u, Datum(datum), u);
  ExpectAccepted(bytes);
  const PutMetricDataView view = Decoded(bytes);
  ASSERT_EQ(view.datums.size(), 2u);
  EXPECT_EQ(view.datums[1].dims_size(), 1u);
  EXPECT_EQ(view.datums[1].timestamp_nanos, 34);
  // Only unknown fields, at each level.
  ExpectAccepted(u);
  ExpectAccepted(Datum(u));
  ExpectAccepted(Datum(LenField(2, u) + LenField(3, u) + LenField(7, u)));
}

TEST(DatumWireTest, KnownFieldNumberWithOtherWireTypeIsSkipped) {
  // Each is an unknown field to protobuf; the datum keeps its other fields.
  const std::vector<std::string> datum_fields = {
      VarintField(1, 7),                    // metric_name as a varint
      Fixed32Field(1, 7),                   //
      GroupField(2, MetricName("inside")),  // dimensions as a group
      Fixed64Field(2, 1),                   //
      VarintField(3, 1),                    // timestamp as a varint
      Fixed64Field(3, 1),                   //
      VarintField(4, 1),                    // value as a varint
      Fixed32Field(4, 1),                   //
      LenField(4, "12345678"),              // value length-delimited
      GroupField(4, ""),                    //
      VarintField(5, 1),                    // values as a varint
      Fixed32Field(6, 1),                   // counts as a fixed32
      GroupField(6, DoubleField(6, 1)),
      Fixed64Field(7, 1),       // statistic_values as a fixed64
      GroupField(7, ""),        //
      VarintField(8, 1),        // unit as a varint
      Fixed64Field(9, 60),      // storage_resolution as a fixed64
      LenField(9, Varint(60)),  // ... length-delimited
      Fixed32Field(9, 60),      //
  };
  for (const std::string& f : datum_fields) {
    SCOPED_TRACE(Hex(f));
    const std::string bytes =
        Datum(absl::StrCat(MetricName("m"), f, VarintField(9, 1), f));
    ExpectAccepted(bytes);
    const PutMetricDataView view = Decoded(bytes);
    ASSERT_EQ(view.datums.size(), 1u);
    EXPECT_EQ(view.datums[0].metric_name, "m");
    EXPECT_EQ(view.datums[0].storage_resolution, 1);
    EXPECT_FALSE(view.datums[0].has_value);
    EXPECT_FALSE(view.datums[0].has_timestamp);
    EXPECT_EQ(view.datums[0].values_size(), 0u);
  }
  // At the request level and in a dimension, a timestamp and a statistic
  // set.
  for (const std::string& f :
       {VarintField(1, 1), Fixed64Field(1, 1), GroupField(1, ""),
        VarintField(2, 1), Fixed32Field(2, 1), GroupField(2, Namespace("x"))}) {
    SCOPED_TRACE(Hex(f));
    ExpectAccepted(absl::StrCat(Namespace("ns"), f, Datum("")));
    ExpectAccepted(Datum(LenField(2, f + LenField(1, "k"))));
  }
  for (const std::string& f : {Fixed64Field(1, 5), LenField(2, "x"),
                               Fixed32Field(1, 5), GroupField(2, "")}) {
    SCOPED_TRACE(Hex(f));
    ExpectAccepted(Datum(LenField(3, f + VarintField(2, 3))));
  }
  for (const std::string& f : {VarintField(1, 5), LenField(2, "12345678"),
                               Fixed32Field(3, 5), GroupField(4, "")}) {
    SCOPED_TRACE(Hex(f));
    ExpectAccepted(Datum(LenField(7, f + DoubleField(2, 3))));
  }
}

TEST(DatumWireTest, NegativeAndOverlongIntegersTruncateAsProtobufDoes) {
  for (int32_t r : {-1, std::numeric_limits<int32_t>::min(), -60}) {
    PutMetricDataRequest req;
    MetricDatum* d = req.add_metric_data();
    d->set_storage_resolution(r);
    d->mutable_timestamp()->set_seconds(-1);
    d->mutable_timestamp()->set_nanos(r);
    const std::string bytes = req.SerializeAsString();
    ExpectAccepted(bytes);
    const PutMetricDataView view = Decoded(bytes);
    ASSERT_EQ(view.datums.size(), 1u);
    EXPECT_EQ(view.datums[0].storage_resolution, r);
    EXPECT_EQ(view.datums[0].timestamp_nanos, r);
  }
  // The 10-byte form of a negative int32.
  EXPECT_EQ(VarintField(9, static_cast<uint64_t>(int64_t{-1})).size(), 11u);
  // Values beyond 32 bits keep their low 32 bits in an int32 field;
  // beyond 64 bits, a tenth byte's high bits are dropped.
  for (uint64_t v : {uint64_t{0x100000000 + 60}, uint64_t{0xFFFFFFFF00000001},
                     uint64_t{0x80000000}, ~uint64_t{0}}) {
    SCOPED_TRACE(v);
    ExpectAccepted(Datum(VarintField(9, v)));
    ExpectAccepted(Datum(LenField(3, VarintField(1, v) + VarintField(2, v))));
  }
  const std::string ten_bytes_high = "\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x7F";
  ExpectAccepted(Datum(Tag(9, kVarint) + ten_bytes_high));
  ExpectAccepted(Datum(LenField(3, Tag(1, kVarint) + ten_bytes_high)));
  ExpectAccepted(Tag(77, kVarint) + ten_bytes_high);
  // Non-minimal varints: zero padded.
  ExpectAccepted(
      Datum(Tag(9, kVarint) + "\xBC\x80\x80\x80\x80\x80\x80\x80\x80\x00"s));
  // Eleven bytes: too long everywhere.
  const std::string eleven = "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00"s;
  ExpectRejected(Datum(Tag(9, kVarint) + eleven));
  ExpectRejected(Datum(LenField(3, Tag(2, kVarint) + eleven)));
  ExpectRejected(Tag(77, kVarint) + eleven);
}

// ---- Strings

TEST(DatumWireTest, InvalidUtf8RejectedInEveryStringField) {
  const std::vector<std::string> bad = {
      "\xFF",
      "\x80",                  // a lone continuation byte
      "ab\xC0\x80",            // overlong NUL
      "\xC1\xBF",              // overlong
      "\xE0\x80\xAF",          // overlong
      "\xF0\x80\x80\xAF",      // overlong
      "\xED\xA0\x80",          // U+D800, a surrogate
      "\xED\xBF\xBF",          // U+DFFF
      "\xF4\x90\x80\x80",      // above U+10FFFF
      "\xF5\x80\x80\x80",      //
      "\xF8\x88\x80\x80\x80",  // five bytes
      "\xE2\x82",              // truncated
      "x\xE2\x82\xACy\xE2",    // truncated at the end
      "\xC3(",                 // a continuation byte missing
  };
  for (const std::string& s : bad) {
    SCOPED_TRACE(Hex(s));
    ExpectRejected(Namespace(s));
    ExpectRejected(Datum(MetricName(s)));
    ExpectRejected(Datum(Unit(s)));
    ExpectRejected(Datum(Dim(s, "v")));
    ExpectRejected(Datum(Dim("k", s)));
    // Not a string field: in an unknown length-delimited field, accepted.
    ExpectAccepted(Datum(LenField(99, s)));
  }
}

TEST(DatumWireTest, ValidUtf8AcceptedInEveryStringField) {
  const std::vector<std::string> good = {
      "",
      std::string("nul\0inside", 10),
      "\x7F",
      "\xC2\x80",          // U+0080
      "\xDF\xBF",          // U+07FF
      "\xE0\xA0\x80",      // U+0800
      "\xED\x9F\xBF",      // U+D7FF
      "\xEE\x80\x80",      // U+E000
      "\xEF\xBF\xBF",      // U+FFFF
      "\xEF\xBF\xBE",      // U+FFFE
      "\xF0\x90\x80\x80",  // U+10000
      "\xF4\x8F\xBF\xBF",  // U+10FFFF
      "\xE2\x82\xAC \xF0\x9F\x98\x80 ok",
  };
  for (const std::string& s : good) {
    SCOPED_TRACE(Hex(s));
    ExpectAccepted(Namespace(s));
    ExpectAccepted(Datum(MetricName(s)));
    ExpectAccepted(Datum(Unit(s)));
    ExpectAccepted(Datum(Dim(s, s)));
  }
}

TEST(DatumWireTest, EveryTwoByteSequenceAsAString) {
  // Every one- and two-byte string in metric_name and a dimension value.
  for (int a = 0; a < 256; ++a) {
    const std::string one(1, static_cast<char>(a));
    ASSERT_EQ(CompareWithProtobuf(Datum(MetricName(one))), "");
    for (int b = 0; b < 256; ++b) {
      const std::string two = one + static_cast<char>(b);
      ASSERT_EQ(CompareWithProtobuf(Datum(MetricName(two))), "");
      ASSERT_EQ(CompareWithProtobuf(Datum(Dim("k", two))), "");
    }
  }
}

TEST(DatumWireTest, EveryThreeAndFourByteLeadSequence) {
  // Every lead byte from 0xE0 with every second byte and a few thirds and
  // fourths: the ranges where overlong forms and surrogates hide.
  for (int a = 0xE0; a < 0x100; ++a) {
    for (int b = 0; b < 256; ++b) {
      for (int c : {0x00, 0x7F, 0x80, 0xBF, 0xC0}) {
        for (int d : {-1, 0x80, 0xBF, 0xC0}) {
          std::string s = {static_cast<char>(a), static_cast<char>(b),
                           static_cast<char>(c)};
          if (d >= 0) s.push_back(static_cast<char>(d));
          ASSERT_EQ(CompareWithProtobuf(Namespace(s)), "");
        }
      }
    }
  }
}

// ---- Malformed input

TEST(DatumWireTest, EveryPrefixOfAValidRequest) {
  const std::string u = UnknownFields();
  PutMetricDataRequest req = AllFields();
  req.MergeFrom(Typical(3));
  const std::string bytes = absl::StrCat(
      req.SerializeAsString(), u,
      Datum(absl::StrCat(u, MetricName("m"), DoubleField(5, 1),
                         LenField(3, u + VarintField(1, 3)), Dim("k", "v"))));
  ASSERT_TRUE(ProtobufAccepts(bytes));
  int accepted = 0;
  for (size_t n = 0; n <= bytes.size(); ++n) {
    const absl::string_view prefix(bytes.data(), n);
    EXPECT_EQ(CompareWithProtobuf(prefix), "") << "prefix of " << n << " bytes";
    accepted += ProtobufAccepts(prefix);
  }
  // Prefixes ending between top-level fields are accepted, the rest not.
  EXPECT_GT(accepted, 3);
  EXPECT_LT(accepted, static_cast<int>(bytes.size()) / 2);
}

TEST(DatumWireTest, EverySingleByteChangeOfAValidRequest) {
  const std::string bytes = absl::StrCat(
      Namespace("ns"),
      Datum(absl::StrCat(MetricName("m\xC3\xA9"), Dim("k", "v"),
                         LenField(3, VarintField(1, 300) + VarintField(2, 5)),
                         DoubleField(4, 1.5), PackedDoubles(5, {1, 2}),
                         DoubleField(6, 3), LenField(7, DoubleField(1, 4)),
                         Unit("Count"), VarintField(9, 60),
                         GroupField(20, VarintField(1, 1)))));
  ASSERT_TRUE(ProtobufAccepts(bytes));
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int b = 0; b < 256; ++b) {
      std::string changed = bytes;
      changed[i] = static_cast<char>(b);
      ASSERT_EQ(CompareWithProtobuf(changed), "") << "byte " << i;
    }
  }
}

TEST(DatumWireTest, EveryInputOfUpToTwoBytes) {
  ASSERT_EQ(CompareWithProtobuf(""), "");
  for (int a = 0; a < 256; ++a) {
    const std::string one(1, static_cast<char>(a));
    ASSERT_EQ(CompareWithProtobuf(one), "");
    for (int b = 0; b < 256; ++b) {
      ASSERT_EQ(CompareWithProtobuf(one + static_cast<char>(b)), "");
    }
  }
}

TEST(DatumWireTest, FieldNumberZero) {
  for (uint32_t wire : {kVarint, kI64, kLen, kSGroup, kEGroup, kI32}) {
    // The tag itself, then bytes that would make a valid value for it.
    const std::string f = Tag(0, wire) + std::string(8, '\0');
    SCOPED_TRACE(Hex(f));
    ExpectRejected(f);
    ExpectRejected(Namespace("ns") + f);
    ExpectRejected(Datum(f));
    ExpectRejected(Datum(MetricName("m") + f));
    ExpectRejected(Datum(LenField(2, f)));
    ExpectRejected(Datum(LenField(3, f)));
    ExpectRejected(Datum(LenField(7, f)));
    ExpectRejected(GroupField(9, f));
    ExpectRejected(Datum(GroupField(99, f)));
  }
  // A non-minimal encoding of tag 0 (field 0, varint).
  ExpectRejected("\x80\x00"s);
  ExpectRejected(Datum("\x80\x80\x00\x01"s));
}

TEST(DatumWireTest, EndGroupOutsideAGroup) {
  for (uint32_t field : {1u, 2u, 3u, 9u, 99u}) {
    const std::string e = Tag(field, kEGroup);
    SCOPED_TRACE(Hex(e));
    ExpectRejected(e);
    ExpectRejected(Namespace("ns") + e);
    ExpectRejected(Datum(e));
    ExpectRejected(Datum(MetricName("m") + e));
    ExpectRejected(Datum(LenField(2, e)));
    ExpectRejected(Datum(LenField(3, e)));
    ExpectRejected(Datum(LenField(7, e)));
  }
  // A group ended by another field's end tag, a group not ended, and a
  // group whose end is past the end of the message holding it.
  ExpectRejected(Tag(10, kSGroup) + Tag(11, kEGroup));
  ExpectRejected(Tag(10, kSGroup) + VarintField(1, 1));
  ExpectRejected(Datum(Tag(10, kSGroup) + VarintField(1, 1)) +
                 Tag(10, kEGroup));
  ExpectRejected(Datum(Tag(10, kSGroup)));
  ExpectAccepted(GroupField(10, GroupField(11, "") + GroupField(10, "")));
}

TEST(DatumWireTest, WireTypesSixAndSeven) {
  for (uint32_t wire : {6u, 7u}) {
    for (uint32_t field : {1u, 2u, 5u, 99u}) {
      const std::string f = Tag(field, wire) + std::string(8, '\0');
      SCOPED_TRACE(Hex(f));
      ExpectRejected(f);
      ExpectRejected(Datum(f));
      ExpectRejected(Datum(LenField(2, f)));
      ExpectRejected(Datum(LenField(3, f)));
      ExpectRejected(Datum(LenField(7, f)));
      ExpectRejected(GroupField(50, f));
    }
  }
}

TEST(DatumWireTest, PackedDoublesNotAMultipleOfEight) {
  for (size_t n : {1u, 7u, 9u, 15u, 17u}) {
    const std::string payload(n, '\x01');
    SCOPED_TRACE(n);
    ExpectRejected(Datum(LenField(5, payload)));
    ExpectRejected(Datum(LenField(6, payload)));
    ExpectRejected(Datum(DoubleField(5, 1) + LenField(5, payload)));
  }
  for (size_t n : {0u, 8u, 16u, 800u}) {
    SCOPED_TRACE(n);
    ExpectAccepted(Datum(LenField(5, std::string(n, '\x01'))));
    ExpectAccepted(Datum(LenField(6, std::string(n, '\x02'))));
  }
}

TEST(DatumWireTest, LengthVarints) {
  // Five bytes (zero padded) are allowed, six are not, at every level.
  const std::string five = "\x83\x80\x80\x80\x00"s;
  const std::string six = "\x83\x80\x80\x80\x80\x00"s;
  ExpectAccepted(Tag(1, kLen) + five + "abc");
  ExpectRejected(Tag(1, kLen) + six + "abc");
  ExpectAccepted(Tag(2, kLen) + "\x80\x80\x80\x80\x00"s);  // an empty datum
  ExpectRejected(Tag(2, kLen) + "\x80\x80\x80\x80\x80\x00"s);
  ExpectAccepted(Datum(Tag(1, kLen) + five + "abc"));
  ExpectRejected(Datum(Tag(1, kLen) + six + "abc"));
  ExpectAccepted(
      Datum(Tag(5, kLen) + "\x88\x80\x80\x80\x00"s + std::string(8, 0)));
  ExpectRejected(
      Datum(Tag(5, kLen) + "\x88\x80\x80\x80\x80\x00"s + std::string(8, 0)));
  ExpectAccepted(Tag(99, kLen) + five + "abc");
  ExpectRejected(Tag(99, kLen) + six + "abc");
  ExpectAccepted(Datum(LenField(2, Tag(2, kLen) + five + "abc")));
  ExpectRejected(Datum(LenField(2, Tag(2, kLen) + six + "abc")));
  // 2 GiB and more, and lengths past the end.
  ExpectRejected(Tag(1, kLen) + "\x80\x80\x80\x80\x08");
  ExpectRejected(Tag(1, kLen) + "\xFF\xFF\xFF\xFF\x07");
  ExpectRejected(Tag(1, kLen) + "\x04" + "abc");
  ExpectRejected(Datum(LenField(1, "abc").substr(0, 4)));
}

TEST(DatumWireTest, TagVarints) {
  // Non-minimal tags of known fields: still those fields.
  ExpectAccepted("\x8A\x00\x02ns"s);              // namespace, 2 bytes
  ExpectAccepted("\x8A\x80\x80\x00\x02ns"s);      // 4 bytes
  ExpectAccepted("\x8A\x80\x80\x80\x00\x02ns"s);  // 5 bytes
  ExpectAccepted(Datum("\xC8\x80\x00\x3C"s));     // storage_resolution
  ExpectAccepted(Datum("\xA1\x80\x80\x80\x00"s + std::string(8, '\x01')));
  // Six bytes: not a tag.
  ExpectRejected("\x8A\x80\x80\x80\x80\x00\x02ns"s);
  ExpectRejected(Datum("\xC8\x80\x80\x80\x80\x00\x3C"s));
  // Five bytes with the fifth below 0x10: the largest field numbers.
  ExpectAccepted("\xF8\xFF\xFF\xFF\x0F\x01");  // field 536870911, varint
  ExpectAccepted(Datum("\xFD\xFF\xFF\xFF\x0F\x01\x02\x03\x04"));  // fixed32
}

// A five-byte tag whose fifth byte is 0x10..0x7F. Protobuf (3.21,
// ReadTag/ReadTagFallback in parse_context) reads up to five tag bytes and
// keeps the low 32 bits, dropping the fifth byte's high bits, so
// 8a 80 80 80 10 is tag 0x0A (namespace, length-delimited) and the request
// parses. The decoder rejected any fifth byte >= 0x10 until 065bd3e (found
// by this test and by datum_wire_fuzz; seed bug_five_byte_tag_high_bits).
TEST(DatumWireTest, FiveByteTagHighBitsDroppedAsProtobufDoes) {
  for (int fifth : {0x10, 0x20, 0x70, 0x7F}) {
    SCOPED_TRACE(fifth);
    const std::string tag = absl::StrCat(
        "\x8A\x80\x80\x80", std::string(1, static_cast<char>(fifth)));
    EXPECT_EQ(CompareWithProtobuf(tag + "\x02ns"), "");
    EXPECT_EQ(CompareWithProtobuf(Datum(tag + "\x01m")), "");
    // Unknown fields: field 99, varint, with high bits in the fifth byte.
    EXPECT_EQ(
        CompareWithProtobuf("\x98\x86\x80\x80" +
                            std::string(1, static_cast<char>(fifth)) + "\x01"),
        "");
  }
  // With the continuation bit the tag would be six bytes: both reject.
  ExpectRejected("\x8A\x80\x80\x80\x90\x00\x02ns"s);
}

// An empty packed field decoded into a view whose values (or counts) vector
// has never held an element: until 065bd3e AppendPacked called
// memcpy(nullptr, p, 0), undefined behaviour that UndefinedBehaviorSanitizer
// reports (NIMBUS_SANITIZE=ON or the fuzz build; found by datum_wire_fuzz,
// seed bug_empty_packed_new_view). Without the sanitizer it went unnoticed.
TEST(DatumWireTest, EmptyPackedFieldIntoANewView) {
  for (const std::string& bytes :
       {Datum(LenField(5, "")), Datum(LenField(6, "")),
        Datum(LenField(5, "") + LenField(6, "")) + Datum(LenField(5, ""))}) {
    SCOPED_TRACE(Hex(bytes));
    PutMetricDataView view;  // its vectors have no storage yet
    ASSERT_TRUE(DecodePutMetricDataRequest(bytes, &view));
    for (const DatumView& d : view.datums) {
      EXPECT_EQ(d.values_size(), 0u);
      EXPECT_EQ(d.counts_size(), 0u);
    }
    ExpectAccepted(bytes);
  }
}

TEST(DatumWireTest, RecursionLimit) {
  // Groups nested n deep at each level; protobuf's limit is 100 nested
  // messages and groups in all.
  auto nested = [](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s = GroupField(20, s);
    return s;
  };
  struct Level {
    const char* name;
    int depth;  // messages around the groups, the request included
    std::string (*wrap)(const std::string&);
  };
  const Level levels[] = {
      {"request", 1, [](const std::string& g) { return g; }},
      {"datum", 2, [](const std::string& g) { return Datum(g); }},
      {"dimension", 3,
       [](const std::string& g) { return Datum(LenField(2, g)); }},
      {"timestamp", 3,
       [](const std::string& g) { return Datum(LenField(3, g)); }},
      {"statistic_values", 3,
       [](const std::string& g) { return Datum(LenField(7, g)); }},
  };
  for (const Level& level : levels) {
    SCOPED_TRACE(level.name);
    const int most = 101 - level.depth;  // groups protobuf accepts
    for (int n = most - 3; n <= most + 3; ++n) {
      SCOPED_TRACE(n);
      ExpectAgree(level.wrap(nested(n)), n <= most);
    }
  }
}

}  // namespace
}  // namespace nimbus::rpc
