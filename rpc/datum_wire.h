// nimbus.v1.PutMetricDataRequest decoded in place: the fields of every datum
// as views into the request's bytes, with no message objects and no copies.
// It is the hot path of datum ingest; protobuf's generated parser allocates
// a message per datum and dimension and copies every string.
//
// The decoder accepts exactly the bytes protobuf's parser accepts for this
// message and gives the same field values (tests/rpc/datum_wire_test.cc and
// the differential fuzz target tests/fuzz/datum_wire_fuzz.cc check both):
// fields in any order; for a singular field the last occurrence wins, and
// occurrences of a singular message field (timestamp, statistic_values)
// merge; repeated doubles packed or not; unknown fields (and fields with an
// unexpected wire type) skipped; string fields must be valid UTF-8.
#ifndef NIMBUS_RPC_DATUM_WIRE_H_
#define NIMBUS_RPC_DATUM_WIRE_H_

#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "engine/series_key.h"

namespace nimbus::rpc {

// One MetricDatum. Ranges index the vectors of its PutMetricDataView.
struct DatumView {
  // The datum's metric name and dimension fields exactly as sent, when they
  // are all of its fields 1 and 2 and come first, before any other field
  // (as every encoder writes them); empty otherwise. Equal bytes parse to
  // an equal name and dimensions, so they can key a cache of series
  // (engine::IdentityView).
  absl::string_view identity_fields;
  absl::string_view metric_name;
  absl::string_view unit;
  uint32_t dims_begin = 0, dims_end = 0;
  uint32_t values_begin = 0, values_end = 0;
  uint32_t counts_begin = 0, counts_end = 0;
  int64_t timestamp_seconds = 0;
  double value = 0;
  double sample_count = 0, sum = 0, minimum = 0, maximum = 0;
  int32_t timestamp_nanos = 0;
  int32_t storage_resolution = 0;
  bool has_timestamp = false;
  bool has_value = false;
  bool has_statistic_values = false;

  size_t dims_size() const { return dims_end - dims_begin; }
  size_t values_size() const { return values_end - values_begin; }
  size_t counts_size() const { return counts_end - counts_begin; }
};

// A decoded request; reused from request to request (Decode resets it: after
// it, every vector holds this request's items only, accepted or not).
struct PutMetricDataView {
  absl::string_view namespace_name;
  std::vector<DatumView> datums;
  std::vector<engine::DimensionView> dims;
  std::vector<double> values;
  std::vector<double> counts;
};

// Decodes `bytes` into *out, whose views point into `bytes`. Returns false
// if protobuf would not parse `bytes` as a PutMetricDataRequest.
bool DecodePutMetricDataRequest(absl::string_view bytes,
                                PutMetricDataView* out);

}  // namespace nimbus::rpc

#endif  // NIMBUS_RPC_DATUM_WIRE_H_
