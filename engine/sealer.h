// The sealer: turns heads into chunks. A seal sorts a head's points, cuts
// them into chunks of at most storage::kMaxChunkSpanMs and kMaxSealPoints,
// and writes them to `points` with the series' new sealed log sequence, in
// one store write (storage/FORMAT.md, "Chunk keys and spans"). A seal
// encodes only its own points: it never reads back a chunk to extend it.
//
// Small seals would leave many small chunks, which pack worse and cost a
// read each. So the chunks a series' seals wrote since its last merge (its
// open run) are merged into one: when the next seal's points would not fit
// with them in kTargetChunkPoints and storage::kMaxChunkSpanMs (the run
// closes), when the run holds kMaxRunChunks chunks (the merge starts the
// run again), and when the series has been quiet for a sweep's age
// (MergeQuiet). A merge rides in the write of the seal that triggers it. With
// heads of h points and runs of at most R points (kTargetChunkPoints, or
// what 2 hours hold at the series' interval) a point is encoded about
// 1 + R / (7 h) times at most: about twice for the default 120-point heads
// of 10-second data, 2.7 times for a 60-second series sealed by age every
// 10 points (R = 120). Rewriting the newest chunk on every seal had cost up
// to R / h. Points older than the run's start (late points) get chunks of
// their own.
//
// Full heads are queued for a background thread, so writers never wait for
// chunk encoding; the sweeper seals aged heads through Seal() directly.
#ifndef NIMBUS_ENGINE_SEALER_H_
#define NIMBUS_ENGINE_SEALER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "engine/clock.h"
#include "engine/head_store.h"
#include "engine/series_index.h"
#include "storage/keys.h"
#include "storage/store.h"

namespace nimbus::engine {

// The most points the sealer puts in one chunk. Larger heads (a client can
// send a million points at one timestamp) become several chunks.
inline constexpr size_t kMaxSealPoints = 16384;

// A series' run is merged once it would exceed this many points (2 hours of
// 10-second data), so that chunks settle near the size the codec packs best
// (bench/RESULTS.md) however small the heads.
inline constexpr size_t kTargetChunkPoints = 720;

// A run of this many chunks is merged before the next joins it: slow series
// (a head sealed by age every few points) keep few chunks while their run
// fills.
inline constexpr size_t kMaxRunChunks = 8;

// Series sealed, and quiet series merged, in one store write, at most.
// RocksDB applies writes one group at a time, so a commit that arrives
// behind a background write waits for all of it: a seal of 10,000 heads in
// one write (a time-major client fills them all at once) held commits for
// 22-52 ms on a 2-core machine (a replay's slowest requests: 69-102 ms); in
// writes of 128 series, 28-64 ms (bench/RESULTS.md).
inline constexpr size_t kSealBatch = 128;
inline constexpr size_t kMergeBatch = kSealBatch;

struct SealerOptions {
  // Seal queued heads on a background thread; false seals inside Queue().
  bool background = true;
  // How many nice levels below its creator the background thread runs
  // (engine/periodic_thread.h, LowerThisThreadPriority).
  int nice = 0;
  // Called by a seal after each chunk write (one a batch of kSealBatch
  // series), before that batch's head trim. Default: none.
  std::function<void()> after_write_for_testing;
};

// Thread-safe.
class Sealer {
 public:
  Sealer(storage::Store& store, HeadStore& heads, Clock& clock,
         SealerOptions options);
  // Stop().
  ~Sealer();

  // Stops the background thread (what is unsealed stays in the log) and
  // lets writers waiting in AwaitBacklogBelow go. Idempotent.
  void Stop();
  Sealer(const Sealer&) = delete;
  Sealer& operator=(const Sealer&) = delete;

  // Seals the heads of `series`: the points they hold now go to chunks,
  // points appended meanwhile stay. Works in batches of kSealBatch series,
  // each one store write, one batch at a time; no lock that readers or
  // writers need is held across a store write. A batch whose write fails
  // is logged and counted, its points stay in the heads and the log (the
  // next write to one of its series queues it again), and the other
  // batches go on. Returns the first store error.
  absl::Status Seal(const std::vector<Series*>& series);

  // Hands full heads to the background thread (or seals them here).
  void Queue(std::vector<Series*> full);

  // Waits while `max` or more full heads are queued or being sealed (the
  // sealer lags); returns at once without a background thread.
  void AwaitBacklogBelow(size_t max);

  // Merges the open run of every series last written at or before
  // cutoff_ms whose run holds more than one chunk, reading back the run of
  // a series not known since this process loaded it (once). Works in
  // batches of kMergeBatch series, each one store write with seals held off
  // only meanwhile. Returns the first store error (logged and counted); the
  // batches written before it stay merged, the rest stay as they were.
  absl::Status MergeQuiet(SeriesIndex& index, int64_t cutoff_ms);

  // Chunks written by seals, and chunks written by merges.
  int64_t chunks_written() const {
    return chunks_written_.load(std::memory_order_relaxed);
  }
  int64_t chunks_merged() const {
    return chunks_merged_.load(std::memory_order_relaxed);
  }
  // Seals and merges that failed (logged; their points kept).
  int64_t failures() const { return failures_.load(std::memory_order_relaxed); }
  // Calls of AwaitBacklogBelow that waited.
  int64_t throttled() const {
    return throttled_.load(std::memory_order_relaxed);
  }

 private:
  // What a series' run becomes (Series::run_*), applied once written.
  struct Run {
    int64_t first_ms = 0;
    size_t points = 0;
    size_t chunks = 0;
  };
  // Seals `series` (sorted by id, each once) in one store write.
  absl::Status SealOnce(absl::Span<Series* const> series)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  // The run of `s` (read back from the store after a restart).
  absl::StatusOr<Run> KnownRun(const Series& s)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  // Adds to *batch the deletion of every chunk of `s` from run->first_ms on
  // and the chunks of their points merged, and sets *run to the last of
  // those; adds the chunks written to *merged. A chunk that does not decode
  // leaves the run's chunks as they are (logged) and closes the run.
  absl::Status MergeRun(const Series& s, Run* run, storage::WriteBatch* batch,
                        int64_t* merged)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  void SetRun(Series* s, const Run& run)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  void Loop();

  storage::Store& store_;
  HeadStore& heads_;
  Clock& clock_;
  const SealerOptions options_;
  absl::Mutex seal_mu_;  // one seal at a time
  absl::Mutex queue_mu_;
  std::vector<Series*> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  // Series taken from the queue by the running seal.
  size_t in_progress_ ABSL_GUARDED_BY(queue_mu_) = 0;
  std::atomic<int64_t> chunks_written_{0};
  std::atomic<int64_t> chunks_merged_{0};
  std::atomic<int64_t> failures_{0};
  std::atomic<int64_t> throttled_{0};
  std::thread thread_;
};

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_SEALER_H_
