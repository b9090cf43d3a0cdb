// Differential fuzz target for DecodePutMetricDataRequest (rpc/datum_wire.h)
// against protobuf's generated parser for nimbus.v1.PutMetricDataRequest.
//
// The input is parsed both ways: both must accept or both reject, and on
// accept every field of every datum must be the same, doubles bit for bit
// (tests/rpc/datum_wire_compare.h). The decoder decodes into a new view and
// into one reused from input to input, as the server reuses it (so it must
// clear what an earlier request left). The input is also read as a request
// to build with the generated classes, unknown fields at every level
// included, whose serialization both must accept alike. A crash, a
// sanitizer report or a difference is a finding; the difference is printed
// with the input in hex.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/unknown_field_set.h"
#include "nimbus/v1/metrics.pb.h"
#include "rpc/datum_wire.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/rpc/datum_wire_compare.h"

namespace {

using nimbus::fuzz::ByteReader;
using nimbus::rpc::PutMetricDataView;
using nimbus::rpc::testing::CompareWithProtobuf;
using nimbus::v1::MetricDatum;
using nimbus::v1::PutMetricDataRequest;

void Check(absl::string_view bytes, PutMetricDataView* view) {
  const std::string diff = CompareWithProtobuf(bytes, view);
  if (diff.empty()) return;
  std::fprintf(stderr, "datum_wire_fuzz: %s\n", diff.c_str());
  FUZZ_CHECK(diff.empty());
}

// ---- A request built with the generated classes

std::string Utf8ish(ByteReader& in, size_t max_len) {
  // Mostly ASCII, now and then any bytes (which may be invalid UTF-8).
  std::string s = in.String(max_len);
  if (in.U8() % 8 != 0) {
    for (char& c : s)
      c = static_cast<char>('a' + (static_cast<uint8_t>(c) % 26));
  }
  return s;
}

void AddUnknown(ByteReader& in, google::protobuf::UnknownFieldSet* set,
                int depth) {
  const int n = in.U8() % 4 == 0 ? in.U8() % 4 : 0;
  for (int i = 0; i < n; ++i) {
    const int number = 10 + in.U8() % 200;
    switch (in.U8() % (depth < 3 ? 5 : 4)) {
      case 0:
        set->AddVarint(number, in.U64());
        break;
      case 1:
        set->AddFixed64(number, in.U64());
        break;
      case 2:
        set->AddFixed32(number, in.U32());
        break;
      case 3:
        set->AddLengthDelimited(number, in.String(8));
        break;
      default:
        AddUnknown(in, set->AddGroup(number), depth + 1);
        break;
    }
  }
}

template <typename M>
void MaybeUnknown(ByteReader& in, M* msg) {
  AddUnknown(in, msg->GetReflection()->MutableUnknownFields(msg), 0);
}

PutMetricDataRequest Build(ByteReader& in) {
  PutMetricDataRequest req;
  req.set_namespace_(Utf8ish(in, 12));
  MaybeUnknown(in, &req);
  const int datums = in.U8() % 6;
  for (int i = 0; i < datums; ++i) {
    MetricDatum* d = req.add_metric_data();
    const uint8_t present = in.U8();
    if (present & 1) d->set_metric_name(Utf8ish(in, 10));
    for (int j = in.U8() % 4; j > 0; --j) {
      auto* dim = d->add_dimensions();
      dim->set_name(Utf8ish(in, 6));
      dim->set_value(Utf8ish(in, 6));
      MaybeUnknown(in, dim);
    }
    if (present & 2) {
      d->mutable_timestamp()->set_seconds(static_cast<int64_t>(in.U64()));
      d->mutable_timestamp()->set_nanos(static_cast<int32_t>(in.U32()));
      MaybeUnknown(in, d->mutable_timestamp());
    }
    if (present & 4) d->set_value(in.Double());
    for (int j = in.U8() % 5; j > 0; --j) d->add_values(in.Double());
    for (int j = in.U8() % 5; j > 0; --j) d->add_counts(in.Double());
    if (present & 8) {
      auto* s = d->mutable_statistic_values();
      s->set_sample_count(in.Double());
      s->set_sum(in.Double());
      s->set_minimum(in.Double());
      s->set_maximum(in.Double());
      MaybeUnknown(in, s);
    }
    if (present & 16) d->set_unit(Utf8ish(in, 8));
    if (present & 32) {
      d->set_storage_resolution(static_cast<int32_t>(in.U32()));
    }
    MaybeUnknown(in, d);
  }
  return req;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    // Protobuf logs every string field with invalid UTF-8.
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)quiet;
  static PutMetricDataView* const view = new PutMetricDataView;
  const nimbus::fuzz::ExactCopy copy(data, size);
  Check(copy.view(), view);

  ByteReader in(data, size);
  const PutMetricDataRequest built = Build(in);
  // Serializing a string field with invalid UTF-8 only logs; protobuf's
  // parser rejects it again, and so must the decoder.
  Check(built.SerializeAsString(), view);
  return 0;
}
