#include "alarms/schedule.h"

#include "alarms/evaluator.h"
#include "alarms/metric_alarm.h"

namespace nimbus::alarms {

int64_t EvaluationIntervalMs(int64_t period_s, size_t evaluation_periods) {
  // Divided, not multiplied: no overflow.
  if (period_s > 0 &&
      evaluation_periods > static_cast<size_t>(kDaySeconds / period_s)) {
    return 3'600'000;
  }
  return period_s < 60 ? 10'000 : 60'000;
}

int64_t NextTickAfter(int64_t after_ms, int64_t interval_ms) {
  // Floor division, for times before the epoch too.
  int64_t q = after_ms / interval_ms;
  if (after_ms % interval_ms < 0) --q;
  return (q + 1) * interval_ms;
}

EvaluationWindow WindowAt(int64_t tick_ms, int64_t period_s,
                          size_t evaluation_periods) {
  const int64_t period_ms = period_s * 1000;
  const size_t r = EvaluationRange(evaluation_periods);
  const int64_t align = period_s < 60 ? period_ms : 60'000;
  const int64_t end = NextTickAfter(tick_ms, align) - align;  // floor
  return {end - period_ms * static_cast<int64_t>(r), period_ms, r};
}

}  // namespace nimbus::alarms
