// The dirty-hour index: hours with late points that no rollup pass has
// rolled up again yet, by series, in memory (rebuilt from `rollup_dirty` on
// open). Queries read those hours from raw points instead of their rollup
// blocks (engine/rollup_scheduler.h, storage/FORMAT.md).
#ifndef NIMBUS_ENGINE_DIRTY_HOURS_H_
#define NIMBUS_ENGINE_DIRTY_HOURS_H_

#include <cstdint>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/rollup.h"
#include "storage/store.h"

namespace nimbus::engine {

// Thread-safe.
class DirtyHourIndex {
 public:
  // Reads every dirty record. Returns the newest record's sequence (0 if
  // none), or the store's error. Unreadable records are skipped: the next
  // pass drops and counts them.
  // `legacy` reads the records of a version-2 store.
  absl::StatusOr<uint64_t> Load(storage::Store& store, bool legacy);

  // The hours were marked by the commit of log sequence `seq`.
  void Mark(const std::vector<DirtyHour>& hours, uint64_t seq);

  // The dirty hours of a series that start in [floor(start, 1 h), end),
  // ascending.
  std::vector<int64_t> Hours(uint64_t series_id, int64_t start_ms,
                             int64_t end_ms);

  // A pass handled every mark below `boundary` and re-marked `retry` just
  // below it.
  void Handled(uint64_t boundary, const std::vector<DirtyHour>& retry);

  // (series, hour) pairs marked and not yet handled.
  int64_t size();

 private:
  absl::Mutex mu_;
  // series -> hour -> the newest log sequence that marked it.
  absl::flat_hash_map<uint64_t, absl::btree_map<int64_t, uint64_t>> dirty_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_DIRTY_HOURS_H_
