#include "engine/dirty_hours.h"

#include <algorithm>
#include <limits>

#include "engine/clock.h"
#include "storage/keys.h"
#include "storage/status_macros.h"

namespace nimbus::engine {

DirtyHourIndex::Entry* DirtyHourIndex::Find(HourList& hours, int64_t hour_ms) {
  for (auto& [hour, e] : hours) {
    if (hour == hour_ms) return &e;
    if (hour > hour_ms) break;
  }
  return nullptr;
}

std::pair<DirtyHourIndex::Entry*, bool> DirtyHourIndex::FindOrAdd(
    HourList& hours, int64_t hour_ms, Entry e) {
  auto at = std::lower_bound(hours.begin(), hours.end(), hour_ms,
                             [](const std::pair<int64_t, Entry>& h, int64_t t) {
                               return h.first < t;
                             });
  if (at != hours.end() && at->first == hour_ms) return {&at->second, false};
  at = hours.insert(at, {hour_ms, e});
  return {&at->second, true};
}

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
      *FindOrAdd(dirty_[h.series_id], h.hour_ms, Entry{seq, now_ms}).first =
          Entry{seq, now_ms};
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
  // A commit's pairs name series at random places in the map: fetched
  // ahead, as the identity lookup does.
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < hours->size(); ++i) {
    if (i + kAhead < hours->size()) {
      dirty_.prefetch((*hours)[i + kAhead].series_id);
    }
    const DirtyHour h = (*hours)[i];
    bool pending = false;
    auto f = dirty_.find(h.series_id);
    if (f != dirty_.end()) {
      if (Entry* e = Find(f->second, h.hour_ms)) {
        e->touched_ms = std::max(e->touched_ms, now_ms);
        pending = e->seq >= last_boundary;
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
        FindOrAdd(dirty_[h.series_id], h.hour_ms, Entry{seq, now_ms});
    if (!added) {
      e->seq = std::max(e->seq, seq);
      e->touched_ms = std::max(e->touched_ms, now_ms);
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
    if (Entry* e = Find(f->second, hours[i].hour_ms)) {
      (*touched_ms)[i] = e->touched_ms;
    }
  }
}

std::vector<int64_t> DirtyHourIndex::Hours(uint64_t series_id, int64_t start_ms,
                                           int64_t end_ms) {
  std::vector<int64_t> out;
  absl::MutexLock l(&mu_);
  auto f = dirty_.find(series_id);
  if (f == dirty_.end()) return out;
  const int64_t from = FloorTo(start_ms, kHourMs);
  for (const auto& [hour, e] : f->second) {
    if (hour >= end_ms) break;
    if (hour >= from) out.push_back(hour);
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
    if (Entry* e = Find(f->second, retry[i].hour_ms)) {
      touched[i] = e->touched_ms;
    }
  }
  for (auto s = dirty_.begin(); s != dirty_.end();) {
    s->second.erase(
        std::remove_if(s->second.begin(), s->second.end(),
                       [&](const auto& h) { return h.second.seq < boundary; }),
        s->second.end());
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
    auto [e, added] = FindOrAdd(dirty_[retry[i].series_id], retry[i].hour_ms,
                                Entry{retry_seq, touched[i]});
    if (!added) {
      e->seq = std::max(e->seq, retry_seq);
      e->touched_ms = std::max(e->touched_ms, touched[i]);
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
