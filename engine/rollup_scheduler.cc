#include "engine/rollup_scheduler.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/btree_map.h"
#include "absl/strings/str_cat.h"
#include "engine/rollup.h"
#include "storage/keys.h"
#include "storage/status_macros.h"

namespace nimbus::engine {
namespace {

using storage::Column;

// meta key: the rollup watermark, an ordered i64 big-endian.
constexpr char kWatermarkKey[] = "rollup_watermark";
constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kHourMs = 3'600'000;
// A pass writes its records in batches of about this many. With 16384
// (about 1.5 MB) the store's copying of each batch into growing buffers
// cost a tenth of a pass (bench/rollup_bench.cc); 4096 stay in cache.
constexpr size_t kBatchRecords = 4096;

int64_t FloorTo(int64_t v, int64_t step) {
  const int64_t q = v / step;
  return (v % step < 0 ? q - 1 : q) * step;
}

}  // namespace

RollupScheduler::RollupScheduler(RollupSource& source, storage::Store& store,
                                 Clock& clock, RollupOptions options)
    : source_(source),
      store_(store),
      clock_(clock),
      options_(std::move(options)) {}

absl::StatusOr<int64_t> RollupScheduler::Load() {
  NIMBUS_ASSIGN_OR_RETURN(std::optional<std::string> v,
                          store_.Get(Column::kMeta, kWatermarkKey));
  int64_t w;
  if (v.has_value()) {
    if (v->size() != 8) {
      return absl::DataLossError("meta rollup_watermark: not 8 bytes");
    }
    w = storage::SignedFromOrdered(storage::GetBigEndian64(v->data()));
  } else {
    // Persisted now: a restart before the first pass completes must not
    // pick a later start and skip what was written in between.
    w = FloorTo(clock_.NowMs() - options_.initial_lookback_ms, kHourMs);
    std::string wm;
    storage::PutBigEndian64(&wm, storage::OrderedFromSigned(w));
    storage::WriteBatch batch;
    batch.Put(Column::kMeta, kWatermarkKey, wm);
    NIMBUS_RETURN_IF_ERROR(store_.Write(batch));
  }
  watermark_.store(w, std::memory_order_release);
  return w;
}

RollupStats RollupScheduler::stats() const {
  RollupStats s;
  s.passes = passes_.load();
  s.raw_points_read = raw_points_read_.load();
  s.records_written = records_written_.load();
  s.dirty_hours_redone = dirty_hours_redone_.load();
  return s;
}

absl::StatusOr<bool> RollupScheduler::RunPass() {
  const int64_t w = watermark();
  const int64_t settled =
      FloorTo(clock_.NowMs() - options_.settle_ms, kMinuteMs);
  const int64_t next = std::max(
      w, std::min(settled, w + FloorTo(options_.max_pass_ms, kMinuteMs)));
  const uint64_t boundary = source_.RaiseLateWatermark(next);

  // The work: per series, the intervals to roll up.
  absl::btree_map<uint64_t, std::vector<Interval>> work;
  std::vector<std::string> handled;
  {
    auto it = store_.NewIterator(Column::kRollupDirty);
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      uint64_t id, seq;
      int64_t hour;
      if (!storage::DecodeDirtyKey(it->key(), &id, &hour, &seq)) {
        return absl::DataLossError("rollup_dirty: malformed key");
      }
      if (seq >= boundary) continue;  // its commit may not be visible yet
      auto& v = work[id];
      if (v.empty() || v.back().begin != hour)
        v.push_back({hour, hour + kHourMs});
      handled.emplace_back(it->key());
    }
    NIMBUS_RETURN_IF_ERROR(it->status());
  }
  if (next > w) {
    for (uint64_t id : source_.SeriesWithPointsSince(w)) {
      work[id].push_back({w, next});
    }
  }
  storage::WriteBatch batch;
  auto flush = [&]() -> absl::Status {
    if (batch.Count() == 0) return absl::OkStatus();
    NIMBUS_RETURN_IF_ERROR(store_.Write(batch));
    records_written_.fetch_add(static_cast<int64_t>(batch.Count()));
    batch.Clear();
    if (options_.after_write_for_testing) {
      return options_.after_write_for_testing();
    }
    return absl::OkStatus();
  };
  for (auto& [id, intervals] : work) {
    // Sorted and merged: dirty hours (keys are in hour order) and the new
    // range may overlap.
    std::sort(
        intervals.begin(), intervals.end(),
        [](const Interval& a, const Interval& b) { return a.begin < b.begin; });
    std::vector<Interval> merged;
    for (const Interval& iv : intervals) {
      if (!merged.empty() && iv.begin <= merged.back().end) {
        merged.back().end = std::max(merged.back().end, iv.end);
      } else {
        merged.push_back(iv);
      }
    }
    NIMBUS_RETURN_IF_ERROR(RollUpSeries(id, merged, &batch));
    if (batch.Count() >= kBatchRecords) NIMBUS_RETURN_IF_ERROR(flush());
  }
  NIMBUS_RETURN_IF_ERROR(flush());
  // Last: the marks handled and the new watermark, atomically.
  for (const std::string& k : handled) batch.Delete(Column::kRollupDirty, k);
  std::string wm;
  storage::PutBigEndian64(&wm, storage::OrderedFromSigned(next));
  batch.Put(Column::kMeta, kWatermarkKey, wm);
  NIMBUS_RETURN_IF_ERROR(store_.Write(batch));
  watermark_.store(next, std::memory_order_release);
  passes_.fetch_add(1);
  dirty_hours_redone_.fetch_add(static_cast<int64_t>(handled.size()));
  return next < settled;
}

absl::Status RollupScheduler::RollUpSeries(
    uint64_t series_id, const std::vector<Interval>& intervals,
    storage::WriteBatch* batch) {
  // Each tier's periods with data, in ascending order of start (intervals
  // are sorted and disjoint, and each tier's loop below visits its periods
  // in order): vectors, not maps. Slots are cleared for reuse, not freed,
  // so that sketches keep their memory from period to period.
  struct Tier {
    std::vector<int64_t> starts;
    std::vector<PeriodStatistics> stats;  // [0, starts.size()) in use
    PeriodStatistics& Append(int64_t start) {
      if (starts.size() == stats.size()) {
        stats.emplace_back();
      } else {
        stats[starts.size()].Clear();
      }
      starts.push_back(start);
      return stats[starts.size() - 1];
    }
    void PopBack() { starts.pop_back(); }
  };
  Tier tiers[3];

  // Tier 0 from raw points, minute by minute within each interval.
  std::vector<PeriodStatistics> minutes;
  int64_t points = 0;
  for (const Interval& iv : intervals) {
    const size_t n = static_cast<size_t>((iv.end - iv.begin) / kMinuteMs);
    for (size_t i = 0; i < std::min(n, minutes.size()); ++i) {
      minutes[i].Clear();
    }
    minutes.resize(n);
    NIMBUS_RETURN_IF_ERROR(source_.ReadRaw(
        series_id, iv.begin, iv.end,
        [&](int64_t ts, double v) {
          minutes[static_cast<size_t>((ts - iv.begin) / kMinuteMs)].AddSample(
              v);
          ++points;
        },
        [&](int64_t ts, double count, double sum, double mn, double mx) {
          minutes[static_cast<size_t>((ts - iv.begin) / kMinuteMs)].AddSet(
              count, sum, mn, mx);
          ++points;
        }));
    for (size_t i = 0; i < n; ++i) {
      if (!minutes[i].empty()) {
        // Swapped, not moved: the minute slot gets the tier slot's memory.
        std::swap(
            tiers[0].Append(iv.begin + static_cast<int64_t>(i) * kMinuteMs),
            minutes[i]);
      }
    }
  }
  raw_points_read_.fetch_add(points, std::memory_order_relaxed);
  if (points == 0) return absl::OkStatus();  // nothing can have changed

  // Tiers 1 and 2: every period that overlaps an interval, merged from the
  // tier below: its periods recomputed now from memory, the others from
  // the store.
  for (int t = 1; t < 3; ++t) {
    const int64_t period = kTierPeriodsMs[t];
    const int64_t below = kTierPeriodsMs[t - 1];
    auto recomputed_below = [&](int64_t start) {
      if (t == 1) {
        for (const Interval& iv : intervals) {
          if (start >= iv.begin && start < iv.end) return true;
        }
        return false;
      }
      for (const Interval& iv : intervals) {
        if (start + below > iv.begin && start < iv.end) return true;
      }
      return false;
    };
    const Tier& lower = tiers[t - 1];
    Tier& upper = tiers[t];
    size_t m = 0;  // the first period of `lower` not merged yet
    std::unique_ptr<storage::StoreIterator> it;  // opened when first needed
    int64_t last = INT64_MIN;
    for (const Interval& iv : intervals) {
      for (int64_t p = std::max(FloorTo(iv.begin, period), last); p < iv.end;
           p += period) {
        last = p + period;
        PeriodStatistics& stats = upper.Append(p);
        while (m < lower.starts.size() && lower.starts[m] < p) ++m;
        for (; m < lower.starts.size() && lower.starts[m] < p + period; ++m) {
          stats.Merge(lower.stats[m]);
        }
        // A period wholly inside an interval has every period below it
        // recomputed: the store has nothing for it that counts.
        if (p < iv.begin || p + period > iv.end) {
          if (it == nullptr) it = store_.NewIterator(kTierColumns[t - 1]);
          for (it->Seek(storage::EncodeRollupKey(series_id, p)); it->Valid();
               it->Next()) {
            uint64_t id;
            int64_t start;
            if (!storage::DecodeRollupKey(it->key(), &id, &start) ||
                id != series_id || start >= p + period) {
              break;
            }
            if (recomputed_below(start)) continue;
            NIMBUS_ASSIGN_OR_RETURN(
                PeriodStatistics s,
                PeriodStatistics::Decode(it->value(), true));
            stats.Merge(s);
          }
          NIMBUS_RETURN_IF_ERROR(it->status());
        }
        if (stats.empty()) upper.PopBack();
      }
    }
  }
  std::string value;
  for (int t = 0; t < 3; ++t) {
    for (size_t i = 0; i < tiers[t].starts.size(); ++i) {
      tiers[t].stats[i].EncodeTo(&value);
      batch->Put(kTierColumns[t],
                 storage::EncodeRollupKey(series_id, tiers[t].starts[i]),
                 value);
    }
  }
  return absl::OkStatus();
}

}  // namespace nimbus::engine
