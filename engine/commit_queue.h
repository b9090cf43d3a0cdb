// The commit queue: leader/follower group commit, as in LevelDB. Writers
// queue up; the writer at the front leads, takes the writers queued behind
// it as one group, gives the group the next log sequence and applies it (one
// store write for the group); the others wait and return its status. One
// leader runs at a time, so groups are applied in sequence order.
//
// A writer may also not wait (CommitAsync): it queues, and whoever leads
// its group runs its callback. Such writers have no thread to lead with,
// so a leader goes on to the next group while an asynchronous writer is at
// the front, and hands over to a waiting writer at the front. So a thread
// that commits asynchronously never waits for another writer's commit;
// while it leads, it applies (and waits for the store writes of) the groups
// of others.
//
// The queue also holds the late watermark: points below it are late, and a
// commit marks their hours for the rollup scheduler
// (engine/rollup_scheduler.h).
#ifndef NIMBUS_ENGINE_COMMIT_QUEUE_H_
#define NIMBUS_ENGINE_COMMIT_QUEUE_H_

#include <cstdint>
#include <deque>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "engine/head_buffer.h"
#include "engine/ingest_log.h"
#include "engine/series_index.h"

namespace nimbus::engine {

// One caller's part of a commit: its points and statistic sets by series.
// The pointers are borrowed for the duration of Commit(), or until
// CommitAsync's callback runs. A writer may be reused for the next commit
// once the last one returned (or called back).
struct CommitWriter {
  struct Item {
    Series* series;
    const Sample* samples;
    size_t count;  // at least one
  };
  struct Set {
    Series* series;
    const StatisticSet* set;
  };
  std::vector<Item> items;
  std::vector<Set> sets;
  // About how many bytes the writer adds to a group's store write.
  size_t bytes = 0;

 private:
  friend class CommitQueue;
  // Set for a writer that does not wait (CommitAsync).
  absl::AnyInvocable<void(absl::Status) &&> on_done;
  absl::Status status;
  bool done = false;
  absl::CondVar cv;
};

// A group of writers led by one commit, with its sequence, the late
// watermark the commit read, and the last boundary RaiseLateWatermark had
// returned when the commit took its sequence (0 if none): every rollup pass
// with a higher boundary waits for this commit, so a late hour already
// marked by a commit at or above it need not be marked again
// (engine/dirty_hours.h).
struct CommitGroup {
  const std::vector<CommitWriter*>& writers;
  uint64_t seq;
  int64_t late_before_ms;
  uint64_t last_boundary;
};

// A group holds at most this many writers, and stops growing once it holds
// this many bytes (a single larger writer is a group of its own), so that
// one store write and the time followers wait for it stay bounded.
inline constexpr size_t kMaxGroupWriters = 64;
inline constexpr size_t kMaxGroupBytes = size_t{8} << 20;

// Thread-safe.
class CommitQueue {
 public:
  // Queues `w` and returns once a leader has applied the group holding it,
  // with apply's status. apply runs on the leader's thread without the
  // queue's lock, one group at a time, in sequence order.
  absl::Status Commit(
      CommitWriter* w,
      absl::FunctionRef<absl::Status(const CommitGroup&)> apply);

  // Queues `w` and returns; `done` runs once with apply's status when a
  // leader has applied the group holding it: here, before CommitAsync
  // returns, if this call leads, or on the leading thread. If this call
  // leads, it applies every group queued meanwhile (with `apply`) until
  // the queue is empty or a waiting writer is at its front: under a load
  // that never lets the queue empty, that is the whole load (and a waiting
  // writer that leads, in Commit, applies the groups of asynchronous
  // writers behind it the same way before it returns). `w` and what it
  // points to must stay valid until `done` runs; `done` may free them. It
  // runs without the queue's lock and may queue another CommitAsync; it must
  // not call Commit (its thread may be the leader that Commit would wait
  // for) nor wait for long (the groups behind wait for it).
  void CommitAsync(CommitWriter* w,
                   absl::FunctionRef<absl::Status(const CommitGroup&)> apply,
                   absl::AnyInvocable<void(absl::Status) &&> done);

  // Numbering continues above `seq` (a restart: the newest sequence used).
  void ResumeAbove(uint64_t seq);

  // Sets the watermark below which commits mark points late, then waits
  // until every commit that read an older one is complete. Returns the
  // first sequence that reads the new one.
  uint64_t RaiseLateWatermark(int64_t watermark_ms);

  // Writers queued (the leader included). For tests.
  size_t QueuedForTesting();

 private:
  // Applies groups from the front, `self` (this thread's writer, if it
  // waits) first, until the queue is empty or another waiting writer is at
  // the front (woken to lead).
  void Lead(CommitWriter* self,
            absl::FunctionRef<absl::Status(const CommitGroup&)> apply)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::deque<CommitWriter*> writers_ ABSL_GUARDED_BY(mu_);
  // A thread is in Lead(): it will take the writers queued at the front.
  bool leading_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  // Every commit up to this sequence is applied (or failed).
  uint64_t completed_seq_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t late_watermark_ ABSL_GUARDED_BY(mu_) = 0;
  // The boundary the last RaiseLateWatermark returned.
  uint64_t last_boundary_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_COMMIT_QUEUE_H_
