#include "alarms/metric_alarm.h"

#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "engine/validation.h"

namespace nimbus::alarms {
namespace {

absl::Status Invalid(std::string message) {
  return absl::InvalidArgumentError(std::move(message));
}

absl::Status CheckActions(const std::vector<std::string>& actions,
                          absl::string_view field) {
  if (actions.size() > kMaxActionsPerState) {
    return Invalid(absl::StrCat(field, ": ", actions.size(), " given, at most ",
                                kMaxActionsPerState));
  }
  for (size_t i = 0; i < actions.size(); ++i) {
    const size_t chars = engine::CharacterCount(actions[i]);
    if (chars == 0 || chars > kMaxActionChars) {
      return Invalid(absl::StrCat(field, "[", i, "]: must be 1 to ",
                                  kMaxActionChars, " characters, got ", chars));
    }
  }
  return absl::OkStatus();
}

// Sets *out to the value named `value`, or names the field and the choices.
template <typename T, size_t N>
absl::Status Choose(absl::string_view field, absl::string_view value,
                    const std::pair<absl::string_view, T> (&choices)[N],
                    T* out) {
  for (const auto& [name, v] : choices) {
    if (value == name) {
      *out = v;
      return absl::OkStatus();
    }
  }
  std::string names;
  for (const auto& choice : choices) {
    absl::StrAppend(&names, names.empty() ? "" : ", ", choice.first);
  }
  return Invalid(
      absl::StrCat(field, ": must be one of ", names, ", got '", value, "'"));
}

constexpr std::pair<absl::string_view, bool> kStatistics[] = {
    {"SampleCount", true},
    {"Average", true},
    {"Sum", true},
    {"Minimum", true},
    {"Maximum", true}};
constexpr std::pair<absl::string_view, ComparisonOperator> kComparisons[] = {
    {"GreaterThanOrEqualToThreshold",
     ComparisonOperator::kGreaterThanOrEqualToThreshold},
    {"GreaterThanThreshold", ComparisonOperator::kGreaterThanThreshold},
    {"LessThanThreshold", ComparisonOperator::kLessThanThreshold},
    {"LessThanOrEqualToThreshold",
     ComparisonOperator::kLessThanOrEqualToThreshold}};
constexpr std::pair<absl::string_view, TreatMissingData> kTreatments[] = {
    {"missing", TreatMissingData::kMissing},
    {"ignore", TreatMissingData::kIgnore},
    {"breaching", TreatMissingData::kBreaching},
    {"notBreaching", TreatMissingData::kNotBreaching}};

// A metric-math alarm's queries: no single-metric field beside them, at
// most kMaxAlarmMetrics, exactly one returning data, one period (which
// becomes the alarm's).
absl::Status ValidateMetrics(MetricAlarmConfig* c) {
  const std::pair<const char*, bool> single[] = {
      {"namespace", !c->metric.namespace_name.empty()},
      {"metric_name", !c->metric.metric_name.empty()},
      {"dimensions", !c->metric.dimensions.empty()},
      {"unit", !c->metric.unit.empty()},
      {"statistic", !c->statistic.empty()},
      {"extended_statistic", !c->extended_statistic.empty()},
  };
  for (const auto& [field, given] : single) {
    if (given) {
      return Invalid(absl::StrCat(
          field, ": not allowed with metrics (the queries name the data)"));
    }
  }
  if (c->metrics.size() > kMaxAlarmMetrics) {
    return Invalid(absl::StrCat("metrics: at most ", kMaxAlarmMetrics,
                                " queries, got ", c->metrics.size()));
  }
  size_t returned = 0;
  int64_t period_ms = 0;
  for (size_t i = 0; i < c->metrics.size(); ++i) {
    const engine::MetricDataQuery& q = c->metrics[i];
    returned += q.return_data ? 1 : 0;
    if (!q.metric_stat) continue;
    if (period_ms != 0 && q.metric_stat->period_ms != period_ms) {
      return Invalid(absl::StrCat(
          "metrics[", i, "].metric_stat.period: ",
          q.metric_stat->period_ms / 1000, " s, but an earlier query has ",
          period_ms / 1000, " s; an alarm's queries share one period"));
    }
    period_ms = q.metric_stat->period_ms;
  }
  if (returned != 1) {
    return Invalid(absl::StrCat(
        "metrics: exactly one query must have return_data true (the others "
        "false), got ",
        returned));
  }
  if (period_ms == 0) {
    return Invalid("metrics: at least one query needs a metric_stat");
  }
  // The period is the queries'; a stored alarm carries it already.
  if (c->period_s != 0 && c->period_s * 1000 != period_ms) {
    return Invalid(
        "period: not allowed with metrics (the queries name the data)");
  }
  c->period_s = period_ms / 1000;
  return absl::OkStatus();
}

}  // namespace

const char* ComparisonOperatorName(ComparisonOperator op) {
  for (const auto& [name, value] : kComparisons) {
    if (value == op) return name.data();
  }
  return "";
}

const char* TreatMissingDataName(TreatMissingData t) {
  for (const auto& [name, value] : kTreatments) {
    if (value == t) return name.data();
  }
  return "";
}

bool ValidAlarmPeriod(int64_t period_s) {
  return period_s == 10 || period_s == 20 || period_s == 30 ||
         (period_s >= 60 && period_s % 60 == 0);
}

absl::Status ValidateAlarmCommon(
    const std::string& name, const std::string& description,
    const std::vector<std::string>& ok_actions,
    const std::vector<std::string>& alarm_actions,
    const std::vector<std::string>& insufficient_data_actions) {
  const size_t name_chars = engine::CharacterCount(name);
  if (name_chars == 0 || name_chars > kMaxAlarmNameChars) {
    return Invalid(absl::StrCat("alarm_name: must be 1 to ", kMaxAlarmNameChars,
                                " characters, got ", name_chars));
  }
  if (engine::HasControlCharacter(name)) {
    return Invalid("alarm_name: must not contain control characters");
  }
  if (engine::CharacterCount(description) > kMaxDescriptionChars) {
    return Invalid(absl::StrCat("alarm_description: at most ",
                                kMaxDescriptionChars, " characters, got ",
                                engine::CharacterCount(description)));
  }
  if (absl::Status s = CheckActions(ok_actions, "ok_actions"); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckActions(alarm_actions, "alarm_actions"); !s.ok()) {
    return s;
  }
  if (absl::Status s =
          CheckActions(insufficient_data_actions, "insufficient_data_actions");
      !s.ok()) {
    return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<ValidatedMetricAlarm> ValidateMetricAlarm(
    MetricAlarmConfig* c, int64_t high_resolution_reach_ms) {
  ValidatedMetricAlarm out;
  if (absl::Status s =
          ValidateAlarmCommon(c->name, c->description, c->ok_actions,
                              c->alarm_actions, c->insufficient_data_actions);
      !s.ok()) {
    return s;
  }
  if (!c->metrics.empty()) {
    if (absl::Status s = ValidateMetrics(c); !s.ok()) return s;
  } else {
    if (absl::Status s =
            engine::ValidateNamespace(c->metric.namespace_name, "namespace");
        !s.ok()) {
      return s;
    }
    if (auto r = engine::ValidateMetricName(c->metric.metric_name)) {
      return Invalid(r->message);
    }
    if (auto r = engine::ValidateDimensions(&c->metric.dimensions)) {
      return Invalid(r->message);
    }
    if (!c->metric.unit.empty()) {
      if (auto r = engine::ValidateUnit(&c->metric.unit)) {
        return Invalid(r->message);
      }
    }

    const bool has_statistic = !c->statistic.empty();
    const bool has_extended = !c->extended_statistic.empty();
    if (has_statistic == has_extended) {
      return Invalid(
          "statistic: give exactly one of statistic and extended_statistic");
    }
    if (has_statistic) {
      bool known;
      if (absl::Status st =
              Choose("statistic", c->statistic, kStatistics, &known);
          !st.ok()) {
        return st;
      }
    } else {
      absl::StatusOr<engine::ExtendedStatistic> ext =
          engine::ParseExtendedStatistic(c->extended_statistic);
      if (!ext.ok()) {
        return Invalid(
            absl::StrCat("extended_statistic: ", ext.status().message()));
      }
      out.extended = *ext;
    }
  }

  if (!ValidAlarmPeriod(c->period_s)) {
    return Invalid(absl::StrCat(
        "period: must be 10, 20, 30 or a multiple of 60 seconds, got ",
        c->period_s));
  }
  if (c->evaluation_periods < 1) {
    return Invalid("evaluation_periods: must be at least 1, got 0");
  }
  const int64_t most = c->period_s < 3600 ? kDaySeconds : 7 * kDaySeconds;
  // Divided, not multiplied: a huge evaluation_periods cannot overflow.
  if (c->evaluation_periods > static_cast<size_t>(most / c->period_s)) {
    return Invalid(absl::StrCat(
        "evaluation_periods: period (", c->period_s, " s) x ",
        c->evaluation_periods, " is more than ",
        c->period_s < 3600 ? "one day (86400 s), the most for periods under "
                             "an hour"
                           : "7 days (604800 s), the most for periods of an "
                             "hour or more"));
  }
  if (c->period_s < 60) {
    // One period more than the range: a tick falls up to a period after
    // its window's end, and the evaluation runs after the tick.
    const size_t r = EvaluationRange(c->evaluation_periods);
    const int64_t span_s = static_cast<int64_t>(r + 1) * c->period_s;
    if (span_s * 1000 > high_resolution_reach_ms) {
      return Invalid(absl::StrCat(
          "evaluation_periods: ", c->evaluation_periods, " periods of ",
          c->period_s, " s read ", r, " periods, ", span_s,
          " s back with the one being evaluated, but periods under 60 s are "
          "answered only ",
          high_resolution_reach_ms / 1000,
          " s back (the server's --high_resolution_reach)"));
    }
  }
  if (c->datapoints_to_alarm == 0)
    c->datapoints_to_alarm = c->evaluation_periods;
  if (c->datapoints_to_alarm > c->evaluation_periods) {
    return Invalid(
        absl::StrCat("datapoints_to_alarm: must be 1 to evaluation_periods (",
                     c->evaluation_periods, "), got ", c->datapoints_to_alarm));
  }
  if (!std::isfinite(c->threshold)) {
    return Invalid("threshold: must be a finite number");
  }

  AlarmRule& rule = out.rule;
  rule.evaluation_periods = c->evaluation_periods;
  rule.datapoints_to_alarm = c->datapoints_to_alarm;
  rule.threshold = c->threshold;
  if (absl::Status st = Choose("comparison_operator", c->comparison_operator,
                               kComparisons, &rule.comparison);
      !st.ok()) {
    return st;
  }
  if (c->treat_missing_data.empty()) c->treat_missing_data = "missing";
  if (absl::Status st = Choose("treat_missing_data", c->treat_missing_data,
                               kTreatments, &rule.treat_missing_data);
      !st.ok()) {
    return st;
  }
  if (c->evaluate_low_sample_count_percentile.empty()) {
    c->evaluate_low_sample_count_percentile = "evaluate";
  }
  if (c->evaluate_low_sample_count_percentile != "evaluate" &&
      c->evaluate_low_sample_count_percentile != "ignore") {
    return Invalid(absl::StrCat(
        "evaluate_low_sample_count_percentile: must be evaluate or ignore, "
        "got '",
        c->evaluate_low_sample_count_percentile, "'"));
  }
  // Only a percentile has a sample count too low to trust.
  rule.ignore_low_sample_count =
      c->evaluate_low_sample_count_percentile == "ignore" && out.extended &&
      out.extended->kind == engine::ExtendedStatistic::Kind::kPercentile;
  return out;
}

}  // namespace nimbus::alarms
