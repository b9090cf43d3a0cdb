// The JSON check for SetAlarmState's reason data, the history data's size
// limit, and reasons written from an evaluation's evidence.
#include "alarms/history_json.h"

#include <random>
#include <string>
#include <vector>

#include "alarms/preview.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nimbus::alarms {
namespace {

using ::testing::HasSubstr;

TEST(CheckJsonObject, AcceptsObjects) {
  for (const char* ok :
       {"{}", " {\"a\": [1, -2.5e3, true, false, null, \"x\\u00e9\\n\"]} ",
        "{\"a\":{\"b\":{}}}", "{\"\":0}"}) {
    EXPECT_TRUE(CheckJsonObject(ok).ok()) << ok;
  }
}

TEST(CheckJsonObject, RefusesTheRestSayingWhere) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"", "must be a JSON object"},
      {"[1]", "must be a JSON object"},
      {"{\"a\":1", "expected ',' or '}' (at character 7)"},
      {"{\"a\" 1}", "expected ':'"},
      {"{a:1}", "expected a member name"},
      {"{\"a\":01}", "expected ',' or '}'"},
      {"{\"a\":1.}", "invalid number"},
      {"{\"a\":tru}", "invalid literal"},
      {"{\"a\":\"\\x\"}", "invalid escape"},
      {"{\"a\":\"\\u12\"}", "invalid \\u escape"},
      {"{\"a\":\"b\n\"}", "control character"},
      {"{\"a\":\"b}", "unterminated string"},
      {"{} {}", "unexpected text after the object"},
  };
  for (const Case& c : cases) {
    absl::Status s = CheckJsonObject(c.text);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(s.message(), HasSubstr(c.message)) << c.text;
  }
  std::string deep(100, '[');
  EXPECT_THAT(CheckJsonObject("{\"a\":" + deep).message(),
              HasSubstr("nested more than 64 deep"));
}

TEST(HistoryJson, ConfigurationsTooLargeAreShortenedAndMarked) {
  AlarmRecord r;
  r.type = AlarmType::kComposite;
  r.composite.name = "c";
  r.composite.alarm_rule = std::string(10000, 'x');
  r.composite.ok_actions = {std::string(1000, 'o')};
  const std::string created = ConfigurationUpdateData(nullptr, r);
  EXPECT_LE(created.size(), kMaxHistoryDataChars);
  EXPECT_THAT(created, HasSubstr("\"truncated\":true"));
  EXPECT_TRUE(CheckJsonObject(created).ok());
  AlarmRecord small = r;
  small.composite.alarm_rule = "TRUE";
  small.composite.ok_actions = {};
  const std::string updated = ConfigurationUpdateData(&small, small);
  EXPECT_THAT(updated, Not(HasSubstr("truncated")));
  EXPECT_THAT(updated, HasSubstr("\"alarmRule\":\"TRUE\""));
}

TEST(HistoryJson, StateUpdatesDropDetailToFit) {
  AlarmRecord r;
  r.state = AlarmState::kAlarm;
  r.state_reason = std::string(1023, 'r');
  r.state_reason_data = "{\"a\":\"" + std::string(3990, 'd') + "\"}";
  const std::string data =
      StateUpdateData(AlarmState::kOk, std::string(1023, 'p'), r, "{}");
  EXPECT_LE(data.size(), kMaxHistoryDataChars);
  EXPECT_THAT(data, HasSubstr("\"truncated\":true"));
  EXPECT_THAT(data, HasSubstr("\"evidence\":{}"));
  EXPECT_TRUE(CheckJsonObject(data).ok()) << data;
}

// A transition's reasons, written when read from its evidence (kept
// encoded), are the very reasons a preview of the same tick writes, on
// random rules, ranges and starting states.
TEST(Evidence, ReasonsReadBackAsAPreviewWritesThem) {
  std::mt19937_64 rng(20261202);
  const char* ops[] = {"GreaterThanOrEqualToThreshold", "GreaterThanThreshold",
                       "LessThanThreshold", "LessThanOrEqualToThreshold"};
  const char* missing[] = {"missing", "ignore", "breaching", "notBreaching"};
  const char* statistics[] = {"Average", "Maximum", "p99"};
  int transitions = 0;
  for (int round = 0; round < 3000; ++round) {
    MetricAlarmConfig c;
    c.name = "a";
    c.metric.namespace_name = "N";
    c.metric.metric_name = "M";
    const char* statistic = statistics[rng() % 3];
    (statistic[0] == 'p' ? c.extended_statistic : c.statistic) = statistic;
    c.period_s = rng() % 2 == 0 ? 60 : 10;
    c.evaluation_periods = 1 + rng() % 6;
    c.datapoints_to_alarm = 1 + rng() % c.evaluation_periods;
    c.threshold = static_cast<double>(rng() % 100) / 4;
    c.comparison_operator = ops[rng() % 4];
    c.treat_missing_data = missing[rng() % 4];
    c.evaluate_low_sample_count_percentile =
        rng() % 2 == 0 ? "evaluate" : "ignore";
    absl::StatusOr<ValidatedMetricAlarm> v = ValidateMetricAlarm(&c);
    ASSERT_TRUE(v.ok()) << v.status();
    std::vector<Period> range(EvaluationRange(c.evaluation_periods));
    for (Period& p : range) {
      if (rng() % 3 == 0) continue;
      p.value = static_cast<double>(rng() % 100) / 4;
      p.low_sample_count = statistic[0] == 'p' && rng() % 4 == 0;
    }
    const AlarmState from = static_cast<AlarmState>(rng() % 3);
    const int64_t tick =
        1796119200000 + static_cast<int64_t>(rng() % 1000) * c.period_s * 1000;
    auto source =
        [&](const EvaluationWindow&) -> absl::StatusOr<std::vector<Period>> {
      return range;
    };
    absl::StatusOr<PreviewStep> step =
        EvaluateAtTick(c, *v, tick, from, source);
    ASSERT_TRUE(step.ok()) << step.status();
    if (!step->changed) continue;
    ++transitions;
    const std::string reason = step->reason, data = step->reason_data;
    absl::StatusOr<Evidence> e =
        DecodeEvidence(EncodeEvidence(EvidenceOf(c, *v, from, *step)));
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(EvidenceReason(*e), Truncate(reason, kMaxStateReasonChars));
    EXPECT_EQ(EvidenceReasonData(*e), data);
    EXPECT_EQ(e->evaluation.state, step->state);
    AlarmRecord r;
    r.state_evidence = EncodeEvidence(*e);
    ASSERT_TRUE(RenderReason(&r).ok());
    EXPECT_EQ(r.state_reason, Truncate(reason, kMaxStateReasonChars));
    EXPECT_EQ(r.state_reason_data, data);
    EXPECT_TRUE(r.state_evidence.empty());
  }
  EXPECT_GT(transitions, 500);
}

TEST(Evidence, DamagedEvidenceIsDataLossWhenRendered) {
  AlarmRecord r;
  r.metric.name = "cpu";
  r.state_evidence = "\x01\x02";
  absl::Status s = RenderReason(&r);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("alarm 'cpu': evaluation evidence"));
  StateChange c;
  c.new_evidence = "\x07";
  EXPECT_EQ(StateChangeData(c).status().code(), absl::StatusCode::kDataLoss);
}

// A state change's data is the state update JSON of its two reasons and
// its evidence.
TEST(Evidence, AStateChangeWritesItsHistoryData) {
  Evidence e;
  e.tick_ms = 1796119500000;  // 2026-12-01 10:05:00
  e.range_start_ms = 1796119200000;
  e.period_ms = 60'000;
  e.previous = AlarmState::kOk;
  e.rule.evaluation_periods = 3;
  e.rule.datapoints_to_alarm = 2;
  e.rule.threshold = 80;
  e.rule.comparison = ComparisonOperator::kGreaterThanThreshold;
  e.statistic = "Average";
  e.range.resize(5);
  e.range[1].value = 70;
  e.range[2].value = 85;
  e.range[3].value = 90;
  e.evaluation = Evaluate(e.rule, e.range, e.previous);
  StateChange c{AlarmState::kOk,    "was fine",        "",
                AlarmState::kAlarm, EncodeEvidence(e), 4};
  absl::StatusOr<std::string> data = StateChangeData(c);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_TRUE(CheckJsonObject(*data).ok()) << *data;
  EXPECT_THAT(*data, HasSubstr("\"oldState\":{\"stateValue\":\"OK\","
                               "\"stateReason\":\"was fine\"}"));
  EXPECT_THAT(*data,
              HasSubstr("\"stateReason\":\"Threshold Crossed: 2 out of the "
                        "last 3 datapoints [90.0 (01/12/26 10:03:00), 85.0 "
                        "(01/12/26 10:02:00)] were greater than the threshold "
                        "(80.0) (minimum 2 datapoints for OK -> ALARM "
                        "transition).\""));
  EXPECT_THAT(*data, HasSubstr("\"configurationVersion\":4,\"evidence\":{"
                               "\"tick\":\"2026-12-01T10:05:00.000+0000\""));
  EXPECT_THAT(*data, HasSubstr("\"comparisonOperator\":\"GreaterThanThreshold\""
                               ",\"evaluationPeriods\":3,\"datapointsToAlarm\""
                               ":2,\"treatMissingData\":\"missing\""));
  // The replaced reason an evaluation's: written from its evidence too.
  c.old_reason.clear();
  c.old_evidence = c.new_evidence;
  data = StateChangeData(c);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(*data, HasSubstr("\"oldState\":{\"stateValue\":\"OK\","
                               "\"stateReason\":\"Threshold Crossed: 2 out"));
}

}  // namespace
}  // namespace nimbus::alarms
