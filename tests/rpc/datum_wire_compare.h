// Differential check of DecodePutMetricDataRequest (rpc/datum_wire.h)
// against protobuf's generated parser, shared by tests/rpc/datum_wire_test.cc
// and the fuzz target tests/fuzz/datum_wire_fuzz.cc.
//
// CompareWithProtobuf(bytes) parses `bytes` both ways and returns an empty
// string when the two agree: both reject, or both accept and every field of
// every datum is the same (doubles bit for bit, so -0.0 and NaN payloads
// count). Otherwise it returns the first difference, readable, with the
// input in hex.
#ifndef NIMBUS_TESTS_RPC_DATUM_WIRE_COMPARE_H_
#define NIMBUS_TESTS_RPC_DATUM_WIRE_COMPARE_H_

#include <bit>
#include <cstdint>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "nimbus/v1/metrics.pb.h"
#include "rpc/datum_wire.h"

namespace nimbus::rpc::testing {

inline bool SameDoubleBits(double a, double b) {
  return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b);
}

inline std::string DoubleBits(double d) {
  return absl::StrCat(d, " (0x", absl::Hex(std::bit_cast<uint64_t>(d)), ")");
}

// Empty when `view` holds what `msg` holds; otherwise the first difference.
// Also checks that the view's ranges lie within its vectors.
inline std::string DiffDecoded(const nimbus::v1::PutMetricDataRequest& msg,
                               const PutMetricDataView& view) {
  if (view.namespace_name != msg.namespace_()) {
    return absl::StrCat(
        "namespace: decoder \"", absl::CHexEscape(view.namespace_name),
        "\", protobuf \"", absl::CHexEscape(msg.namespace_()), "\"");
  }
  if (view.datums.size() != static_cast<size_t>(msg.metric_data_size())) {
    return absl::StrCat("datum count: decoder ", view.datums.size(),
                        ", protobuf ", msg.metric_data_size());
  }
  for (size_t i = 0; i < view.datums.size(); ++i) {
    const DatumView& d = view.datums[i];
    const nimbus::v1::MetricDatum& m = msg.metric_data(static_cast<int>(i));
    const std::string at = absl::StrCat("datum ", i, ": ");
    if (d.dims_begin > d.dims_end || d.dims_end > view.dims.size() ||
        d.values_begin > d.values_end || d.values_end > view.values.size() ||
        d.counts_begin > d.counts_end || d.counts_end > view.counts.size()) {
      return at + "decoder range outside its vectors";
    }
    if (d.metric_name != m.metric_name()) {
      return absl::StrCat(at, "metric_name: decoder \"",
                          absl::CHexEscape(d.metric_name), "\", protobuf \"",
                          absl::CHexEscape(m.metric_name()), "\"");
    }
    if (d.dims_size() != static_cast<size_t>(m.dimensions_size())) {
      return absl::StrCat(at, "dimension count: decoder ", d.dims_size(),
                          ", protobuf ", m.dimensions_size());
    }
    for (size_t j = 0; j < d.dims_size(); ++j) {
      const engine::DimensionView& dv = view.dims[d.dims_begin + j];
      const nimbus::v1::Dimension& dm = m.dimensions(static_cast<int>(j));
      if (dv.name != dm.name() || dv.value != dm.value()) {
        return absl::StrCat(at, "dimension ", j, ": decoder \"",
                            absl::CHexEscape(dv.name), "\"=\"",
                            absl::CHexEscape(dv.value), "\", protobuf \"",
                            absl::CHexEscape(dm.name()), "\"=\"",
                            absl::CHexEscape(dm.value()), "\"");
      }
    }
    // identity_fields, parsed alone, give this datum's name and dimensions
    // (what makes them a sound key for the series cache).
    if (!d.identity_fields.empty()) {
      nimbus::v1::MetricDatum alone;
      if (!alone.ParseFromString(std::string(d.identity_fields)) ||
          alone.metric_name() != m.metric_name() ||
          alone.dimensions_size() != m.dimensions_size()) {
        return at + "identity_fields do not parse to the datum's identity";
      }
      for (int j = 0; j < m.dimensions_size(); ++j) {
        if (alone.dimensions(j).name() != m.dimensions(j).name() ||
            alone.dimensions(j).value() != m.dimensions(j).value()) {
          return absl::StrCat(at, "identity_fields: dimension ", j, " differs");
        }
      }
    }
    if (d.has_timestamp != m.has_timestamp() ||
        d.timestamp_seconds != m.timestamp().seconds() ||
        d.timestamp_nanos != m.timestamp().nanos()) {
      return absl::StrCat(
          at, "timestamp: decoder ", d.has_timestamp, " ", d.timestamp_seconds,
          "s ", d.timestamp_nanos, "ns, protobuf ", m.has_timestamp(), " ",
          m.timestamp().seconds(), "s ", m.timestamp().nanos(), "ns");
    }
    if (d.has_value != m.has_value() || !SameDoubleBits(d.value, m.value())) {
      return absl::StrCat(at, "value: decoder ", d.has_value, " ",
                          DoubleBits(d.value), ", protobuf ", m.has_value(),
                          " ", DoubleBits(m.value()));
    }
    if (d.values_size() != static_cast<size_t>(m.values_size())) {
      return absl::StrCat(at, "values count: decoder ", d.values_size(),
                          ", protobuf ", m.values_size());
    }
    for (size_t j = 0; j < d.values_size(); ++j) {
      const double a = view.values[d.values_begin + j];
      const double b = m.values(static_cast<int>(j));
      if (!SameDoubleBits(a, b)) {
        return absl::StrCat(at, "values[", j, "]: decoder ", DoubleBits(a),
                            ", protobuf ", DoubleBits(b));
      }
    }
    if (d.counts_size() != static_cast<size_t>(m.counts_size())) {
      return absl::StrCat(at, "counts count: decoder ", d.counts_size(),
                          ", protobuf ", m.counts_size());
    }
    for (size_t j = 0; j < d.counts_size(); ++j) {
      const double a = view.counts[d.counts_begin + j];
      const double b = m.counts(static_cast<int>(j));
      if (!SameDoubleBits(a, b)) {
        return absl::StrCat(at, "counts[", j, "]: decoder ", DoubleBits(a),
                            ", protobuf ", DoubleBits(b));
      }
    }
    const nimbus::v1::StatisticSet& s = m.statistic_values();
    if (d.has_statistic_values != m.has_statistic_values() ||
        !SameDoubleBits(d.sample_count, s.sample_count()) ||
        !SameDoubleBits(d.sum, s.sum()) ||
        !SameDoubleBits(d.minimum, s.minimum()) ||
        !SameDoubleBits(d.maximum, s.maximum())) {
      return absl::StrCat(
          at, "statistic_values: decoder ", d.has_statistic_values, " ",
          DoubleBits(d.sample_count), " ", DoubleBits(d.sum), " ",
          DoubleBits(d.minimum), " ", DoubleBits(d.maximum), ", protobuf ",
          m.has_statistic_values(), " ", DoubleBits(s.sample_count()), " ",
          DoubleBits(s.sum()), " ", DoubleBits(s.minimum()), " ",
          DoubleBits(s.maximum()));
    }
    if (d.unit != m.unit()) {
      return absl::StrCat(at, "unit: decoder \"", absl::CHexEscape(d.unit),
                          "\", protobuf \"", absl::CHexEscape(m.unit()), "\"");
    }
    if (d.storage_resolution != m.storage_resolution()) {
      return absl::StrCat(at, "storage_resolution: decoder ",
                          d.storage_resolution, ", protobuf ",
                          m.storage_resolution());
    }
  }
  return "";
}

// Parses `bytes` with both parsers, the decoder into a new view and, unless
// null, into `reused` too (which may hold an earlier request: the decoder
// must clear it). Empty when they agree.
inline std::string CompareWithProtobuf(absl::string_view bytes,
                                       PutMetricDataView* reused) {
  nimbus::v1::PutMetricDataRequest msg;
  const bool pb_ok = msg.ParseFromString(std::string(bytes));
  PutMetricDataView fresh;
  std::string diff;
  for (PutMetricDataView* view : {&fresh, reused}) {
    if (view == nullptr) continue;
    const bool ours_ok = DecodePutMetricDataRequest(bytes, view);
    if (pb_ok != ours_ok) {
      diff = absl::StrCat("accept: decoder ", ours_ok ? "accepts" : "rejects",
                          ", protobuf ", pb_ok ? "accepts" : "rejects");
    } else if (pb_ok) {
      diff = DiffDecoded(msg, *view);
    }
    if (!diff.empty()) {
      return absl::StrCat(view == &fresh ? "" : "(into a reused view) ", diff,
                          "; input (", bytes.size(),
                          " bytes): ", absl::BytesToHexString(bytes));
    }
  }
  return "";
}

inline std::string CompareWithProtobuf(absl::string_view bytes) {
  return CompareWithProtobuf(bytes, nullptr);
}

// Whether protobuf's parser accepts `bytes`.
inline bool ProtobufAccepts(absl::string_view bytes) {
  nimbus::v1::PutMetricDataRequest msg;
  return msg.ParseFromString(std::string(bytes));
}

}  // namespace nimbus::rpc::testing

#endif  // NIMBUS_TESTS_RPC_DATUM_WIRE_COMPARE_H_
