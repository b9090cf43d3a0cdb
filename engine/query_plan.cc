#include "engine/query_plan.h"

#include <algorithm>

#include "engine/clock.h"
#include "engine/rollup.h"

namespace nimbus::engine {

int64_t RoundStartTime(int64_t now_ms, int64_t start_ms, int64_t period_ms) {
  constexpr int64_t kDay = 24 * 3600'000;
  const int64_t age = now_ms - start_ms;
  int64_t granularity = 3600'000;
  if (period_ms < 60'000) {
    granularity = period_ms;
  } else if (age <= 15 * kDay) {
    granularity = 60'000;
  } else if (age <= 63 * kDay) {
    granularity = 300'000;
  }
  return FloorTo(start_ms, granularity);
}

QueryPlan PlanStatisticsQuery(int64_t now_ms, int64_t start_ms, int64_t end_ms,
                              int64_t period_ms, bool want_values,
                              int64_t watermark_ms, const TierReach& reach,
                              int64_t age_start_ms) {
  QueryPlan plan;
  plan.rollup_end_ms = start_ms;
  const int64_t age = now_ms - std::max(start_ms, age_start_ms);
  if (period_ms < kTierPeriodsMs[0]) {
    // High-resolution periods come from raw points, within their reach.
    plan.empty = age > reach.high_resolution_ms;
    return plan;
  }
  // Raw points are read from the start itself, so it is the rounded start
  // that must be within their reach.
  const bool raw_complete = now_ms - start_ms <= reach.raw_ms;
  if (period_ms % kTierPeriodsMs[0] != 0) {
    // Not a CloudWatch period (the RPC layer refuses those): raw points
    // serve it where they are all there.
    plan.empty = !raw_complete;
    return plan;
  }
  // The finest granularity the start's age allows: a period must be a
  // multiple of it.
  int finest = -1;
  for (int t = 0; t < 3; ++t) {
    if (age <= reach.tier_ms[t]) {
      finest = t;
      break;
    }
  }
  if (finest < 0 || period_ms % kTierPeriodsMs[finest] != 0) {
    plan.empty = true;
    return plan;
  }
  if (want_values && raw_complete) return plan;  // exact percentiles
  // The coarsest tier in reach that tiles the periods.
  for (int t = 2; t >= finest; --t) {
    if (age <= reach.tier_ms[t] && period_ms % kTierPeriodsMs[t] == 0 &&
        FloorTo(start_ms, kTierPeriodsMs[t]) == start_ms) {
      plan.tier = t;
      break;
    }
  }
  if (plan.tier < 0) {
    // A start off the tiers' grid: raw points serve it if they are there.
    plan.empty = !raw_complete;
    return plan;
  }
  plan.rollup_end_ms = std::clamp(
      FloorTo(watermark_ms, kTierPeriodsMs[plan.tier]), start_ms, end_ms);
  return plan;
}

}  // namespace nimbus::engine
