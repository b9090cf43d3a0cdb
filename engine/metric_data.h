// GetMetricData: up to 500 queries in one call, each a metric statistic or a
// metric-math expression over the others (engine/metric_math.h), with
// CloudWatch's id rules, labels, status codes, newest-first order and
// paging by max_datapoints and next_token (docs/semantics.md, "GetMetricData
// and metric math").
#ifndef NIMBUS_ENGINE_METRIC_DATA_H_
#define NIMBUS_ENGINE_METRIC_DATA_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/clock.h"
#include "engine/engine.h"
#include "engine/series_key.h"

namespace nimbus::engine {

inline constexpr size_t kMaxMetricDataQueries = 500;
inline constexpr int64_t kDefaultMaxDatapoints = 100'800;
// The most periods one query's time range may hold.
inline constexpr int64_t kMaxPeriodsPerQuery = 100'800;
// The most datapoints a request may compute, about 16 bytes each: the
// periods of every metric query, and for every expression its periods times
// the number of metric queries (METRICS() and FILL can give that many).
inline constexpr int64_t kMaxRequestDatapoints = 25'000'000;

struct MetricStat {
  SeriesKey key;  // validated; an empty unit matches every unit
  int64_t period_ms = 0;
  // SampleCount, Average, Sum, Minimum, Maximum, or an extended statistic
  // (pNN, TM(..), IQM, WM, PR, TC, TS).
  std::string stat;
};

struct MetricDataQuery {
  std::string id;
  std::optional<MetricStat> metric_stat;  // exactly one of the two
  std::string expression;
  std::string label;  // empty: the metric name, or the id of an expression
  bool return_data = true;
  // An expression's period, for TIME_SERIES and FILL's grid; 0: the
  // smallest period of the request's metric statistics.
  int64_t period_ms = 0;
};

struct MetricDataRequest {
  std::vector<MetricDataQuery> queries;
  int64_t start_ms = 0;        // inclusive
  int64_t end_ms = 0;          // exclusive
  bool ascending = false;      // TimestampAscending; default newest first
  int64_t max_datapoints = 0;  // 0: kDefaultMaxDatapoints
  std::string next_token;
};

struct MetricDataResult {
  std::string id;
  std::string label;
  std::vector<int64_t> timestamps_ms;
  std::vector<double> values;
  // kPartialData: more datapoints of this result follow on the next page.
  enum class StatusCode { kComplete, kPartialData };
  StatusCode status = StatusCode::kComplete;
};

struct MetricDataResponse {
  std::vector<MetricDataResult> results;
  std::string next_token;  // empty on the last page
};

// Returns InvalidArgument naming the query and field for a bad id, a
// missing or doubled query body, a bad period or statistic, an expression
// that does not parse or evaluate (with its column), a reference cycle, no
// query returning data, or a next_token not given for this request.
absl::StatusOr<MetricDataResponse> GetMetricData(Engine& engine, Clock& clock,
                                                 const MetricDataRequest& req);

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_METRIC_DATA_H_
