// engine::PlanStatisticsQuery: which granularity may serve a statistics query
// (docs/semantics.md, "Retention tiers"), which rollup tier serves it, and
// where rollup records stop and raw points take over.
#include "engine/query_plan.h"

#include <cstdint>
#include <limits>
#include <vector>

#include "engine/rollup.h"
#include "gtest/gtest.h"

namespace nimbus::engine {
namespace {

constexpr int64_t kSecond = 1000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;
// 2026-11-29 09:00 UTC: on the hour, so kNow - N days is on the hour too.
constexpr int64_t kNow = 1'795'946'400'000;
static_assert(kNow % kHour == 0);

// A watermark that covers nothing of the ranges used below unless a test
// says otherwise: rollup_end_ms is then the start.
constexpr int64_t kOldWatermark = kNow - 1000 * kDay;

struct Query {
  int64_t now = kNow;
  int64_t start = 0;
  int64_t end = 0;  // 0: now
  int64_t period = kMinute;
  bool want_values = false;
  int64_t watermark = kOldWatermark;
  TierReach reach;
  int64_t age_start = 0;  // 0: start
};

QueryPlan Plan(const Query& q) {
  return PlanStatisticsQuery(q.now, q.start, q.end == 0 ? q.now : q.end,
                             q.period, q.want_values, q.watermark, q.reach,
                             q.age_start == 0 ? q.start : q.age_start);
}

// A start `age` before kNow, at the given period; everything else default.
QueryPlan PlanAt(int64_t age, int64_t period, bool want_values = false) {
  Query q;
  q.start = kNow - age;
  q.period = period;
  q.want_values = want_values;
  return Plan(q);
}

// Ages just past a reach: the start stays on every grid and now moves on by
// one millisecond, so only the age changes.
QueryPlan PlanJustBeyond(int64_t age, int64_t period,
                         bool want_values = false) {
  Query q;
  q.now = kNow + 1;
  q.start = kNow - age;
  q.period = period;
  q.want_values = want_values;
  return Plan(q);
}

// Sub-minute periods come from raw points only, and only within the 3-hour
// high-resolution reach. Fails if they were served from rollups (tier != -1)
// or from raw points beyond 3 hours (as raw points are kept 15 days).
TEST(PlanStatisticsQuery, SubMinutePeriodsReadRawPointsWithinThreeHours) {
  for (int64_t period : {1 * kSecond, 5 * kSecond, 10 * kSecond, 20 * kSecond,
                         30 * kSecond, 59 * kSecond}) {
    SCOPED_TRACE(period);
    for (bool want_values : {false, true}) {
      for (int64_t age : {int64_t{0}, kMinute, kHour, 3 * kHour}) {
        Query q;
        q.start = kNow - age;
        q.end = kNow + kHour;
        q.period = period;
        q.want_values = want_values;
        q.watermark = kNow;  // rollups would reach the whole range
        const QueryPlan p = Plan(q);
        EXPECT_FALSE(p.empty) << age;
        EXPECT_EQ(p.tier, -1) << age;
        EXPECT_EQ(p.rollup_end_ms, q.start) << age;
      }
      EXPECT_TRUE(PlanJustBeyond(3 * kHour, period, want_values).empty);
      EXPECT_TRUE(PlanAt(3 * kHour + 1, period, want_values).empty);
      EXPECT_TRUE(PlanAt(kDay, period, want_values).empty);
    }
  }
}

// A period of a minute or more that is not a multiple of 60 s is no
// CloudWatch period (the RPC layer refuses it); the engine serves it from raw
// points while they are all there (raw reach, 15 days, not the 3-hour
// high-resolution reach), and gives nothing beyond. Fails if such periods
// were given to a rollup tier (whose records cannot tile them) or cut at
// 3 hours.
TEST(PlanStatisticsQuery, APeriodNotAMultipleOfAMinuteReadsRawWithinRawReach) {
  for (int64_t period :
       {61 * kSecond, 90 * kSecond, 301 * kSecond, 3601 * kSecond}) {
    SCOPED_TRACE(period);
    for (int64_t age : {int64_t{0}, 4 * kHour, 10 * kDay, 15 * kDay}) {
      Query q;
      q.start = kNow - age;
      q.period = period;
      q.watermark = kNow;
      const QueryPlan p = Plan(q);
      EXPECT_FALSE(p.empty) << age;
      EXPECT_EQ(p.tier, -1) << age;
      EXPECT_EQ(p.rollup_end_ms, q.start) << age;
    }
    EXPECT_TRUE(PlanJustBeyond(15 * kDay, period).empty);
    EXPECT_TRUE(PlanAt(20 * kDay, period).empty);
    EXPECT_TRUE(PlanAt(100 * kDay, period, /*want_values=*/true).empty);
  }
  // Raw reach is what counts: with raw points kept 30 days they serve it at
  // 20 days.
  Query q;
  q.start = kNow - 20 * kDay;
  q.period = 90 * kSecond;
  q.reach.raw_ms = 30 * kDay;
  EXPECT_FALSE(Plan(q).empty);
  EXPECT_EQ(Plan(q).tier, -1);
}

// Up to 15 days old, any multiple of a minute is served. Fails if the
// 60 s granularity's reach were shorter or exclusive at 15 days.
TEST(PlanStatisticsQuery, UpToFifteenDaysAnyMultipleOfAMinuteIsServed) {
  for (int64_t age :
       {int64_t{0}, kHour, 3 * kHour + kMinute, kDay, 14 * kDay, 15 * kDay}) {
    for (int64_t period : {kMinute, 2 * kMinute, 3 * kMinute, 7 * kMinute,
                           5 * kMinute, kHour, kDay}) {
      const QueryPlan p = PlanAt(age, period);
      EXPECT_FALSE(p.empty) << "age " << age << " period " << period;
      EXPECT_GE(p.tier, 0) << "age " << age << " period " << period;
    }
  }
}

// Between 15 and 63 days only multiples of 300 s are served: 60 s and 120 s
// periods give nothing although raw points and 60 s rollups may still be on
// disk. Fails if the start's age were not checked against the 60 s reach.
TEST(PlanStatisticsQuery, FifteenToSixtyThreeDaysNeedMultiplesOfFiveMinutes) {
  for (int64_t period : {kMinute, 2 * kMinute, 4 * kMinute, 7 * kMinute}) {
    SCOPED_TRACE(period);
    EXPECT_TRUE(PlanJustBeyond(15 * kDay, period).empty);
    EXPECT_TRUE(PlanJustBeyond(15 * kDay, period, true).empty);
    EXPECT_TRUE(PlanAt(40 * kDay, period).empty);
    EXPECT_TRUE(PlanAt(63 * kDay, period).empty);
  }
  for (int64_t period :
       {5 * kMinute, 10 * kMinute, 15 * kMinute, 30 * kMinute}) {
    SCOPED_TRACE(period);
    for (bool want_values : {false, true}) {
      for (const QueryPlan& p : {PlanJustBeyond(15 * kDay, period, want_values),
                                 PlanAt(40 * kDay, period, want_values),
                                 PlanAt(63 * kDay, period, want_values)}) {
        EXPECT_FALSE(p.empty);
        EXPECT_EQ(p.tier, 1);
      }
    }
  }
  // Multiples of an hour are multiples of 300 s too, and get the hour tier.
  EXPECT_EQ(PlanJustBeyond(15 * kDay, kHour).tier, 2);
  EXPECT_EQ(PlanAt(63 * kDay, kDay).tier, 2);
}

// Between 63 and 455 days only multiples of an hour are served. Fails if
// the 300 s granularity's reach were not applied.
TEST(PlanStatisticsQuery, SixtyThreeToFourHundredFiftyFiveDaysNeedHours) {
  for (int64_t period :
       {kMinute, 5 * kMinute, 10 * kMinute, 30 * kMinute, 90 * kMinute}) {
    SCOPED_TRACE(period);
    EXPECT_TRUE(PlanJustBeyond(63 * kDay, period).empty);
    EXPECT_TRUE(PlanJustBeyond(63 * kDay, period, true).empty);
    EXPECT_TRUE(PlanAt(200 * kDay, period).empty);
    EXPECT_TRUE(PlanAt(455 * kDay, period).empty);
  }
  for (int64_t period : {kHour, 2 * kHour, 6 * kHour, kDay}) {
    SCOPED_TRACE(period);
    for (bool want_values : {false, true}) {
      for (const QueryPlan& p : {PlanJustBeyond(63 * kDay, period, want_values),
                                 PlanAt(200 * kDay, period, want_values),
                                 PlanAt(455 * kDay, period, want_values)}) {
        EXPECT_FALSE(p.empty);
        EXPECT_EQ(p.tier, 2);
      }
    }
  }
}

// Beyond 455 days nothing is served, whatever the period. Fails if the hour
// granularity reached forever.
TEST(PlanStatisticsQuery, BeyondFourHundredFiftyFiveDaysNothingIsServed) {
  for (int64_t period : {10 * kSecond, kMinute, 90 * kSecond, 5 * kMinute,
                         kHour, kDay, 7 * kDay}) {
    SCOPED_TRACE(period);
    EXPECT_TRUE(PlanJustBeyond(455 * kDay, period).empty);
    EXPECT_TRUE(PlanJustBeyond(455 * kDay, period, true).empty);
    EXPECT_TRUE(PlanAt(1000 * kDay, period).empty);
  }
}

// Every reach is inclusive: a start exactly 3 h, 15 d, 63 d or 455 d old is
// inside, one millisecond more is outside. Fails on an off-by-one in any of
// the four comparisons.
TEST(PlanStatisticsQuery, AStartExactlyAtAReachIsInside) {
  struct Case {
    int64_t reach;
    int64_t period;  // served at the reach, but not beyond
    int tier;        // that serves it at the reach
  };
  const std::vector<Case> cases = {
      {3 * kHour, 10 * kSecond, -1},
      {15 * kDay, kMinute, 0},
      {63 * kDay, 5 * kMinute, 1},
      {455 * kDay, kHour, 2},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.reach);
    const QueryPlan at = PlanAt(c.reach, c.period);
    EXPECT_FALSE(at.empty);
    EXPECT_EQ(at.tier, c.tier);
    EXPECT_TRUE(PlanJustBeyond(c.reach, c.period).empty);
    EXPECT_TRUE(PlanAt(c.reach + kMinute, c.period).empty);
  }
}

// The coarsest tier whose period divides both the query's period and its
// start serves it: fewer records to read. Fails if the finest tier were
// always used (tier 0 everywhere below) or if a tier were chosen that does
// not tile the periods (e.g. hour records for periods starting at :17).
TEST(PlanStatisticsQuery, PicksTheCoarsestTierThatTilesThePeriods) {
  struct Case {
    int64_t start_offset;  // after kNow - 1 day, which is on the hour
    int64_t period;
    int tier;
  };
  const std::vector<Case> cases = {
      // Start on the hour.
      {0, kHour, 2},
      {0, 2 * kHour, 2},
      {0, kDay, 2},
      {0, 30 * kMinute, 1},  // 3600 does not divide 1800
      {0, 10 * kMinute, 1},
      {0, 5 * kMinute, 1},
      {0, 7 * kMinute, 0},  // 300 does not divide 420
      {0, 2 * kMinute, 0},
      {0, kMinute, 0},
      // Start on 5 minutes.
      {15 * kMinute, kHour, 1},
      {5 * kMinute, 10 * kMinute, 1},
      {20 * kMinute, 15 * kMinute, 1},
      // Start on a minute only.
      {17 * kMinute, kHour, 0},
      {kMinute, 10 * kMinute, 0},
  };
  for (const Case& c : cases) {
    Query q;
    q.start = kNow - kDay + c.start_offset;
    q.period = c.period;
    const QueryPlan p = Plan(q);
    EXPECT_FALSE(p.empty) << c.start_offset << " " << c.period;
    EXPECT_EQ(p.tier, c.tier) << c.start_offset << " " << c.period;
  }
}

// A start off every tier's grid is served by raw points while they are all
// there, and gives nothing beyond (the RPC layer rounds starts first, so
// only direct engine callers see this). Fails if a tier were used that
// would put samples in the wrong period.
TEST(PlanStatisticsQuery, AStartOffTheTiersGridNeedsRawPoints) {
  Query q;
  q.start = kNow - kDay + 17 * kMinute + 30 * kSecond;
  q.period = kHour;
  q.watermark = kNow;
  QueryPlan p = Plan(q);
  EXPECT_FALSE(p.empty);
  EXPECT_EQ(p.tier, -1);
  EXPECT_EQ(p.rollup_end_ms, q.start);

  // 40 days old: 60 s records are out of reach, so a start at :17 is off
  // every usable grid, and raw points are incomplete.
  q.start = kNow - 40 * kDay + 17 * kMinute;
  EXPECT_TRUE(Plan(q).empty);
  q.start = kNow - 40 * kDay + 15 * kMinute;  // on 5 minutes: tier 1
  EXPECT_EQ(Plan(q).tier, 1);
  q.start = kNow - 40 * kDay;  // on the hour: tier 2
  EXPECT_EQ(Plan(q).tier, 2);
  // With raw points kept forever the off-grid start reads them.
  q.start = kNow - 40 * kDay + 17 * kMinute;
  q.reach.raw_ms = std::numeric_limits<int64_t>::max();
  p = Plan(q);
  EXPECT_FALSE(p.empty);
  EXPECT_EQ(p.tier, -1);

  // 100 days old, :15 is on the 300 s grid, but 300 s records are out of
  // reach.
  Query old;
  old.start = kNow - 100 * kDay + 15 * kMinute;
  old.period = kHour;
  EXPECT_TRUE(Plan(old).empty);
}

// Percentiles and extended statistics are exact over raw values, so they
// read raw points wherever all of them are kept (the same query without
// percentiles reads rollups); beyond the raw reach they read the tier's
// sketches. The period rules still apply. Fails if percentiles always came
// from sketches (inexact for recent data) or always from raw points (nothing
// once they are compacted away).
TEST(PlanStatisticsQuery, PercentilesReadRawPointsWhileTheyAreAllThere) {
  for (int64_t age : {kHour, kDay, 15 * kDay}) {
    SCOPED_TRACE(age);
    for (int64_t period : {kMinute, 5 * kMinute, kHour}) {
      Query q;
      q.start = kNow - age;
      q.period = period;
      q.want_values = true;
      q.watermark = kNow;
      const QueryPlan p = Plan(q);
      EXPECT_FALSE(p.empty) << period;
      EXPECT_EQ(p.tier, -1) << period;
      EXPECT_EQ(p.rollup_end_ms, q.start) << period;
      q.want_values = false;
      EXPECT_GE(Plan(q).tier, 0) << period;
    }
  }
  // One millisecond beyond the raw reach: the tiers serve.
  EXPECT_EQ(PlanJustBeyond(15 * kDay, kHour, true).tier, 2);
  EXPECT_EQ(PlanJustBeyond(15 * kDay, 5 * kMinute, true).tier, 1);
  EXPECT_TRUE(PlanJustBeyond(15 * kDay, kMinute, true).empty);

  // Raw points kept 30 days: at 20 days percentiles read them, but a 60 s
  // period is still refused (the 60 s granularity reaches 15 days).
  Query q;
  q.start = kNow - 20 * kDay;
  q.period = 5 * kMinute;
  q.want_values = true;
  q.reach.raw_ms = 30 * kDay;
  EXPECT_FALSE(Plan(q).empty);
  EXPECT_EQ(Plan(q).tier, -1);
  q.want_values = false;
  EXPECT_EQ(Plan(q).tier, 1);
  q.want_values = true;
  q.period = kMinute;
  EXPECT_TRUE(Plan(q).empty);
}

// Rollup records serve [start, watermark floored to the tier's period), cut
// to the range; raw points serve the rest. Fails if the watermark were used
// unfloored (a partial rollup period would be read and its newest minutes
// counted again from raw points) or unclamped (reading past the range's end
// or before its start).
TEST(PlanStatisticsQuery, RollupsEndAtTheWatermarkFlooredToTheTier) {
  struct Case {
    int64_t start, end, period, watermark;
    int tier;
    int64_t rollup_end;
  };
  const int64_t s = kNow - kDay;  // on the hour
  const std::vector<Case> cases = {
      // Inside the range: floored to the tier's period.
      {s, kNow, kMinute, kNow - 3 * kMinute, 0, kNow - 3 * kMinute},
      {s, kNow, kMinute, kNow - 90 * kSecond, 0, kNow - 2 * kMinute},
      {s, kNow, 5 * kMinute, kNow - 7 * kMinute, 1, kNow - 10 * kMinute},
      {s, kNow, 10 * kMinute, kNow - 7 * kMinute, 1, kNow - 10 * kMinute},
      {s, kNow, kHour, kNow - 7 * kMinute, 2, kNow - kHour},
      {s, kNow, kHour, kNow - kHour, 2, kNow - kHour},
      // Tier 0 serves hour periods starting at :17, to the minute.
      {s + 17 * kMinute, kNow, kHour, kNow - 7 * kMinute, 0,
       kNow - 7 * kMinute},
      // Below the start: nothing from rollups.
      {s, kNow, kMinute, s - kMinute, 0, s},
      {s, kNow, kHour, s + 59 * kMinute, 2, s},
      {s, kNow, 5 * kMinute, kOldWatermark, 1, s},
      // At or beyond the end: rollups serve the whole range.
      {s, s + 2 * kHour, kMinute, kNow - 3 * kMinute, 0, s + 2 * kHour},
      {s, s + 2 * kHour, kHour, s + 2 * kHour, 2, s + 2 * kHour},
      {s, kNow, kHour, kNow + kDay, 2, kNow},
      // An end off the tier's grid, watermark beyond it: clamped to the end.
      {s, s + 90 * kMinute, kHour, kNow, 2, s + 90 * kMinute},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message()
                 << "start " << c.start << " end " << c.end << " period "
                 << c.period << " watermark " << c.watermark);
    const QueryPlan p = PlanStatisticsQuery(kNow, c.start, c.end, c.period,
                                            /*want_values=*/false, c.watermark,
                                            TierReach{}, c.start);
    EXPECT_FALSE(p.empty);
    EXPECT_EQ(p.tier, c.tier);
    EXPECT_EQ(p.rollup_end_ms, c.rollup_end);
  }
  // Percentiles beyond the raw reach: the same split.
  const QueryPlan p = PlanStatisticsQuery(
      kNow, kNow - 20 * kDay, kNow, 5 * kMinute, /*want_values=*/true,
      kNow - 7 * kMinute, TierReach{}, kNow - 20 * kDay);
  EXPECT_EQ(p.tier, 1);
  EXPECT_EQ(p.rollup_end_ms, kNow - 10 * kMinute);
}

// Every reach is read from TierReach, not from constants. Fails if any reach
// were hard-coded: with the defaults each "empty" case below would be served
// (and the tier-2 percentile case read raw points), and the longer reaches'
// cases would be refused.
TEST(PlanStatisticsQuery, HonoursAConfiguredReach) {
  TierReach reach;
  reach.high_resolution_ms = kHour;
  reach.raw_ms = 2 * kDay;
  reach.tier_ms = {2 * kDay, 10 * kDay, 30 * kDay};
  auto plan = [&](int64_t now, int64_t age, int64_t period,
                  bool want_values = false) {
    return PlanStatisticsQuery(now, kNow - age, now, period, want_values,
                               kOldWatermark, reach, kNow - age);
  };
  // High resolution: 1 hour.
  EXPECT_FALSE(plan(kNow, kHour, 10 * kSecond).empty);
  EXPECT_TRUE(plan(kNow + 1, kHour, 10 * kSecond).empty);
  // Raw: 2 days, for periods that are no multiple of a minute and for
  // percentiles.
  EXPECT_FALSE(plan(kNow, 2 * kDay, 90 * kSecond).empty);
  EXPECT_TRUE(plan(kNow + 1, 2 * kDay, 90 * kSecond).empty);
  EXPECT_EQ(plan(kNow, 2 * kDay, kHour, true).tier, -1);
  EXPECT_EQ(plan(kNow + 1, 2 * kDay, kHour, true).tier, 2);
  // 60 s: 2 days.
  EXPECT_EQ(plan(kNow, 2 * kDay, kMinute).tier, 0);
  EXPECT_TRUE(plan(kNow + 1, 2 * kDay, kMinute).empty);
  EXPECT_EQ(plan(kNow + 1, 2 * kDay, 5 * kMinute).tier, 1);
  // 300 s: 10 days.
  EXPECT_EQ(plan(kNow, 10 * kDay, 5 * kMinute).tier, 1);
  EXPECT_TRUE(plan(kNow + 1, 10 * kDay, 5 * kMinute).empty);
  EXPECT_EQ(plan(kNow + 1, 10 * kDay, kHour).tier, 2);
  // 3600 s: 30 days.
  EXPECT_EQ(plan(kNow, 30 * kDay, kHour).tier, 2);
  EXPECT_TRUE(plan(kNow + 1, 30 * kDay, kHour).empty);
  EXPECT_TRUE(plan(kNow + 1, 30 * kDay, kHour, true).empty);

  // A longer reach than the defaults is honoured as well.
  TierReach longer;
  longer.high_resolution_ms = kDay;
  longer.tier_ms = {30 * kDay, 100 * kDay, 1000 * kDay};
  EXPECT_FALSE(PlanStatisticsQuery(kNow, kNow - 12 * kHour, kNow, 10 * kSecond,
                                   false, kOldWatermark, longer,
                                   kNow - 12 * kHour)
                   .empty);
  EXPECT_EQ(PlanStatisticsQuery(kNow, kNow - 20 * kDay, kNow, kMinute, false,
                                kOldWatermark, longer, kNow - 20 * kDay)
                .tier,
            0);
  EXPECT_EQ(PlanStatisticsQuery(kNow, kNow - 90 * kDay, kNow, 5 * kMinute,
                                false, kOldWatermark, longer, kNow - 90 * kDay)
                .tier,
            1);
  EXPECT_EQ(PlanStatisticsQuery(kNow, kNow - 900 * kDay, kNow, kHour, false,
                                kOldWatermark, longer, kNow - 900 * kDay)
                .tier,
            2);
}

// A start just inside a reach, rounded down past it (RoundStartTime), is
// judged by the start asked for: without it a query 15 days - 10 s back at
// 60 s would give nothing at all.
TEST(PlanStatisticsQuery, JudgesReachesByTheStartAskedFor) {
  Query q;
  q.now = kNow + 30 * kSecond;
  q.age_start = q.now - 15 * kDay + 10 * kSecond;
  q.start = RoundStartTime(q.now, q.age_start, kMinute);
  ASSERT_LT(q.start, q.now - 15 * kDay);
  q.period = kMinute;
  const QueryPlan p = Plan(q);
  EXPECT_FALSE(p.empty);
  EXPECT_EQ(p.tier, 0);
  q.age_start = 0;  // judged by the rounded start: beyond the reach
  EXPECT_TRUE(Plan(q).empty);
}

// Raw points are read from the rounded start: percentiles are exact only if
// that start is within the raw reach, whatever the start asked for.
TEST(PlanStatisticsQuery, RawReachIsJudgedByTheRoundedStart) {
  Query q;
  q.now = kNow + 30 * kSecond;
  q.age_start = q.now - 15 * kDay + 10 * kSecond;  // inside the raw reach
  q.start = RoundStartTime(q.now, q.age_start, kMinute);  // outside it
  q.period = kMinute;
  q.want_values = true;
  const QueryPlan p = Plan(q);
  EXPECT_FALSE(p.empty);
  EXPECT_EQ(p.tier, 0);  // sketches, not raw points that may be gone
}

}  // namespace
}  // namespace nimbus::engine
