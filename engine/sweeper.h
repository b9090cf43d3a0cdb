// The sweeper: seals heads whose oldest point has waited long enough, so
// that the ingest log stays short, deletes the log records no head needs,
// and persists when each series was last written (for ListMetrics'
// recently-active filter across restarts).
#ifndef NIMBUS_ENGINE_SWEEPER_H_
#define NIMBUS_ENGINE_SWEEPER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "engine/clock.h"
#include "engine/head_store.h"
#include "engine/sealer.h"
#include "engine/series_index.h"
#include "storage/store.h"

namespace nimbus::engine {

// Thread-compatible: one Run() at a time.
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
  // head for 0), then trims the log. Returns the first error; what failed
  // is done again by the next run.
  absl::Status Run(int64_t max_age_ms);

 private:
  storage::Store& store_;
  SeriesIndex& index_;
  HeadStore& heads_;
  Sealer& sealer_;
  Clock& clock_;
  // The ingest log below this sequence has been deleted.
  uint64_t trimmed_below_ = 0;
};

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_SWEEPER_H_
