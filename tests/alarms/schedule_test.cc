// Evaluation cadence and windows (alarms/schedule.h).
#include "alarms/schedule.h"

#include "gtest/gtest.h"

namespace nimbus::alarms {
namespace {

constexpr int64_t kMinute = 60'000;

TEST(Schedule, TheIntervalFollowsThePeriodAndTheSpan) {
  EXPECT_EQ(EvaluationIntervalMs(10, 6), 10'000);
  EXPECT_EQ(EvaluationIntervalMs(20, 3), 10'000);
  EXPECT_EQ(EvaluationIntervalMs(30, 2880), 10'000);  // exactly a day
  EXPECT_EQ(EvaluationIntervalMs(60, 1), kMinute);
  EXPECT_EQ(EvaluationIntervalMs(300, 288), kMinute);    // a day
  EXPECT_EQ(EvaluationIntervalMs(3600, 25), 3'600'000);  // over a day
}

TEST(Schedule, TicksAreMultiplesOfTheInterval) {
  EXPECT_EQ(NextTickAfter(0, kMinute), kMinute);
  EXPECT_EQ(NextTickAfter(59'999, kMinute), kMinute);
  EXPECT_EQ(NextTickAfter(kMinute, kMinute), 2 * kMinute);
  EXPECT_EQ(NextTickAfter(-1, kMinute), 0);
  EXPECT_EQ(NextTickAfter(-kMinute, kMinute), 0);
  EXPECT_EQ(NextTickAfter(12'345, 10'000), 20'000);
}

TEST(Schedule, TheWindowEndsAtTheTickAlignedAsTheEngineAligns) {
  // A 5-minute alarm with N = 1 evaluated at the end of minute 6 (7:00):
  // its newest period is minutes 2 to 6, [2:00, 7:00); the range (R = 3)
  // reaches back two periods more.
  EvaluationWindow w = WindowAt(7 * kMinute, 300, 1);
  EXPECT_EQ(w.periods, 3u);
  EXPECT_EQ(w.period_ms, 5 * kMinute);
  EXPECT_EQ(w.end_ms(), 7 * kMinute);
  EXPECT_EQ(w.end_ms() - w.period_ms, 2 * kMinute);
  EXPECT_EQ(w.start_ms, 7 * kMinute - 15 * kMinute);
  // N = 3: R = 5 periods.
  w = WindowAt(10 * kMinute, 60, 3);
  EXPECT_EQ(w.periods, 5u);
  EXPECT_EQ(w.start_ms, 5 * kMinute);
  // A 20-second alarm ticks every 10 s; its windows stay on 20-second
  // boundaries (the tick at :10 reads the window of :00 again, with what
  // has arrived since).
  w = WindowAt(7 * kMinute + 10'000, 20, 3);
  EXPECT_EQ(w.end_ms(), 7 * kMinute);
  EXPECT_EQ(w.start_ms % 20'000, 0);
  w = WindowAt(7 * kMinute + 20'000, 20, 3);
  EXPECT_EQ(w.end_ms(), 7 * kMinute + 20'000);
  // Before the epoch the floor still goes down.
  EXPECT_EQ(WindowAt(-1, 10, 1).end_ms(), -10'000);
  EXPECT_EQ(WindowAt(-kMinute - 1, 300, 1).end_ms(), -2 * kMinute);
}

}  // namespace
}  // namespace nimbus::alarms
