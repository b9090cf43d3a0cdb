// A metric alarm's field rules (alarms/metric_alarm.h): each rule refused
// with InvalidArgument naming the field, the defaults filled in, and the
// rule the evaluator gets.
#include "alarms/metric_alarm.h"

#include <functional>
#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace nimbus::alarms {
namespace {

MetricAlarmConfig Valid() {
  MetricAlarmConfig c;
  c.name = "cpu-high";
  c.metric.namespace_name = "App";
  c.metric.metric_name = "CPUUtilization";
  c.metric.dimensions = {{"Host", "a"}, {"AZ", "1a"}};
  c.statistic = "Average";
  c.period_s = 60;
  c.evaluation_periods = 5;
  c.datapoints_to_alarm = 3;
  c.threshold = 80;
  c.comparison_operator = "GreaterThanThreshold";
  return c;
}

std::string Refused(const std::function<void(MetricAlarmConfig&)>& change) {
  MetricAlarmConfig c = Valid();
  change(c);
  absl::StatusOr<ValidatedMetricAlarm> v = ValidateMetricAlarm(&c);
  EXPECT_FALSE(v.ok());
  if (v.ok()) return "";
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(v.status().message());
}

TEST(MetricAlarm, AValidAlarmGetsItsDefaultsAndItsRule) {
  MetricAlarmConfig c = Valid();
  c.datapoints_to_alarm = 0;
  absl::StatusOr<ValidatedMetricAlarm> v = ValidateMetricAlarm(&c);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(c.datapoints_to_alarm, 5u);  // M defaults to N
  EXPECT_EQ(c.treat_missing_data, "missing");
  EXPECT_EQ(c.evaluate_low_sample_count_percentile, "evaluate");
  EXPECT_EQ(c.metric.dimensions[0].name, "AZ");  // sorted
  EXPECT_EQ(v->rule.evaluation_periods, 5u);
  EXPECT_EQ(v->rule.datapoints_to_alarm, 5u);
  EXPECT_EQ(v->rule.threshold, 80);
  EXPECT_EQ(v->rule.comparison, ComparisonOperator::kGreaterThanThreshold);
  EXPECT_EQ(v->rule.treat_missing_data, TreatMissingData::kMissing);
  EXPECT_FALSE(v->extended.has_value());
}

TEST(MetricAlarm, EveryFieldRuleIsRefusedNamingTheField) {
  EXPECT_EQ(Refused([](auto& c) { c.name = ""; }),
            "alarm_name: must be 1 to 255 characters, got 0");
  EXPECT_EQ(Refused([](auto& c) { c.name = std::string(256, 'a'); }),
            "alarm_name: must be 1 to 255 characters, got 256");
  EXPECT_EQ(Refused([](auto& c) { c.name = "a\nb"; }),
            "alarm_name: must not contain control characters");
  EXPECT_EQ(Refused([](auto& c) { c.description = std::string(1025, 'd'); }),
            "alarm_description: at most 1024 characters, got 1025");
  EXPECT_EQ(Refused([](auto& c) { c.alarm_actions.assign(6, "log:"); }),
            "alarm_actions: 6 given, at most 5");
  EXPECT_EQ(Refused([](auto& c) {
              c.ok_actions = {"log:", ""};
            }),
            "ok_actions[1]: must be 1 to 1024 characters, got 0");
  EXPECT_EQ(Refused([](auto& c) {
              c.insufficient_data_actions = {std::string(1025, 'u')};
            }),
            "insufficient_data_actions[0]: must be 1 to 1024 characters, got "
            "1025");
  EXPECT_NE(
      Refused([](auto& c) { c.metric.namespace_name = ""; }).find("namespace"),
      std::string::npos);
  EXPECT_EQ(Refused([](auto& c) { c.metric.metric_name = ""; }),
            "metric_name: must be 1 to 255 characters, got 0");
  EXPECT_EQ(Refused([](auto& c) {
              c.metric.dimensions = {{"Host", "a"}, {"Host", "b"}};
            }),
            "dimensions: name 'Host' appears more than once");
  EXPECT_NE(Refused([](auto& c) { c.metric.unit = "Furlongs"; }).find("unit: "),
            std::string::npos);
  EXPECT_EQ(Refused([](auto& c) { c.statistic = ""; }),
            "statistic: give exactly one of statistic and extended_statistic");
  EXPECT_EQ(Refused([](auto& c) { c.extended_statistic = "p99"; }),
            "statistic: give exactly one of statistic and extended_statistic");
  EXPECT_EQ(Refused([](auto& c) { c.statistic = "avg"; }),
            "statistic: must be one of SampleCount, Average, Sum, Minimum, "
            "Maximum, got 'avg'");
  EXPECT_EQ(Refused([](auto& c) {
              c.statistic = "";
              c.extended_statistic = "p101";
            }).rfind("extended_statistic: ", 0),
            0u);
  for (int64_t p : {0, 5, 15, 45, 90, -60}) {
    EXPECT_EQ(Refused([p](auto& c) { c.period_s = p; }),
              "period: must be 10, 20, 30 or a multiple of 60 seconds, got " +
                  std::to_string(p));
  }
  EXPECT_EQ(Refused([](auto& c) { c.evaluation_periods = 0; }),
            "evaluation_periods: must be at least 1, got 0");
  EXPECT_EQ(Refused([](auto& c) { c.evaluation_periods = 1441; }),
            "evaluation_periods: period (60 s) x 1441 is more than one day "
            "(86400 s), the most for periods under an hour");
  EXPECT_EQ(Refused([](auto& c) {
              c.period_s = 3600;
              c.evaluation_periods = 169;
            }),
            "evaluation_periods: period (3600 s) x 169 is more than 7 days "
            "(604800 s), the most for periods of an hour or more");
  EXPECT_EQ(Refused([](auto& c) {
              c.evaluation_periods = std::numeric_limits<size_t>::max();
            }).rfind("evaluation_periods: period (60 s) x ", 0),
            0u);
  EXPECT_EQ(Refused([](auto& c) {
              c.period_s = 10;
              c.evaluation_periods = 810;
            }),
            "evaluation_periods: 810 periods of 10 s read 1080 periods, 10810 "
            "s back with the one being evaluated, but periods under 60 s are "
            "answered only 10800 s back (the server's "
            "--high_resolution_reach)");
  EXPECT_EQ(Refused([](auto& c) { c.datapoints_to_alarm = 6; }),
            "datapoints_to_alarm: must be 1 to evaluation_periods (5), got 6");
  EXPECT_EQ(Refused([](auto& c) {
              c.threshold = std::numeric_limits<double>::quiet_NaN();
            }),
            "threshold: must be a finite number");
  EXPECT_EQ(Refused([](auto& c) {
              c.threshold = std::numeric_limits<double>::infinity();
            }),
            "threshold: must be a finite number");
  EXPECT_EQ(
      Refused([](auto& c) { c.comparison_operator = ""; }),
      "comparison_operator: must be one of GreaterThanOrEqualToThreshold, "
      "GreaterThanThreshold, LessThanThreshold, "
      "LessThanOrEqualToThreshold, got ''");
  EXPECT_EQ(Refused([](auto& c) { c.treat_missing_data = "Missing"; }),
            "treat_missing_data: must be one of missing, ignore, breaching, "
            "notBreaching, got 'Missing'");
  EXPECT_EQ(
      Refused([](auto& c) { c.evaluate_low_sample_count_percentile = "skip"; }),
      "evaluate_low_sample_count_percentile: must be evaluate or "
      "ignore, got 'skip'");
}

TEST(MetricAlarm, TheLimitsThemselvesAreAccepted) {
  for (auto change : std::vector<std::function<void(MetricAlarmConfig&)>>{
           [](auto& c) { c.name = std::string(255, 'a'); },
           [](auto& c) { c.description = std::string(1024, 'd'); },
           [](auto& c) { c.ok_actions = {std::string(1024, 'u')}; },
           [](auto& c) { c.alarm_actions.assign(5, "log:"); },
           [](auto& c) {
             c.evaluation_periods = 1440;
             c.datapoints_to_alarm = 1;
           },
           [](auto& c) {
             // R = 809 + 269 = 1078 periods of 10 s, and one more: 3 hours
             // less 10 s.
             c.period_s = 10;
             c.evaluation_periods = 809;
             c.datapoints_to_alarm = 809;
           },
           [](auto& c) {
             c.period_s = 3600;
             c.evaluation_periods = 168;
           },
           [](auto& c) { c.metric.unit = "Percent"; },
       }) {
    MetricAlarmConfig c = Valid();
    change(c);
    absl::StatusOr<ValidatedMetricAlarm> v = ValidateMetricAlarm(&c);
    EXPECT_TRUE(v.ok()) << v.status();
  }
}

TEST(MetricAlarm, ALongerHighResolutionReachAdmitsLongerSubMinuteAlarms) {
  MetricAlarmConfig c = Valid();
  c.period_s = 10;
  c.evaluation_periods = 8640;  // a day
  c.datapoints_to_alarm = 1;
  EXPECT_FALSE(ValidateMetricAlarm(&c).ok());
  EXPECT_TRUE(ValidateMetricAlarm(&c, int64_t{2} * 86400 * 1000).ok());
}

TEST(MetricAlarm, LowSampleCountIgnoreAppliesToPercentilesOnly) {
  MetricAlarmConfig c = Valid();
  c.statistic = "";
  c.extended_statistic = "p99";
  c.evaluate_low_sample_count_percentile = "ignore";
  c.treat_missing_data = "notBreaching";
  absl::StatusOr<ValidatedMetricAlarm> v = ValidateMetricAlarm(&c);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->rule.ignore_low_sample_count);
  EXPECT_EQ(v->rule.treat_missing_data, TreatMissingData::kNotBreaching);
  ASSERT_TRUE(v->extended.has_value());
  c.extended_statistic = "TM(10%:90%)";
  v = ValidateMetricAlarm(&c);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_FALSE(v->rule.ignore_low_sample_count);
  c.extended_statistic = "";
  c.statistic = "Maximum";
  v = ValidateMetricAlarm(&c);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_FALSE(v->rule.ignore_low_sample_count);
}

}  // namespace
}  // namespace nimbus::alarms
