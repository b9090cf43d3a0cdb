#include "alarms/evaluator.h"

#include <algorithm>
#include <cmath>

namespace nimbus::alarms {

const char* AlarmStateName(AlarmState state) {
  switch (state) {
    case AlarmState::kOk:
      return "OK";
    case AlarmState::kAlarm:
      return "ALARM";
    case AlarmState::kInsufficientData:
      break;
  }
  return "INSUFFICIENT_DATA";
}

bool IsLowSampleCount(double p, double samples) {
  if (!(p > 0 && p < 1)) return false;
  const double needed = p >= 0.5 ? 10 / (1 - p) : 10 / p;
  // 10 / (1 - 0.99) is 999.99...: the bound is a count, so round first.
  return samples < std::round(needed * 1e6) / 1e6;
}

bool Breaches(ComparisonOperator op, double value, double threshold) {
  switch (op) {
    case ComparisonOperator::kGreaterThanOrEqualToThreshold:
      return value >= threshold;
    case ComparisonOperator::kGreaterThanThreshold:
      return value > threshold;
    case ComparisonOperator::kLessThanThreshold:
      return value < threshold;
    case ComparisonOperator::kLessThanOrEqualToThreshold:
      return value <= threshold;
  }
  return false;
}

Evaluation Evaluate(const AlarmRule& rule, absl::Span<const Period> range,
                    AlarmState current) {
  const size_t n = rule.evaluation_periods;
  const size_t m = rule.datapoints_to_alarm;
  const size_t r = range.size();
  auto breaches = [&](size_t i) {
    return range[i].value.has_value() &&
           Breaches(rule.comparison, *range[i].value, rule.threshold);
  };
  Evaluation e{};
  auto keep = [&](Evaluation::Reason why) {
    e.state = current;
    e.kept = true;
    e.reason = why;
    return e;
  };
  if (n == 0 || m == 0 || m > n || r != EvaluationRange(n)) {
    return keep(Evaluation::Reason::kInvalidRule);
  }

  size_t with_data = 0;
  for (const Period& p : range) with_data += p.value.has_value();
  const TreatMissingData tmd = rule.treat_missing_data;
  const bool fills = tmd == TreatMissingData::kBreaching ||
                     tmd == TreatMissingData::kNotBreaching;

  // The periods evaluated: the newest N with data, or all with data and
  // (filling) the newest missing ones up to N.
  size_t missing_to_fill = with_data >= n || !fills ? 0 : n - with_data;
  size_t data_to_take = std::min(with_data, n);
  for (size_t k = r; k-- > 0;) {
    if (range[k].value.has_value()) {
      if (data_to_take == 0) continue;
      --data_to_take;
      e.evaluated.push_back({k, EvaluatedPeriod::Source::kData, breaches(k)});
    } else if (missing_to_fill > 0) {
      --missing_to_fill;
      const bool b = tmd == TreatMissingData::kBreaching;
      e.evaluated.push_back({k,
                             b ? EvaluatedPeriod::Source::kFilledBreaching
                               : EvaluatedPeriod::Source::kFilledNotBreaching,
                             b});
    }
  }
  std::reverse(e.evaluated.begin(), e.evaluated.end());
  for (const EvaluatedPeriod& p : e.evaluated) e.breaching += p.breaching;

  if (rule.ignore_low_sample_count) {
    for (const EvaluatedPeriod& p : e.evaluated) {
      if (p.source == EvaluatedPeriod::Source::kData &&
          range[p.index].low_sample_count) {
        return keep(Evaluation::Reason::kLowSampleCount);
      }
    }
  }

  if (with_data == 0 && !fills) {
    if (tmd == TreatMissingData::kIgnore) {
      return keep(Evaluation::Reason::kNoData);
    }
    e.state = AlarmState::kInsufficientData;
    e.reason = Evaluation::Reason::kNoData;
    return e;
  }

  if (with_data < n && !fills && e.breaching < m) {
    // The early alarm: among the N newest periods, the oldest breaching
    // one is at least M periods old (the newest is 1 old) and every newer
    // one breaches or has no data.
    const size_t first = r - n;
    size_t oldest = r;
    for (size_t k = first; k < r; ++k) {
      if (breaches(k)) {
        oldest = k;
        break;
      }
    }
    bool early = oldest < r && r - oldest >= m;
    for (size_t k = oldest + 1; early && k < r; ++k) {
      early = !range[k].value.has_value() || breaches(k);
    }
    if (early) {
      if (tmd == TreatMissingData::kIgnore) {
        return keep(Evaluation::Reason::kEarlyAlarm);
      }
      e.state = AlarmState::kAlarm;
      e.reason = Evaluation::Reason::kEarlyAlarm;
      return e;
    }
  }

  e.state = e.breaching >= m ? AlarmState::kAlarm : AlarmState::kOk;
  e.reason = Evaluation::Reason::kThreshold;
  return e;
}

}  // namespace nimbus::alarms
