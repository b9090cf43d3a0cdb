// The sweeper: seals heads whose oldest point has waited long enough, so
// that the ingest log stays short, merges the chunks of series that went
// quiet (Sealer::MergeQuiet), deletes the log records no head needs, and
// persists when each series was last written (for ListMetrics'
// recently-active filter across restarts).
#ifndef NIMBUS_ENGINE_SWEEPER_H_
#define NIMBUS_ENGINE_SWEEPER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "engine/clock.h"
#include "engine/head_store.h"
#include "engine/sealer.h"
#include "engine/series_index.h"
#include "storage/store.h"

namespace nimbus::engine {

// Thread-safe: runs are serialized (the background sweep and a caller's
// SealAllHeads may overlap).
class Sweeper {
 public:
  Sweeper(storage::Store& store, SeriesIndex& index, HeadStore& heads,
          Sealer& sealer, Clock& clock)
      : store_(store),
        index_(index),
        heads_(heads),
        sealer_(sealer),
        clock_(clock) {}

  // Seals heads whose oldest point has waited at least max_age_ms (every
  // head for 0), merges the chunks of series not written for as long (of
  // every series for 0), then trims the log. Returns the first error of a
  // seal or of the trim; a failed merge is logged and counted by the sealer
  // and the sweep goes on. What failed is done again by the next run.
  absl::Status Run(int64_t max_age_ms);

  // Runs whose log-trim write failed (logged; done again by the next run).
  int64_t failures() const { return failures_.load(std::memory_order_relaxed); }

  // A series' persisted last-write time trails the true one by less than
  // this (until a full sweep): ListMetrics' recently-active window is 3
  // hours, and after a restart a series may leave it up to a minute early.
  static constexpr int64_t kLastWriteStepMs = 60'000;
  // Last-write records per store write.
  static constexpr size_t kLastWriteBatch = 4096;

 private:
  storage::Store& store_;
  SeriesIndex& index_;
  HeadStore& heads_;
  Sealer& sealer_;
  Clock& clock_;
  absl::Mutex mu_;  // one run at a time
  // The ingest log below this sequence has been deleted.
  uint64_t trimmed_below_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<int64_t> failures_{0};
};

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_SWEEPER_H_
