// PreviewMetricAlarm over a real engine's stored points: the transitions,
// their reasons, each statistic, and the range checks.
#include "alarms/preview.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/clock.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nimbus::alarms {
namespace {

constexpr int64_t kMinute = 60'000;
// 2026-12-01 10:00:00 UTC: the first point.
constexpr int64_t kT0 = 1796119200000;

class PreviewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("preview_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    engine::EngineOptions options;
    options.data_dir = dir_.string();
    options.sweep_interval_ms = 0;
    options.rollup_interval_ms = 0;
    options.background_sealing = false;
    auto e = engine::Engine::Open(options, clock_);
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
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
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }

  static MetricAlarmConfig Config() {
    MetricAlarmConfig c;
    c.name = "cpu";
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

  absl::StatusOr<std::vector<PreviewStep>> Run(MetricAlarmConfig c,
                                               int64_t start, int64_t end) {
    absl::StatusOr<ValidatedMetricAlarm> v = ValidateMetricAlarm(&c);
    EXPECT_TRUE(v.ok()) << v.status();
    if (!v.ok()) return v.status();
    return PreviewMetricAlarm(c, *v, start, end, AlarmState::kInsufficientData,
                              [&](const EvaluationWindow& w) {
                                return FetchPeriods(*engine_, c, *v, w);
                              });
  }

  // (minutes after kT0, state) of each transition.
  static std::vector<std::pair<int64_t, AlarmState>> Transitions(
      const std::vector<PreviewStep>& steps) {
    std::vector<std::pair<int64_t, AlarmState>> out;
    for (const PreviewStep& s : steps) {
      if (s.changed) out.push_back({(s.tick_ms - kT0) / kMinute, s.state});
    }
    return out;
  }

  std::filesystem::path dir_;
  engine::ManualClock clock_{kT0 + 40 * kMinute};
  std::unique_ptr<engine::Engine> engine_;
};

TEST_F(PreviewTest, TransitionsFollowTheStoredPointsTickByTick) {
  auto steps = Run(Config(), kT0 + 5 * kMinute, kT0 + 35 * kMinute);
  ASSERT_TRUE(steps.ok()) << steps.status();
  ASSERT_EQ(steps->size(), 31u);  // every minute, both ends included
  using S = AlarmState;
  EXPECT_EQ(Transitions(*steps),
            (std::vector<std::pair<int64_t, S>>{{5, S::kOk},
                                                {18, S::kAlarm},
                                                {26, S::kOk},
                                                {35, S::kInsufficientData}}));
  const PreviewStep& alarm = (*steps)[13];
  ASSERT_EQ(alarm.tick_ms, kT0 + 18 * kMinute);
  EXPECT_EQ(alarm.reason,
            "Threshold Crossed: 3 out of the last 3 datapoints [95.0 (01/12/26 "
            "10:17:00), 95.0 (01/12/26 10:16:00), 95.0 (01/12/26 10:15:00)] "
            "were greater than the threshold (80.0) (minimum 3 datapoints for "
            "OK -> ALARM transition).");
  EXPECT_NE(alarm.reason_data.find("\"statistic\":\"Average\",\"period\":60"),
            std::string::npos)
      << alarm.reason_data;
  // No reason without a transition; the window ends at the tick.
  EXPECT_EQ((*steps)[14].reason, "");
  EXPECT_EQ(alarm.window.end_ms(), alarm.tick_ms);
  EXPECT_EQ(alarm.window.periods, 5u);
}

TEST_F(PreviewTest, EachStatisticReadsItsOwnValue) {
  struct Case {
    const char* statistic;
    const char* extended;
    double threshold;
    AlarmState at_20;  // minutes 17-19 of 95s, six points a minute
  };
  using S = AlarmState;
  const Case cases[] = {
      {"SampleCount", "", 5, S::kAlarm},                               // 6 > 5
      {"SampleCount", "", 6, S::kOk},    {"Sum", "", 569, S::kAlarm},  // 570
      {"Minimum", "", 94, S::kAlarm},    {"Maximum", "", 95, S::kOk},
      {"", "p50", 94, S::kAlarm},        {"", "tm99", 95, S::kOk},
      {"", "tm99", 94, S::kAlarm},
  };
  for (const Case& c : cases) {
    MetricAlarmConfig config = Config();
    config.statistic = c.statistic;
    config.extended_statistic = c.extended;
    config.threshold = c.threshold;
    auto steps = Run(config, kT0 + 20 * kMinute, kT0 + 20 * kMinute + 1);
    ASSERT_TRUE(steps.ok()) << steps.status();
    ASSERT_EQ(steps->size(), 1u);
    EXPECT_EQ((*steps)[0].state, c.at_20) << c.statistic << c.extended;
  }
}

TEST_F(PreviewTest, APercentileFromFewSamplesIsMarkedAndIgnoredOnRequest) {
  MetricAlarmConfig c = Config();
  c.statistic = "";
  c.extended_statistic = "p99";  // needs 1000 samples a period; there are 6
  c.evaluate_low_sample_count_percentile = "ignore";
  auto steps = Run(c, kT0 + 20 * kMinute, kT0 + 20 * kMinute + 1);
  ASSERT_TRUE(steps.ok()) << steps.status();
  EXPECT_TRUE((*steps)[0].range[4].low_sample_count);
  EXPECT_TRUE((*steps)[0].evaluation.kept);
  EXPECT_EQ((*steps)[0].state, AlarmState::kInsufficientData);
}

TEST_F(PreviewTest, TheRangeIsCheckedAndASourceErrorEndsThePreview) {
  MetricAlarmConfig c = Config();
  absl::StatusOr<ValidatedMetricAlarm> v = ValidateMetricAlarm(&c);
  ASSERT_TRUE(v.ok());
  auto never =
      [](const EvaluationWindow&) -> absl::StatusOr<std::vector<Period>> {
    return std::vector<Period>{};
  };
  auto inverted = PreviewMetricAlarm(c, *v, kT0, kT0, AlarmState::kOk, never);
  EXPECT_EQ(inverted.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(inverted.status().message(), "end_time: must be after start_time");
  auto too_long = PreviewMetricAlarm(c, *v, kT0, kT0 + 8 * 24 * 60 * kMinute,
                                     AlarmState::kOk, never);
  EXPECT_EQ(too_long.status().message(),
            "end_time: the range holds 11521 evaluations, at most 10080");
  auto failing = PreviewMetricAlarm(
      c, *v, kT0, kT0 + 10 * kMinute, AlarmState::kOk,
      [](const EvaluationWindow&) -> absl::StatusOr<std::vector<Period>> {
        return absl::UnavailableError("disk");
      });
  EXPECT_EQ(failing.status().code(), absl::StatusCode::kUnavailable);
  auto short_source =
      PreviewMetricAlarm(c, *v, kT0, kT0 + kMinute, AlarmState::kOk, never);
  EXPECT_EQ(short_source.status().code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace nimbus::alarms

namespace nimbus::alarms {
namespace {

TEST_F(PreviewTest, PreviewsThatWouldHoldTooManyPeriodsAreRefused) {
  MetricAlarmConfig c = Config();
  c.evaluation_periods = 1440;  // a day of minutes, 1920 periods a tick
  auto steps = Run(c, kT0, kT0 + 3 * 24 * 60 * kMinute);
  EXPECT_EQ(steps.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(steps.status().message()),
              ::testing::HasSubstr("end_time: the range holds 4321 "
                                   "evaluations of 1920 periods each"));
}

}  // namespace
}  // namespace nimbus::alarms
