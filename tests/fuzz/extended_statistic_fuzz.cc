// Fuzz target for the extended-statistic parser (ParseExtendedStatistic)
// and evaluator.
//
// The input up to its first newline is a statistic's name; the rest is read
// as weighted values. Parsing must fail with InvalidArgument or give a
// statistic within its rules (percentiles and percentage bounds 0 to 100,
// low bound not above the high one, PR with value bounds). Evaluating it
// over the values must not crash, and must answer within the values' range:
// a percentile is one of the values, a trimmed mean lies between the
// smallest and the largest (a winsorized one may reach its value bounds), PR is
// 0 to 100 and TC at most the total weight. A crash, a sanitizer report or a
// failed check is a finding.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/extended_statistics.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using nimbus::engine::EvaluateExtendedStatistic;
using nimbus::engine::ExtendedStatistic;
using nimbus::engine::ParseExtendedStatistic;
using nimbus::engine::WeightedValue;
using nimbus::fuzz::ByteReader;
using Kind = ExtendedStatistic::Kind;

void CheckRules(const ExtendedStatistic& st) {
  auto in_percent = [](const std::optional<double>& b) {
    return !b || (*b >= 0 && *b <= 100);
  };
  if (st.kind == Kind::kPercentile) {
    FUZZ_CHECK(st.high.has_value());
    FUZZ_CHECK(in_percent(st.high));
    return;
  }
  if (st.low) FUZZ_CHECK(std::isfinite(*st.low));
  if (st.high) FUZZ_CHECK(std::isfinite(*st.high));
  if (st.percent) FUZZ_CHECK(in_percent(st.low) && in_percent(st.high));
  if (st.low && st.high) FUZZ_CHECK(*st.low <= *st.high);
  if (st.kind == Kind::kPercentileRank) FUZZ_CHECK(!st.percent);
}

// Values of a period: small decimals with small weights, so that sums are
// far from overflowing and the range checks need only a rounding margin.
std::vector<WeightedValue> ReadValues(ByteReader& in) {
  std::vector<WeightedValue> v;
  while (!in.empty() && v.size() < 256) {
    const double value = static_cast<int16_t>(in.U16()) / 100.0;
    const double weight = in.Bool() ? 1 : 1 + in.U8() / 4.0;
    v.push_back({value, weight});
  }
  std::sort(v.begin(), v.end(),
            [](const WeightedValue& a, const WeightedValue& b) {
              return a.value < b.value;
            });
  return v;
}

void CheckAnswer(const ExtendedStatistic& st,
                 const std::vector<WeightedValue>& values) {
  const double got = EvaluateExtendedStatistic(st, values);
  if (values.empty()) {
    FUZZ_CHECK(std::isnan(got));
    return;
  }
  double total = 0;
  for (const WeightedValue& w : values) total += w.weight;
  const double lo = values.front().value, hi = values.back().value;
  const double margin = 1e-9 * std::max({std::fabs(lo), std::fabs(hi), 1.0});
  switch (st.kind) {
    case Kind::kPercentile:
      FUZZ_CHECK(
          std::any_of(values.begin(), values.end(),
                      [&](const WeightedValue& w) { return w.value == got; }));
      break;
    case Kind::kTrimmedMean:
      if (std::isnan(got)) break;  // no value in range
      FUZZ_CHECK(got >= lo - margin && got <= hi + margin);
      break;
    case Kind::kWinsorizedMean: {
      // Values outside value bounds count as the nearer bound, which may
      // lie outside the values, on either side.
      double floor = lo, ceil = hi;
      for (const std::optional<double>& b : {st.low, st.high}) {
        if (st.percent || !b) continue;
        floor = std::min(floor, *b);
        ceil = std::max(ceil, *b);
      }
      const double m =
          1e-9 * std::max({std::fabs(floor), std::fabs(ceil), 1.0});
      // Bounds near the largest double overflow the weighted sum.
      if (std::max(std::fabs(floor), std::fabs(ceil)) > 1e300) break;
      FUZZ_CHECK(got >= floor - m && got <= ceil + m);
      break;
    }
    case Kind::kPercentileRank:
      FUZZ_CHECK(got >= 0 && got <= 100);
      break;
    case Kind::kTrimmedCount:
      FUZZ_CHECK(got >= 0 && got <= total);
      break;
    case Kind::kTrimmedSum:
      FUZZ_CHECK(std::isfinite(got));
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const size_t name_len = newline == absl::string_view::npos ? size : newline;
  const nimbus::fuzz::ExactCopy name(data, name_len);
  auto st = ParseExtendedStatistic(name.view());
  if (!st.ok()) {
    FUZZ_CHECK(st.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  CheckRules(*st);
  ByteReader in(data + name_len, size - name_len);
  const std::vector<WeightedValue> values = ReadValues(in);
  CheckAnswer(*st, values);
  CheckAnswer(*st, {});
  CheckAnswer(*st, {{2.5, 1}});
  return 0;
}
