// AlarmEngine over a real engine on a manual clock: creation and the first
// evaluation, live transitions equal to the preview's, updates, forced
// states, composites (propagation, cycles, deleted children), deletes,
// describe filters and paging, history, and restarts.
#include "alarms/alarm_engine.h"

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "alarms/history_json.h"
#include "alarms/preview.h"
#include "engine/clock.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/fault_injection_store.h"

namespace nimbus::alarms {
namespace {

using ::testing::HasSubstr;
using S = AlarmState;

constexpr int64_t kMinute = 60'000;
// 2026-12-01 10:00:00 UTC: the first point.
constexpr int64_t kT0 = 1796119200000;

class AlarmEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("alarm_engine_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    Open();
    // 30 minutes at 10 s: 50 for 15 minutes, 95 for 10, then 50 again.
    std::vector<engine::Sample> samples;
    for (int i = 0; i < 180; ++i) {
      const int minute = i / 6;
      samples.push_back(
          {kT0 + i * 10'000, minute >= 15 && minute < 25 ? 95.0 : 50.0});
    }
    std::vector<engine::SeriesWrite> w = {{Config().metric, samples, {}, {}}};
    ASSERT_TRUE(engine_->Write(w).ok());
  }
  void TearDown() override {
    alarms_.reset();
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Open() {
    engine::EngineOptions options;
    options.data_dir = dir_.string();
    options.sweep_interval_ms = 0;
    options.rollup_interval_ms = 0;
    options.background_sealing = false;
    options.wrap_store_for_testing = [this](
                                         std::unique_ptr<storage::Store> base) {
      auto f = std::make_unique<storage::FaultInjectionStore>(std::move(base));
      faults_ = f.get();
      return std::unique_ptr<storage::Store>(std::move(f));
    };
    auto e = engine::Engine::Open(options, clock_);
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
    AlarmEngineOptions ao;
    ao.evaluation_thread = false;
    ao.max_catch_up_ms = 60 * kMinute;
    ao.round_evaluated_for_testing = [this] {
      if (race_ == nullptr) return;
      std::function<void()> f = std::move(race_);
      race_ = nullptr;
      f();
    };
    auto a = AlarmEngine::Open(*engine_, clock_, ao);
    ASSERT_TRUE(a.ok()) << a.status();
    alarms_ = std::move(*a);
  }
  void Reopen() {
    alarms_.reset();
    engine_.reset();
    Open();
  }

  static MetricAlarmConfig Config(std::string name = "cpu") {
    MetricAlarmConfig c;
    c.name = std::move(name);
    c.metric.namespace_name = "App";
    c.metric.metric_name = "CPU";
    c.metric.dimensions = {{"Host", "a"}};
    c.metric.unit = "Percent";
    c.statistic = "Average";
    c.period_s = 60;
    c.evaluation_periods = 3;
    c.threshold = 80;
    c.comparison_operator = "GreaterThanThreshold";
    return c;
  }

  // Moves the clock minute by minute to `minute` after kT0, evaluating.
  void RunTo(int minute) {
    while (clock_.NowMs() < kT0 + minute * kMinute) {
      clock_.Advance(kMinute);
      ASSERT_TRUE(alarms_->EvaluateDue().ok());
    }
  }

  std::vector<HistoryItem> History(const std::string& name,
                                   std::optional<HistoryItemType> type = {}) {
    HistoryQuery q;
    q.alarm_name = name;
    q.item_type = type;
    q.oldest_first = true;
    std::vector<HistoryItem> out;
    for (;;) {
      auto r = alarms_->DescribeAlarmHistory(q);
      EXPECT_TRUE(r.ok()) << r.status();
      if (!r.ok()) return out;
      out.insert(out.end(), r->items.begin(), r->items.end());
      if (r->next_token.empty()) return out;
      q.next_token = r->next_token;
    }
  }

  // (minutes after kT0 of the evaluation, summary) of each StateUpdate.
  std::vector<std::string> Summaries(const std::string& name) {
    std::vector<std::string> out;
    for (const HistoryItem& h : History(name, HistoryItemType::kStateUpdate)) {
      out.push_back(absl::StrCat((h.time_ms - kT0) / kMinute, " ", h.summary));
    }
    return out;
  }

  std::filesystem::path dir_;
  engine::ManualClock clock_{kT0 + 4 * kMinute};
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<AlarmEngine> alarms_;
  storage::FaultInjectionStore* faults_ = nullptr;
  // Run once by the next full round, between its evaluations and its apply
  // step.
  std::function<void()> race_;
};

TEST_F(AlarmEngineTest, ANewAlarmStartsUncheckedAndIsEvaluatedAtOnce) {
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config(), {{"team", "infra"}}).ok());
  std::optional<AlarmRecord> r = alarms_->Get("cpu");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->state, S::kOk);
  EXPECT_THAT(r->state_reason, HasSubstr("3 out of the last 3 datapoints"));
  EXPECT_EQ(r->config_version, 1u);
  EXPECT_EQ(r->next_tick_ms, kT0 + 5 * kMinute);
  std::vector<HistoryItem> h = History("cpu");
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].type, HistoryItemType::kConfigurationUpdate);
  EXPECT_EQ(h[0].summary, "Alarm \"cpu\" created");
  EXPECT_THAT(h[0].data, HasSubstr("\"type\":\"Create\""));
  EXPECT_THAT(h[0].data, HasSubstr("\"tags\":[{\"key\":\"team\""));
  EXPECT_EQ(h[1].summary, "Alarm updated from INSUFFICIENT_DATA to OK");
  EXPECT_THAT(
      h[1].data,
      HasSubstr("\"stateReason\":\"Unchecked: Initial alarm creation\""));
  EXPECT_THAT(h[1].data, HasSubstr("\"evidence\":{\"tick\":"));
  EXPECT_TRUE(CheckJsonObject(h[1].data).ok()) << h[1].data;
}

TEST_F(AlarmEngineTest, LiveTransitionsEqualThePreviews) {
  MetricAlarmConfig c = Config();
  ASSERT_TRUE(alarms_->PutMetricAlarm(c, {}).ok());
  RunTo(35);
  // The preview of the same range from the same starting state.
  MetricAlarmConfig pc = Config();
  absl::StatusOr<ValidatedMetricAlarm> v = ValidateMetricAlarm(&pc);
  ASSERT_TRUE(v.ok());
  auto steps =
      PreviewMetricAlarm(pc, *v, kT0 + 4 * kMinute, kT0 + 35 * kMinute,
                         S::kInsufficientData, [&](const EvaluationWindow& w) {
                           return FetchPeriods(*engine_, pc, *v, w);
                         });
  ASSERT_TRUE(steps.ok());
  std::vector<std::string> preview;
  std::vector<std::string> preview_reasons;
  AlarmState prev = S::kInsufficientData;
  for (const PreviewStep& s : *steps) {
    if (!s.changed) continue;
    preview.push_back(absl::StrCat((s.tick_ms - kT0) / kMinute,
                                   " Alarm updated from ", AlarmStateName(prev),
                                   " to ", AlarmStateName(s.state)));
    preview_reasons.push_back(s.reason);
    prev = s.state;
  }
  EXPECT_EQ(Summaries("cpu"), preview);
  EXPECT_EQ(preview.size(), 4u);  // OK, ALARM (18), OK (26), INSUFFICIENT (35)
  std::optional<AlarmRecord> r = alarms_->Get("cpu");
  EXPECT_EQ(r->state, S::kInsufficientData);
  EXPECT_EQ(r->state_reason, preview_reasons.back());
  EXPECT_EQ(alarms_->Stats().transitions, 4);
}

TEST_F(AlarmEngineTest, LiveAlarmsReadTheRecentWindowThatIngestFeeds) {
  MetricAlarmConfig c = Config("fresh");
  c.metric.dimensions = {{"Host", "fresh"}};
  c.evaluation_periods = 2;
  ASSERT_TRUE(alarms_->PutMetricAlarm(c, {}).ok());
  EXPECT_EQ(alarms_->Get("fresh")->state, S::kInsufficientData);
  // Points arrive as time passes, after the alarm exists: 50, then 95.
  for (int m = 5; m < 12; ++m) {
    std::vector<engine::SeriesWrite> w = {
        {c.metric, {{kT0 + m * kMinute + 1000, m < 8 ? 50.0 : 95.0}}, {}, {}}};
    ASSERT_TRUE(engine_->Write(w).ok());
    RunTo(m + 1);
  }
  EXPECT_EQ(
      Summaries("fresh"),
      (std::vector<std::string>{"6 Alarm updated from INSUFFICIENT_DATA to OK",
                                "10 Alarm updated from OK to ALARM"}));
  const AlarmEngineStats st = alarms_->Stats();
  EXPECT_EQ(st.store_reads, 0);
  EXPECT_EQ(st.window_reads, st.evaluations);
  EXPECT_GT(st.window_reads, 0);
}

// A metric-math alarm on twice the CPU: 50 -> 100 (not > 120), 95 -> 190.
MetricAlarmConfig MathAlarm() {
  MetricAlarmConfig c;
  c.name = "math";
  engine::MetricDataQuery m1;
  m1.id = "m1";
  m1.return_data = false;
  engine::SeriesKey k;
  k.namespace_name = "App";
  k.metric_name = "CPU";
  k.dimensions = {{"Host", "a"}};
  k.unit = "Percent";
  m1.metric_stat = engine::MetricStat{k, 60'000, "Average"};
  engine::MetricDataQuery e1;
  e1.id = "e1";
  e1.expression = "m1 * 2";
  c.metrics = {m1, e1};
  c.evaluation_periods = 3;
  c.threshold = 120;
  c.comparison_operator = "GreaterThanThreshold";
  return c;
}

TEST_F(AlarmEngineTest, MetricMathAlarmsEvaluateTheReturnedSeries) {
  ASSERT_TRUE(alarms_->PutMetricAlarm(MathAlarm(), {}).ok());
  RunTo(30);
  EXPECT_EQ(
      Summaries("math"),
      (std::vector<std::string>{"4 Alarm updated from INSUFFICIENT_DATA to OK",
                                "18 Alarm updated from OK to ALARM",
                                "26 Alarm updated from ALARM to OK"}));
  std::optional<AlarmRecord> r = alarms_->Get("math");
  EXPECT_EQ(r->metric.period_s, 60);
  EXPECT_THAT(r->state_reason, HasSubstr("100.0"));
  Reopen();
  r = alarms_->Get("math");
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->metric.metrics.size(), 2u);
  EXPECT_EQ(r->metric.metrics[1].expression, "m1 * 2");
}

TEST_F(AlarmEngineTest, MetricMathAlarmsFollowTheirRules) {
  struct Case {
    const char* what;
    std::function<void(MetricAlarmConfig*)> edit;
    const char* message;
  };
  const Case cases[] = {
      {"statistic beside", [](MetricAlarmConfig* c) { c->statistic = "Sum"; },
       "statistic: not allowed with metrics"},
      {"period beside", [](MetricAlarmConfig* c) { c->period_s = 300; },
       "period: not allowed with metrics"},
      {"none returns",
       [](MetricAlarmConfig* c) { c->metrics[1].return_data = false; },
       "metrics: exactly one query must have return_data true"},
      {"two return",
       [](MetricAlarmConfig* c) { c->metrics[0].return_data = true; }, "got 2"},
      {"two periods",
       [](MetricAlarmConfig* c) {
         engine::MetricDataQuery m2 = c->metrics[0];
         m2.id = "m2";
         m2.metric_stat->period_ms = 300'000;
         c->metrics.push_back(m2);
       },
       "metrics[2].metric_stat.period: 300 s, but an earlier query has 60 s"},
      {"eleven",
       [](MetricAlarmConfig* c) {
         for (int i = 0; i < 9; ++i) {
           engine::MetricDataQuery m = c->metrics[0];
           m.id = absl::StrCat("x", i);
           c->metrics.push_back(m);
         }
       },
       "metrics: at most 10 queries, got 11"},
      {"bad expression",
       [](MetricAlarmConfig* c) { c->metrics[1].expression = "m1 *"; },
       "metrics: "},
      {"unknown id",
       [](MetricAlarmConfig* c) { c->metrics[1].expression = "m9 * 2"; }, "m9"},
  };
  for (const Case& c : cases) {
    MetricAlarmConfig config = MathAlarm();
    c.edit(&config);
    absl::Status s = alarms_->PutMetricAlarm(config, {});
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.what;
    EXPECT_THAT(s.message(), HasSubstr(c.message)) << c.what;
  }
  EXPECT_FALSE(alarms_->Get("math").has_value());
}

TEST_F(AlarmEngineTest, AnUpdateKeepsTheStateAndRecordsBothConfigurations) {
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config(), {}).ok());
  RunTo(18);
  ASSERT_EQ(alarms_->Get("cpu")->state, S::kAlarm);
  MetricAlarmConfig c = Config();
  c.description = "the second version";
  c.threshold = 90;
  ASSERT_TRUE(alarms_->PutMetricAlarm(c, {}).ok());
  std::optional<AlarmRecord> r = alarms_->Get("cpu");
  EXPECT_EQ(r->state, S::kAlarm);  // 95 > 90 still
  EXPECT_EQ(r->config_version, 2u);
  EXPECT_EQ(r->metric.threshold, 90);
  std::vector<HistoryItem> cfg =
      History("cpu", HistoryItemType::kConfigurationUpdate);
  ASSERT_EQ(cfg.size(), 2u);
  EXPECT_EQ(cfg[1].summary, "Alarm \"cpu\" updated");
  EXPECT_THAT(cfg[1].data, HasSubstr("\"updatedAlarm\":{"));
  EXPECT_THAT(cfg[1].data, HasSubstr("\"previousAlarm\":{"));
  EXPECT_THAT(cfg[1].data, HasSubstr("\"threshold\":90.0"));
  EXPECT_THAT(cfg[1].data, HasSubstr("\"threshold\":80.0"));
  // A threshold the data does not cross: the update's evaluation says OK.
  c.threshold = 99;
  ASSERT_TRUE(alarms_->PutMetricAlarm(c, {}).ok());
  EXPECT_EQ(alarms_->Get("cpu")->state, S::kOk);
}

TEST_F(AlarmEngineTest, StatesAndHistorySurviveARestartWithoutRepeats) {
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config(), {}).ok());
  RunTo(20);
  const std::vector<std::string> before = Summaries("cpu");
  ASSERT_EQ(before.size(), 2u);
  Reopen();
  std::optional<AlarmRecord> r = alarms_->Get("cpu");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->state, S::kAlarm);
  // Nothing evaluated before is evaluated again.
  ASSERT_TRUE(alarms_->EvaluateDue().ok());
  EXPECT_EQ(alarms_->Stats().evaluations, 0);
  EXPECT_EQ(Summaries("cpu"), before);
  RunTo(35);
  // A run that was never restarted.
  std::vector<std::string> after = Summaries("cpu");
  EXPECT_EQ(after.size(), 4u);
}

// Puts and deletes while a round evaluates: the round drops what it
// computed for the alarms they replaced or deleted, the alarms put keep
// their own evaluation, and a restart resumes each where it was.
TEST_F(AlarmEngineTest, PutsAndDeletesThatRaceARoundKeepTheirOwnState) {
  for (const char* name : {"a", "b", "c"}) {
    ASSERT_TRUE(alarms_->PutMetricAlarm(Config(name), {}).ok());
  }
  RunTo(17);
  // Minute 18's round finds all three breaching; meanwhile "a" is deleted,
  // "b" is put again with a threshold never crossed, "d" is created.
  MetricAlarmConfig b = Config("b");
  b.threshold = 99;
  race_ = [&] {
    ASSERT_TRUE(alarms_->DeleteAlarms({"a"}).ok());
    ASSERT_TRUE(alarms_->PutMetricAlarm(b, {}).ok());
    // d's first evaluation fails (the read of the reason it replaces): its
    // tick stays due.
    faults_->FailReads(storage::Column::kAlarms, 1,
                       absl::UnavailableError("injected"));
    ASSERT_TRUE(alarms_->PutMetricAlarm(Config("d"), {}).ok());
    std::optional<AlarmRecord> d = alarms_->Get("d");
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->evaluation_state, EvaluationState::kEvaluationError)
        << d->state_reason;
    EXPECT_EQ(d->next_tick_ms, kT0 + 18 * kMinute);
  };
  RunTo(18);
  ASSERT_EQ(race_, nullptr);
  // The round had three jobs; only c's transition was applied.
  EXPECT_EQ(alarms_->Stats().last_round.jobs, 3);
  EXPECT_EQ(alarms_->Stats().last_round.transitions, 1);
  EXPECT_FALSE(alarms_->Get("a").has_value());
  EXPECT_EQ(Summaries("a"),
            (std::vector<std::string>{
                "4 Alarm updated from INSUFFICIENT_DATA to OK"}));
  EXPECT_EQ(alarms_->Get("b")->state, S::kOk);
  EXPECT_EQ(alarms_->Get("b")->metric.threshold, 99);
  EXPECT_EQ(alarms_->Get("c")->state, S::kAlarm);
  EXPECT_EQ(alarms_->Get("d")->state, S::kInsufficientData);
  // A restart resumes each where it was: d at its tick not evaluated yet
  // (though the round moved the minute's checkpoint past it), the others
  // after it.
  Reopen();
  EXPECT_EQ(alarms_->Get("b")->next_tick_ms, kT0 + 19 * kMinute);
  EXPECT_EQ(alarms_->Get("c")->next_tick_ms, kT0 + 19 * kMinute);
  ASSERT_TRUE(alarms_->EvaluateDue().ok());
  EXPECT_EQ(alarms_->Stats().evaluations, 1);
  EXPECT_EQ(alarms_->Get("d")->state, S::kAlarm);
  RunTo(30);
  EXPECT_EQ(alarms_->Stats().evaluations, 1 + 3 * 12);
  EXPECT_EQ(Summaries("b"),
            (std::vector<std::string>{
                "4 Alarm updated from INSUFFICIENT_DATA to OK"}));
  EXPECT_EQ(Summaries("c"), (std::vector<std::string>{
                                "4 Alarm updated from INSUFFICIENT_DATA to OK",
                                "18 Alarm updated from OK to ALARM",
                                "26 Alarm updated from ALARM to OK"}));
  EXPECT_EQ(Summaries("d"),
            (std::vector<std::string>{
                "18 Alarm updated from INSUFFICIENT_DATA to ALARM",
                "26 Alarm updated from ALARM to OK"}));
}

TEST_F(AlarmEngineTest, TicksMissedWhileDownAreEvaluatedInOrder) {
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config(), {}).ok());
  Reopen();
  // Down from minute 4 to 30: the ALARM at 18 and the OK at 26 happen late.
  clock_.Set(kT0 + 30 * kMinute);
  ASSERT_TRUE(alarms_->EvaluateDue().ok());
  std::vector<HistoryItem> h = History("cpu", HistoryItemType::kStateUpdate);
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[1].summary, "Alarm updated from OK to ALARM");
  EXPECT_THAT(h[1].data,
              HasSubstr("\"tick\":\"2026-12-01T10:18:00.000+0000\""));
  EXPECT_EQ(h[2].summary, "Alarm updated from ALARM to OK");
  // Its record says where a restart resumes: after the last tick.
  EXPECT_EQ(alarms_->Get("cpu")->next_tick_ms, kT0 + 31 * kMinute);
}

TEST_F(AlarmEngineTest, ARestartDoesNotEvaluateTicksAgainOverLateData) {
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config(), {}).ok());
  RunTo(10);  // OK since minute 4
  // Late points, after minutes 7-9 were evaluated, that would breach them.
  std::vector<engine::Sample> late;
  for (int i = 7 * 6; i < 10 * 6; ++i) {
    late.push_back({kT0 + i * 10'000 + 5'000, 1000.0});
  }
  std::vector<engine::SeriesWrite> w = {{Config().metric, late, {}, {}}};
  ASSERT_TRUE(engine_->Write(w).ok());
  Reopen();
  ASSERT_TRUE(alarms_->EvaluateDue().ok());
  EXPECT_EQ(alarms_->Stats().evaluations, 0);
  // As without a restart: tick 11 reads minutes 8-10, 2 of 3 breaching.
  RunTo(12);
  EXPECT_EQ(alarms_->Stats().evaluations, 2);
  EXPECT_EQ(alarms_->Get("cpu")->state, S::kOk);
  EXPECT_EQ(Summaries("cpu"),
            (std::vector<std::string>{
                "4 Alarm updated from INSUFFICIENT_DATA to OK"}));
}

TEST_F(AlarmEngineTest, AnAlarmThatNeverTransitionedCatchesUpAfterARestart) {
  // No data for host b: INSUFFICIENT_DATA from its creation, no transition.
  MetricAlarmConfig c = Config("idle");
  c.metric.dimensions = {{"Host", "b"}};
  ASSERT_TRUE(alarms_->PutMetricAlarm(c, {}).ok());
  RunTo(10);
  ASSERT_EQ(alarms_->Get("idle")->state, S::kInsufficientData);
  Reopen();
  // Down until minute 30; host b reported 95 from minute 12 on.
  std::vector<engine::Sample> samples;
  for (int i = 12 * 6; i < 30 * 6; ++i) {
    samples.push_back({kT0 + i * 10'000, 95.0});
  }
  std::vector<engine::SeriesWrite> w = {{c.metric, samples, {}, {}}};
  ASSERT_TRUE(engine_->Write(w).ok());
  clock_.Set(kT0 + 30 * kMinute);
  ASSERT_TRUE(alarms_->EvaluateDue().ok());
  // Ticks 11-30, each once, none skipped: OK at the first datapoint (minute
  // 12, at tick 13: 1 of 3 breaching, the others missing), ALARM once
  // minutes 12-14 breach.
  EXPECT_EQ(alarms_->Stats().evaluations, 20);
  EXPECT_EQ(alarms_->Stats().ticks_skipped, 0);
  EXPECT_EQ(
      Summaries("idle"),
      (std::vector<std::string>{"30 Alarm updated from INSUFFICIENT_DATA to OK",
                                "30 Alarm updated from OK to ALARM"}));
  std::vector<HistoryItem> h = History("idle", HistoryItemType::kStateUpdate);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_THAT(h[0].data,
              HasSubstr("\"tick\":\"2026-12-01T10:13:00.000+0000\""));
  EXPECT_THAT(h[1].data,
              HasSubstr("\"tick\":\"2026-12-01T10:15:00.000+0000\""));
}

TEST_F(AlarmEngineTest, AnEvaluationNotWrittenIsDoneAgainAfterARestart) {
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config(), {}).ok());
  RunTo(10);  // the checkpoint of the minute interval is now tick 10
  clock_.Set(kT0 + 10 * kMinute + 30'000);
  // "late" is created (written), and its first evaluation, tick 10, is not.
  faults_->FailWrites(storage::Column::kAlarms, 1,
                      absl::UnavailableError("injected"), /*skip=*/1);
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config("late"), {}).ok());
  EXPECT_EQ(faults_->failed_writes(), 1);
  EXPECT_EQ(alarms_->Get("late")->state, S::kInsufficientData);
  Reopen();
  // It resumes at its own tick, behind the checkpoint, not after it.
  ASSERT_TRUE(alarms_->EvaluateDue().ok());
  EXPECT_EQ(alarms_->Stats().evaluations, 1);
  EXPECT_EQ(alarms_->Get("late")->state, S::kOk);
  std::vector<HistoryItem> h = History("late", HistoryItemType::kStateUpdate);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_THAT(h[0].data,
              HasSubstr("\"tick\":\"2026-12-01T10:10:00.000+0000\""));
}

// A round whose write fails has advanced nothing: the next round
// evaluates the same tick again, and its transition happens once.
TEST_F(AlarmEngineTest, ARoundNotWrittenIsEvaluatedAgain) {
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config(), {}).ok());
  RunTo(17);
  const int64_t evaluations = alarms_->Stats().evaluations;
  clock_.Set(kT0 + 18 * kMinute);  // the tick that goes to ALARM
  faults_->FailWrites(storage::Column::kAlarms, 1,
                      absl::UnavailableError("injected"));
  EXPECT_FALSE(alarms_->EvaluateDue().ok());
  EXPECT_EQ(faults_->failed_writes(), 1);
  EXPECT_EQ(alarms_->Get("cpu")->state, S::kOk);
  EXPECT_EQ(alarms_->Stats().evaluations, evaluations);
  ASSERT_TRUE(alarms_->EvaluateDue().ok());
  EXPECT_EQ(alarms_->Stats().evaluations, evaluations + 1);
  EXPECT_EQ(alarms_->Get("cpu")->state, S::kAlarm);
  EXPECT_EQ(
      Summaries("cpu"),
      (std::vector<std::string>{"4 Alarm updated from INSUFFICIENT_DATA to OK",
                                "18 Alarm updated from OK to ALARM"}));
  // And the round after goes on from there.
  RunTo(30);
  EXPECT_EQ(Summaries("cpu").back(), "26 Alarm updated from ALARM to OK");
}

TEST_F(AlarmEngineTest, ReasonsThatCannotBeReadFailTheCallAndChangeNothing) {
  // Memory holds no reasons: describing, forcing a state and transitioning
  // read them from the store.
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config(), {}).ok());
  RunTo(17);
  ASSERT_EQ(alarms_->Get("cpu")->state, S::kOk);
  const size_t items = History("cpu").size();
  const absl::Status injected = absl::UnavailableError("injected read error");

  faults_->FailReads(storage::Column::kAlarms, 1, injected);
  DescribeAlarmsQuery q;
  EXPECT_EQ(alarms_->DescribeAlarms(q).status(), injected);

  faults_->FailReads(storage::Column::kAlarms, 1, injected);
  EXPECT_EQ(alarms_->SetAlarmState("cpu", S::kAlarm, "forced", ""), injected);
  EXPECT_EQ(alarms_->Get("cpu")->state, S::kOk);

  // Tick 18 breaches; the reason it replaces cannot be read: no transition,
  // counted, and evaluated again.
  clock_.Advance(kMinute);
  faults_->FailReads(storage::Column::kAlarms, 1, injected);
  EXPECT_EQ(alarms_->EvaluateDue(), injected);
  EXPECT_EQ(alarms_->Stats().evaluation_failures, 1);
  EXPECT_EQ(alarms_->Get("cpu")->state, S::kOk);
  EXPECT_EQ(History("cpu").size(), items);
  EXPECT_EQ(alarms_->Get("cpu")->evaluation_state,
            EvaluationState::kEvaluationError);
  // Tried again a second later.
  ASSERT_TRUE(alarms_->EvaluateDue().ok());
  EXPECT_EQ(alarms_->Get("cpu")->state, S::kOk);
  clock_.Advance(1000);
  ASSERT_TRUE(alarms_->EvaluateDue().ok());
  std::optional<AlarmRecord> r = alarms_->Get("cpu");
  EXPECT_EQ(r->state, S::kAlarm);
  EXPECT_THAT(r->state_reason, HasSubstr("Threshold Crossed"));
  EXPECT_THAT(r->state_reason_data, HasSubstr("\"recentDatapoints\""));
  std::vector<HistoryItem> h = History("cpu", HistoryItemType::kStateUpdate);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(r->evaluation_state, EvaluationState::kNone);
  // The history keeps the reason it replaced: the failure's.
  EXPECT_THAT(h[1].data,
              HasSubstr("\"oldState\":{\"stateValue\":\"OK\",\"stateReason\":"
                        "\"Unable to evaluate the alarm: injected read "
                        "error\""));
}

TEST_F(AlarmEngineTest, AnUnreadableRecordHoldsBackOnlyItsCheckpoint) {
  // "cpu" breaches at tick 18, "quiet" never. At 18 no alarm record can be
  // read: cpu's transition fails (its old reason is unreadable), and cpu,
  // now behind the round's checkpoint, cannot be written as behind. The
  // round still advances quiet, holds the checkpoint back, and loses
  // nothing across a restart.
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config(), {}).ok());
  MetricAlarmConfig q = Config("quiet");
  q.threshold = 99;
  ASSERT_TRUE(alarms_->PutMetricAlarm(q, {}).ok());
  RunTo(17);
  const int64_t evaluations = alarms_->Stats().evaluations;
  clock_.Advance(kMinute);
  faults_->FailReads(storage::Column::kAlarms, 1000,
                     absl::UnavailableError("injected read error"));
  EXPECT_FALSE(alarms_->EvaluateDue().ok());
  EXPECT_EQ(alarms_->Stats().evaluations, evaluations + 1);  // quiet's
  faults_->FailReads(storage::Column::kAlarms, 0, absl::OkStatus());
  EXPECT_EQ(alarms_->Get("cpu")->state, S::kOk);
  // quiet's tick 18 was written; cpu's is evaluated again (a second
  // later).
  clock_.Advance(1000);
  ASSERT_TRUE(alarms_->EvaluateDue().ok());
  EXPECT_EQ(alarms_->Stats().evaluations, evaluations + 2);
  Reopen();
  ASSERT_TRUE(alarms_->EvaluateDue().ok());
  EXPECT_EQ(alarms_->Stats().evaluations, 0);
  EXPECT_EQ(alarms_->Get("cpu")->state, S::kAlarm);
  EXPECT_EQ(
      Summaries("cpu"),
      (std::vector<std::string>{"4 Alarm updated from INSUFFICIENT_DATA to OK",
                                "18 Alarm updated from OK to ALARM"}));
  EXPECT_EQ(Summaries("quiet"),
            (std::vector<std::string>{
                "4 Alarm updated from INSUFFICIENT_DATA to OK"}));
}

TEST_F(AlarmEngineTest, AFailingEvaluationIsAnEvaluationErrorUntilOneWorks) {
  // A percentile alarm reads the store at every tick; reads of the points
  // fail from minute 11 until minute 13.
  MetricAlarmConfig c = Config("p90");
  c.statistic.clear();
  c.extended_statistic = "p90";
  ASSERT_TRUE(alarms_->PutMetricAlarm(c, {}).ok());
  RunTo(10);
  ASSERT_EQ(alarms_->Get("p90")->state, S::kOk);
  const size_t items = History("p90").size();
  const absl::Status injected = absl::UnavailableError("injected");
  faults_->FailIterators(storage::Column::kPoints, 1000000, injected);
  clock_.Advance(kMinute);
  EXPECT_FALSE(alarms_->EvaluateDue().ok());
  std::optional<AlarmRecord> r = alarms_->Get("p90");
  EXPECT_EQ(r->state, S::kOk);  // the state stays
  EXPECT_EQ(r->evaluation_state, EvaluationState::kEvaluationError);
  EXPECT_THAT(r->state_reason,
              HasSubstr("Unable to evaluate the alarm: injected"));
  const int64_t failures = alarms_->Stats().evaluation_failures;
  EXPECT_GE(failures, 1);
  // Not tried again before a second has passed, then 2 s, 4 s, ...
  ASSERT_TRUE(alarms_->EvaluateDue().ok());
  EXPECT_EQ(alarms_->Stats().evaluation_failures, failures);
  clock_.Advance(1000);
  EXPECT_FALSE(alarms_->EvaluateDue().ok());
  EXPECT_EQ(alarms_->Stats().evaluation_failures, failures + 1);
  clock_.Advance(1000);
  ASSERT_TRUE(alarms_->EvaluateDue().ok());  // 2 s not passed
  EXPECT_EQ(alarms_->Stats().evaluation_failures, failures + 1);
  // Still failing at minute 12; then the reads work again.
  clock_.Set(kT0 + 12 * kMinute);
  EXPECT_FALSE(alarms_->EvaluateDue().ok());
  EXPECT_EQ(alarms_->Stats().evaluation_failures, failures + 2);
  faults_->FailIterators(storage::Column::kPoints, 0, absl::OkStatus());
  const int64_t evaluations = alarms_->Stats().evaluations;
  clock_.Set(kT0 + 13 * kMinute);
  ASSERT_TRUE(alarms_->EvaluateDue().ok());
  // Ticks 11, 12 and 13, none missed; OK throughout, with its reason again.
  EXPECT_EQ(alarms_->Stats().evaluations, evaluations + 3);
  r = alarms_->Get("p90");
  EXPECT_EQ(r->state, S::kOk);
  EXPECT_EQ(r->evaluation_state, EvaluationState::kNone);
  EXPECT_EQ(r->state_reason,
            "Evaluated again at 2026-12-01T10:13:00.000+0000 after an "
            "evaluation error: the state stays OK");
  EXPECT_EQ(History("p90").size(), items);  // no transition, no item
  // It breaches at 18 as an alarm that never failed does.
  RunTo(18);
  EXPECT_EQ(alarms_->Get("p90")->state, S::kAlarm);
}

TEST_F(AlarmEngineTest, ClosedAlarmsLeaveNoWindowsInTheEngine) {
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config(), {}).ok());
  MetricAlarmConfig other = Config("other");
  other.metric.dimensions = {{"Host", "b"}};
  ASSERT_TRUE(alarms_->PutMetricAlarm(other, {}).ok());
  EXPECT_EQ(engine_->WatchedWindows(), 2u);
  alarms_.reset();  // the engine stays open
  EXPECT_EQ(engine_->WatchedWindows(), 0u);
}

TEST_F(AlarmEngineTest, AnAlarmTheServerNowRefusesIsKeptAndNotEvaluated) {
  // A 10-second alarm, then a restart with a reach too short for its range.
  MetricAlarmConfig c = Config("fast");
  c.period_s = 10;
  ASSERT_TRUE(alarms_->PutMetricAlarm(c, {}).ok());
  alarms_.reset();
  AlarmEngineOptions ao;
  ao.evaluation_thread = false;
  ao.high_resolution_reach_ms = 10'000;
  auto a = AlarmEngine::Open(*engine_, clock_, ao);
  ASSERT_TRUE(a.ok()) << a.status();
  alarms_ = std::move(*a);
  std::optional<AlarmRecord> r = alarms_->Get("fast");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->evaluation_state, EvaluationState::kEvaluationError);
  EXPECT_EQ(engine_->WatchedWindows(), 0u);  // no window for it
  clock_.Advance(kMinute);
  ASSERT_TRUE(alarms_->EvaluateDue().ok());
  EXPECT_EQ(alarms_->Stats().evaluations, 0);
}

TEST_F(AlarmEngineTest, RoundsOnTwoThreadsMatchTheSingleAlarm) {
  // Enough alarms for a round to use two evaluation threads (4,096 each at
  // least): every other one breaches at 80, the rest never at 99. Each
  // must transition exactly as one alarm alone does.
  alarms_.reset();
  AlarmEngineOptions ao;
  ao.evaluation_thread = false;
  ao.max_catch_up_ms = 60 * kMinute;
  ao.evaluation_threads = 2;
  auto a = AlarmEngine::Open(*engine_, clock_, ao);
  ASSERT_TRUE(a.ok());
  alarms_ = std::move(*a);
  constexpr int kAlarms = 8200;
  for (int i = 0; i < kAlarms; ++i) {
    MetricAlarmConfig c = Config(absl::StrCat("a", i));
    c.threshold = i % 2 == 0 ? 80 : 99;
    ASSERT_TRUE(alarms_->PutMetricAlarm(c, {}).ok());
  }
  RunTo(30);
  EXPECT_EQ(alarms_->Stats().evaluations, kAlarms * 27);
  const std::vector<std::string> breaching = {
      "4 Alarm updated from INSUFFICIENT_DATA to OK",
      "18 Alarm updated from OK to ALARM", "26 Alarm updated from ALARM to OK"};
  const std::vector<std::string> quiet = {breaching[0]};
  for (int i = 0; i < kAlarms; ++i) {
    ASSERT_EQ(Summaries(absl::StrCat("a", i)), i % 2 == 0 ? breaching : quiet)
        << i;
  }
}

// A round looks at every alarm only once one can be due: not at each
// wake-up before (a put, a forced state, the thread's own). (A failed
// evaluation's retry, due before the next tick, is looked for:
// AFailingEvaluationIsAnEvaluationErrorUntilOneWorks.)
TEST_F(AlarmEngineTest, RoundsLookAtEveryAlarmOnlyWhenOneCanBeDue) {
  clock_.Set(kT0 + 20 * kMinute + 5'000);
  for (const char* name : {"a", "b", "c"}) {
    ASSERT_TRUE(alarms_->PutMetricAlarm(Config(name), {}).ok());
  }
  ASSERT_TRUE(alarms_->EvaluateDue().ok());  // the first looks
  const int64_t scans = alarms_->Stats().scans;
  const int64_t evaluations = alarms_->Stats().evaluations;
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(1'000);
    ASSERT_TRUE(alarms_->EvaluateDue().ok());
  }
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config("d"), {}).ok());
  ASSERT_TRUE(alarms_->SetAlarmState("a", AlarmState::kOk, "forced", "").ok());
  ASSERT_TRUE(alarms_->EvaluateDue().ok());
  EXPECT_EQ(alarms_->Stats().scans, scans);
  // The next minute's tick: every alarm evaluated, "d" too.
  clock_.Set(kT0 + 21 * kMinute);
  ASSERT_TRUE(alarms_->EvaluateDue().ok());
  EXPECT_EQ(alarms_->Stats().scans, scans + 1);
  EXPECT_EQ(alarms_->Stats().evaluations, evaluations + 1 + 4);
  EXPECT_EQ(alarms_->Get("a")->state, AlarmState::kAlarm);
  // Until the next tick, nothing more.
  clock_.Set(kT0 + 22 * kMinute - 1);
  ASSERT_TRUE(alarms_->EvaluateDue().ok());
  EXPECT_EQ(alarms_->Stats().scans, scans + 1);
  EXPECT_EQ(alarms_->Stats().evaluations, evaluations + 5);
}

TEST_F(AlarmEngineTest, TicksBeyondTheCatchUpWindowAreSkippedAndCounted) {
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config(), {}).ok());
  clock_.Set(kT0 + 4 * kMinute + 90 * kMinute);
  ASSERT_TRUE(alarms_->EvaluateDue().ok());
  // Minutes 5-33 skipped; 34-94 (an hour back) evaluated.
  EXPECT_EQ(alarms_->Stats().ticks_skipped, 29);
  EXPECT_EQ(alarms_->Stats().evaluations, 1 + 61);
}

TEST_F(AlarmEngineTest, HourlyAlarmsCreatedLateInTheHourWaitForTheNextHour) {
  // Period x N over a day: evaluated hourly. Created 40 minutes into the
  // hour it is evaluated at once, at the hour's tick, though 10 minutes of
  // catch-up would not reach it; then at the next hour.
  alarms_.reset();
  AlarmEngineOptions ao;
  ao.evaluation_thread = false;
  ao.max_catch_up_ms = 10 * kMinute;
  auto a = AlarmEngine::Open(*engine_, clock_, ao);
  ASSERT_TRUE(a.ok());
  alarms_ = std::move(*a);
  MetricAlarmConfig c = Config("daily");
  c.period_s = 3600;
  c.evaluation_periods = 25;
  clock_.Set(kT0 + 40 * kMinute);
  ASSERT_TRUE(alarms_->PutMetricAlarm(c, {}).ok());
  EXPECT_EQ(alarms_->Stats().evaluations, 1);
  ASSERT_TRUE(alarms_->EvaluateDue().ok());
  EXPECT_EQ(alarms_->Stats().evaluations, 1);
  clock_.Set(kT0 + 60 * kMinute);
  ASSERT_TRUE(alarms_->EvaluateDue().ok());
  EXPECT_EQ(alarms_->Stats().evaluations, 2);
  // Restarted 40 minutes into an hour: nothing to catch up within 10
  // minutes, and the next hour's tick waits.
  clock_.Set(kT0 + 100 * kMinute);
  ASSERT_TRUE(alarms_->EvaluateDue().ok());
  EXPECT_EQ(alarms_->Stats().evaluations, 2);
}

TEST_F(AlarmEngineTest, AForcedStateLastsUntilTheNextEvaluation) {
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config(), {}).ok());
  ASSERT_TRUE(
      alarms_->SetAlarmState("cpu", S::kAlarm, "testing", R"({"why":1})").ok());
  std::optional<AlarmRecord> r = alarms_->Get("cpu");
  EXPECT_EQ(r->state, S::kAlarm);
  EXPECT_EQ(r->state_reason, "testing");
  EXPECT_EQ(r->state_reason_data, R"({"why":1})");
  RunTo(5);
  r = alarms_->Get("cpu");
  EXPECT_EQ(r->state, S::kOk);
  EXPECT_EQ(
      Summaries("cpu"),
      (std::vector<std::string>{"4 Alarm updated from INSUFFICIENT_DATA to OK",
                                "4 Alarm updated from OK to ALARM",
                                "5 Alarm updated from ALARM to OK"}));
  std::vector<HistoryItem> h = History("cpu", HistoryItemType::kStateUpdate);
  EXPECT_THAT(h[1].data, HasSubstr("\"setBy\":\"SetAlarmState\""));
}

TEST_F(AlarmEngineTest, SetAlarmStateChecksItsFields) {
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config(), {}).ok());
  absl::Status s = alarms_->SetAlarmState("nope", S::kAlarm, "r", "");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("'nope'"));
  s = alarms_->SetAlarmState("cpu", S::kAlarm, std::string(1024, 'r'), "");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("state_reason: at most 1023"));
  s = alarms_->SetAlarmState("cpu", S::kAlarm, "r", "{\"a\":");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("state_reason_data"));
  s = alarms_->SetAlarmState("cpu", S::kAlarm, "r", "[1]");
  EXPECT_THAT(s.message(), HasSubstr("must be a JSON object"));
  s = alarms_->SetAlarmState("cpu", S::kAlarm, "r",
                             "{\"a\":\"" + std::string(4000, 'x') + "\"}");
  EXPECT_THAT(s.message(), HasSubstr("state_reason_data: at most 4000"));
  EXPECT_EQ(alarms_->Get("cpu")->state, S::kOk);  // nothing changed
}

TEST_F(AlarmEngineTest, CompositesFollowTheirChildren) {
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config("a"), {}).ok());
  MetricAlarmConfig b = Config("b");
  b.threshold = 10;  // always breaching
  ASSERT_TRUE(alarms_->PutMetricAlarm(b, {}).ok());
  CompositeAlarmConfig c;
  c.name = "both";
  c.alarm_rule = "ALARM(a) AND ALARM(\"b\")";
  ASSERT_TRUE(alarms_->PutCompositeAlarm(c, {}).ok());
  EXPECT_EQ(alarms_->Get("both")->state, S::kOk);  // evaluated at once
  RunTo(18);
  std::optional<AlarmRecord> r = alarms_->Get("both");
  EXPECT_EQ(r->state, S::kAlarm);
  EXPECT_EQ(r->state_reason,
            "a transitioned to ALARM at 2026-12-01T10:18:00.000+0000");
  EXPECT_THAT(r->state_reason_data,
              HasSubstr("{\"triggeringAlarms\":[{\"name\":\"a\""));
  RunTo(26);
  EXPECT_EQ(alarms_->Get("both")->state, S::kOk);
  EXPECT_EQ(
      Summaries("both"),
      (std::vector<std::string>{"4 Alarm updated from INSUFFICIENT_DATA to OK",
                                "18 Alarm updated from OK to ALARM",
                                "26 Alarm updated from ALARM to OK"}));
  // A composite of composites follows in the same write.
  CompositeAlarmConfig top;
  top.name = "top";
  top.alarm_rule = "NOT OK(both)";
  ASSERT_TRUE(alarms_->PutCompositeAlarm(top, {}).ok());
  EXPECT_EQ(alarms_->Get("top")->state, S::kOk);
  ASSERT_TRUE(alarms_->SetAlarmState("a", S::kAlarm, "forced", "").ok());
  EXPECT_EQ(alarms_->Get("both")->state, S::kAlarm);
  EXPECT_EQ(alarms_->Get("top")->state, S::kAlarm);
  // Describe by relation.
  DescribeAlarmsQuery q;
  q.children_of_alarm_name = "both";
  auto d = alarms_->DescribeAlarms(q);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->alarms.size(), 2u);
  EXPECT_EQ(d->alarms[0].name(), "a");
  q = {};
  q.parents_of_alarm_name = "both";
  d = alarms_->DescribeAlarms(q);
  ASSERT_EQ(d->alarms.size(), 1u);
  EXPECT_EQ(d->alarms[0].name(), "top");
}

TEST_F(AlarmEngineTest, ACycleStopsEvaluationAndTheReasonSaysSo) {
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config("m"), {}).ok());
  CompositeAlarmConfig x;
  x.name = "x";
  x.alarm_rule = "ALARM(m)";
  ASSERT_TRUE(alarms_->PutCompositeAlarm(x, {}).ok());
  CompositeAlarmConfig y;
  y.name = "y";
  y.alarm_rule = "ALARM(x)";
  ASSERT_TRUE(alarms_->PutCompositeAlarm(y, {}).ok());
  x.alarm_rule = "ALARM(m) OR ALARM(y)";
  ASSERT_TRUE(alarms_->PutCompositeAlarm(x, {}).ok());
  std::optional<AlarmRecord> r = alarms_->Get("x");
  EXPECT_EQ(r->evaluation_state, EvaluationState::kEvaluationError);
  EXPECT_THAT(r->state_reason, HasSubstr("cycle (x -> y -> x)"));
  // A child's change does not get through the cycle.
  ASSERT_TRUE(alarms_->SetAlarmState("m", S::kAlarm, "forced", "").ok());
  EXPECT_EQ(alarms_->Get("x")->state, S::kOk);
  EXPECT_EQ(alarms_->Get("y")->evaluation_state,
            EvaluationState::kEvaluationError);
  // Breaking it evaluates again.
  x.alarm_rule = "ALARM(m)";
  ASSERT_TRUE(alarms_->PutCompositeAlarm(x, {}).ok());
  EXPECT_EQ(alarms_->Get("x")->state, S::kAlarm);
  EXPECT_EQ(alarms_->Get("x")->evaluation_state, EvaluationState::kNone);
}

TEST_F(AlarmEngineTest, CompositeRulesMustNameAlarmsThatExist) {
  CompositeAlarmConfig c;
  c.name = "c";
  c.alarm_rule = "ALARM(ghost)";
  absl::Status s = alarms_->PutCompositeAlarm(c, {});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("alarm_rule: names alarm 'ghost'"));
  c.alarm_rule = "ALARM(c)";
  s = alarms_->PutCompositeAlarm(c, {});
  EXPECT_THAT(s.message(), HasSubstr("alarm_rule: names the alarm itself"));
  c.alarm_rule = "ALARM(";
  s = alarms_->PutCompositeAlarm(c, {});
  EXPECT_THAT(s.message(), HasSubstr("alarm_rule: column 7"));
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config("m"), {}).ok());
  c.alarm_rule = "ALARM(m)";
  c.actions_suppressor = "ghost";
  s = alarms_->PutCompositeAlarm(c, {});
  EXPECT_THAT(s.message(), HasSubstr("actions_suppressor: alarm 'ghost'"));
  // A metric alarm's name cannot be reused for a composite, nor back.
  c.name = "m";
  c.alarm_rule = "TRUE";
  c.actions_suppressor = "";
  s = alarms_->PutCompositeAlarm(c, {});
  EXPECT_THAT(s.message(), HasSubstr("is a metric alarm"));
}

TEST_F(AlarmEngineTest, DeletingAChildLeavesItsParentUnableToEvaluate) {
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config("m"), {}).ok());
  CompositeAlarmConfig c;
  c.name = "c";
  c.alarm_rule = "ALARM(m)";
  ASSERT_TRUE(alarms_->PutCompositeAlarm(c, {}).ok());
  absl::Status s = alarms_->DeleteAlarms({"m", "ghost"});
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(alarms_->Get("m").has_value());  // all or none
  ASSERT_TRUE(alarms_->DeleteAlarms({"m"}).ok());
  EXPECT_FALSE(alarms_->Get("m").has_value());
  std::optional<AlarmRecord> r = alarms_->Get("c");
  EXPECT_EQ(r->evaluation_state, EvaluationState::kEvaluationError);
  EXPECT_THAT(r->state_reason, HasSubstr("m"));
  // The deleted alarm's history stays, with its deletion.
  std::vector<HistoryItem> h = History("m");
  ASSERT_FALSE(h.empty());
  EXPECT_EQ(h.back().summary, "Alarm \"m\" deleted");
  EXPECT_THAT(h.back().data, HasSubstr("\"type\":\"Delete\""));
  Reopen();
  EXPECT_FALSE(alarms_->Get("m").has_value());
  EXPECT_EQ(History("m").size(), h.size());
  // Created again, it makes its parent evaluable again.
  MetricAlarmConfig m = Config("m");
  m.threshold = 10;  // ALARM at once
  ASSERT_TRUE(alarms_->PutMetricAlarm(m, {}).ok());
  r = alarms_->Get("c");
  EXPECT_EQ(r->evaluation_state, EvaluationState::kNone);
  EXPECT_EQ(r->state, S::kAlarm);
}

TEST_F(AlarmEngineTest, DescribeFiltersAndPages) {
  for (int i = 0; i < 7; ++i) {
    MetricAlarmConfig c = Config(absl::StrCat("web-", i));
    if (i % 2 == 0) c.threshold = 10;  // ALARM
    if (i == 3) c.alarm_actions = {"webhook:https://example.com/hook"};
    ASSERT_TRUE(alarms_->PutMetricAlarm(c, {}).ok());
  }
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config("db"), {}).ok());
  DescribeAlarmsQuery q;
  q.alarm_name_prefix = "web-";
  q.max_records = 3;
  std::vector<std::string> names;
  for (;;) {
    auto r = alarms_->DescribeAlarms(q);
    ASSERT_TRUE(r.ok());
    for (const AlarmRecord& a : r->alarms) names.push_back(a.name());
    if (r->next_token.empty()) break;
    q.next_token = r->next_token;
  }
  EXPECT_EQ(names.size(), 7u);
  EXPECT_EQ(names.front(), "web-0");
  q = {};
  q.state_value = S::kAlarm;
  auto r = alarms_->DescribeAlarms(q);
  EXPECT_EQ(r->alarms.size(), 4u);
  q = {};
  q.action_prefix = "webhook:";
  r = alarms_->DescribeAlarms(q);
  ASSERT_EQ(r->alarms.size(), 1u);
  EXPECT_EQ(r->alarms[0].name(), "web-3");
  q = {};
  q.alarm_names = {"db", "ghost"};
  r = alarms_->DescribeAlarms(q);
  ASSERT_EQ(r->alarms.size(), 1u);
  // Names page in name order, whatever order they are given in; the last
  // page ends without a token even when a name after it does not exist.
  q = {};
  q.alarm_names = {"web-5", "ghost", "db", "web-1", "web-6", "zzz"};
  q.max_records = 2;
  names.clear();
  for (int pages = 0;; ++pages) {
    ASSERT_LT(pages, 5);
    r = alarms_->DescribeAlarms(q);
    ASSERT_TRUE(r.ok());
    for (const AlarmRecord& a : r->alarms) names.push_back(a.name());
    if (r->next_token.empty()) break;
    q.next_token = r->next_token;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"db", "web-1", "web-5", "web-6"}));
  // A prefix, from a token before it and from one inside it; the alarms
  // after the prefix's ("web-" and later) are not listed.
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config("webz"), {}).ok());
  q = {};
  q.alarm_name_prefix = "web-";
  q.next_token = "a";
  EXPECT_EQ(alarms_->DescribeAlarms(q)->alarms.size(), 7u);
  q.next_token = "web-4";
  r = alarms_->DescribeAlarms(q);
  ASSERT_EQ(r->alarms.size(), 2u);
  EXPECT_EQ(r->alarms[0].name(), "web-5");
  EXPECT_TRUE(r->next_token.empty());
  ASSERT_TRUE(alarms_->DeleteAlarms({"webz"}).ok());
  q = {};
  q.alarm_types = {AlarmType::kComposite};
  EXPECT_TRUE(alarms_->DescribeAlarms(q)->alarms.empty());
  q = {};
  q.max_records = 101;
  EXPECT_THAT(alarms_->DescribeAlarms(q).status().message(),
              HasSubstr("max_records: must be 1 to 100"));
  q = {};
  q.alarm_names = {"db"};
  q.alarm_name_prefix = "d";
  EXPECT_EQ(alarms_->DescribeAlarms(q).status().code(),
            absl::StatusCode::kInvalidArgument);

  engine::SeriesKey k = Config().metric;
  EXPECT_EQ(alarms_->DescribeAlarmsForMetric(k, "", "", 0)->size(), 8u);
  EXPECT_EQ(alarms_->DescribeAlarmsForMetric(k, "Sum", "", 0)->size(), 0u);
  k.unit = "";
  EXPECT_EQ(alarms_->DescribeAlarmsForMetric(k, "Average", "", 60)->size(), 8u);
  k.dimensions = {};
  EXPECT_EQ(alarms_->DescribeAlarmsForMetric(k, "", "", 0)->size(), 0u);
}

TEST_F(AlarmEngineTest, HistoryFiltersPagesAndOrders) {
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config("a"), {}).ok());
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config("b"), {}).ok());
  RunTo(30);
  HistoryQuery q;
  q.max_records = 2;
  std::vector<HistoryItem> all;
  for (;;) {
    auto r = alarms_->DescribeAlarmHistory(q);
    ASSERT_TRUE(r.ok()) << r.status();
    all.insert(all.end(), r->items.begin(), r->items.end());
    if (r->next_token.empty()) break;
    q.next_token = r->next_token;
  }
  // Per alarm: created, OK, ALARM, OK.
  ASSERT_EQ(all.size(), 8u);
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_GE(all[i - 1].time_ms, all[i].time_ms);  // newest first
  }
  q = {};
  q.start_ms = kT0 + 18 * kMinute;
  q.end_ms = kT0 + 19 * kMinute;
  auto r = alarms_->DescribeAlarmHistory(q);
  ASSERT_EQ(r->items.size(), 2u);
  EXPECT_EQ(r->items[0].summary, "Alarm updated from OK to ALARM");
  q = {};
  q.next_token = "garbage";
  EXPECT_THAT(alarms_->DescribeAlarmHistory(q).status().message(),
              HasSubstr("next_token"));
  q = {};
  q.start_ms = 5;
  q.end_ms = 5;
  EXPECT_THAT(alarms_->DescribeAlarmHistory(q).status().message(),
              HasSubstr("end_date"));
}

TEST_F(AlarmEngineTest, HistoryDataStaysWithinItsLimit) {
  MetricAlarmConfig c = Config();
  for (int i = 0; i < 5; ++i) {
    c.ok_actions.push_back(std::string(1000, 'o'));
    c.alarm_actions.push_back(std::string(1000, 'a'));
  }
  ASSERT_TRUE(alarms_->PutMetricAlarm(c, {}).ok());
  c.threshold = 90;
  ASSERT_TRUE(alarms_->PutMetricAlarm(c, {}).ok());
  MetricAlarmConfig wide = Config("wide");
  wide.period_s = 60;
  wide.evaluation_periods = 1440;
  wide.datapoints_to_alarm = 1;
  ASSERT_TRUE(alarms_->PutMetricAlarm(wide, {}).ok());
  for (const char* name : {"cpu", "wide"}) {
    for (const HistoryItem& h : History(name)) {
      EXPECT_LE(h.data.size(), kMaxHistoryDataChars) << h.summary;
      EXPECT_TRUE(CheckJsonObject(h.data).ok()) << h.data;
    }
  }
  std::vector<HistoryItem> h = History("wide", HistoryItemType::kStateUpdate);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_THAT(h[0].data, HasSubstr("\"periodsOmitted\":"));
}

bool ValidUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80         ? 1
                     : (c >> 5) == 6  ? 2
                     : (c >> 4) == 14 ? 3
                     : (c >> 3) == 30 ? 4
                                      : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

TEST_F(AlarmEngineTest, ShortenedTextsEndOnACharacter) {
  std::string name = "a";
  for (int i = 0; i < 127; ++i) name += "\xc3\xa9";  // 255 bytes
  ASSERT_EQ(name.size(), 255u);
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config(name), {}).ok());
  for (const HistoryItem& h : History(name)) {
    EXPECT_LE(h.summary.size(), kMaxHistorySummaryChars);
    EXPECT_TRUE(ValidUtf8(h.summary)) << h.summary;
  }
}

TEST_F(AlarmEngineTest, HistoryOfAlarmsWithHugeDimensionsStaysWithinItsLimit) {
  MetricAlarmConfig c = Config("dims");
  c.metric.dimensions.clear();
  for (int i = 0; i < 30; ++i) {
    c.metric.dimensions.push_back(
        {absl::StrCat("d", i), std::string(1024, 'v')});
  }
  ASSERT_TRUE(alarms_->PutMetricAlarm(c, {}).ok());
  ASSERT_TRUE(alarms_->DeleteAlarms({"dims"}).ok());
  std::vector<HistoryItem> h = History("dims");
  ASSERT_GE(h.size(), 2u);
  for (const HistoryItem& item : h) {
    EXPECT_LE(item.data.size(), kMaxHistoryDataChars) << item.summary;
    EXPECT_TRUE(CheckJsonObject(item.data).ok()) << item.data;
  }
}

TEST_F(AlarmEngineTest, ActionsCanBeDisabledAndEnabled) {
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config(), {}).ok());
  ASSERT_TRUE(alarms_->SetActionsEnabled({"cpu"}, false).ok());
  EXPECT_FALSE(alarms_->Get("cpu")->actions_enabled());
  EXPECT_EQ(alarms_->Get("cpu")->config_version, 2u);
  EXPECT_EQ(alarms_->SetActionsEnabled({"cpu", "ghost"}, true).code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(alarms_->Get("cpu")->actions_enabled());
  ASSERT_TRUE(alarms_->SetActionsEnabled({"cpu"}, true).ok());
  EXPECT_TRUE(alarms_->Get("cpu")->actions_enabled());
  Reopen();
  EXPECT_TRUE(alarms_->Get("cpu")->actions_enabled());
  EXPECT_EQ(History("cpu", HistoryItemType::kConfigurationUpdate).size(), 3u);
}

TEST_F(AlarmEngineTest, ASuppressorIsRecordedWhenTheCompositeAlarms) {
  MetricAlarmConfig m = Config("m");
  m.threshold = 10;
  ASSERT_TRUE(alarms_->PutMetricAlarm(m, {}).ok());
  ASSERT_TRUE(alarms_->PutMetricAlarm(Config("maintenance"), {}).ok());
  ASSERT_TRUE(
      alarms_->SetAlarmState("maintenance", S::kAlarm, "window", "").ok());
  CompositeAlarmConfig c;
  c.name = "c";
  c.alarm_rule = "ALARM(m)";
  c.actions_suppressor = "maintenance";
  c.actions_suppressor_extension_period_s = 60;
  ASSERT_TRUE(alarms_->PutCompositeAlarm(c, {}).ok());
  std::optional<AlarmRecord> r = alarms_->Get("c");
  EXPECT_EQ(r->state, S::kAlarm);
  EXPECT_EQ(r->actions_suppressed_by, SuppressedBy::kAlarm);
  EXPECT_THAT(r->actions_suppressed_reason, HasSubstr("maintenance"));
}

TEST_F(AlarmEngineTest, BadFieldsAreRefusedNamingTheField) {
  MetricAlarmConfig c = Config();
  c.period_s = 45;
  EXPECT_THAT(alarms_->PutMetricAlarm(c, {}).message(), HasSubstr("period"));
  c = Config();
  Tags tags = {{"k", "v"}, {"k", "w"}};
  EXPECT_THAT(alarms_->PutMetricAlarm(c, tags).message(),
              HasSubstr("tags[1].key: 'k' given twice"));
  tags = {{"", "v"}};
  EXPECT_THAT(alarms_->PutMetricAlarm(c, tags).message(),
              HasSubstr("tags[0].key: must be 1 to 128"));
  EXPECT_FALSE(alarms_->Get("cpu").has_value());
  EXPECT_THAT(alarms_->DeleteAlarms({}).message(),
              HasSubstr("alarm_names: must name 1 to 100"));
  ASSERT_TRUE(alarms_->PutMetricAlarm(c, {}).ok());
  CompositeAlarmConfig composite;
  composite.name = "cpu";
  composite.alarm_rule = "TRUE";
  EXPECT_THAT(alarms_->PutCompositeAlarm(composite, {}).message(),
              HasSubstr("is a metric alarm"));
  composite.name = "comp";
  ASSERT_TRUE(alarms_->PutCompositeAlarm(composite, {}).ok());
  c.name = "comp";
  EXPECT_THAT(alarms_->PutMetricAlarm(c, {}).message(),
              HasSubstr("is a composite alarm"));
  composite.actions_suppressor_wait_period_s = 5;
  EXPECT_THAT(alarms_->PutCompositeAlarm(composite, {}).message(),
              HasSubstr("actions_suppressor: required"));
}

}  // namespace
}  // namespace nimbus::alarms
