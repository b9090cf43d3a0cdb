#include "engine/extended_statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace nimbus::engine {
namespace {

using Kind = ExtendedStatistic::Kind;

absl::Status Invalid(absl::string_view name, absl::string_view rule) {
  return absl::InvalidArgumentError(
      absl::StrCat("extended statistic '", name, "': ", rule));
}

// A number with at most two decimals, as CloudWatch writes percentiles.
bool ParseNumber(absl::string_view s, double* v) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!(c >= '0' && c <= '9') && c != '.' && c != '-') return false;
  }
  return absl::SimpleAtod(s, v) && std::isfinite(*v);
}

// One bound of "(low:high)": empty, "NN%" or "NN".
bool ParseBound(absl::string_view s, std::optional<double>* v, int* percent) {
  if (s.empty()) return true;
  const bool pct = s.back() == '%';
  if (pct) s.remove_suffix(1);
  double x;
  if (!ParseNumber(s, &x)) return false;
  *v = x;
  const int p = pct ? 1 : 0;
  if (*percent >= 0 && *percent != p) return false;  // mixed kinds
  *percent = p;
  return true;
}

double Percentile(const std::vector<WeightedValue>& v, double total, double p) {
  const double target = std::max(p / 100.0 * total, 0.0);
  double cumulative = 0;
  for (const WeightedValue& w : v) {
    cumulative += w.weight;
    if (cumulative >= target) return w.value;
  }
  return v.back().value;
}

}  // namespace

absl::StatusOr<ExtendedStatistic> ParseExtendedStatistic(
    absl::string_view name) {
  ExtendedStatistic st;
  if (name == "IQM") {
    st.kind = Kind::kTrimmedMean;
    st.low = 25;
    st.high = 75;
    st.percent = true;
    return st;
  }
  struct Prefix {
    absl::string_view upper, lower;
    Kind kind;
  };
  static constexpr Prefix kPrefixes[] = {{"TM", "tm", Kind::kTrimmedMean},
                                         {"WM", "wm", Kind::kWinsorizedMean},
                                         {"PR", "pr", Kind::kPercentileRank},
                                         {"TC", "tc", Kind::kTrimmedCount},
                                         {"TS", "ts", Kind::kTrimmedSum}};
  if (name.size() >= 2 && name[0] == 'p' && absl::ascii_isdigit(name[1])) {
    double p;
    const absl::string_view num = name.substr(1);
    const size_t dot = num.find('.');
    if (!ParseNumber(num, &p) || p < 0 || p > 100 ||
        (dot != absl::string_view::npos && num.size() - dot - 1 > 2)) {
      return Invalid(name,
                     "a percentile is p0 to p100 with at most two decimals");
    }
    st.kind = Kind::kPercentile;
    st.high = p;
    return st;
  }
  for (const Prefix& pre : kPrefixes) {
    if (name.size() > 2 && name.substr(0, 2) == pre.lower &&
        absl::ascii_isdigit(name[2])) {
      // Shorthand: tm99 = TM(:99%).
      double p;
      if (!ParseNumber(name.substr(2), &p) || p < 0 || p > 100) {
        return Invalid(name, "the shorthand takes a percentage 0 to 100");
      }
      if (pre.kind == Kind::kPercentileRank) {
        return Invalid(name,
                       "PR takes value bounds, not percentages: PR(low:high)");
      }
      st.kind = pre.kind;
      st.high = p;
      st.percent = true;
      return st;
    }
    if (name.size() >= 5 && name.substr(0, 3) == absl::StrCat(pre.upper, "(") &&
        name.back() == ')') {
      const absl::string_view inner = name.substr(3, name.size() - 4);
      const size_t colon = inner.find(':');
      if (colon == absl::string_view::npos) {
        return Invalid(name,
                       "bounds are written (low:high), either may be empty");
      }
      int percent = -1;
      if (!ParseBound(inner.substr(0, colon), &st.low, &percent) ||
          !ParseBound(inner.substr(colon + 1), &st.high, &percent)) {
        return Invalid(
            name, "each bound is a number or a percentage, both of one kind");
      }
      st.kind = pre.kind;
      st.percent = percent == 1;
      if (st.kind == Kind::kPercentileRank && st.percent) {
        return Invalid(name, "PR takes value bounds, not percentages");
      }
      if (st.percent && ((st.low && (*st.low < 0 || *st.low > 100)) ||
                         (st.high && (*st.high < 0 || *st.high > 100)))) {
        return Invalid(name, "percentage bounds are 0 to 100");
      }
      if (st.low && st.high && *st.low > *st.high) {
        return Invalid(name, "the low bound is above the high one");
      }
      return st;
    }
  }
  return Invalid(name,
                 "not one of pNN, TM, IQM, WM, PR, TC, TS (e.g. p99, tm90, "
                 "TM(10%:90%), PR(:300))");
}

double EvaluateExtendedStatistic(const ExtendedStatistic& st,
                                 const std::vector<WeightedValue>& sorted) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  if (sorted.empty()) return kNaN;
  double total = 0;
  for (const WeightedValue& w : sorted) total += w.weight;
  if (st.kind == Kind::kPercentile) return Percentile(sorted, total, *st.high);
  // The range (low, high] in values.
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  if (st.low) lo = st.percent ? Percentile(sorted, total, *st.low) : *st.low;
  if (st.high) hi = st.percent ? Percentile(sorted, total, *st.high) : *st.high;
  // A percentage low bound of 0 keeps the smallest value.
  const bool keep_low_edge = st.percent && st.low && *st.low == 0;
  auto in = [&](double v) {
    return (v > lo || (keep_low_edge && v >= lo)) && v <= hi;
  };
  double weight = 0, sum = 0;
  if (st.kind == Kind::kWinsorizedMean) {
    for (const WeightedValue& w : sorted)
      sum += std::clamp(w.value, lo, hi) * w.weight;
    return sum / total;
  }
  for (const WeightedValue& w : sorted) {
    if (!in(w.value)) continue;
    weight += w.weight;
    sum += w.value * w.weight;
  }
  switch (st.kind) {
    case Kind::kTrimmedMean:
      return weight > 0 ? sum / weight : kNaN;
    case Kind::kPercentileRank:
      return 100.0 * weight / total;
    case Kind::kTrimmedCount:
      return weight;
    case Kind::kTrimmedSum:
      return sum;
    default:
      return kNaN;
  }
}

}  // namespace nimbus::engine
