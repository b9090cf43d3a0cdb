// The dirty-hour index: hours with late points that no rollup pass has
// rolled up again yet, by series, in memory (rebuilt from `rollup_dirty` on
// open). Queries read those hours from raw points instead of their rollup
// blocks (engine/rollup_scheduler.h, storage/FORMAT.md).
//
// Each pending (series, hour) pair keeps the sequence of the newest durable
// dirty record that lists it, and when a commit last had late points in it.
// The sequence lets a commit skip pairs that are already pending in a
// record no pass can have taken yet (TouchLate), so that a backfill writes
// each pair about once per pass, not once per commit; the time lets a pass
// defer hours that commits are still touching (RollupOptions::
// dirty_quiet_ms), so that it does not redo them pass after pass.
#ifndef NIMBUS_ENGINE_DIRTY_HOURS_H_
#define NIMBUS_ENGINE_DIRTY_HOURS_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
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
  // pass drops and counts them. The pairs count as touched at `now_ms`
  // (what happened to them before the restart is not known; a backfill may
  // still be going on).
  // `legacy` reads the records of a version-2 store.
  absl::StatusOr<uint64_t> Load(storage::Store& store, bool legacy,
                                int64_t now_ms);

  // For a commit about to write, with `hours` the pairs of its late points
  // (a pair may repeat) and `last_boundary` its CommitGroup::last_boundary:
  // marks every pair touched at `now_ms`, and removes from `hours` the pairs
  // that need not go into the commit's dirty record. Those are the pairs marked
  // by a record of sequence >= last_boundary: only a pass of a higher
  // boundary can handle that record, and such a pass waits for this commit,
  // so it reads this commit's points too. One lock for the whole commit.
  void TouchLate(int64_t now_ms, uint64_t last_boundary,
                 std::vector<DirtyHour>* hours);

  // The commit of log sequence `seq` durably wrote a dirty record of
  // `hours` at `now_ms`. Call only once the write succeeded: a mark must
  // name a durable record, or later commits would skip a pair that no
  // record lists.
  void Mark(const std::vector<DirtyHour>& hours, uint64_t seq, int64_t now_ms);

  // Replaces *touched_ms with, per pair of `hours`, when a commit last had
  // late points in it (INT64_MIN for a pair not pending).
  void LastTouched(const std::vector<DirtyHour>& hours,
                   std::vector<int64_t>* touched_ms);

  // The dirty hours of a series that start in [floor(start, 1 h), end),
  // ascending.
  std::vector<int64_t> Hours(uint64_t series_id, int64_t start_ms,
                             int64_t end_ms);

  // A pass handled every mark below `boundary` and wrote `retry` (hours it
  // failed or deferred) in a record just below it. A retry pair keeps its
  // touched time, and a newer mark (a commit during the pass) if it has one.
  void Handled(uint64_t boundary, const std::vector<DirtyHour>& retry);

  // (series, hour) pairs marked and not yet handled.
  int64_t size();

 private:
  struct Entry {
    // The newest dirty record (log sequence) that lists the pair.
    uint64_t seq;
    // When a commit last had late points in it.
    int64_t touched_ms;
  };
  // A series' pending hours, ascending: mostly one (a series whose data
  // crosses into a new hour), held inline, so that a pending series costs
  // its map slot and no allocation.
  using HourList = absl::InlinedVector<std::pair<int64_t, Entry>, 1>;
  static Entry* Find(HourList& hours, int64_t hour_ms);
  // The entry of hour_ms, inserted as `e` if missing; true if inserted.
  static std::pair<Entry*, bool> FindOrAdd(HourList& hours, int64_t hour_ms,
                                           Entry e);

  absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, HourList> dirty_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_DIRTY_HOURS_H_
