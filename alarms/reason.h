// The state reason of a metric alarm's transition, in CloudWatch's form
// (docs/semantics.md, "State reasons"): the text, and the reason data JSON.
//
//   Threshold Crossed: 3 out of the last 3 datapoints [91.2 (01/12/26
//   10:02:00), 90.0 (01/12/26 10:01:00), 85.5 (01/12/26 10:00:00)] were
//   greater than the threshold (80.0) (minimum 3 datapoints for OK -> ALARM
//   transition).
//
// The count is of the periods with data that make the case (breaching ones
// for ALARM, the others for OK), listed newest first with their period's
// start (dd/MM/yy HH:mm:ss, UTC), out of the N periods less those filled
// in; filled ones add "and 2 missing datapoints were treated as
// [Breaching]" (or [NonBreaching]) before the minimum, which is M for ALARM
// and N - M + 1 for OK. With no data: "Insufficient Data: 3 datapoints were
// unknown." or, all filled, "Threshold Crossed: no datapoints were received
// for 3 periods and 3 missing datapoints were treated as [Breaching]."
// Values are printed as Java prints doubles (80.0, 91.25, 1.0E7, 1.0E-4).
#ifndef NIMBUS_ALARMS_REASON_H_
#define NIMBUS_ALARMS_REASON_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
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

// `s` as a JSON string, quotes included, appended to *out.
void AppendJsonString(std::string* out, absl::string_view s);
// yyyy-MM-ddTHH:mm:ss.SSS+0000 (UTC), as reason data writes times.
std::string JsonTime(int64_t ms);
// dd/mm/yy HH:MM:SS (UTC), as reason texts write times.
std::string ReasonTime(int64_t ms);

// Java's Double.toString of `v` (NaN and Infinity too).
std::string JavaDouble(double v);
// The same, appended to *out.
void AppendJavaDouble(std::string* out, double v);
// The same, written to buf (kJavaDoubleChars at least); returns its length.
inline constexpr size_t kJavaDoubleChars = 32;
size_t FormatJavaDouble(double v, char* buf);

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
