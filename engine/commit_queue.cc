#include "engine/commit_queue.h"

#include <algorithm>

namespace nimbus::engine {

absl::Status CommitQueue::Commit(
    CommitWriter* w,
    absl::FunctionRef<absl::Status(const CommitGroup&)> apply) {
  w->done = false;
  w->status = absl::OkStatus();
  w->on_done = nullptr;
  absl::MutexLock l(&mu_);
  writers_.push_back(w);
  // Until a leader has applied w's group, or w is at the front with no
  // leader: then w leads.
  while (!w->done && (w != writers_.front() || leading_)) w->cv.Wait(&mu_);
  if (!w->done) Lead(w, apply);
  return w->status;
}

void CommitQueue::CommitAsync(
    CommitWriter* w, absl::FunctionRef<absl::Status(const CommitGroup&)> apply,
    absl::AnyInvocable<void(absl::Status) &&> done) {
  // A writer without a callback would look like a waiting one.
  if (done) {
    w->on_done = std::move(done);
  } else {
    w->on_done = [](absl::Status) {};
  }
  absl::MutexLock l(&mu_);
  writers_.push_back(w);
  // A leader, or the waiting writer ahead of w that is about to lead, takes
  // w in a later group.
  if (leading_ || writers_.front() != w) return;
  Lead(nullptr, apply);
}

void CommitQueue::Lead(
    CommitWriter* self,
    absl::FunctionRef<absl::Status(const CommitGroup&)> apply) {
  leading_ = true;
  std::vector<absl::AnyInvocable<void(absl::Status) &&>> callbacks;
  while (true) {
    // Take everyone queued now as one group, bounded by count and bytes.
    size_t n = 1;
    size_t bytes = writers_.front()->bytes;
    while (n < writers_.size() && n < kMaxGroupWriters &&
           bytes + writers_[n]->bytes <= kMaxGroupBytes) {
      bytes += writers_[n]->bytes;
      ++n;
    }
    const std::vector<CommitWriter*> group(writers_.begin(),
                                           writers_.begin() + n);
    const uint64_t seq = next_seq_++;
    const int64_t late_before = late_watermark_;
    const uint64_t last_boundary = last_boundary_;
    mu_.Unlock();
    const absl::Status status =
        apply(CommitGroup{group, seq, late_before, last_boundary});
    mu_.Lock();
    completed_seq_ = seq;
    for (size_t g = 0; g < n; ++g) {
      CommitWriter* x = writers_.front();
      writers_.pop_front();
      if (x->on_done) {
        callbacks.push_back(std::move(x->on_done));
        x->on_done = nullptr;
      } else {
        x->status = status;
        x->done = true;
        if (x != self) x->cv.Signal();
      }
    }
    // Outside the lock: a callback may free its writer, or queue another.
    if (!callbacks.empty()) {
      mu_.Unlock();
      for (auto& done : callbacks) std::move(done)(status);
      callbacks.clear();
      mu_.Lock();
    }
    if (writers_.empty()) break;
    if (!writers_.front()->on_done) {
      // A waiting writer leads on its own thread.
      writers_.front()->cv.Signal();
      break;
    }
  }
  leading_ = false;
}

void CommitQueue::ResumeAbove(uint64_t seq) {
  absl::MutexLock l(&mu_);
  if (seq >= next_seq_) {
    next_seq_ = seq + 1;
    completed_seq_ = seq;
  }
}

size_t CommitQueue::QueuedForTesting() {
  absl::MutexLock l(&mu_);
  return writers_.size();
}

uint64_t CommitQueue::RaiseLateWatermark(int64_t watermark_ms) {
  absl::MutexLock l(&mu_);
  late_watermark_ = std::max(late_watermark_, watermark_ms);
  const uint64_t boundary = next_seq_;
  last_boundary_ = boundary;
  // Leaders run one at a time in sequence order: once the commit before the
  // boundary is complete, all are.
  struct Arg {
    CommitQueue* queue;
    uint64_t boundary;
  } arg{this, boundary};
  mu_.Await(absl::Condition(
      +[](Arg* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return a->queue->completed_seq_ + 1 >= a->boundary;
      },
      &arg));
  return boundary;
}

}  // namespace nimbus::engine
