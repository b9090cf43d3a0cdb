#include "engine/head_store.h"

#include <algorithm>

#include "storage/status_macros.h"

namespace nimbus::engine {

void HeadStore::Append(Series* s, const Sample* samples, size_t n, uint64_t seq,
                       int64_t now_ms) {
  if (n == 0) return;
  if (s->head.empty()) {
    s->head_first_seq = seq;
    s->head_first_wall_ms = now_ms;
  }
  s->head_last_seq = seq;
  for (size_t i = 0; i < n; ++i)
    s->head.Append(samples[i].ts_ms, samples[i].value);
  s->last_write_ms.store(now_ms, std::memory_order_relaxed);
  points_.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
}

void HeadStore::AppendGroup(const CommitGroup& group, int64_t now_ms,
                            std::vector<Series*>* full) {
  absl::MutexLock l(&mu_);
  for (const CommitWriter* w : group.writers) {
    for (const CommitWriter::Set& st : w->sets) {
      st.series->last_write_ms.store(now_ms, std::memory_order_relaxed);
    }
    for (const CommitWriter::Item& it : w->items) {
      Append(it.series, it.samples, it.count, group.seq, now_ms);
      if (it.series->head.size() >= seal_points_ && !it.series->seal_queued) {
        it.series->seal_queued = true;
        full->push_back(it.series);
      }
    }
  }
  applied_seq_ = group.seq;
  if (feed_) feed_(group, now_ms);
}

void HeadStore::AppendReplayed(Series* s, const std::vector<Sample>& samples,
                               uint64_t seq, int64_t now_ms) {
  absl::MutexLock l(&mu_);
  Append(s, samples.data(), samples.size(), seq, now_ms);
}

void HeadStore::SetAppliedSeq(uint64_t seq) {
  absl::MutexLock l(&mu_);
  applied_seq_ = seq;
}

void HeadStore::Snapshot(Series* s, std::vector<Sample>* head,
                         uint64_t* sealed_seq,
                         absl::FunctionRef<void()> open_iterators) {
  // The iterators are opened under the lock, so that their view holds every
  // chunk of a seal published before the copy.
  absl::MutexLock l(&mu_);
  s->head.DecodeTo(head);
  *sealed_seq = s->sealed_seq;
  open_iterators();
}

bool HeadStore::Snapshot(Series* s, std::vector<Sample>* head,
                         uint64_t* sealed_seq, uint64_t* applied_seq,
                         absl::FunctionRef<bool()> in_step,
                         absl::FunctionRef<void()> open_iterators) {
  absl::MutexLock l(&mu_);
  if (!in_step()) return false;
  s->head.DecodeTo(head);
  *sealed_seq = s->sealed_seq;
  *applied_seq = applied_seq_;
  open_iterators();
  return true;
}

void HeadStore::WithLock(absl::FunctionRef<void()> fn) {
  absl::MutexLock l(&mu_);
  fn();
}

bool HeadStore::TakeForSeal(Series* s, std::vector<Sample>* points,
                            uint64_t* seq) {
  // Appends happen under mu_ in log order, so every point in the head now
  // has a sequence <= head_last_seq and every later one >.
  absl::MutexLock l(&mu_);
  s->seal_queued = false;
  if (s->head.empty()) return false;
  points->clear();
  s->head.DecodeTo(points);
  *seq = s->head_last_seq;
  return true;
}

void HeadStore::ClearSealQueued(absl::Span<Series* const> series) {
  absl::MutexLock l(&mu_);
  for (Series* s : series) s->seal_queued = false;
}

absl::Status HeadStore::PublishSeal(const std::vector<Sealed>& sealed,
                                    absl::FunctionRef<absl::Status()> write,
                                    int64_t now_ms) {
  NIMBUS_RETURN_IF_ERROR(write());
  absl::MutexLock l(&mu_);
  for (const Sealed& x : sealed) {
    Series* s = x.series;
    points_.fetch_sub(static_cast<int64_t>(x.count), std::memory_order_relaxed);
    s->head.DropFront(x.count);
    s->sealed_seq = x.seq;
    if (s->head.empty()) {
      s->head_first_seq = 0;
    } else {
      // Points appended while sealing: their records are all > x.seq.
      s->head_first_seq = x.seq + 1;
      s->head_first_wall_ms = now_ms;
    }
  }
  return absl::OkStatus();
}

std::vector<Series*> HeadStore::Aged(SeriesIndex& index, int64_t cutoff_ms) {
  std::vector<Series*> aged;
  index.ForEach([&](Series& s) {
    absl::MutexLock l(&mu_);
    if (!s.head.empty() && s.head_first_wall_ms <= cutoff_ms) {
      aged.push_back(&s);
    }
  });
  return aged;
}

uint64_t HeadStore::KeepFrom(SeriesIndex& index) {
  uint64_t keep_from;
  {
    absl::MutexLock l(&mu_);
    keep_from = applied_seq_ + 1;
  }
  index.ForEach([&](Series& s) {
    absl::MutexLock l(&mu_);
    if (!s.head.empty()) keep_from = std::min(keep_from, s.head_first_seq);
  });
  return keep_from;
}

}  // namespace nimbus::engine
