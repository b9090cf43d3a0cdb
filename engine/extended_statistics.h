// CloudWatch's extended statistics (docs/semantics.md, "Extended
// statistics"): percentiles
// pNN.NN, trimmed mean TM, interquartile mean IQM, winsorized mean WM,
// percentile rank PR, trimmed count TC and trimmed sum TS, with their bound
// syntax: `TM(10%:90%)`, `TM(:95%)`, `TM(150:1000)` (bare bounds are values,
// range (low, high]), and the shorthands `tm99` = `TM(:99%)`, likewise wm,
// tc, ts. Evaluated exactly over the weighted values given: a period's raw
// values, or the buckets of its quantile sketch.
#ifndef NIMBUS_ENGINE_EXTENDED_STATISTICS_H_
#define NIMBUS_ENGINE_EXTENDED_STATISTICS_H_

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace nimbus::engine {

struct ExtendedStatistic {
  enum class Kind {
    kPercentile,
    kTrimmedMean,
    kWinsorizedMean,
    kPercentileRank,
    kTrimmedCount,
    kTrimmedSum,
  };
  Kind kind = Kind::kPercentile;
  // kPercentile: the percentile in `high` (0..100). Others: the bounds;
  // absent means unbounded on that side. `percent` says whether bounds are
  // percentiles (0..100) or values.
  std::optional<double> low;
  std::optional<double> high;
  bool percent = false;
};

// Parses a statistic's name. Returns InvalidArgument naming the rule broken,
// e.g. "PR takes value bounds, not percentages".
absl::StatusOr<ExtendedStatistic> ParseExtendedStatistic(
    absl::string_view name);

// A value and the number of samples that have it.
struct WeightedValue {
  double value;
  double weight;
};

// The statistic over `sorted` (ascending by value, weights > 0). Percentiles
// use nearest rank. Means are NaN when no value is in range; PR, TC and TS
// are 0 then. NaN for an empty input.
double EvaluateExtendedStatistic(const ExtendedStatistic& stat,
                                 const std::vector<WeightedValue>& sorted);

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_EXTENDED_STATISTICS_H_
