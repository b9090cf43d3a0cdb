// A metric alarm run over stored data (PreviewAlarm's core): the very
// evaluator of live alarms at every evaluation tick of a time range, each
// tick's window read from a PeriodSource, nothing saved.
#ifndef NIMBUS_ALARMS_PREVIEW_H_
#define NIMBUS_ALARMS_PREVIEW_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "alarms/alarm_record.h"
#include "alarms/evaluator.h"
#include "alarms/metric_alarm.h"
#include "alarms/schedule.h"
#include "engine/engine.h"

namespace nimbus::alarms {

// The most ticks one preview evaluates (a week of one-minute ticks).
inline constexpr size_t kMaxPreviewTicks = 10080;
// The most periods one preview evaluates and returns, all ticks together
// (ticks x the evaluation range): a week of 1-minute ticks of an alarm of
// up to 97 periods.
inline constexpr size_t kMaxPreviewDatapoints = 1'000'000;

// The alarm's statistic for each period of a window, oldest first
// (window.periods of them).
using PeriodSource = absl::FunctionRef<absl::StatusOr<std::vector<Period>>(
    const EvaluationWindow&)>;

// The periods of `window` from the engine: the alarm's statistic of each
// (Average is Sum / SampleCount; a percentile also says whether it had too
// few samples), a period without data or whose statistic has no value
// (NaN) without one.
absl::StatusOr<std::vector<Period>> FetchPeriods(
    engine::Engine& engine, const MetricAlarmConfig& config,
    const ValidatedMetricAlarm& alarm, const EvaluationWindow& window);

// A metric-math alarm's periods: its one returned series over the window
// (GetMetricData). InvalidArgument naming metrics if the queries fail or
// return other than one series.
absl::StatusOr<std::vector<Period>> FetchMathPeriods(
    engine::Engine& engine, engine::Clock& clock,
    const MetricAlarmConfig& config, const EvaluationWindow& window);
// FetchMathPeriods for a metric-math alarm, FetchPeriods otherwise.
absl::StatusOr<std::vector<Period>> FetchAlarmPeriods(
    engine::Engine& engine, engine::Clock& clock,
    const MetricAlarmConfig& config, const ValidatedMetricAlarm& alarm,
    const EvaluationWindow& window);

// The same from a recent window's periods (engine/recent_window.h), for
// alarms with a statistic (not an extended one).
std::vector<Period> PeriodsFromWindow(
    const MetricAlarmConfig& config,
    absl::Span<const engine::WindowStats> stats);
// The same into *out (its capacity reused).
void PeriodsFromWindow(const MetricAlarmConfig& config,
                       absl::Span<const engine::WindowStats> stats,
                       std::vector<Period>* out);

struct PreviewStep {
  int64_t tick_ms;
  AlarmState state;  // after the evaluation
  bool changed;      // the evaluation changed the state
  // Of the transition, when `changed` (alarms/reason.h).
  std::string reason;
  std::string reason_data;
  EvaluationWindow window;
  std::vector<Period> range;
  Evaluation evaluation;
};

// One evaluation, at `tick_ms`, from `state`: what live alarms and
// previews both run. The reason and its data give the tick as their query
// time, so a live alarm's transitions read as its preview's do. Without
// `with_reasons` they are left empty: a live alarm keeps the evaluation as
// its evidence (EvidenceOf), from which they are written when read.
absl::StatusOr<PreviewStep> EvaluateAtTick(const MetricAlarmConfig& config,
                                           const ValidatedMetricAlarm& alarm,
                                           int64_t tick_ms, AlarmState state,
                                           PeriodSource source,
                                           bool with_reasons = true);

// The evidence of `step`, evaluated from `previous` (alarm_record.h): the
// same reasons as the step's.
Evidence EvidenceOf(const MetricAlarmConfig& config,
                    const ValidatedMetricAlarm& alarm, AlarmState previous,
                    PreviewStep step);

// Evaluates the alarm at each of its ticks in [start_ms, end_ms], from
// `initial`. InvalidArgument naming end_time for an empty or inverted range
// or more than kMaxPreviewTicks ticks; the source's error otherwise.
absl::StatusOr<std::vector<PreviewStep>> PreviewMetricAlarm(
    const MetricAlarmConfig& config, const ValidatedMetricAlarm& alarm,
    int64_t start_ms, int64_t end_ms, AlarmState initial, PeriodSource source);

}  // namespace nimbus::alarms

#endif  // NIMBUS_ALARMS_PREVIEW_H_
