// One evaluation of a metric alarm, as CloudWatch defines it
// (docs/semantics.md, "The evaluation range"): given the statistic of each
// period of the alarm's evaluation range, the state it reaches and the
// datapoints that decided it. Pure: no clock, no store; the caller fetches
// the range and keeps the state.
//
// The range is R = N + max(floor(N / 3), 2) periods, the newest ending at the
// evaluation time:
//   1. If at least N periods have data, the N newest of them are evaluated;
//      missing periods are skipped and treat_missing_data plays no part.
//   2. Otherwise missing periods are filled as treat_missing_data says, the
//      newest first, only as many as it takes to have N (`missing` and
//      `ignore` fill none).
//   3. ALARM if at least M evaluated periods breach, else OK; except that
//      with no data at all `missing` gives INSUFFICIENT_DATA and `ignore`
//      keeps the state, and that with fewer than N periods of data and
//      nothing filled, the early ("premature") alarm applies: if among the
//      N newest periods the oldest breaching one is at least M periods old
//      and every newer one breaches or has no data, `missing` gives ALARM
//      and `ignore` keeps the state.
// With evaluate_low_sample_count_percentile = ignore, an evaluation that
// would use a period with too few samples for its percentile keeps the
// state.
#ifndef NIMBUS_ALARMS_EVALUATOR_H_
#define NIMBUS_ALARMS_EVALUATOR_H_

#include <cstddef>
#include <optional>
#include <vector>

#include "absl/types/span.h"

namespace nimbus::alarms {

enum class AlarmState { kOk, kAlarm, kInsufficientData };
// "OK", "ALARM", "INSUFFICIENT_DATA".
const char* AlarmStateName(AlarmState state);

enum class ComparisonOperator {
  kGreaterThanOrEqualToThreshold,
  kGreaterThanThreshold,
  kLessThanThreshold,
  kLessThanOrEqualToThreshold,
};

enum class TreatMissingData { kMissing, kIgnore, kBreaching, kNotBreaching };

// The periods an alarm of `evaluation_periods` (N >= 1) evaluates over.
inline size_t EvaluationRange(size_t evaluation_periods) {
  const size_t extra = evaluation_periods / 3;
  return evaluation_periods + (extra > 2 ? extra : 2);
}

// Whether a period's percentile `p` (0.99 for p99) from `samples` samples
// has too few of them: for p >= 0.5 fewer than 10 / (1 - p) (1,000 for
// p99), below that fewer than 10 / p. p0 and p100 (the minimum and the
// maximum) are exact from any count.
bool IsLowSampleCount(double p, double samples);

// Whether `value` breaches `threshold` under `op`.
bool Breaches(ComparisonOperator op, double value, double threshold);

struct AlarmRule {
  size_t evaluation_periods = 1;   // N, at least 1
  size_t datapoints_to_alarm = 1;  // M, 1 to N
  double threshold = 0;
  ComparisonOperator comparison =
      ComparisonOperator::kGreaterThanOrEqualToThreshold;
  TreatMissingData treat_missing_data = TreatMissingData::kMissing;
  // evaluate_low_sample_count_percentile = ignore.
  bool ignore_low_sample_count = false;
};

// One period of the range: its statistic, if it had data.
struct Period {
  std::optional<double> value;
  // A percentile from fewer samples than it needs (docs/semantics.md,
  // "Percentiles with few samples").
  bool low_sample_count = false;
};

// A period that took part in the evaluation.
struct EvaluatedPeriod {
  enum class Source { kData, kFilledBreaching, kFilledNotBreaching };
  size_t index;  // into the range, 0 the oldest
  Source source;
  bool breaching;
};

struct Evaluation {
  // Why the state is what it is.
  enum class Reason {
    kThreshold,       // M or more breach (ALARM), or fewer (OK)
    kNoData,          // none of the R periods has data
    kEarlyAlarm,      // the early-alarm rule (ALARM, or kept with ignore)
    kLowSampleCount,  // a low-sample period with ignore: state kept
    kInvalidRule,     // N = 0, M outside 1..N or a range not of R periods:
                      // state kept (ValidateMetricAlarm refuses these)
  };
  AlarmState state;
  // The state is the one the alarm had (ignore's cases): no transition.
  bool kept = false;
  Reason reason;
  // Oldest first.
  std::vector<EvaluatedPeriod> evaluated;
  size_t breaching = 0;
};

// `range`: EvaluationRange(N) periods, oldest first. With 1 <= M <= N and a
// range of that size the evaluation follows the rules above; otherwise it
// keeps the state (Reason::kInvalidRule).
Evaluation Evaluate(const AlarmRule& rule, absl::Span<const Period> range,
                    AlarmState current);

}  // namespace nimbus::alarms

#endif  // NIMBUS_ALARMS_EVALUATOR_H_
