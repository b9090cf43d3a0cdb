// The engine: series identity, durable ingest, heads and sealed chunks,
// rollups and statistics queries, behind one thin facade. Its rooms:
//
//   series_index   series by key and id, created durably before use
//   commit_queue   leader/follower group commit in log-sequence order
//   ingest_log     the log record format, replay and trim
//   head_store     unsealed points in memory; seals atomic to readers
//   sealer         heads to chunks (background thread for full heads)
//   sweeper        seals aged heads, trims the log, persists last writes
//   raw_reader     a series' heads, chunks and statistic sets in a range
//   dirty_hours    late hours waiting for a rollup pass (read raw)
//   statistics     GetMetricStatistics over rollups and raw points
//   rollup_scheduler, query_plan, metric_data: rollups, planning, GetMetricData
//
// Ingest path: Write() resolves each series to its id (creating new series
// durably first), then joins the commit queue. The queue's leader writes one
// ingest-log record for the whole group (with the group's statistic sets and
// the dirty record of its late points) in one RocksDB write, durable per the
// sync mode when Write() returns; then it appends the points to the heads,
// in log order. A full head (head_seal_points) goes to the sealer; a head
// whose oldest point has waited head_max_age_ms is sealed by the sweeper.
// On open, the log is replayed into the heads, skipping what each series
// had already sealed.
#ifndef NIMBUS_ENGINE_ENGINE_H_
#define NIMBUS_ENGINE_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/clock.h"
#include "engine/commit_queue.h"
#include "engine/head_buffer.h"
#include "engine/ingest_log.h"
#include "engine/query_plan.h"
#include "engine/recent_window.h"
#include "engine/rollup_scheduler.h"
#include "engine/series_index.h"
#include "engine/series_key.h"
#include "engine/statistics.h"
#include "storage/store.h"

namespace nimbus::engine {

// Validated points to store, as runs by series. Nothing is copied: the keys
// and the points a run names must stay valid during Write(). A series may
// have several runs; its points are appended in run order.
struct IngestBatch {
  struct Run {
    absl::string_view key;  // SeriesKey encoding (engine/series_key.h)
    // The run's series if the caller has it (FindSeries); key is then
    // unused.
    Series* series = nullptr;
    // Nonzero: the hash of `identity`, what the client sent for `key`,
    // which Write() remembers for FindSeries once the key has resolved. Its
    // views must stay valid during Write().
    uint64_t identity_hash = 0;
    IdentityView identity;
    const Sample* samples = nullptr;
    size_t sample_count = 0;
    const StatisticSet* sets = nullptr;
    size_t set_count = 0;
  };
  std::vector<Run> runs;
};

// Validated points of one series.
struct SeriesWrite {
  SeriesKey key;
  std::vector<Sample> samples;
  std::vector<StatisticSet> statistic_sets;
  // key.Encode(), if the caller has it already; empty otherwise.
  std::string encoded_key;
};

struct EngineOptions {
  // Directory of the store; created if missing.
  std::string data_dir;
  storage::SyncMode sync = storage::SyncMode::kProcessCrash;
  // Sealed chunks and statistic sets older than this are dropped by
  // compaction. At least 14 days + 3 hours, or 0 to keep them forever:
  // points are accepted 14 days back, and a late point's hour (which starts
  // up to an hour before it) is rolled up again from raw points by a pass
  // that may run a little later. Default 15 days.
  int64_t raw_retention_ms = int64_t{15} * 24 * 3600 * 1000;
  // How far back each granularity answers queries, and how long rollup
  // records are kept (tier_ms). Defaults: docs/semantics.md. reach.raw_ms is
  // taken from raw_retention_ms.
  TierReach reach;
  // Rollups (engine/rollup_scheduler.h).
  RollupOptions rollup;
  // Alarm history items older than this are dropped by compaction
  // (storage::StoreOptions). Default 30 days; 0 keeps them.
  int64_t alarm_history_retention_ms = int64_t{30} * 24 * 3600 * 1000;
  // How often a background thread runs rollup passes; 0 runs no thread
  // (tests call RunRollups()). Default 10 seconds.
  int64_t rollup_interval_ms = 10'000;
  // A head is sealed into chunks when it holds this many points. Default
  // 120: each seal costs a few store operations whatever its size (a chunk,
  // the sealed sequence), so larger seals cost less a point; a head of 120
  // points of the reference shapes takes about 430 bytes (215 for 60,
  // docs/architecture.md). Series written in real time at 10 s or slower
  // are sealed by age (head_max_age_ms) first.
  size_t head_seal_points = 120;
  // A head is sealed when its oldest point has waited this long, so that the
  // ingest log stays short. Default 10 minutes.
  int64_t head_max_age_ms = 10 * 60 * 1000;
  // How often a background thread seals aged heads and trims the log; 0 runs
  // no thread (tests call SealAgedHeads()). Default 5 seconds.
  int64_t sweep_interval_ms = 5000;
  // Seal full heads on a background thread, so that writers never wait for
  // chunk encoding. false seals inside the commit (deterministic, for tests).
  // Default true.
  bool background_sealing = true;
  // The background threads (sealer, sweeper, rollups) run this many nice
  // levels below the threads that serve requests (0-19): a smaller share of
  // contended cores than serving gets. Default 0: on the 2-core benchmark
  // host 10 measured no different, and a lowered sealer still holds the
  // heads' lock while it trims them and may lead a RocksDB write group that
  // requests then wait behind.
  int background_nice = 0;
  // Writers wait while this many full heads are queued for (or being
  // sealed by) the background sealer, so that memory stays bounded when
  // sealing lags. Default 65536.
  size_t max_seal_backlog = 65536;
  // Called by a seal after its chunk write, before its head trim: tests
  // check that a query in between sees every point once. Default: none.
  std::function<void()> after_seal_write_for_testing;
  // Wraps the store the engine opens, e.g. in a
  // storage::FaultInjectionStore. Default: none.
  std::function<std::unique_ptr<storage::Store>(
      std::unique_ptr<storage::Store>)>
      wrap_store_for_testing;
};

struct EngineStats {
  int64_t points_accepted = 0;
  int64_t series_count = 0;
  // Chunks written by seals, and by merges of a series' small chunks.
  int64_t chunks_sealed = 0;
  int64_t chunks_merged = 0;
  int64_t head_points = 0;
  int64_t bytes_on_disk = 0;
  int64_t memtable_bytes = 0;
  int64_t rollup_watermark_ms = 0;
  RollupStats rollups;
  // Background failures since open, each also logged: seals whose write
  // failed (their points stay in the heads and the log, and are sealed
  // again), sweeps whose log-trim write failed, rollup passes that failed
  // (done again by the next pass).
  int64_t seal_failures = 0;
  int64_t sweep_failures = 0;
  int64_t rollup_failures = 0;
  // Writes that waited for the sealer (max_seal_backlog).
  int64_t writes_throttled = 0;
  // (series, hour) pairs with late points waiting for a rollup pass.
  int64_t dirty_hours_pending = 0;
  // Since open: rollup_dirty records commits wrote, and the (series, hour)
  // pairs they listed. A commit lists only pairs not already pending in a
  // record that a later pass will take, so these grow with distinct pairs
  // per pass, not with late points or commits.
  int64_t dirty_records_written = 0;
  int64_t dirty_pairs_written = 0;
};

// Thread-safe.
class Engine {
 public:
  // Opens the store, loads the series index and replays the ingest log.
  static absl::StatusOr<std::unique_ptr<Engine>> Open(EngineOptions options,
                                                      Clock& clock);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Stores the writes; on OK they are durable per the sync mode. The keys
  // and points must be valid (engine/validation.h). Returns the store's error
  // (Unavailable, DataLoss, Internal) if the write failed; nothing of the
  // call is then acknowledged, though new series may have been created.
  absl::Status Write(const IngestBatch& batch);
  // As Write(batch), but returns without waiting for the group commit:
  // `done` runs once with Write's status, on this thread before WriteAsync
  // returns, or on the thread that applies the group (engine/commit_queue.h:
  // while this call leads, it applies the groups of others). Before the
  // commit it waits as Write does: for new series to be created, and while
  // the sealer lags. `batch`, what it points to, and `w` (its previous
  // contents are dropped) must stay valid until `done` runs; `done` may
  // free them.
  void WriteAsync(const IngestBatch& batch, CommitWriter* w,
                  absl::AnyInvocable<void(absl::Status) &&> done);
  // The same for writes by series (each key encoded here if the write does
  // not carry its encoding).
  absl::Status Write(std::vector<SeriesWrite>& writes);
  // For each identity as a client sent it (hashes[i] its hash, computed the
  // same way each time, or 0 to skip it; IngestBatch::Run::identity_hash),
  // the series an earlier Write() resolved it to, or nullptr: a datum with a
  // series found needs no identity validation, no key encoding and no key
  // lookup (IngestBatch::Run::series). Only identities that passed
  // validation are remembered.
  void FindSeries(absl::Span<const IdentityView> ids,
                  absl::Span<const uint64_t> hashes, Series** out);

  // One datapoint per period that has data, oldest first. Served per
  // PlanStatisticsQuery (engine/query_plan.h): rollups where they reach,
  // raw points for the newest periods and for exact percentiles; a start
  // beyond the reach of the period's granularity gives no datapoints.
  // Returns InvalidArgument for an empty or inverted range or a period <= 0.
  absl::StatusOr<std::vector<StatisticsDatapoint>> GetStatistics(
      const StatisticsQuery& query);

  // Returns InvalidArgument if next_token is not one this engine gave out.
  absl::StatusOr<ListResult> ListSeries(const ListQuery& query);

  EngineStats Stats();

  // Seals heads whose oldest point has waited head_max_age_ms and deletes
  // the log records no head needs.
  absl::Status SealAgedHeads();

  // Seals every head, whatever its age, and trims the log: afterwards every
  // point is in a chunk. For maintenance and measurement.
  absl::Status SealAllHeads();

  // Runs rollup passes until the watermark has caught up with the settled
  // minutes and the dirty hours are redone. For tests and tools. With
  // redo_busy_hours false it runs them as the background thread does:
  // dirty hours that commits touched within rollup.dirty_quiet_ms are left
  // pending, read raw, for a later pass (engine/rollup_scheduler.h).
  absl::Status RunRollups(bool redo_busy_hours = true);

  // Flushes and compacts the whole store now; retention is applied by
  // compaction. For tests and maintenance tools.
  absl::Status Compact();

  // The store, for the modules above the engine that keep column families
  // of their own (alarms: storage::Column::kAlarms, kAlarmHistory). They
  // must not write the engine's families.
  storage::Store& store();

  // Recent period statistics kept in memory for alarm evaluation
  // (engine/recent_window.h has the contract): watches `key` (an empty
  // unit: every unit) in buckets of bucket_ms, span_ms behind now, built
  // from stored data and then fed by every commit. Returns a handle, or
  // the store's error.
  absl::StatusOr<uint64_t> WatchSeries(const SeriesKey& key, int64_t bucket_ms,
                                       int64_t span_ms);
  void UnwatchSeries(uint64_t handle);
  // `n` periods of period_ms from start_ms; false if the watch does not
  // cover them (then read GetStatistics).
  bool ReadWatched(uint64_t handle, int64_t start_ms, int64_t period_ms,
                   size_t n, std::vector<WindowStats>* out);
  // Each of `reads` as ReadWatched, at one time, under one hold of the
  // window's lock (RecentWindow::ReadMany).
  void ReadWatchedMany(absl::Span<const WindowRead> reads,
                       std::vector<WindowStats>* out,
                       std::vector<bool>* answered);
  // Recent windows held (watches of one key, bucket and span share one).
  size_t WatchedWindows();
  // Buckets the recent windows hold, ahead ones included.
  size_t WindowBuckets();

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_ENGINE_H_
