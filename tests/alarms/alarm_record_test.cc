// The alarm record and history value encodings (storage/FORMAT.md): golden
// bytes, round trips of both alarm types, and damage refused as DataLoss.
#include "alarms/alarm_record.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nimbus::alarms {
namespace {

using ::testing::HasSubstr;

std::string Hex(absl::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    absl::StrAppend(&out, out.empty() ? "" : " ",
                    absl::Hex(c, absl::kZeroPad2));
  }
  return out;
}

AlarmRecord Golden() {
  AlarmRecord r;
  r.type = AlarmType::kMetric;
  r.metric.name = "cpu";
  r.metric.metric.namespace_name = "A";
  r.metric.metric.metric_name = "C";
  r.metric.metric.dimensions = {{"H", "a"}};
  r.metric.metric.unit = "";
  r.metric.statistic = "Average";
  r.metric.period_s = 60;
  r.metric.evaluation_periods = 3;
  r.metric.datapoints_to_alarm = 2;
  r.metric.threshold = 80;
  r.metric.comparison_operator = "GreaterThanThreshold";
  r.metric.treat_missing_data = "missing";
  r.metric.evaluate_low_sample_count_percentile = "evaluate";
  r.metric.alarm_actions = {"x"};
  r.config_version = 2;
  r.config_updated_ms = 1000;
  r.state = AlarmState::kAlarm;
  r.state_reason = "r";
  r.state_updated_ms = 2000;
  r.state_transitioned_ms = 2000;
  r.next_tick_ms = 120000;
  r.left_alarm_ms = -1;
  return r;
}

// storage/FORMAT.md, "Alarm record, version 3", field by field.
constexpr char kGoldenRecord[] =
    "03 01 02 d0 0f "                       // version, metric, v2, 1000
    "00 01 00 01 01 78 00 "                 // description, actions
    "0a 01 41 01 43 00 01 01 48 01 61 "     // the series key
    "07 41 76 65 72 61 67 65 00 3c 03 02 "  // Average, 60 s, N 3, M 2
    "00 00 00 00 00 00 54 40 "              // threshold 80
    "14 47 72 65 61 74 65 72 54 68 61 6e 54 68 72 65 73 68 6f 6c 64 "
    "07 6d 69 73 73 69 6e 67 08 65 76 61 6c 75 61 74 65 "
    "00 00 "           // no metric-math queries, no tags
    "01 a0 1f a0 1f "  // ALARM, updated and transitioned at 2000
    "00 80 d3 0e 00 "  // no evaluation state, next tick, not behind
    "01 01 00 00 "     // left at -1, not suppressed
    "01 72 00 00";     // reason "r", no data, no evidence

// The same as version 2 wrote it: the reasons after the state, no
// evidence; `tick` (hex) after the evaluation state.
std::string OlderVersion(absl::string_view version, absl::string_view tick) {
  std::string hex = absl::StrReplaceAll(
      kGoldenRecord, {{"03 01 02 d0 0f", absl::StrCat(version, " 01 02 d0 0f")},
                      {"01 a0 1f a0 1f ", "01 01 72 00 a0 1f a0 1f "},
                      {"00 80 d3 0e 00 ", absl::StrCat("00 ", tick)},
                      {"01 01 00 00 01 72 00 00", "01 01 00 00"}});
  return absl::HexStringToBytes(absl::StrReplaceAll(hex, {{" ", ""}}));
}

TEST(AlarmRecord, GoldenBytes) {
  const std::string bytes = EncodeAlarmRecord(Golden());
  EXPECT_EQ(Hex(bytes), kGoldenRecord);
  absl::StatusOr<AlarmRecord> r = DecodeAlarmRecord("cpu", bytes);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(EncodeAlarmRecord(*r), bytes);
  EXPECT_EQ(r->metric.name, "cpu");
  EXPECT_EQ(r->metric.metric.dimensions[0].value, "a");
  EXPECT_EQ(r->left_alarm_ms, -1);
}

// The golden record as version 1 wrote it, with `last_tick` (hex) in place
// of the next tick and the behind flag.
std::string VersionOne(absl::string_view last_tick) {
  return OlderVersion("01", last_tick);
}

TEST(AlarmRecord, VersionTwoRecordsStillRead) {
  const std::string v2 = OlderVersion("02", "80 d3 0e 00 ");
  absl::StatusOr<AlarmRecord> r = DecodeAlarmRecord("cpu", v2);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->state_reason, "r");
  EXPECT_TRUE(r->state_evidence.empty());
  EXPECT_EQ(EncodeAlarmRecord(*r), EncodeAlarmRecord(Golden()));
}

// An evaluation of N 3, M 2, > 80 over five minutes, from OK: two of the
// three newest periods with data breach.
Evidence GoldenEvidence() {
  Evidence e;
  e.tick_ms = 300'000;
  e.range_start_ms = 0;
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
  return e;
}

// storage/FORMAT.md, "Evaluation evidence, version 1", field by field.
constexpr char kGoldenEvidence[] =
    "01 c0 cf 24 00 c0 a9 07 "           // version, tick, start, period
    "00 03 02 00 00 00 00 00 00 54 40 "  // from OK, N 3, M 2, 80
    "01 00 00 "                          // >, missing, evaluate
    "07 41 76 65 72 61 67 65 05 "        // Average, 5 periods
    "00 01 00 00 00 00 00 80 51 40 "     // none, 70
    "01 00 00 00 00 00 40 55 40 "        // 85
    "01 00 00 00 00 00 80 56 40 00 "     // 90, none
    "01 00 00 02 03 "                    // ALARM by threshold, 2 of 3
    "01 00 00 02 00 01 03 00 01";        // which, and how

TEST(Evidence, GoldenBytes) {
  const Evidence e = GoldenEvidence();
  ASSERT_EQ(e.evaluation.state, AlarmState::kAlarm);
  const std::string bytes = EncodeEvidence(e);
  EXPECT_EQ(Hex(bytes), kGoldenEvidence);
  absl::StatusOr<Evidence> back = DecodeEvidence(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(EncodeEvidence(*back), bytes);
  EXPECT_EQ(back->range[2].value, 85);
  EXPECT_FALSE(back->range[0].value.has_value());
  ASSERT_EQ(back->evaluation.evaluated.size(), 3u);
  EXPECT_TRUE(back->evaluation.evaluated[2].breaching);
}

TEST(Evidence, DamageIsDataLoss) {
  const std::string bytes = EncodeEvidence(GoldenEvidence());
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(DecodeEvidence(bytes.substr(0, n)).status().code(),
              absl::StatusCode::kDataLoss)
        << n;
  }
  EXPECT_EQ(DecodeEvidence(bytes + "x").status().code(),
            absl::StatusCode::kDataLoss);
  std::string v2 = bytes;
  v2[0] = 2;
  EXPECT_THAT(DecodeEvidence(v2).status().message(),
              HasSubstr("evaluation evidence: unknown version 2"));
  // An evaluated period's index past the range.
  std::string index = bytes;
  index[index.size() - 3] = 5;
  EXPECT_EQ(DecodeEvidence(index).status().code(), absl::StatusCode::kDataLoss);
  // No such comparison operator.
  std::string op = bytes;
  op[19] = 4;
  ASSERT_EQ(Hex(bytes.substr(19, 1)), "01");
  EXPECT_EQ(DecodeEvidence(op).status().code(), absl::StatusCode::kDataLoss);
}

TEST(AlarmRecord, AnEvaluatedReasonKeepsItsEvidence) {
  AlarmRecord r = Golden();
  r.state_reason.clear();
  r.state_evidence = EncodeEvidence(GoldenEvidence());
  const std::string bytes = EncodeAlarmRecord(r);
  absl::StatusOr<AlarmRecord> back = DecodeAlarmRecord("cpu", bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->state_evidence, r.state_evidence);
  EXPECT_TRUE(back->state_reason.empty());
  EXPECT_EQ(EncodeAlarmRecord(*back), bytes);
  // The reasons last: the bytes before them and three empty strings are
  // the record without them.
  size_t at = 0;
  EXPECT_EQ(EncodeAlarmRecord(r, &at), bytes);
  AlarmRecord without = r;
  without.state_evidence.clear();
  EXPECT_EQ(bytes.substr(0, at) + std::string(3, '\0'),
            EncodeAlarmRecord(without));
}

TEST(AlarmRecord, VersionOneRecordsStillRead) {
  // Version 1 kept the tick of the last transition (60000) where version 2
  // keeps the next tick and the behind flag.
  const std::string v1 = VersionOne("c0 a9 07 ");
  absl::StatusOr<AlarmRecord> r = DecodeAlarmRecord("cpu", v1);
  ASSERT_TRUE(r.ok()) << r.status();
  // The tick after 60000 of a minute-interval alarm.
  EXPECT_EQ(r->next_tick_ms, 120000);
  EXPECT_FALSE(r->behind_checkpoint);
  EXPECT_EQ(EncodeAlarmRecord(*r), EncodeAlarmRecord(Golden()));
  // A version 1 record that never transitioned: the next tick is unknown.
  r = DecodeAlarmRecord("cpu", VersionOne("00 "));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->next_tick_ms, 0);
}

TEST(AlarmRecord, AMetricMathAlarmRoundTrips) {
  AlarmRecord r = Golden();
  r.metric.metric = {};
  r.metric.statistic.clear();
  engine::MetricDataQuery m1;
  m1.id = "m1";
  m1.return_data = false;
  m1.metric_stat = engine::MetricStat{Golden().metric.metric, 60'000, "Sum"};
  engine::MetricDataQuery e1;
  e1.id = "e1";
  e1.expression = "m1 * 2";
  e1.label = "double";
  e1.period_ms = 60'000;
  r.metric.metrics = {m1, e1};
  const std::string bytes = EncodeAlarmRecord(r);
  absl::StatusOr<AlarmRecord> back = DecodeAlarmRecord("cpu", bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(EncodeAlarmRecord(*back), bytes);
  ASSERT_EQ(back->metric.metrics.size(), 2u);
  EXPECT_EQ(back->metric.metrics[0].metric_stat->stat, "Sum");
  EXPECT_FALSE(back->metric.metrics[0].return_data);
  EXPECT_EQ(back->metric.metrics[1].expression, "m1 * 2");
  EXPECT_FALSE(back->metric.metrics[1].metric_stat.has_value());
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeAlarmRecord("cpu", bytes.substr(0, n)).ok()) << n;
  }
}

TEST(AlarmRecord, ACompositeRoundTrips) {
  AlarmRecord r;
  r.type = AlarmType::kComposite;
  r.composite.name = "c";
  r.composite.description = "d";
  r.composite.actions_enabled = false;
  r.composite.ok_actions = {"o1", "o2"};
  r.composite.alarm_rule = "ALARM(a) OR OK(\"b\")";
  r.composite.actions_suppressor = "m";
  r.composite.actions_suppressor_wait_period_s = 30;
  r.composite.actions_suppressor_extension_period_s = 60;
  r.tags = {{"k", "v"}, {"k2", ""}};
  r.state = AlarmState::kOk;
  r.state_reason_data = "{\"triggeringAlarms\":[]}";
  r.evaluation_state = EvaluationState::kEvaluationError;
  r.actions_suppressed_by = SuppressedBy::kWaitPeriod;
  r.actions_suppressed_reason = "waiting";
  const std::string bytes = EncodeAlarmRecord(r);
  absl::StatusOr<AlarmRecord> back = DecodeAlarmRecord("c", bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(EncodeAlarmRecord(*back), bytes);
  EXPECT_EQ(back->composite.alarm_rule, r.composite.alarm_rule);
  EXPECT_EQ(back->tags, r.tags);
  EXPECT_FALSE(back->left_alarm_ms.has_value());
  EXPECT_EQ(back->actions_suppressed_by, SuppressedBy::kWaitPeriod);
}

TEST(AlarmRecord, DamageIsDataLoss) {
  const std::string bytes = EncodeAlarmRecord(Golden());
  for (size_t n = 0; n < bytes.size(); ++n) {
    absl::StatusOr<AlarmRecord> r =
        DecodeAlarmRecord("cpu", bytes.substr(0, n));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << n;
  }
  EXPECT_EQ(DecodeAlarmRecord("cpu", bytes + "x").status().code(),
            absl::StatusCode::kDataLoss);
  std::string v4 = bytes;
  v4[0] = 4;
  EXPECT_THAT(DecodeAlarmRecord("cpu", v4).status().message(),
              HasSubstr("alarm record 'cpu': unknown version 4"));
  std::string type = bytes;
  type[1] = 7;
  EXPECT_EQ(DecodeAlarmRecord("cpu", type).status().code(),
            absl::StatusCode::kDataLoss);
  std::string state = bytes;
  state[state.size() - 18] = 9;  // the state byte
  ASSERT_EQ(Hex(bytes.substr(bytes.size() - 18, 3)), "01 a0 1f");
  EXPECT_EQ(DecodeAlarmRecord("cpu", state).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(HistoryValue, GoldenBytesAndDamage) {
  HistoryItem h;
  h.alarm_type = AlarmType::kComposite;
  h.type = HistoryItemType::kStateUpdate;
  h.summary = "s";
  h.data = "{}";
  const std::string bytes = EncodeHistoryValue(h);
  EXPECT_EQ(Hex(bytes), "02 02 02 01 73 02 7b 7d 00");
  HistoryItem back;
  ASSERT_TRUE(DecodeHistoryValue(bytes, &back).ok());
  EXPECT_EQ(back.summary, "s");
  EXPECT_EQ(back.data, "{}");
  EXPECT_EQ(back.alarm_type, AlarmType::kComposite);
  EXPECT_FALSE(back.change.has_value());
  // Version 1, without the state change flag.
  HistoryItem v1;
  ASSERT_TRUE(DecodeHistoryValue(absl::HexStringToBytes("010202017302"
                                                        "7b7d"),
                                 &v1)
                  .ok());
  EXPECT_EQ(v1.data, "{}");
  EXPECT_FALSE(v1.change.has_value());
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(DecodeHistoryValue(bytes.substr(0, n), &back).code(),
              absl::StatusCode::kDataLoss);
  }
  std::string bad = bytes;
  bad[2] = 4;  // no such item type
  EXPECT_EQ(DecodeHistoryValue(bad, &back).code(), absl::StatusCode::kDataLoss);
}

TEST(HistoryValue, AnEvaluatedTransitionKeepsItsChange) {
  HistoryItem h;
  h.alarm_type = AlarmType::kMetric;
  h.type = HistoryItemType::kStateUpdate;
  h.summary = "s";
  h.change = StateChange{AlarmState::kOk, "r", "", AlarmState::kAlarm, "e", 2};
  const std::string bytes = EncodeHistoryValue(h);
  // No data; the change: from OK with reason "r" (no evidence) to ALARM
  // with evidence "e", configuration version 2.
  EXPECT_EQ(Hex(bytes), "02 01 02 01 73 00 01 00 01 72 00 01 01 65 02");
  HistoryItem back;
  ASSERT_TRUE(DecodeHistoryValue(bytes, &back).ok());
  ASSERT_TRUE(back.change.has_value());
  EXPECT_EQ(back.change->old_reason, "r");
  EXPECT_EQ(back.change->new_state, AlarmState::kAlarm);
  EXPECT_EQ(back.change->new_evidence, "e");
  EXPECT_EQ(back.change->config_version, 2u);
  EXPECT_EQ(EncodeHistoryValue(back), bytes);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(DecodeHistoryValue(bytes.substr(0, n), &back).code(),
              absl::StatusCode::kDataLoss)
        << n;
  }
  std::string state = bytes;
  state[7] = 3;  // no such state
  EXPECT_EQ(DecodeHistoryValue(state, &back).code(),
            absl::StatusCode::kDataLoss);
}

TEST(AlarmNames, ParseWhatTheyPrint) {
  for (AlarmState s :
       {AlarmState::kOk, AlarmState::kAlarm, AlarmState::kInsufficientData}) {
    EXPECT_EQ(ParseAlarmState(AlarmStateName(s)), s);
  }
  EXPECT_EQ(ParseAlarmType("CompositeAlarm"), AlarmType::kComposite);
  EXPECT_EQ(ParseHistoryItemType("Action"), HistoryItemType::kAction);
  EXPECT_FALSE(ParseAlarmState("ok").has_value());
}

}  // namespace
}  // namespace nimbus::alarms
