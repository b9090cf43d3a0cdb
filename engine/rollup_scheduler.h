// engine::RollupScheduler builds the 60 s, 300 s and 3600 s period statistics
// of every series: 60 s from raw points, 300 s from 60 s, 3600 s from 300 s.
//
// Records are per series and hour: one block per tier holding the hour's
// minutes, five-minute periods, or the hour (storage/FORMAT.md, "Rollup
// block"). A persisted watermark W (meta "rollup_watermark", a whole hour)
// says that every hour below it has been rolled up. A pass raises it to the
// newest hour that has settled (ended at least settle_ms ago), rolling up
// [W, new W) for every series written recently enough to have points there.
// The open hour is not rolled up: queries read its raw points.
//
// Late points: a commit compares each point's timestamp with the watermark
// it read, and writes a dirty mark (series, hour, log sequence) for points
// below it, in the same atomic write as the points. A pass rolls such hours
// up again from raw points and deletes the marks it handled. Before reading,
// a pass raises the commits' watermark and waits for the commits that read
// the old one (RollupSource::RaiseLateWatermark), so every point is either
// visible to the pass or marked for a later one.
//
// A backfill sends late points into the same hours commit after commit. Its
// bookkeeping grows with the (series, hour) pairs, not with the commits: a
// commit leaves out of its dirty record the pairs already listed by a record
// no pass has taken yet (one at or above the last pass boundary; every pass
// that can take it waits for the commit, engine/dirty_hours.h). And a pass
// does not redo an hour while commits keep touching it: a pending pair
// touched within RollupOptions::dirty_quiet_ms is deferred (its record is
// replaced by the pass's retry record, and queries keep reading the hour
// raw) until it has been quiet that long. Engine::RunRollups() redoes busy
// hours too.
//
// Every record is recomputed whole from the tier below, never incremented:
// a pass cut short (crash, error) is simply done again, and nothing is
// counted twice. The watermark and the deletion of handled marks are the
// pass's last write.
#ifndef NIMBUS_ENGINE_ROLLUP_SCHEDULER_H_
#define NIMBUS_ENGINE_ROLLUP_SCHEDULER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/clock.h"
#include "engine/rollup.h"
#include "storage/store.h"

namespace nimbus::engine {

// Raw points of a series, as the scheduler reads them.
class RollupSource {
 public:
  virtual ~RollupSource() = default;
  // Sets the watermark below which commits mark points late, then waits
  // until every commit that read an older one is visible to ReadRaw.
  // Returns the first log sequence that reads the new one: the dirty marks
  // of lower sequences are complete.
  virtual uint64_t RaiseLateWatermark(int64_t watermark_ms) = 0;
  // The scheduler has handled the late hours of every commit below
  // `boundary` (and written `retry`, the hours it failed or deferred, to be
  // handled again): queries may read their blocks again.
  virtual void DirtyHandled(uint64_t boundary,
                            const std::vector<DirtyHour>& retry) = 0;
  // Replaces *touched_ms with, per pair of `hours`, when a commit last had
  // late points in it (INT64_MIN if unknown: quiet).
  virtual void LastTouched(const std::vector<DirtyHour>& hours,
                           std::vector<int64_t>* touched_ms) = 0;
  // The series that may have points at or after `start_ms`.
  virtual std::vector<uint64_t> SeriesWithPointsSince(int64_t start_ms) = 0;
  // Visits every raw sample and statistic set of the series in [start, end),
  // in no particular order.
  virtual absl::Status ReadRaw(
      uint64_t series_id, int64_t start_ms, int64_t end_ms,
      absl::FunctionRef<void(int64_t ts, double value)> sample,
      absl::FunctionRef<void(int64_t ts, double count, double sum,
                             double minimum, double maximum)>
          set) = 0;
};

struct RollupOptions {
  // An hour is rolled up once it ended this long ago; points arriving after
  // that are late and make their hour be rolled up again. Default 2 minutes.
  int64_t settle_ms = 120'000;
  // The most one pass advances the watermark (whole hours, at least one), so
  // that catching up after downtime goes in bounded steps. Default 6 hours.
  int64_t max_pass_ms = int64_t{6} * 3600'000;
  // On a store without a watermark, rolling up starts this long before now
  // (the raw retention, so that what is stored gets rolled up).
  int64_t initial_lookback_ms = int64_t{15} * 24 * 3600'000;
  // Raw points older than this are gone (0: kept forever); late hours that
  // old are not rolled up again. The engine sets it.
  int64_t raw_retention_ms = 0;
  // A pending late hour is redone only once no commit has had late points
  // in it for this long, so that a backfill's hours are redone once it has
  // moved on, not by every pass while it goes on; meanwhile queries read
  // them raw. 0 redoes them at once. At most an hour (the engine refuses
  // more): an hour must be redone before its raw points may expire.
  // Default 60 seconds.
  int64_t dirty_quiet_ms = 60'000;
  // Called after each write of rollup records; a non-OK status ends the pass
  // there, as a crash would. For tests.
  std::function<absl::Status()> after_write_for_testing;
};

struct RollupStats {
  int64_t passes = 0;
  int64_t raw_points_read = 0;
  int64_t records_written = 0;
  // Distinct (series, hour) pairs redone from dirty records.
  int64_t dirty_hours_redone = 0;
  // Pending pairs a pass left for a later one because commits were still
  // touching them (dirty_quiet_ms); counted once per pass that deferred.
  int64_t dirty_hours_deferred = 0;
  // Dirty marks dropped because raw points of their hour may have expired.
  int64_t stale_marks_dropped = 0;
  // Series whose raw points could not be read (DataLoss) in a pass; their
  // hours are tried again by the next one.
  int64_t series_failed = 0;
};

// Thread-compatible; the engine runs one pass at a time.
class RollupScheduler {
 public:
  RollupScheduler(RollupSource& source, storage::Store& store, Clock& clock,
                  RollupOptions options);

  // Reads the persisted watermark, or picks the initial one. Call once,
  // before any commit, and give the result to the commits.
  absl::StatusOr<int64_t> Load();

  // One pass. Returns true if the watermark is still behind the settled
  // minutes (another pass would advance it further). With redo_busy_hours
  // false, pending late hours touched within dirty_quiet_ms are deferred;
  // true redoes every pending hour (for tests and tools that want them
  // done now).
  absl::StatusOr<bool> RunPass(bool redo_busy_hours);

  // Every hour below this has been rolled up (late points excepted until
  // their hour is redone). Safe to read from any thread.
  int64_t watermark() const {
    return watermark_.load(std::memory_order_acquire);
  }

  RollupStats stats() const;

 private:
  struct Interval {
    int64_t begin, end;
  };
  // Rolls up the series over the sorted, disjoint, hour-aligned intervals
  // into `batch`.
  absl::Status RollUpSeries(uint64_t series_id,
                            const std::vector<Interval>& intervals,
                            storage::WriteBatch* batch);

  RollupSource& source_;
  storage::Store& store_;
  Clock& clock_;
  const RollupOptions options_;
  std::atomic<int64_t> watermark_{0};
  // Scratch of RollUpSeries, reused from series to series.
  std::vector<PeriodStatistics> minutes_;
  PeriodStatistics five_[12];
  PeriodStatistics hour_;
  std::string block_;
  std::atomic<int64_t> passes_{0}, raw_points_read_{0}, records_written_{0},
      dirty_hours_redone_{0}, dirty_hours_deferred_{0}, stale_marks_dropped_{0},
      series_failed_{0};
};

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_ROLLUP_SCHEDULER_H_
