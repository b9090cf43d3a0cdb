#include "engine/dirty_hours.h"

#include <algorithm>

#include "engine/clock.h"
#include "storage/keys.h"
#include "storage/status_macros.h"

namespace nimbus::engine {
absl::StatusOr<uint64_t> DirtyHourIndex::Load(storage::Store& store,
                                              bool legacy) {
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
    for (const DirtyHour& h : hours) dirty_[h.series_id][h.hour_ms] = seq;
  }
  NIMBUS_RETURN_IF_ERROR(it->status());
  return last;
}

void DirtyHourIndex::Mark(const std::vector<DirtyHour>& hours, uint64_t seq) {
  absl::MutexLock l(&mu_);
  for (const DirtyHour& h : hours) dirty_[h.series_id][h.hour_ms] = seq;
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
  absl::MutexLock l(&mu_);
  for (auto s = dirty_.begin(); s != dirty_.end();) {
    absl::erase_if(s->second,
                   [&](const auto& h) { return h.second < boundary; });
    if (s->second.empty()) {
      dirty_.erase(s++);
    } else {
      ++s;
    }
  }
  for (const DirtyHour& h : retry) {
    dirty_[h.series_id][h.hour_ms] = boundary == 0 ? 0 : boundary - 1;
  }
}

int64_t DirtyHourIndex::size() {
  absl::MutexLock l(&mu_);
  int64_t n = 0;
  for (const auto& [series, hours] : dirty_) n += hours.size();
  return n;
}

}  // namespace nimbus::engine
