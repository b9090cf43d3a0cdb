// When a metric alarm is evaluated, and over which periods
// (docs/semantics.md, "When alarms are evaluated"): alarms with 10-, 20- or
// 30-second periods every 10 seconds, others every minute, and those whose
// period x N exceeds a day every hour. Ticks are multiples of the interval
// since the epoch, so every server evaluates an alarm at the same instants.
// The evaluation of tick t reads the R periods (EvaluationRange) whose
// newest ends at t floored to the period (under a minute) or to the minute,
// as the engine aligns a query's start; a live evaluator runs it at t plus
// its evaluation delay, so that late points have arrived.
#ifndef NIMBUS_ALARMS_SCHEDULE_H_
#define NIMBUS_ALARMS_SCHEDULE_H_

#include <cstddef>
#include <cstdint>

namespace nimbus::alarms {

// The interval between an alarm's evaluations, in ms. REQUIRES: a valid
// period (ValidAlarmPeriod).
int64_t EvaluationIntervalMs(int64_t period_s, size_t evaluation_periods);

// The first tick strictly after `after_ms`.
int64_t NextTickAfter(int64_t after_ms, int64_t interval_ms);

// The periods the evaluation of `tick_ms` reads: `periods` periods of
// `period_ms`, the oldest starting at `start_ms`.
struct EvaluationWindow {
  int64_t start_ms;
  int64_t period_ms;
  size_t periods;
  int64_t end_ms() const {
    return start_ms + period_ms * static_cast<int64_t>(periods);
  }
};
// REQUIRES: a valid period (ValidAlarmPeriod).
EvaluationWindow WindowAt(int64_t tick_ms, int64_t period_s,
                          size_t evaluation_periods);

}  // namespace nimbus::alarms

#endif  // NIMBUS_ALARMS_SCHEDULE_H_
