#include "engine/dirty_hours.h"

#include <algorithm>
#include <limits>

#include "engine/clock.h"
#include "storage/keys.h"
#include "storage/status_macros.h"

namespace nimbus::engine {

absl::StatusOr<uint64_t> DirtyHourIndex::Load(storage::Store& store,
                                              bool legacy, int64_t now_ms) {
  auto it = store.NewIterator(storage::Column::kRollupDirty);
  std::vector<DirtyHour> hours;
  uint64_t last = 0;
  absl::MutexLock l(&mu_);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    uint64_t seq;
    hours.clear();
    if (!storage::DecodeLogKey(it->key(), &seq) ||
        !(legacy ? DecodeLegacyDirtyRecord(it->value(), &hours)
                 : DecodeDirtyRecord(it->value(), &hours))
             .ok()) {
      continue;
    }
    last = std::max(last, seq);
    // Keys ascend: the newest record of a pair comes last.
    for (const DirtyHour& h : hours) {
      dirty_[h.series_id][h.hour_ms] = Entry{seq, now_ms};
    }
  }
  NIMBUS_RETURN_IF_ERROR(it->status());
  return last;
}

void DirtyHourIndex::TouchLate(int64_t now_ms, uint64_t last_boundary,
                               std::vector<DirtyHour>* hours) {
  absl::MutexLock l(&mu_);
  // A loop, not remove_if: a lambda would be analysed without the lock.
  size_t kept = 0;
  for (size_t i = 0; i < hours->size(); ++i) {
    const DirtyHour h = (*hours)[i];
    bool pending = false;
    auto f = dirty_.find(h.series_id);
    if (f != dirty_.end()) {
      auto e = f->second.find(h.hour_ms);
      if (e != f->second.end()) {
        e->second.touched_ms = std::max(e->second.touched_ms, now_ms);
        pending = e->second.seq >= last_boundary;
      }
    }
    if (!pending) (*hours)[kept++] = h;
  }
  hours->resize(kept);
}

void DirtyHourIndex::Mark(const std::vector<DirtyHour>& hours, uint64_t seq,
                          int64_t now_ms) {
  absl::MutexLock l(&mu_);
  for (const DirtyHour& h : hours) {
    auto [e, added] =
        dirty_[h.series_id].try_emplace(h.hour_ms, Entry{seq, now_ms});
    if (!added) {
      e->second.seq = std::max(e->second.seq, seq);
      e->second.touched_ms = std::max(e->second.touched_ms, now_ms);
    }
  }
}

void DirtyHourIndex::LastTouched(const std::vector<DirtyHour>& hours,
                                 std::vector<int64_t>* touched_ms) {
  touched_ms->assign(hours.size(), std::numeric_limits<int64_t>::min());
  absl::MutexLock l(&mu_);
  for (size_t i = 0; i < hours.size(); ++i) {
    auto f = dirty_.find(hours[i].series_id);
    if (f == dirty_.end()) continue;
    auto e = f->second.find(hours[i].hour_ms);
    if (e != f->second.end()) (*touched_ms)[i] = e->second.touched_ms;
  }
}

std::vector<int64_t> DirtyHourIndex::Hours(uint64_t series_id, int64_t start_ms,
                                           int64_t end_ms) {
  std::vector<int64_t> out;
  absl::MutexLock l(&mu_);
  auto f = dirty_.find(series_id);
  if (f == dirty_.end()) return out;
  for (auto h = f->second.lower_bound(FloorTo(start_ms, kHourMs));
       h != f->second.end() && h->first < end_ms; ++h) {
    out.push_back(h->first);
  }
  return out;
}

void DirtyHourIndex::Handled(uint64_t boundary,
                             const std::vector<DirtyHour>& retry) {
  const uint64_t retry_seq = boundary == 0 ? 0 : boundary - 1;
  absl::MutexLock l(&mu_);
  // The retry pairs' touched times, which the erasing below would lose: a
  // deferred pair must stay busy until it has been quiet long enough.
  std::vector<int64_t> touched(retry.size(),
                               std::numeric_limits<int64_t>::min());
  for (size_t i = 0; i < retry.size(); ++i) {
    auto f = dirty_.find(retry[i].series_id);
    if (f == dirty_.end()) continue;
    auto e = f->second.find(retry[i].hour_ms);
    if (e != f->second.end()) touched[i] = e->second.touched_ms;
  }
  for (auto s = dirty_.begin(); s != dirty_.end();) {
    absl::erase_if(s->second,
                   [&](const auto& h) { return h.second.seq < boundary; });
    if (s->second.empty()) {
      dirty_.erase(s++);
    } else {
      ++s;
    }
  }
  for (size_t i = 0; i < retry.size(); ++i) {
    // A commit during the pass may have marked the pair again (seq >=
    // boundary, a record this pass did not read): the mark keeps naming
    // that newer record, so that later commits may still skip the pair.
    auto [e, added] = dirty_[retry[i].series_id].try_emplace(
        retry[i].hour_ms, Entry{retry_seq, touched[i]});
    if (!added) {
      e->second.seq = std::max(e->second.seq, retry_seq);
      e->second.touched_ms = std::max(e->second.touched_ms, touched[i]);
    }
  }
}

int64_t DirtyHourIndex::size() {
  absl::MutexLock l(&mu_);
  int64_t n = 0;
  for (const auto& [series, hours] : dirty_) n += hours.size();
  return n;
}

}  // namespace nimbus::engine
