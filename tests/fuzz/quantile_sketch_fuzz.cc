// Fuzz target for the quantile sketch's byte form (QuantileSketch::Parse).
//
// The input is parsed as a sketch; one that parses must serialize to bytes
// that parse back to the same sketch (serializing is a fixed point after one
// pass; the first pass may drop empty buckets and long varints), no shorter
// prefix of it may parse, its quantiles and buckets must be ordered, and
// extended statistics over its buckets must not crash. The input is also read
// as values and weights to add to a sketch, whose byte form must round-trip and
// whose maximum must be within the sketch's 1% bound. A crash, a sanitizer
// report or a failed check is a finding.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "engine/extended_statistics.h"
#include "engine/quantile_sketch.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using nimbus::engine::QuantileSketch;
using nimbus::engine::WeightedValue;
using nimbus::fuzz::ByteReader;
using nimbus::fuzz::SameBits;

constexpr double kQs[] = {0, 0.001, 0.25, 0.5, 0.9, 0.99, 1};

// Properties of any sketch, however it was made.
void CheckOrdered(const QuantileSketch& s) {
  std::vector<WeightedValue> buckets;
  s.AppendBuckets(&buckets);
  for (size_t i = 0; i < buckets.size(); ++i) {
    FUZZ_CHECK(buckets[i].weight > 0);
    if (i > 0) FUZZ_CHECK(buckets[i - 1].value <= buckets[i].value);
  }
  // Extended statistics over rollups are evaluated over the buckets: a
  // percentile is one of their values.
  for (const char* name : {"p50", "p99.9", "TM(10%:90%)", "WM(:95%)",
                           "PR(:300)", "TC(1:1000)", "TS(5%:)"}) {
    const auto st = nimbus::engine::ParseExtendedStatistic(name);
    FUZZ_CHECK(st.ok());
    const double v = nimbus::engine::EvaluateExtendedStatistic(*st, buckets);
    if (st->kind == nimbus::engine::ExtendedStatistic::Kind::kPercentile &&
        !buckets.empty()) {
      FUZZ_CHECK(
          std::any_of(buckets.begin(), buckets.end(),
                      [v](const WeightedValue& b) { return b.value == v; }));
    }
  }
  if (s.empty()) {
    FUZZ_CHECK(std::isnan(s.Quantile(0.5)));
    return;
  }
  double previous = -std::numeric_limits<double>::infinity();
  for (double q : kQs) {
    const double v = s.Quantile(q);
    FUZZ_CHECK(!std::isnan(v));
    FUZZ_CHECK(v >= previous);
    previous = v;
  }
}

// Serializes, parses and serializes again: both byte forms must be equal.
void CheckSerializeFixedPoint(const QuantileSketch& s) {
  const std::string once = s.Serialize();
  auto parsed = QuantileSketch::Parse(once);
  FUZZ_CHECK(parsed.ok());
  FUZZ_CHECK(parsed->Serialize() == once);
  for (double q : kQs) {
    FUZZ_CHECK(SameBits(parsed->Quantile(q), s.Quantile(q)) ||
               // The total weight is summed in another order on parsing.
               std::fabs(parsed->count() - s.count()) > 0);
  }
}

void FuzzBytes(absl::string_view bytes) {
  auto s = QuantileSketch::Parse(bytes);
  if (!s.ok()) {
    FUZZ_CHECK(s.status().code() == absl::StatusCode::kDataLoss);
    return;
  }
  // A sketch ends where its last store does: no shorter prefix is one.
  FUZZ_CHECK(!QuantileSketch::Parse(bytes.substr(0, bytes.size() - 1)).ok());
  CheckOrdered(*s);
  CheckSerializeFixedPoint(*s);
  // A version 2 sketch whose buckets are all non-empty, in shortest
  // varints, is written back byte for byte: same length means same bytes.
  const std::string out = s->Serialize();
  if (bytes[0] == 2 && out.size() == bytes.size()) FUZZ_CHECK(out == bytes);
  // Merging a parsed sketch with itself and adding to it stays consistent.
  // Only for weights a client can send (at most 2^360 a set): doubling
  // counts near the largest double would make them infinite, which the
  // format cannot hold; rollups never merge sketches read back from bytes
  // into records they write.
  if (!(s->count() <= std::ldexp(1.0, 360))) return;
  QuantileSketch merged = *s;
  merged.Merge(*s);
  merged.Add(1.5);
  merged.Add(-2.5, 3);
  CheckOrdered(merged);
  CheckSerializeFixedPoint(merged);
}

void FuzzValues(const uint8_t* data, size_t size) {
  ByteReader in(data, size);
  QuantileSketch s;
  double maximum = -std::numeric_limits<double>::infinity();
  bool in_range = true;  // every value within CloudWatch's +-2^360
  while (!in.empty()) {
    const double v = in.Double();
    double w = 1;
    switch (in.U8() % 4) {
      case 0:
        w = 1 + in.U8();
        break;
      case 1:
        w = in.U8() / 10.0;  // not dyadic: sums round
        break;
      default:
        break;
    }
    s.Add(v, w);
    if (!std::isfinite(v) || !(w > 0)) continue;
    maximum = std::max(maximum, v);
    in_range = in_range && std::fabs(v) <= std::ldexp(1.0, 360);
  }
  CheckOrdered(s);
  CheckSerializeFixedPoint(s);
  if (s.empty() || !in_range) return;
  // The buckets of the largest values are never folded, so the maximum is
  // within the 1% bound (zero and subnormals answer 0).
  const double top = s.Quantile(1);
  FUZZ_CHECK(std::fabs(top - maximum) <=
             QuantileSketch::kRelativeAccuracy * std::fabs(maximum) *
                     (1 + 1e-12) +
                 std::numeric_limits<double>::min());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nimbus::fuzz::ExactCopy copy(data, size);
  FuzzBytes(copy.view());
  FuzzValues(data, size);
  return 0;
}
