#include "engine/rollup_scheduler.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "engine/clock.h"
#include "engine/rollup.h"
#include "storage/keys.h"
#include "storage/status_macros.h"

namespace nimbus::engine {
namespace {

using storage::Column;

using storage::kMetaRollupWatermark;
constexpr int64_t kMinuteMs = 60'000;
// A pass writes its records in batches of about this many. With 16384
// (about 1.5 MB) the store's copying of each batch into growing buffers
// cost a tenth of a pass (bench/rollup_bench.cc); 4096 stay in cache.
constexpr size_t kBatchRecords = 4096;

}  // namespace

RollupScheduler::RollupScheduler(RollupSource& source, storage::Store& store,
                                 Clock& clock, RollupOptions options)
    : source_(source),
      store_(store),
      clock_(clock),
      options_(std::move(options)) {}

absl::StatusOr<int64_t> RollupScheduler::Load() {
  NIMBUS_ASSIGN_OR_RETURN(std::optional<std::string> v,
                          store_.Get(Column::kMeta, kMetaRollupWatermark));
  int64_t w;
  if (v.has_value()) {
    if (v->size() != 8) {
      return absl::DataLossError("meta rollup_watermark: not 8 bytes");
    }
    w = storage::SignedFromOrdered(storage::GetBigEndian64(v->data()));
    if (w % kHourMs != 0) {
      return absl::DataLossError(absl::StrCat("meta rollup_watermark: ", w,
                                              " ms is not a whole hour"));
    }
  } else {
    // Persisted now: a restart before the first pass completes must not
    // pick a later start and skip what was written in between.
    w = FloorTo(clock_.NowMs() - options_.initial_lookback_ms, kHourMs);
    std::string wm;
    storage::PutBigEndian64(&wm, storage::OrderedFromSigned(w));
    storage::WriteBatch batch;
    batch.Put(Column::kMeta, kMetaRollupWatermark, wm);
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
  s.dirty_hours_deferred = dirty_hours_deferred_.load();
  s.stale_marks_dropped = stale_marks_dropped_.load();
  s.series_failed = series_failed_.load();
  return s;
}

absl::StatusOr<bool> RollupScheduler::RunPass(bool redo_busy_hours) {
  const int64_t now = clock_.NowMs();
  const int64_t w = watermark();
  int64_t stale_marks = 0;
  int64_t failed = 0;
  // The hours of failed series, and those deferred.
  std::vector<DirtyHour> retry;
  // Whole hours: the records of an hour are written once it has settled.
  const int64_t settled = FloorTo(now - options_.settle_ms, kHourMs);
  const int64_t next = std::max(
      w, std::min(settled, w + std::max(FloorTo(options_.max_pass_ms, kHourMs),
                                        kHourMs)));
  const uint64_t boundary = source_.RaiseLateWatermark(next);

  // The work: per series, the intervals to roll up.
  absl::btree_map<uint64_t, std::vector<Interval>> work;
  // The distinct pairs of the records read, but those too old to redo.
  std::vector<DirtyHour> pending;
  // The records read, [first_record, end_record) by log sequence: deleted by
  // the pass's last write.
  std::string first_record, end_record;
  {
    // A pair may be listed by several records (a retry record and a commit
    // after it): redone and counted once.
    absl::flat_hash_set<std::pair<uint64_t, int64_t>> seen;
    auto it = store_.NewIterator(Column::kRollupDirty);
    std::vector<DirtyHour> hours;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      uint64_t seq;
      const bool key_ok = storage::DecodeLogKey(it->key(), &seq);
      if (key_ok && seq >= boundary) break;  // its commit may be in flight
      if (first_record.empty()) first_record = std::string(it->key());
      end_record = std::string(it->key());
      end_record.push_back('\0');  // the next key after it
      hours.clear();
      if (!key_ok || !DecodeDirtyRecord(it->value(), &hours).ok()) {
        // Unreadable: dropped and counted rather than stopping every pass.
        ++stale_marks;
        continue;
      }
      for (const DirtyHour& h : hours) {
        if (!seen.insert({h.series_id, h.hour_ms}).second) continue;
        if (options_.raw_retention_ms > 0 &&
            h.hour_ms < now - options_.raw_retention_ms) {
          // Some of the hour's raw points may be gone: redoing it would
          // replace a complete block with a partial one. Raw points are
          // kept at least 3 hours longer than points are accepted, so this
          // takes passes delayed by about that much.
          ++stale_marks;
          continue;
        }
        pending.push_back(h);
      }
    }
    NIMBUS_RETURN_IF_ERROR(it->status());
  }
  // A backfill touches its hours commit after commit: redoing them now
  // would be done again by the next pass, and the next. Busy ones go into
  // the retry record instead (so their records can be deleted), and queries
  // read them raw meanwhile. Hours in the watermark's new range are rolled
  // up by this pass anyway.
  const bool defer_busy = !redo_busy_hours && options_.dirty_quiet_ms > 0;
  std::vector<int64_t> touched;
  if (defer_busy && !pending.empty()) source_.LastTouched(pending, &touched);
  int64_t redone = 0, deferred = 0;
  for (size_t i = 0; i < pending.size(); ++i) {
    const DirtyHour& h = pending[i];
    if (defer_busy && touched[i] > now - options_.dirty_quiet_ms &&
        !(h.hour_ms >= w && h.hour_ms < next)) {
      retry.push_back(h);
      ++deferred;
      continue;
    }
    ++redone;
    work[h.series_id].push_back({h.hour_ms, h.hour_ms + kHourMs});
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
    // Pieces of at most a pass's span, so that the scratch stays bounded
    // however many neighbouring hours late points have marked.
    const int64_t piece =
        std::max(FloorTo(options_.max_pass_ms, kHourMs), kHourMs);
    std::vector<Interval> pieces;
    for (const Interval& iv : merged) {
      for (int64_t b = iv.begin; b < iv.end; b += piece) {
        pieces.push_back({b, std::min(b + piece, iv.end)});
      }
    }
    // Damaged raw points (DataLoss) must not stop the rollups of the other
    // series, nor of this series' other hours: a piece that fails is done
    // again hour by hour, and the hours that still fail stay marked, to be
    // tried again by the next pass; the series is counted (GetServerStats).
    bool series_failed = false;
    for (const Interval& piece_iv : pieces) {
      absl::Status st = RollUpSeries(id, {piece_iv}, &batch);
      if (absl::IsDataLoss(st)) {
        for (int64_t h = piece_iv.begin; h < piece_iv.end; h += kHourMs) {
          st = RollUpSeries(id, {{h, h + kHourMs}}, &batch);
          if (absl::IsDataLoss(st)) {
            series_failed = true;
            retry.push_back({id, h});
          } else {
            NIMBUS_RETURN_IF_ERROR(st);
          }
        }
        continue;
      }
      NIMBUS_RETURN_IF_ERROR(st);
    }
    failed += series_failed;
    if (batch.Count() >= kBatchRecords) NIMBUS_RETURN_IF_ERROR(flush());
  }
  NIMBUS_RETURN_IF_ERROR(flush());
  // Last: the marks handled and the new watermark, atomically. The retry
  // record takes the last sequence handled, written after the range is
  // deleted (a later operation of a batch wins).
  if (!first_record.empty()) {
    batch.DeleteRange(Column::kRollupDirty, first_record, end_record);
  }
  if (!retry.empty()) {
    batch.Put(Column::kRollupDirty,
              storage::EncodeLogKey(boundary == 0 ? 0 : boundary - 1),
              EncodeDirtyRecord(retry));
  }
  std::string wm;
  storage::PutBigEndian64(&wm, storage::OrderedFromSigned(next));
  batch.Put(Column::kMeta, kMetaRollupWatermark, wm);
  NIMBUS_RETURN_IF_ERROR(store_.Write(batch));
  source_.DirtyHandled(boundary, retry);
  watermark_.store(next, std::memory_order_release);
  passes_.fetch_add(1);
  dirty_hours_redone_.fetch_add(redone);
  dirty_hours_deferred_.fetch_add(deferred);
  stale_marks_dropped_.fetch_add(stale_marks);
  series_failed_.fetch_add(failed);
  return next < settled;
}

absl::Status RollupScheduler::RollUpSeries(
    uint64_t series_id, const std::vector<Interval>& intervals,
    storage::WriteBatch* batch) {
  // Intervals are whole hours, so every record is computed from raw points
  // read here: minutes from the points, five-minute periods from minutes,
  // the hour from the five-minute periods. Nothing is read back.
  int64_t points = 0;
  for (const Interval& iv : intervals) {
    if (iv.begin % kHourMs != 0 || iv.end % kHourMs != 0 ||
        iv.end <= iv.begin) {
      return absl::InternalError(absl::StrCat(
          "rollup interval [", iv.begin, ", ", iv.end, ") is not whole hours"));
    }
    const size_t n = static_cast<size_t>((iv.end - iv.begin) / kMinuteMs);
    for (size_t i = 0; i < std::min(n, minutes_.size()); ++i) {
      minutes_[i].Clear();
    }
    minutes_.resize(n);
    int64_t read = 0;
    NIMBUS_RETURN_IF_ERROR(source_.ReadRaw(
        series_id, iv.begin, iv.end,
        [&](int64_t ts, double v) {
          minutes_[static_cast<size_t>((ts - iv.begin) / kMinuteMs)].AddSample(
              v);
          ++read;
        },
        [&](int64_t ts, double count, double sum, double mn, double mx) {
          minutes_[static_cast<size_t>((ts - iv.begin) / kMinuteMs)].AddSet(
              count, sum, mn, mx);
          ++read;
        }));
    points += read;
    if (read == 0) continue;
    for (int64_t hour = iv.begin; hour < iv.end; hour += kHourMs) {
      const PeriodStatistics* minute =
          &minutes_[static_cast<size_t>((hour - iv.begin) / kMinuteMs)];
      const PeriodStatistics* by_minute[60];
      bool any = false;
      for (int m = 0; m < 60; ++m) {
        by_minute[m] = minute[m].empty() ? nullptr : &minute[m];
        any = any || by_minute[m] != nullptr;
      }
      if (!any) continue;
      const PeriodStatistics* by_five[12];
      hour_.Clear();
      for (int f = 0; f < 12; ++f) {
        five_[f].Clear();
        for (int m = 5 * f; m < 5 * f + 5; ++m) {
          if (by_minute[m] != nullptr) five_[f].Merge(*by_minute[m]);
        }
        by_five[f] = five_[f].empty() ? nullptr : &five_[f];
        if (by_five[f] != nullptr) hour_.Merge(five_[f]);
      }
      const PeriodStatistics* by_hour[1] = {&hour_};
      const std::string key = storage::EncodeRollupKey(series_id, hour);
      EncodeRollupBlock(by_minute, 60, &block_);
      batch->Put(kTierColumns[0], key, block_);
      EncodeRollupBlock(by_five, 12, &block_);
      batch->Put(kTierColumns[1], key, block_);
      EncodeRollupBlock(by_hour, 1, &block_);
      batch->Put(kTierColumns[2], key, block_);
    }
  }
  raw_points_read_.fetch_add(points, std::memory_order_relaxed);
  return absl::OkStatus();
}

}  // namespace nimbus::engine
