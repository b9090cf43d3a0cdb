#include "engine/metric_data.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/extended_statistics.h"
#include "engine/metric_math.h"
#include "engine/query_plan.h"
#include "storage/keys.h"
#include "storage/status_macros.h"

namespace nimbus::engine {
namespace {

std::string Field(size_t i, absl::string_view field) {
  return absl::StrCat("metric_data_queries[", i, "].", field);
}

absl::Status Invalid(size_t i, absl::string_view field,
                     absl::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat(Field(i, field), ": ", message));
}

// CloudWatch's ids: a lower-case letter, then letters, digits and '_'.
bool ValidId(absl::string_view id) {
  if (id.empty() || id.size() > 255 || id[0] < 'a' || id[0] > 'z') {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
  });
}

bool ValidPeriod(int64_t ms) {
  if (ms <= 0 || ms % 1000 != 0) return false;
  const int64_t s = ms / 1000;
  return s == 1 || s == 5 || s == 10 || s == 20 || s == 30 || s % 60 == 0;
}

enum class Basic { kNone, kSampleCount, kAverage, kSum, kMinimum, kMaximum };

Basic ParseBasic(absl::string_view s) {
  if (s == "SampleCount") return Basic::kSampleCount;
  if (s == "Average") return Basic::kAverage;
  if (s == "Sum") return Basic::kSum;
  if (s == "Minimum") return Basic::kMinimum;
  if (s == "Maximum") return Basic::kMaximum;
  return Basic::kNone;
}

// FNV-1a: a stable fingerprint of the request, so that a next_token is
// honoured only for the request it was given for (absl::Hash is seeded per
// process, and tokens outlive a restart).
uint64_t Fingerprint(const MetricDataRequest& req) {
  std::string text;
  for (const MetricDataQuery& q : req.queries) {
    absl::StrAppend(&text, q.id.size(), ":", q.id, q.label.size(), ":", q.label,
                    q.return_data, ",", q.period_ms, ",", q.expression.size(),
                    ":", q.expression);
    if (q.metric_stat) {
      const std::string key = q.metric_stat->key.Encode();
      absl::StrAppend(&text, key.size(), ":", key, q.metric_stat->period_ms,
                      ",", q.metric_stat->stat.size(), ":",
                      q.metric_stat->stat);
    }
    text.push_back(';');
  }
  absl::StrAppend(&text, req.start_ms, ",", req.end_ms, ",", req.ascending, ",",
                  req.max_datapoints);
  uint64_t h = 1469598103934665603u;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211u;
  }
  return h;
}

std::string EncodeToken(uint64_t fingerprint, uint64_t offset) {
  std::string raw;
  storage::PutBigEndian64(&raw, fingerprint);
  storage::PutBigEndian64(&raw, offset);
  return absl::WebSafeBase64Escape(raw);
}

// A validated query and what evaluating it needs.
struct Prepared {
  Basic basic = Basic::kNone;
  ExtendedStatistic extended;
  std::unique_ptr<MathNode> expr;
  int64_t start_ms = 0;  // rounded for the query's period
};

class Evaluation {
 public:
  Evaluation(Engine& engine, int64_t now, const MetricDataRequest& req,
             std::vector<Prepared>& prepared)
      : engine_(engine), now_(now), req_(req), prepared_(prepared) {}

  absl::Status Run() {
    for (size_t i = 0; i < req_.queries.size(); ++i) {
      index_[req_.queries[i].id] = i;
      if (req_.queries[i].metric_stat) {
        NIMBUS_RETURN_IF_ERROR(Metric(i));
      }
    }
    values_.resize(req_.queries.size());
    state_.assign(req_.queries.size(), State::kNew);
    for (size_t i = 0; i < req_.queries.size(); ++i) {
      if (!req_.queries[i].metric_stat) NIMBUS_RETURN_IF_ERROR(Expression(i));
    }
    return absl::OkStatus();
  }

  // The series a query gives: one for a metric statistic, one or several
  // for an expression.
  std::vector<MathSeries> SeriesOf(size_t i) const {
    if (req_.queries[i].metric_stat) return {metrics_[metric_index_.at(i)]};
    return values_[i].series;
  }

 private:
  enum class State { kNew, kVisiting, kDone };

  absl::Status Metric(size_t i) {
    const MetricDataQuery& q = req_.queries[i];
    const Prepared& p = prepared_[i];
    StatisticsQuery sq;
    sq.key = q.metric_stat->key;
    sq.start_ms = p.start_ms;
    sq.requested_start_ms = req_.start_ms;
    sq.end_ms = req_.end_ms;
    sq.period_ms = q.metric_stat->period_ms;
    if (p.basic == Basic::kNone) sq.extended.push_back(p.extended);
    auto points = engine_.GetStatistics(sq);
    if (!points.ok()) return points.status();
    MathSeries s;
    s.id = q.id;
    s.label = q.label.empty() ? q.metric_stat->key.metric_name : q.label;
    s.period_ms = sq.period_ms;
    for (const StatisticsDatapoint& d : *points) {
      double v = 0;
      switch (p.basic) {
        case Basic::kSampleCount:
          v = d.sample_count;
          break;
        case Basic::kAverage:
          v = d.sum / d.sample_count;
          break;
        case Basic::kSum:
          v = d.sum;
          break;
        case Basic::kMinimum:
          v = d.minimum;
          break;
        case Basic::kMaximum:
          v = d.maximum;
          break;
        case Basic::kNone:
          v = d.extended[0];
          break;
      }
      if (std::isnan(v)) continue;  // no value for this statistic here
      s.timestamps_ms.push_back(d.start_ms);
      s.values.push_back(v);
    }
    metric_index_[i] = metrics_.size();
    metrics_.push_back(std::move(s));
    return absl::OkStatus();
  }

  static void CollectIds(const MathNode& n, std::vector<const MathNode*>* out) {
    if (n.kind == MathNode::Kind::kId) out->push_back(&n);
    for (const auto& a : n.args) CollectIds(*a, out);
  }

  absl::Status Expression(size_t i) {
    if (state_[i] == State::kDone) return absl::OkStatus();
    if (state_[i] == State::kVisiting) {
      return Invalid(i, "expression",
                     "refers back to itself through other expressions");
    }
    state_[i] = State::kVisiting;
    const MetricDataQuery& q = req_.queries[i];
    const MathNode& expr = *prepared_[i].expr;
    std::vector<const MathNode*> ids;
    CollectIds(expr, &ids);
    // Inputs: every metric statistic, then the expressions referred to
    // (copied only when there are some).
    std::vector<MathSeries> with_expressions;
    for (const MathNode* n : ids) {
      auto f = index_.find(n->name);
      if (f == index_.end()) {
        return Invalid(
            i, "expression",
            absl::StrCat("column ", n->column, ": unknown id '", n->name, "'"));
      }
      const size_t j = f->second;
      if (req_.queries[j].metric_stat) continue;
      if (j == i) {
        return Invalid(i, "expression",
                       absl::StrCat("column ", n->column,
                                    ": an expression cannot use its own id"));
      }
      NIMBUS_RETURN_IF_ERROR(Expression(j));
      if (values_[j].series.size() != 1) {
        return Invalid(i, "expression",
                       absl::StrCat("column ", n->column, ": '", n->name,
                                    "' gives ", values_[j].series.size(),
                                    " time series; an id must name one"));
      }
      if (with_expressions.empty()) with_expressions = metrics_;
      MathSeries s = values_[j].series[0];
      s.id = n->name;
      with_expressions.push_back(std::move(s));
    }
    const std::vector<MathSeries>& inputs =
        with_expressions.empty() ? metrics_ : with_expressions;
    MathContext ctx;
    ctx.period_ms = q.period_ms;
    if (ctx.period_ms == 0) {
      for (const MathSeries& m : metrics_) {
        if (ctx.period_ms == 0 || m.period_ms < ctx.period_ms) {
          ctx.period_ms = m.period_ms;
        }
      }
    }
    if (ctx.period_ms == 0) ctx.period_ms = 60'000;
    ctx.start_ms = RoundStartTime(now_, req_.start_ms, ctx.period_ms);
    ctx.end_ms = req_.end_ms;
    ctx.metrics = &metrics_;
    auto v = EvaluateMetricMath(expr, inputs, ctx);
    if (!v.ok()) return Invalid(i, "expression", v.status().message());
    if (v->kind == MathValue::Kind::kScalar) {
      return Invalid(i, "expression",
                     "gives a number, not a time series (TIME_SERIES(n) "
                     "makes one)");
    }
    for (MathSeries& s : v->series) {
      if (v->kind == MathValue::Kind::kSeries) {
        s.label = q.label.empty() ? q.id : q.label;
      } else if (s.label.empty()) {
        s.label = s.id;  // a member of an array keeps its own name
      }
      s.id = q.id;
    }
    values_[i] = std::move(*v);
    state_[i] = State::kDone;
    return absl::OkStatus();
  }

  Engine& engine_;
  const int64_t now_;
  const MetricDataRequest& req_;
  std::vector<Prepared>& prepared_;
  absl::flat_hash_map<std::string, size_t> index_;
  std::vector<MathSeries> metrics_;
  absl::flat_hash_map<size_t, size_t> metric_index_;
  std::vector<MathValue> values_;
  std::vector<State> state_;
};

}  // namespace

absl::StatusOr<MetricDataResponse> GetMetricData(Engine& engine, Clock& clock,
                                                 const MetricDataRequest& req) {
  const size_t n = req.queries.size();
  if (n == 0 || n > kMaxMetricDataQueries) {
    return absl::InvalidArgumentError(absl::StrCat("metric_data_queries: 1 to ",
                                                   kMaxMetricDataQueries,
                                                   " queries, got ", n));
  }
  if (req.end_ms <= req.start_ms) {
    return absl::InvalidArgumentError("end_time: must be after start_time");
  }
  if (req.start_ms < -kMaxQueryTimeMs || req.end_ms > kMaxQueryTimeMs) {
    return absl::InvalidArgumentError("start_time/end_time: beyond +-2^53 ms");
  }
  if (req.max_datapoints < 0 || req.max_datapoints > kDefaultMaxDatapoints) {
    return absl::InvalidArgumentError(
        "max_datapoints: must be 1 to 100800 (0 means 100800)");
  }
  const int64_t max_datapoints =
      req.max_datapoints == 0 ? kDefaultMaxDatapoints : req.max_datapoints;
  const int64_t now = clock.NowMs();
  std::vector<Prepared> prepared(n);
  absl::flat_hash_map<absl::string_view, size_t> seen;
  bool any_returned = false;
  for (size_t i = 0; i < n; ++i) {
    const MetricDataQuery& q = req.queries[i];
    if (!ValidId(q.id)) {
      return Invalid(i, "id",
                     absl::StrCat("'", q.id,
                                  "' must be 1-255 characters, start with a "
                                  "lower-case letter and hold only letters, "
                                  "digits and '_'"));
    }
    if (!seen.emplace(q.id, i).second) {
      return Invalid(i, "id",
                     absl::StrCat("'", q.id, "' is also the id of query ",
                                  seen[q.id], "; ids must be unique"));
    }
    any_returned = any_returned || q.return_data;
    if (q.metric_stat.has_value() == !q.expression.empty()) {
      return Invalid(i, "metric_stat/expression",
                     "give exactly one of the two");
    }
    if (q.period_ms != 0 &&
        (!ValidPeriod(q.period_ms) || q.period_ms > kMaxQueryTimeMs)) {
      return Invalid(i, "period",
                     "must be 1, 5, 10, 20, 30 or a multiple of 60 seconds");
    }
    Prepared& p = prepared[i];
    if (q.metric_stat) {
      const MetricStat& m = *q.metric_stat;
      if (!ValidPeriod(m.period_ms) || m.period_ms > kMaxQueryTimeMs) {
        return Invalid(i, "metric_stat.period",
                       absl::StrCat("must be 1, 5, 10, 20, 30 or a multiple "
                                    "of 60 seconds, got ",
                                    m.period_ms / 1000.0));
      }
      p.basic = ParseBasic(m.stat);
      if (p.basic == Basic::kNone) {
        auto e = ParseExtendedStatistic(m.stat);
        if (!e.ok()) {
          return Invalid(
              i, "metric_stat.stat",
              absl::StrCat("'", m.stat,
                           "' is not SampleCount, Average, Sum, Minimum, "
                           "Maximum or an extended statistic (",
                           e.status().message(), ")"));
        }
        p.extended = *e;
      }
      p.start_ms = RoundStartTime(now, req.start_ms, m.period_ms);
      const int64_t periods =
          (req.end_ms - p.start_ms + m.period_ms - 1) / m.period_ms;
      if (periods > kMaxPeriodsPerQuery) {
        return Invalid(
            i, "metric_stat.period",
            absl::StrCat("the time range holds ", periods, " periods; at most ",
                         kMaxPeriodsPerQuery, " (use a longer period)"));
      }
    } else {
      auto e = ParseMetricMath(q.expression);
      if (!e.ok()) return Invalid(i, "expression", e.status().message());
      p.expr = std::move(*e);
    }
  }
  if (!any_returned) {
    return absl::InvalidArgumentError(
        "metric_data_queries: at least one query must have return_data set");
  }
  // What the request may compute, bounded before anything is: an
  // expression's grid starts at the range's start rounded for its period.
  int64_t metrics = 0, min_period = 0, cells = 0;
  auto periods_of = [&](int64_t period) {
    const int64_t start = RoundStartTime(now, req.start_ms, period);
    return (req.end_ms - start + period - 1) / period;
  };
  for (const MetricDataQuery& q : req.queries) {
    if (!q.metric_stat) continue;
    ++metrics;
    cells += periods_of(q.metric_stat->period_ms);
    if (min_period == 0 || q.metric_stat->period_ms < min_period) {
      min_period = q.metric_stat->period_ms;
    }
  }
  for (const MetricDataQuery& q : req.queries) {
    if (q.metric_stat) continue;
    // FILL and METRICS() keep each metric's own period: the finest of
    // those and the expression's own sizes what it can build.
    int64_t period = q.period_ms != 0 ? q.period_ms : 60'000;
    if (min_period != 0) period = std::min(period, min_period);
    cells +=
        std::min(periods_of(period), kMaxPeriodsPerQuery + 1) * (metrics + 1);
    if (cells > kMaxRequestDatapoints) break;
  }
  if (cells > kMaxRequestDatapoints) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metric_data_queries: the request could compute up to ", cells,
        " datapoints (periods of each metric query, and of each expression "
        "times the number of metric queries); at most ",
        kMaxRequestDatapoints, ": use longer periods or fewer queries"));
  }
  const uint64_t fingerprint = Fingerprint(req);
  uint64_t offset = 0;
  if (!req.next_token.empty()) {
    std::string raw;
    if (!absl::WebSafeBase64Unescape(req.next_token, &raw) ||
        raw.size() != 16 ||
        storage::GetBigEndian64(raw.data()) != fingerprint) {
      return absl::InvalidArgumentError(
          "next_token: not a token given for this request (the queries, "
          "time range, order and max_datapoints must be the same)");
    }
    offset = storage::GetBigEndian64(raw.data() + 8);
  }

  Evaluation eval(engine, now, req, prepared);
  if (absl::Status s = eval.Run(); !s.ok()) return s;

  // The page: datapoints in result order, each result in scan order, from
  // `offset` on, at most max_datapoints.
  MetricDataResponse resp;
  uint64_t position = 0;
  uint64_t budget = static_cast<uint64_t>(max_datapoints);
  bool more = false;
  for (size_t i = 0; i < n; ++i) {
    if (!req.queries[i].return_data) continue;
    for (MathSeries& s : eval.SeriesOf(i)) {
      MetricDataResult r;
      r.id = req.queries[i].id;
      r.label = s.label;
      std::vector<size_t> order;
      for (size_t k = 0; k < s.values.size(); ++k) {
        if (std::isfinite(s.values[k])) order.push_back(k);
      }
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return req.ascending ? s.timestamps_ms[a] < s.timestamps_ms[b]
                             : s.timestamps_ms[a] > s.timestamps_ms[b];
      });
      for (size_t k : order) {
        if (position++ < offset) continue;
        if (budget == 0) {
          more = true;
          r.status = MetricDataResult::StatusCode::kPartialData;
          break;
        }
        --budget;
        r.timestamps_ms.push_back(s.timestamps_ms[k]);
        r.values.push_back(s.values[k]);
      }
      resp.results.push_back(std::move(r));
    }
  }
  if (more) {
    resp.next_token = EncodeToken(
        fingerprint, offset + static_cast<uint64_t>(max_datapoints));
  }
  return resp;
}

}  // namespace nimbus::engine
