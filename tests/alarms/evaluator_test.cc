// The alarm evaluator against docs/semantics.md: the worked table (every
// row, every treat_missing_data, every starting state), M of N cases, each
// comparison operator, the evaluation range, filling and low sample counts.
#include "alarms/evaluator.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace nimbus::alarms {
namespace {

constexpr double kThreshold = 80;

// "0 - X - X": X breaches (a value above the threshold), 0 does not, -
// has no data; oldest first.
std::vector<Period> Range(const std::string& spec) {
  std::vector<Period> out;
  for (char c : spec) {
    if (c == 'X') out.push_back({kThreshold + 10});
    if (c == '0') out.push_back({kThreshold - 10});
    if (c == '-') out.push_back({});
  }
  return out;
}

AlarmRule Rule(size_t n, size_t m, TreatMissingData tmd) {
  AlarmRule r;
  r.evaluation_periods = n;
  r.datapoints_to_alarm = m;
  r.threshold = kThreshold;
  r.comparison = ComparisonOperator::kGreaterThanThreshold;
  r.treat_missing_data = tmd;
  return r;
}

constexpr AlarmState kStates[] = {AlarmState::kOk, AlarmState::kAlarm,
                                  AlarmState::kInsufficientData};
constexpr TreatMissingData kTreatments[] = {
    TreatMissingData::kMissing, TreatMissingData::kIgnore,
    TreatMissingData::kBreaching, TreatMissingData::kNotBreaching};

// What a table cell says: a state, or "keep" (the state the alarm had).
struct Cell {
  bool keep;
  AlarmState state;
};
constexpr Cell kOk{false, AlarmState::kOk};
constexpr Cell kAlarm{false, AlarmState::kAlarm};
constexpr Cell kInsufficient{false, AlarmState::kInsufficientData};
constexpr Cell kKeep{true, AlarmState::kOk};

TEST(Evaluator, TheWorkedTableForEveryTreatmentAndStartingState) {
  struct Row {
    const char* periods;
    Cell cells[4];  // missing, ignore, breaching, notBreaching
  };
  const Row rows[] = {
      {"0 - X - X", {kOk, kOk, kOk, kOk}},
      {"0 - - - -", {kOk, kOk, kOk, kOk}},
      {"- - - - -", {kInsufficient, kKeep, kAlarm, kOk}},
      {"0 X X - X", {kAlarm, kAlarm, kAlarm, kAlarm}},
      {"- - X - -", {kAlarm, kKeep, kAlarm, kOk}},
  };
  for (const Row& row : rows) {
    const std::vector<Period> range = Range(row.periods);
    ASSERT_EQ(range.size(), EvaluationRange(3));
    for (int t = 0; t < 4; ++t) {
      for (AlarmState from : kStates) {
        const Evaluation e = Evaluate(Rule(3, 3, kTreatments[t]), range, from);
        const Cell& want = row.cells[t];
        SCOPED_TRACE(::testing::Message()
                     << row.periods << " treatment " << t << " from "
                     << static_cast<int>(from));
        EXPECT_EQ(e.kept, want.keep);
        EXPECT_EQ(e.state, want.keep ? from : want.state);
      }
    }
  }
}

TEST(Evaluator, TheEvaluationRangeIsNPlusAThirdOfNButAtLeastTwo) {
  EXPECT_EQ(EvaluationRange(1), 3u);
  EXPECT_EQ(EvaluationRange(3), 5u);
  EXPECT_EQ(EvaluationRange(4), 6u);
  EXPECT_EQ(EvaluationRange(6), 8u);
  EXPECT_EQ(EvaluationRange(9), 12u);
  EXPECT_EQ(EvaluationRange(30), 40u);
}

TEST(Evaluator, EnoughDataEvaluatesTheNewestNPeriodsWithData) {
  // 0 - X - X: the newest three with data are 0, X, X (indexes 0, 2, 4).
  const Evaluation e = Evaluate(Rule(3, 2, TreatMissingData::kBreaching),
                                Range("0 - X - X"), AlarmState::kOk);
  EXPECT_EQ(e.state, AlarmState::kAlarm);  // 2 of 3, nothing filled
  ASSERT_EQ(e.evaluated.size(), 3u);
  EXPECT_EQ(e.evaluated[0].index, 0u);
  EXPECT_EQ(e.evaluated[1].index, 2u);
  EXPECT_EQ(e.evaluated[2].index, 4u);
  for (const EvaluatedPeriod& p : e.evaluated) {
    EXPECT_EQ(p.source, EvaluatedPeriod::Source::kData);
  }
  EXPECT_EQ(e.breaching, 2u);
  // Four periods with data: the oldest is left out.
  const Evaluation f = Evaluate(Rule(3, 3, TreatMissingData::kMissing),
                                Range("0 X X - X"), AlarmState::kOk);
  ASSERT_EQ(f.evaluated.size(), 3u);
  EXPECT_EQ(f.evaluated[0].index, 1u);
}

TEST(Evaluator, FewerThanNFillsTheNewestMissingPeriodsOnly) {
  const Evaluation e = Evaluate(Rule(3, 3, TreatMissingData::kBreaching),
                                Range("0 - - - -"), AlarmState::kAlarm);
  EXPECT_EQ(e.state, AlarmState::kOk);
  ASSERT_EQ(e.evaluated.size(), 3u);
  EXPECT_EQ(e.evaluated[0].index, 0u);
  EXPECT_EQ(e.evaluated[0].source, EvaluatedPeriod::Source::kData);
  EXPECT_EQ(e.evaluated[1].index, 3u);
  EXPECT_EQ(e.evaluated[1].source, EvaluatedPeriod::Source::kFilledBreaching);
  EXPECT_EQ(e.evaluated[2].index, 4u);
  EXPECT_EQ(e.breaching, 2u);
  const Evaluation f = Evaluate(Rule(3, 1, TreatMissingData::kNotBreaching),
                                Range("- - X - -"), AlarmState::kOk);
  EXPECT_EQ(f.state, AlarmState::kAlarm);  // M = 1: the real breach
  ASSERT_EQ(f.evaluated.size(), 3u);
  EXPECT_EQ(f.evaluated[1].source,
            EvaluatedPeriod::Source::kFilledNotBreaching);
}

TEST(Evaluator, MOfNCountsBreachingPeriodsAmongTheEvaluated) {
  struct Case {
    size_t n, m;
    const char* periods;
    AlarmState want;
  };
  const Case cases[] = {
      {3, 2, "- - 0 X X", AlarmState::kAlarm},
      {3, 2, "- - X 0 X", AlarmState::kAlarm},
      {3, 2, "- - X 0 0", AlarmState::kOk},
      {5, 3, "- - 0 X 0 X 0", AlarmState::kOk},
      {5, 3, "- - X 0 X 0 X", AlarmState::kAlarm},
      {1, 1, "0 0 X", AlarmState::kAlarm},
      {1, 1, "X X 0", AlarmState::kOk},
      {1, 1, "X - -", AlarmState::kAlarm},  // the newest with data
      {4, 4, "0 X X X X 0", AlarmState::kOk},
  };
  for (const Case& c : cases) {
    const std::vector<Period> range = Range(c.periods);
    ASSERT_EQ(range.size(), EvaluationRange(c.n)) << c.periods;
    const Evaluation e = Evaluate(Rule(c.n, c.m, TreatMissingData::kMissing),
                                  range, AlarmState::kInsufficientData);
    EXPECT_EQ(e.state, c.want) << c.m << " of " << c.n << ": " << c.periods;
  }
}

TEST(Evaluator, TheEarlyAlarmNeedsAnOldEnoughBreachAndNothingNewerBelow) {
  // M = 2 of N = 3, one period with data.
  const AlarmRule rule = Rule(3, 2, TreatMissingData::kMissing);
  // The breach is 2 periods old and the newer one has no data: early alarm.
  Evaluation e = Evaluate(rule, Range("- - - X -"), AlarmState::kOk);
  EXPECT_EQ(e.state, AlarmState::kAlarm);
  EXPECT_EQ(e.reason, Evaluation::Reason::kEarlyAlarm);
  // Only 1 period old: OK.
  e = Evaluate(rule, Range("- - - - X"), AlarmState::kAlarm);
  EXPECT_EQ(e.state, AlarmState::kOk);
  // Older than the N newest periods: not counted for it.
  e = Evaluate(rule, Range("- X - - -"), AlarmState::kAlarm);
  EXPECT_EQ(e.state, AlarmState::kOk);
  // A newer period that does not breach: OK.
  e = Evaluate(rule, Range("- - X 0 -"), AlarmState::kAlarm);
  EXPECT_EQ(e.state, AlarmState::kOk);
  // With ignore, the same situation keeps the state.
  e = Evaluate(Rule(3, 2, TreatMissingData::kIgnore), Range("- - - X -"),
               AlarmState::kOk);
  EXPECT_TRUE(e.kept);
  EXPECT_EQ(e.state, AlarmState::kOk);
  EXPECT_EQ(e.reason, Evaluation::Reason::kEarlyAlarm);
}

TEST(Evaluator, EachComparisonOperatorAtAroundAndOnTheThreshold) {
  struct Case {
    ComparisonOperator op;
    bool below, on, above;
  };
  const Case cases[] = {
      {ComparisonOperator::kGreaterThanOrEqualToThreshold, false, true, true},
      {ComparisonOperator::kGreaterThanThreshold, false, false, true},
      {ComparisonOperator::kLessThanThreshold, true, false, false},
      {ComparisonOperator::kLessThanOrEqualToThreshold, true, true, false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Breaches(c.op, 79.5, 80), c.below);
    EXPECT_EQ(Breaches(c.op, 80, 80), c.on);
    EXPECT_EQ(Breaches(c.op, 80.5, 80), c.above);
    AlarmRule rule = Rule(1, 1, TreatMissingData::kMissing);
    rule.comparison = c.op;
    const Evaluation e =
        Evaluate(rule, std::vector<Period>{{}, {}, {80.0}}, AlarmState::kOk);
    EXPECT_EQ(e.state, c.on ? AlarmState::kAlarm : AlarmState::kOk);
  }
}

TEST(Evaluator, LowSampleCountPercentilesKeepTheStateOnlyWithIgnore) {
  std::vector<Period> range = Range("- - X X X");
  range[3].low_sample_count = true;
  AlarmRule rule = Rule(3, 3, TreatMissingData::kMissing);
  Evaluation e = Evaluate(rule, range, AlarmState::kOk);
  EXPECT_EQ(e.state, AlarmState::kAlarm);  // evaluate: the default
  rule.ignore_low_sample_count = true;
  e = Evaluate(rule, range, AlarmState::kOk);
  EXPECT_TRUE(e.kept);
  EXPECT_EQ(e.state, AlarmState::kOk);
  EXPECT_EQ(e.reason, Evaluation::Reason::kLowSampleCount);
  // A low-sample period outside the evaluated ones does not count.
  range = Range("X 0 0 0 0");
  range[0].low_sample_count = true;
  e = Evaluate(rule, range, AlarmState::kAlarm);
  EXPECT_FALSE(e.kept);
  EXPECT_EQ(e.state, AlarmState::kOk);
}

TEST(Evaluator, LowSampleCountBoundsFollowThePercentile) {
  EXPECT_TRUE(IsLowSampleCount(0.99, 999));
  EXPECT_FALSE(IsLowSampleCount(0.99, 1000));
  EXPECT_TRUE(IsLowSampleCount(0.9, 99));
  EXPECT_FALSE(IsLowSampleCount(0.9, 100));
  EXPECT_TRUE(IsLowSampleCount(0.5, 19));
  EXPECT_FALSE(IsLowSampleCount(0.5, 20));
  EXPECT_TRUE(IsLowSampleCount(0.1, 99));  // below p50: 10 / p
  EXPECT_FALSE(IsLowSampleCount(0.1, 100));
  EXPECT_TRUE(IsLowSampleCount(0.999, 9999));
  EXPECT_FALSE(IsLowSampleCount(0.999, 10000));
  // The minimum and the maximum are exact from one sample.
  EXPECT_FALSE(IsLowSampleCount(0, 1));
  EXPECT_FALSE(IsLowSampleCount(1, 1));
}

TEST(Evaluator, AnImpossibleRuleOrRangeKeepsTheState) {
  const std::vector<Period> five = Range("X X X X X");
  AlarmRule rule = Rule(3, 3, TreatMissingData::kMissing);
  for (auto change : {+[](AlarmRule& r) { r.evaluation_periods = 0; },
                      +[](AlarmRule& r) { r.datapoints_to_alarm = 0; },
                      +[](AlarmRule& r) { r.datapoints_to_alarm = 4; }}) {
    AlarmRule bad = rule;
    change(bad);
    const Evaluation e = Evaluate(bad, five, AlarmState::kOk);
    EXPECT_TRUE(e.kept);
    EXPECT_EQ(e.state, AlarmState::kOk);
    EXPECT_EQ(e.reason, Evaluation::Reason::kInvalidRule);
  }
  const Evaluation short_range =
      Evaluate(rule, Range("X X X"), AlarmState::kInsufficientData);
  EXPECT_TRUE(short_range.kept);
  EXPECT_EQ(short_range.state, AlarmState::kInsufficientData);
  EXPECT_EQ(short_range.reason, Evaluation::Reason::kInvalidRule);
}

}  // namespace
}  // namespace nimbus::alarms
