// Heads: the points of each series that are not sealed into chunks yet, in
// memory (engine/head_buffer.h), in log order.
//
// HeadStore guards every series' head state (the head fields of Series).
// No lock is held across a store write: a seal writes its chunks with no
// lock held, then drops the sealed points from the heads and raises the
// series' sealed sequence (PublishSeal). A reader copies a head and the
// sealed sequence and opens its store iterators in one step (Snapshot).
// Chunks written by a seal carry a sequence above the sealed one the reader
// copied, so it skips them and reads the head's copy instead, whether or not
// its iterators see the seal's write. A seal never rewrites a chunk whose
// points are still in a head; the chunks it merges (engine/sealer.h) were
// all published, and their merged chunk keeps the largest of their
// sequences, so a reader sees either the parts or the merged chunk.
#ifndef NIMBUS_ENGINE_HEAD_STORE_H_
#define NIMBUS_ENGINE_HEAD_STORE_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "engine/commit_queue.h"
#include "engine/head_buffer.h"
#include "engine/series_index.h"

namespace nimbus::engine {

// Thread-safe.
class HeadStore {
 public:
  // A head is full at `seal_points` points.
  explicit HeadStore(size_t seal_points) : seal_points_(seal_points) {}

  // Appends a commit group's points (log sequence `seq`) to the heads, and
  // adds to *full the series whose heads are now full and not yet queued
  // for sealing (marking them queued). Groups must come in sequence order.
  void AppendGroup(const CommitGroup& group, int64_t now_ms,
                   std::vector<Series*>* full);

  // Appends replayed points of record `seq` (on open, before any commit).
  void AppendReplayed(Series* s, const std::vector<Sample>& samples,
                      uint64_t seq, int64_t now_ms);
  // Every record up to `seq` has been applied (on open).
  void SetAppliedSeq(uint64_t seq);

  // Copies the head of `s` into *head and its sealed sequence into
  // *sealed_seq, and calls open_iterators(), in one step with respect to
  // seals. open_iterators must not block.
  void Snapshot(Series* s, std::vector<Sample>* head, uint64_t* sealed_seq,
                absl::FunctionRef<void()> open_iterators);
  // The same, also giving the newest applied log sequence, and first
  // calling in_step() (which must not block): if it returns false, nothing
  // is copied and open_iterators is not called (RecentWindow's build).
  // Returns in_step's result.
  bool Snapshot(Series* s, std::vector<Sample>* head, uint64_t* sealed_seq,
                uint64_t* applied_seq, absl::FunctionRef<bool()> in_step,
                absl::FunctionRef<void()> open_iterators);
  // Runs fn with the heads' lock held (fn must not block).
  void WithLock(absl::FunctionRef<void()> fn);
  // Called by AppendGroup for each group, with the lock held: the recent
  // windows' feed (engine/recent_window.h). Set once, before any commit.
  void set_feed(absl::AnyInvocable<void(const CommitGroup&, int64_t)> feed) {
    feed_ = std::move(feed);
  }

  // Clears the seal_queued mark of `s` and copies its head into *points
  // with the sequence of its newest point. Returns false if the head is
  // empty. Points appended later have higher sequences.
  bool TakeForSeal(Series* s, std::vector<Sample>* points, uint64_t* seq);
  // Unmarks `series` as queued for sealing (a seal that failed before it
  // took them), so that the next write to a full one queues it again.
  void ClearSealQueued(absl::Span<Series* const> series);

  struct Sealed {
    Series* series;
    uint64_t seq;  // the head's newest sequence when taken
    size_t count;  // points taken
  };
  // Runs write() with no lock held; if it succeeds, drops the sealed points
  // from their heads and raises the series' sealed sequences. Returns
  // write's status.
  absl::Status PublishSeal(const std::vector<Sealed>& sealed,
                           absl::FunctionRef<absl::Status()> write,
                           int64_t now_ms);

  // Series whose oldest head point arrived at or before cutoff_ms.
  std::vector<Series*> Aged(SeriesIndex& index, int64_t cutoff_ms);

  // The oldest log sequence a head still needs: records below it can go.
  uint64_t KeepFrom(SeriesIndex& index);

  // Points held by every head.
  int64_t points() const { return points_.load(std::memory_order_relaxed); }

 private:
  void Append(Series* s, const Sample* samples, size_t n, uint64_t seq,
              int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t seal_points_;
  absl::Mutex mu_;  // guards the head fields of every Series
  uint64_t applied_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<int64_t> points_{0};
  absl::AnyInvocable<void(const CommitGroup&, int64_t)> feed_;
};

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_HEAD_STORE_H_
