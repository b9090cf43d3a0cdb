// Which source serves a statistics query: raw points, or a rollup tier plus
// raw points for the periods the rollups have not reached yet. The rules are
// CloudWatch's (docs/semantics.md, "Retention tiers").
#ifndef NIMBUS_ENGINE_QUERY_PLAN_H_
#define NIMBUS_ENGINE_QUERY_PLAN_H_

#include <array>
#include <cstdint>

namespace nimbus::engine {

// How far back each granularity reaches.
struct TierReach {
  // Periods under 60 s, from raw points. Default 3 hours.
  int64_t high_resolution_ms = int64_t{3} * 3600'000;
  // Raw points are all there back to now - raw_ms. Default 15 days.
  int64_t raw_ms = int64_t{15} * 24 * 3600'000;
  // 60 s, 300 s, 3600 s statistics. Defaults 15, 63 and 455 days.
  std::array<int64_t, 3> tier_ms = {int64_t{15} * 24 * 3600'000,
                                    int64_t{63} * 24 * 3600'000,
                                    int64_t{455} * 24 * 3600'000};
};

struct QueryPlan {
  // No datapoints: the start is beyond the reach of every granularity the
  // period allows.
  bool empty = false;
  // The rollup tier (index into kTierPeriodsMs), or -1 for raw points only.
  int tier = -1;
  // Rollup records serve periods in [start, rollup_end_ms); raw points
  // serve [rollup_end_ms, end).
  int64_t rollup_end_ms = 0;
};

// Query times and periods are within +-2^53 ms (285,000 years), so that
// the planning arithmetic cannot overflow; queries check it first.
inline constexpr int64_t kMaxQueryTimeMs = int64_t{1} << 53;

// CloudWatch rounds a query's start down: to the period when it is under a
// minute, otherwise to the minute when the start is at most 15 days old, to
// 5 minutes up to 63 days, and to the hour beyond.
int64_t RoundStartTime(int64_t now_ms, int64_t start_ms, int64_t period_ms);

// `watermark_ms`: every hour below it is rolled up. `want_values`: the
// query asks for percentiles or other extended statistics, which are exact
// over raw points and so read them wherever they are all there.
// `age_start_ms`: the start the reaches are judged by, the one asked for
// before RoundStartTime moved it up to a granularity earlier (a start just
// inside a reach stays inside).
QueryPlan PlanStatisticsQuery(int64_t now_ms, int64_t start_ms, int64_t end_ms,
                              int64_t period_ms, bool want_values,
                              int64_t watermark_ms, const TierReach& reach,
                              int64_t age_start_ms);

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_QUERY_PLAN_H_
