// The statistics executor: GetMetricStatistics' engine side. A query is
// planned (engine/query_plan.h) into rollup records for the periods the
// rollups reach and raw points for the rest; hours with late points not
// rolled up again yet are read raw (engine/dirty_hours.h), so a query never
// misses an acknowledged point.
#ifndef NIMBUS_ENGINE_STATISTICS_H_
#define NIMBUS_ENGINE_STATISTICS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/dirty_hours.h"
#include "engine/extended_statistics.h"
#include "engine/query_plan.h"
#include "engine/raw_reader.h"
#include "engine/series_index.h"
#include "engine/series_key.h"
#include "storage/store.h"

namespace nimbus::engine {

enum class Statistic { kSampleCount, kAverage, kSum, kMinimum, kMaximum };

struct StatisticsQuery {
  SeriesKey key;         // an empty unit matches every unit
  int64_t start_ms = 0;  // inclusive
  int64_t end_ms = 0;    // exclusive
  int64_t period_ms = 0;
  // The start asked for, before RoundStartTime; the tier reaches are judged
  // by it (0: start_ms).
  int64_t requested_start_ms = 0;
  std::vector<double> percentiles;  // 0..100
  // Extended statistics (engine/extended_statistics.h), exact over raw
  // points.
  std::vector<ExtendedStatistic> extended;
};

struct StatisticsDatapoint {
  int64_t start_ms = 0;  // the period's start
  double sample_count = 0;
  double sum = 0;
  double minimum = 0;
  double maximum = 0;
  // In the query's order; NaN where no sample could contribute.
  std::vector<double> percentiles;
  // In the query's order; NaN where the statistic has no value.
  std::vector<double> extended;
  std::string unit;
};

// Thread-safe.
class StatisticsExecutor {
 public:
  StatisticsExecutor(storage::Store& store, SeriesIndex& index,
                     DirtyHourIndex& dirty, RawReader& reader,
                     const TierReach& reach)
      : store_(store),
        index_(index),
        dirty_(dirty),
        reader_(reader),
        reach_(reach) {}

  // One datapoint per period that has data, oldest first, as of `now_ms`
  // with rollups below `watermark_ms`. Returns InvalidArgument for an empty
  // or inverted range, a period <= 0 or times beyond +-2^53 ms; DataLoss
  // for damaged records.
  absl::StatusOr<std::vector<StatisticsDatapoint>> Run(
      const StatisticsQuery& query, int64_t now_ms, int64_t watermark_ms);

 private:
  storage::Store& store_;
  SeriesIndex& index_;
  DirtyHourIndex& dirty_;
  RawReader& reader_;
  const TierReach reach_;
};

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_STATISTICS_H_
