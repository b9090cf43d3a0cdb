// The state reason of a metric alarm's transition, as CloudWatch writes
// it (docs/semantics.md, "Alarm state-change event"): the text, and the
// reason data JSON.
//
//   Threshold Crossed: 3 out of the last 3 datapoints [91.2 (01/12/26
//   10:02:00), 90.0 (01/12/26 10:01:00), 85.5 (01/12/26 10:00:00)] were
//   greater than the threshold (80.0) (minimum 3 datapoints for OK -> ALARM
//   transition).
//
// Values are printed as Java prints doubles (80.0, 91.25, 1.0E7, 1.0E-4),
// datapoints newest first with their period's start (dd/MM/yy HH:mm:ss,
// UTC). Filled periods add "N missing datapoints were treated as
// [Breaching]."; an evaluation without data reads "Insufficient Data: R
// datapoints were unknown." (or, filled, "Threshold Crossed: no datapoints
// were received for R periods and N missing datapoints were treated as
// [Breaching]."). The early alarm, for which CloudWatch's wording is not
// published, reads "Threshold Crossed: B out of the last N datapoints
// [...] ... the threshold (T), the oldest B' periods ago and none newer
// below it (minimum M datapoints for OK -> ALARM transition)."
#ifndef NIMBUS_ALARMS_REASON_H_
#define NIMBUS_ALARMS_REASON_H_

#include <cstdint>
#include <string>

#include "absl/types/span.h"
#include "alarms/evaluator.h"

namespace nimbus::alarms {

struct ReasonInput {
  const AlarmRule* rule;
  absl::Span<const Period> range;  // as evaluated, oldest first
  const Evaluation* evaluation;
  AlarmState previous;
  int64_t range_start_ms;  // the oldest period's start
  int64_t period_ms;
  int64_t query_ms;       // when the evaluation ran
  std::string statistic;  // "Average", "p99", ...
};

// Java's Double.toString of `v` (finite).
std::string JavaDouble(double v);

// The reason text of the transition to evaluation->state.
std::string StateReason(const ReasonInput& in);

// {"version":"1.0","queryDate":...,"startDate":...,"statistic":...,
//  "period":...,"recentDatapoints":[...],"threshold":...,
//  "evaluatedDatapoints":[{"timestamp":...,"value":...}, ...]}: the
// evaluated periods newest first (a period without data has only its
// timestamp); times as yyyy-MM-ddTHH:mm:ss.SSS+0000.
std::string StateReasonData(const ReasonInput& in);

}  // namespace nimbus::alarms

#endif  // NIMBUS_ALARMS_REASON_H_
