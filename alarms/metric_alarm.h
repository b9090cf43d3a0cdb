// A metric alarm's configuration on one series (PutMetricAlarm without
// `metrics`) and its field rules (docs/semantics.md, "An alarm").
#ifndef NIMBUS_ALARMS_METRIC_ALARM_H_
#define NIMBUS_ALARMS_METRIC_ALARM_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "alarms/evaluator.h"
#include "engine/extended_statistics.h"
#include "engine/metric_data.h"
#include "engine/query_plan.h"
#include "engine/series_key.h"

namespace nimbus::alarms {

inline constexpr size_t kMaxAlarmNameChars = 255;
inline constexpr size_t kMaxDescriptionChars = 1024;
inline constexpr size_t kMaxActionsPerState = 5;
inline constexpr size_t kMaxActionChars = 1024;
inline constexpr int64_t kDaySeconds = 86400;
inline constexpr size_t kMaxAlarmMetrics = 10;

struct MetricAlarmConfig {
  std::string name;
  std::string description;
  bool actions_enabled = true;
  std::vector<std::string> ok_actions;
  std::vector<std::string> alarm_actions;
  std::vector<std::string> insufficient_data_actions;
  // The series; an empty unit matches the series of any unit.
  engine::SeriesKey metric;
  std::string statistic;           // SampleCount, Average, Sum, Minimum,
                                   // Maximum; or empty
  std::string extended_statistic;  // p99, TM(10%:90%), ...; or empty
  int64_t period_s = 0;
  size_t evaluation_periods = 0;
  size_t datapoints_to_alarm = 0;  // 0: evaluation_periods
  double threshold = 0;
  std::string comparison_operator;
  std::string treat_missing_data;                    // empty: missing
  std::string evaluate_low_sample_count_percentile;  // empty: evaluate
  // A metric-math alarm's queries (as GetMetricData takes them) instead of
  // metric, statistic and period: at most kMaxAlarmMetrics, exactly one
  // returning data, their metric statistics of one period.
  std::vector<engine::MetricDataQuery> metrics;
};

// What a valid configuration evaluates with.
struct ValidatedMetricAlarm {
  AlarmRule rule;
  // The extended statistic, parsed, if there is one.
  std::optional<engine::ExtendedStatistic> extended;
};

// Checks every field rule, fills in the defaults (datapoints_to_alarm,
// treat_missing_data, evaluate_low_sample_count_percentile) and sorts the
// dimensions. InvalidArgument naming the field and the rule broken. An
// alarm with a period under a minute must find its whole evaluation range
// within `high_resolution_reach_ms` (how far back such periods are
// answered: the server's --high_resolution_reach), or it could never see
// data.
absl::StatusOr<ValidatedMetricAlarm> ValidateMetricAlarm(
    MetricAlarmConfig* config,
    int64_t high_resolution_reach_ms = engine::TierReach{}.high_resolution_ms);

// The rules every alarm's name, description and actions follow.
absl::Status ValidateAlarmCommon(
    const std::string& name, const std::string& description,
    const std::vector<std::string>& ok_actions,
    const std::vector<std::string>& alarm_actions,
    const std::vector<std::string>& insufficient_data_actions);

// Period x evaluation_periods at most a day for periods under an hour, at
// most 7 days otherwise; periods of 10, 20, 30 or a multiple of 60 seconds.
bool ValidAlarmPeriod(int64_t period_s);

// The API's names: "GreaterThanThreshold", ...; "missing", "notBreaching".
const char* ComparisonOperatorName(ComparisonOperator op);
const char* TreatMissingDataName(TreatMissingData t);

}  // namespace nimbus::alarms

#endif  // NIMBUS_ALARMS_METRIC_ALARM_H_
