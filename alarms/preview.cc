#include "alarms/preview.h"

#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "alarms/reason.h"
#include "engine/metric_data.h"

namespace nimbus::alarms {
namespace {

using engine::ExtendedStatistic;

std::string StatisticName(const MetricAlarmConfig& config) {
  return config.statistic.empty() ? config.extended_statistic
                                  : config.statistic;
}

double BasicStatistic(const std::string& statistic, double count, double sum,
                      double minimum, double maximum) {
  if (statistic == "SampleCount") return count;
  if (statistic == "Average") return sum / count;
  if (statistic == "Sum") return sum;
  if (statistic == "Minimum") return minimum;
  return maximum;
}

}  // namespace

std::vector<Period> PeriodsFromWindow(
    const MetricAlarmConfig& config,
    absl::Span<const engine::WindowStats> stats) {
  std::vector<Period> out;
  PeriodsFromWindow(config, stats, &out);
  return out;
}

void PeriodsFromWindow(const MetricAlarmConfig& config,
                       absl::Span<const engine::WindowStats> stats,
                       std::vector<Period>* out) {
  out->assign(stats.size(), Period());
  for (size_t i = 0; i < stats.size(); ++i) {
    const engine::WindowStats& s = stats[i];
    if (s.count <= 0) continue;
    const double v =
        BasicStatistic(config.statistic, s.count, s.sum, s.minimum, s.maximum);
    if (!std::isnan(v)) (*out)[i].value = v;
  }
}

absl::StatusOr<std::vector<Period>> FetchMathPeriods(
    engine::Engine& engine, engine::Clock& clock,
    const MetricAlarmConfig& config, const EvaluationWindow& window) {
  engine::MetricDataRequest req;
  req.queries = config.metrics;
  req.start_ms = window.start_ms;
  req.end_ms = window.end_ms();
  req.ascending = true;
  absl::StatusOr<engine::MetricDataResponse> r =
      engine::GetMetricData(engine, clock, req);
  if (!r.ok()) {
    return absl::Status(r.status().code(),
                        absl::StrCat("metrics: ", r.status().message()));
  }
  if (r->results.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics: the query returning data gave ",
                     r->results.size(), " series; an alarm needs exactly one"));
  }
  const engine::MetricDataResult& x = r->results[0];
  std::vector<Period> out(window.periods);
  for (size_t k = 0; k < x.timestamps_ms.size(); ++k) {
    const int64_t t = x.timestamps_ms[k];
    if (t < window.start_ms || t >= window.end_ms()) continue;
    const size_t i =
        static_cast<size_t>((t - window.start_ms) / window.period_ms);
    if (!std::isnan(x.values[k])) out[i].value = x.values[k];
  }
  return out;
}

absl::StatusOr<std::vector<Period>> FetchAlarmPeriods(
    engine::Engine& engine, engine::Clock& clock,
    const MetricAlarmConfig& config, const ValidatedMetricAlarm& alarm,
    const EvaluationWindow& window) {
  if (!config.metrics.empty()) {
    return FetchMathPeriods(engine, clock, config, window);
  }
  return FetchPeriods(engine, config, alarm, window);
}

absl::StatusOr<std::vector<Period>> FetchPeriods(
    engine::Engine& engine, const MetricAlarmConfig& config,
    const ValidatedMetricAlarm& alarm, const EvaluationWindow& window) {
  engine::StatisticsQuery q;
  q.key = config.metric;
  q.start_ms = window.start_ms;
  q.end_ms = window.end_ms();
  q.period_ms = window.period_ms;
  const bool percentile =
      alarm.extended &&
      alarm.extended->kind == ExtendedStatistic::Kind::kPercentile;
  if (percentile) {
    q.percentiles = {*alarm.extended->high};
  } else if (alarm.extended) {
    q.extended = {*alarm.extended};
  }
  absl::StatusOr<std::vector<engine::StatisticsDatapoint>> points =
      engine.GetStatistics(q);
  if (!points.ok()) return points.status();
  std::vector<Period> out(window.periods);
  for (const engine::StatisticsDatapoint& d : *points) {
    if (d.start_ms < window.start_ms || d.sample_count <= 0) continue;
    const size_t i =
        static_cast<size_t>((d.start_ms - window.start_ms) / window.period_ms);
    if (i >= out.size()) continue;
    double v;
    if (percentile) {
      v = d.percentiles.empty() ? NAN : d.percentiles[0];
      out[i].low_sample_count =
          IsLowSampleCount(*alarm.extended->high / 100, d.sample_count);
    } else if (alarm.extended) {
      v = d.extended.empty() ? NAN : d.extended[0];
    } else {
      v = BasicStatistic(config.statistic, d.sample_count, d.sum, d.minimum,
                         d.maximum);
    }
    if (!std::isnan(v)) out[i].value = v;
  }
  return out;
}

absl::StatusOr<PreviewStep> EvaluateAtTick(const MetricAlarmConfig& config,
                                           const ValidatedMetricAlarm& alarm,
                                           int64_t tick_ms, AlarmState state,
                                           PeriodSource source,
                                           bool with_reasons) {
  PreviewStep step;
  step.tick_ms = tick_ms;
  step.window = WindowAt(tick_ms, config.period_s, config.evaluation_periods);
  absl::StatusOr<std::vector<Period>> range = source(step.window);
  if (!range.ok()) return range.status();
  if (range->size() != step.window.periods) {
    return absl::InternalError(
        absl::StrCat("the period source gave ", range->size(),
                     " periods for a window of ", step.window.periods));
  }
  step.range = std::move(*range);
  step.evaluation = Evaluate(alarm.rule, step.range, state);
  step.changed = !step.evaluation.kept && step.evaluation.state != state;
  if (step.changed && with_reasons) {
    const ReasonInput in{
        &alarm.rule, step.range,           &step.evaluation,
        state,       step.window.start_ms, step.window.period_ms,
        tick_ms,     StatisticName(config)};
    step.reason = StateReason(in);
    step.reason_data = StateReasonData(in);
  }
  step.state = step.evaluation.state;
  return step;
}

Evidence EvidenceOf(const MetricAlarmConfig& config,
                    const ValidatedMetricAlarm& alarm, AlarmState previous,
                    PreviewStep step) {
  Evidence e;
  e.tick_ms = step.tick_ms;
  e.range_start_ms = step.window.start_ms;
  e.period_ms = step.window.period_ms;
  e.previous = previous;
  e.rule = alarm.rule;
  e.statistic = StatisticName(config);
  e.range = std::move(step.range);
  e.evaluation = std::move(step.evaluation);
  return e;
}

absl::StatusOr<std::vector<PreviewStep>> PreviewMetricAlarm(
    const MetricAlarmConfig& config, const ValidatedMetricAlarm& alarm,
    int64_t start_ms, int64_t end_ms, AlarmState initial, PeriodSource source) {
  if (end_ms <= start_ms) {
    return absl::InvalidArgumentError("end_time: must be after start_time");
  }
  const int64_t interval =
      EvaluationIntervalMs(config.period_s, config.evaluation_periods);
  const int64_t first = NextTickAfter(start_ms - 1, interval);
  if (first > end_ms) return std::vector<PreviewStep>{};
  const int64_t ticks = (end_ms - first) / interval + 1;
  if (ticks > static_cast<int64_t>(kMaxPreviewTicks)) {
    return absl::InvalidArgumentError(
        absl::StrCat("end_time: the range holds ", ticks,
                     " evaluations, at most ", kMaxPreviewTicks));
  }
  const int64_t datapoints =
      ticks * static_cast<int64_t>(EvaluationRange(config.evaluation_periods));
  if (datapoints > static_cast<int64_t>(kMaxPreviewDatapoints)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "end_time: the range holds ", ticks, " evaluations of ",
        EvaluationRange(config.evaluation_periods), " periods each, ",
        datapoints, " datapoints in all, at most ", kMaxPreviewDatapoints,
        "; preview a shorter range"));
  }
  std::vector<PreviewStep> steps;
  steps.reserve(static_cast<size_t>(ticks));
  AlarmState state = initial;
  for (int64_t t = first; t <= end_ms; t += interval) {
    absl::StatusOr<PreviewStep> step =
        EvaluateAtTick(config, alarm, t, state, source);
    if (!step.ok()) return step.status();
    state = step->state;
    steps.push_back(*std::move(step));
  }
  return steps;
}

}  // namespace nimbus::alarms
