#include "engine/engine.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "engine/clock.h"
#include "engine/commit_queue.h"
#include "engine/dirty_hours.h"
#include "engine/head_store.h"
#include "engine/log.h"
#include "engine/periodic_thread.h"
#include "engine/raw_reader.h"
#include "engine/recent_window.h"
#include "engine/rollup.h"
#include "engine/sealer.h"
#include "engine/sweeper.h"
#include "engine/validation.h"
#include "storage/keys.h"
#include "storage/status_macros.h"

namespace nimbus::engine {
namespace {

using storage::Column;

}  // namespace

// The rooms, wired together; the RollupSource the scheduler reads through.
struct Engine::Impl : public RollupSource {
  Impl(EngineOptions o, Clock& c) : options(std::move(o)), clock(c) {}

  absl::Status Replay();
  // Applies one commit group: one store write, then dirty marks and heads.
  absl::Status ApplyGroup(const CommitGroup& group);
  // Resolves the batch's series and fills *w with its points; waits while
  // the sealer lags.
  absl::Status PrepareWriter(const IngestBatch& batch, CommitWriter* w);
  absl::Status RunRollupsUntilCaughtUp(bool redo_busy_hours);
  // A version-2 store's ingest-log and dirty records have no version byte:
  // seals every head (emptying the log), rewrites the dirty records, and
  // marks the store version 3, in that order, so that a crash part way
  // leaves a version-2 store that opens and migrates again.
  absl::Status MigrateFromVersion2();

  // RollupSource.
  uint64_t RaiseLateWatermark(int64_t watermark_ms) override {
    return commits.RaiseLateWatermark(watermark_ms);
  }
  void DirtyHandled(uint64_t boundary,
                    const std::vector<DirtyHour>& retry) override {
    dirty.Handled(boundary, retry);
  }
  void LastTouched(const std::vector<DirtyHour>& hours,
                   std::vector<int64_t>* touched_ms) override {
    dirty.LastTouched(hours, touched_ms);
  }
  std::vector<uint64_t> SeriesWithPointsSince(int64_t start_ms) override;
  absl::Status ReadRaw(
      uint64_t series_id, int64_t start_ms, int64_t end_ms,
      absl::FunctionRef<void(int64_t, double)> sample,
      absl::FunctionRef<void(int64_t, double, double, double, double)> set)
      override;

  EngineOptions options;
  Clock& clock;
  int64_t opened_ms = 0;  // when Open() ran
  std::atomic<int64_t> points_accepted{0};
  std::atomic<bool> closing{false};
  std::atomic<int64_t> rollup_failures{0};
  // Dirty records written by commits, and the pairs they listed.
  std::atomic<int64_t> dirty_records_written{0};
  std::atomic<int64_t> dirty_pairs_written{0};

  // Declared in dependency order: each is destroyed before what it uses.
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<SeriesIndex> index;
  CommitQueue commits;
  DirtyHourIndex dirty;
  std::unique_ptr<HeadStore> heads;
  std::unique_ptr<RawReader> reader;
  std::unique_ptr<RecentWindow> window;
  std::unique_ptr<StatisticsExecutor> statistics;
  std::unique_ptr<Sealer> sealer;
  std::unique_ptr<Sweeper> sweeper;
  std::unique_ptr<RollupScheduler> rollups;
  absl::Mutex rollup_mu;  // one pass at a time
  // Background threads; stopped first.
  std::unique_ptr<PeriodicThread> sweep_thread;
  std::unique_ptr<PeriodicThread> rollup_thread;
};

absl::Status Engine::Impl::Replay() {
  const int64_t now = clock.NowMs();
  uint64_t last = 0;
  NIMBUS_RETURN_IF_ERROR(ReplayLog(
      *store,
      [&](uint64_t seq, uint64_t id,
          const std::vector<Sample>& samples) -> absl::Status {
        Series* s = index->Find(id);
        if (s == nullptr) {
          return absl::DataLossError(absl::StrCat("names unknown series ", id));
        }
        if (seq <= s->sealed_seq) return absl::OkStatus();  // in chunks
        heads->AppendReplayed(s, samples, seq, now);
        return absl::OkStatus();
      },
      /*legacy=*/store->format_version() == 2, &last));
  // Sequences only rise: past the newest record, every seal, and the
  // numbering recorded when the log was last trimmed.
  index->ForEach([&](Series& s) { last = std::max(last, s.sealed_seq); });
  NIMBUS_ASSIGN_OR_RETURN(const uint64_t trimmed, ReadTrimmedSequence(*store));
  last = std::max(last, trimmed);
  heads->SetAppliedSeq(last);
  commits.ResumeAbove(last);
  return absl::OkStatus();
}

absl::Status Engine::Impl::ApplyGroup(const CommitGroup& group) {
  storage::WriteBatch batch;
  std::string record;
  size_t entries = 0;
  size_t points = 0;
  for (const CommitWriter* w : group.writers) {
    entries += w->items.size();
    for (const CommitWriter::Item& it : w->items) points += it.count;
  }
  // A log entry: ids and counts, then per point a varint timestamp delta
  // (up to ten bytes) and eight value bytes.
  record.reserve(16 + entries * 20 + points * 18);
  StartLogRecord(entries, &record);
  for (const CommitWriter* w : group.writers) {
    for (const CommitWriter::Item& it : w->items) {
      AppendLogEntry(it.series->id, it.samples, it.count, &record);
    }
  }
  batch.Put(Column::kIngestLog, storage::EncodeLogKey(group.seq), record);
  // Late points: their hours are rolled up again. Written with the points,
  // so that a crash cannot keep one without the other; but only the pairs
  // that no record a pass has yet to take lists already (TouchLate), so
  // that a backfill writes each pair about once per pass, not per commit.
  const int64_t now = clock.NowMs();
  std::vector<DirtyHour> dirty_hours;
  for (const CommitWriter* w : group.writers) {
    for (const CommitWriter::Item& it : w->items) {
      // A series' points mostly come in time order: one pair per run of
      // points in the same hour.
      int64_t last_hour = std::numeric_limits<int64_t>::min();
      for (size_t k = 0; k < it.count; ++k) {
        const int64_t ts = it.samples[k].ts_ms;
        if (ts < group.late_before_ms) {
          const int64_t hour = FloorTo(ts, kHourMs);
          if (hour != last_hour) dirty_hours.push_back({it.series->id, hour});
          last_hour = hour;
        }
      }
    }
    const Series* last_series = nullptr;
    int64_t last_hour = 0;
    for (const CommitWriter::Set& st : w->sets) {
      if (st.set->ts_ms < group.late_before_ms) {
        const int64_t hour = FloorTo(st.set->ts_ms, kHourMs);
        if (st.series != last_series || hour != last_hour) {
          dirty_hours.push_back({st.series->id, hour});
        }
        last_series = st.series;
        last_hour = hour;
      }
    }
  }
  if (!dirty_hours.empty()) {
    // A pair may repeat (two runs of a series, or many values of one datum
    // alternating between two hours): made unique after TouchLate, when
    // few are left once a backfill's hours are pending, or before it when
    // there are many, so that the index's lock is held for the distinct
    // pairs only.
    auto unique = [&] {
      std::sort(dirty_hours.begin(), dirty_hours.end(),
                [](const DirtyHour& a, const DirtyHour& b) {
                  return a.series_id != b.series_id ? a.series_id < b.series_id
                                                    : a.hour_ms < b.hour_ms;
                });
      dirty_hours.erase(std::unique(dirty_hours.begin(), dirty_hours.end()),
                        dirty_hours.end());
    };
    size_t runs = 0;
    for (const CommitWriter* w : group.writers) {
      runs += w->items.size() + w->sets.size();
    }
    if (dirty_hours.size() > runs) unique();
    dirty.TouchLate(now, group.last_boundary, &dirty_hours);
    unique();
  }
  if (!dirty_hours.empty()) {
    batch.Put(Column::kRollupDirty, storage::EncodeLogKey(group.seq),
              EncodeDirtyRecord(dirty_hours));
  }
  uint32_t ordinal = 0;
  for (const CommitWriter* w : group.writers) {
    for (const CommitWriter::Set& st : w->sets) {
      batch.Put(Column::kStatSets,
                storage::EncodeStatSetKey(st.series->id, st.set->ts_ms,
                                          group.seq, ordinal++),
                EncodeStatisticSetValue(*st.set));
    }
  }
  NIMBUS_RETURN_IF_ERROR(store->Write(batch));
  // Before any point of the commit is acknowledged: from here on, queries
  // read these hours raw until a pass rolls them up again (the pairs left
  // out of the record are pending already). Only now: a mark lets later
  // commits leave the pair out, so it must name a durable record.
  if (!dirty_hours.empty()) {
    dirty.Mark(dirty_hours, group.seq, now);
    dirty_records_written.fetch_add(1, std::memory_order_relaxed);
    dirty_pairs_written.fetch_add(static_cast<int64_t>(dirty_hours.size()),
                                  std::memory_order_relaxed);
  }
  std::vector<Series*> full;
  heads->AppendGroup(group, now, &full);
  points_accepted.fetch_add(static_cast<int64_t>(points),
                            std::memory_order_relaxed);
  if (!full.empty()) sealer->Queue(std::move(full));
  return absl::OkStatus();
}

std::vector<uint64_t> Engine::Impl::SeriesWithPointsSince(int64_t start_ms) {
  // A point is at most kMaxFutureMs ahead of the clock when written, so a
  // series last written before start - kMaxFutureMs has none at or after
  // start. Last-write times are exact for writes since the engine opened;
  // those from before are what the sweeper last persisted, which trail by
  // up to Sweeper::kLastWriteStepMs plus a sweep (or are missing, for a new
  // series): while
  // the range could hold points written before the open, every series is a
  // candidate.
  const int64_t since = start_ms - kMaxFutureMs;
  const bool all = since <= opened_ms;
  std::vector<uint64_t> out;
  index->ForEach([&](Series& s) {
    if (all || s.last_write_ms.load(std::memory_order_relaxed) >= since) {
      out.push_back(s.id);
    }
  });
  return out;
}

absl::Status Engine::Impl::ReadRaw(
    uint64_t series_id, int64_t start_ms, int64_t end_ms,
    absl::FunctionRef<void(int64_t, double)> sample,
    absl::FunctionRef<void(int64_t, double, double, double, double)> set) {
  Series* s = index->Find(series_id);
  if (s == nullptr) {
    return absl::DataLossError(
        absl::StrCat("rollups name unknown series ", series_id));
  }
  return reader->Read(s, start_ms, end_ms, sample, set);
}

absl::Status Engine::Impl::RunRollupsUntilCaughtUp(bool redo_busy_hours) {
  absl::MutexLock one(&rollup_mu);
  // A catch-up of many passes stops at a pass boundary when the engine
  // closes; the next open resumes it.
  while (!closing.load(std::memory_order_relaxed)) {
    absl::StatusOr<bool> behind = rollups->RunPass(redo_busy_hours);
    if (!behind.ok()) {
      rollup_failures.fetch_add(1, std::memory_order_relaxed);
      Log(LogLevel::kError, "rollups",
          absl::StrCat("rollup pass from watermark ", rollups->watermark(),
                       " ms failed; the next pass does it again: ",
                       behind.status().ToString()));
      return behind.status();
    }
    if (!*behind) return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::Status Engine::Impl::MigrateFromVersion2() {
  NIMBUS_RETURN_IF_ERROR(sweeper->Run(/*max_age_ms=*/0));
  {
    // Every head is sealed and the log trimmed: no record of the old form
    // may survive into a version-3 store, whose decoder would misread it.
    auto log = store->NewIterator(Column::kIngestLog);
    log->SeekToFirst();
    NIMBUS_RETURN_IF_ERROR(log->status());
    if (log->Valid()) {
      return absl::InternalError(
          "migrating from store format version 2: the ingest log is not "
          "empty after sealing every head");
    }
  }
  storage::WriteBatch batch;
  std::vector<DirtyHour> hours;
  auto it = store->NewIterator(Column::kRollupDirty);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    hours.clear();
    if (DecodeLegacyDirtyRecord(it->value(), &hours).ok()) {
      batch.Put(Column::kRollupDirty, it->key(), EncodeDirtyRecord(hours));
    } else {
      // Unreadable either way: left for a pass to drop and count.
      continue;
    }
  }
  NIMBUS_RETURN_IF_ERROR(it->status());
  batch.Put(Column::kMeta, storage::kMetaFormatVersion, "3");
  NIMBUS_RETURN_IF_ERROR(store->Write(batch));
  Log(LogLevel::kInfo, "engine",
      absl::StrCat("migrated ", options.data_dir,
                   " from store format version 2 to 3"));
  return absl::OkStatus();
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() {
  impl_->closing.store(true);
  impl_->sweep_thread.reset();
  impl_->rollup_thread.reset();
  impl_->sealer->Stop();
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(EngineOptions options,
                                                     Clock& clock) {
  if (options.max_seal_backlog == 0) {
    return absl::InvalidArgumentError("max_seal_backlog: must be at least 1");
  }
  if (options.background_nice < 0 || options.background_nice > 19) {
    return absl::InvalidArgumentError(
        absl::StrCat("background_nice: ", options.background_nice,
                     " is not within [0, 19] (a thread may only lower its "
                     "priority)"));
  }
  if (options.raw_retention_ms != 0 &&
      options.raw_retention_ms < kMaxPastMs + 3 * kHourMs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "raw retention: ", options.raw_retention_ms,
        " ms is shorter than 14 days + 3 hours; points are accepted 14 days "
        "back and a late point's hour is rolled up again from raw points"));
  }
  if (options.rollup.dirty_quiet_ms < 0 ||
      options.rollup.dirty_quiet_ms > kHourMs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rollup dirty_quiet_ms: ", options.rollup.dirty_quiet_ms,
        " ms is not within [0, 1 hour]; a late hour must be redone before "
        "its raw points may expire"));
  }
  options.reach.raw_ms = options.raw_retention_ms == 0
                             ? std::numeric_limits<int64_t>::max()
                             : options.raw_retention_ms;
  auto impl = std::make_unique<Impl>(std::move(options), clock);
  Impl& e = *impl;
  e.opened_ms = clock.NowMs();
  storage::StoreOptions so;
  so.path = e.options.data_dir;
  so.sync = e.options.sync;
  so.points_retention_ms = e.options.raw_retention_ms;
  so.stat_sets_retention_ms = e.options.raw_retention_ms;
  so.rollup_60_retention_ms = e.options.reach.tier_ms[0];
  so.rollup_300_retention_ms = e.options.reach.tier_ms[1];
  so.rollup_3600_retention_ms = e.options.reach.tier_ms[2];
  so.alarm_history_retention_ms = e.options.alarm_history_retention_ms;
  Clock* c = &clock;
  so.now_ms = [c] { return c->NowMs(); };
  NIMBUS_ASSIGN_OR_RETURN(e.store, storage::Store::Open(std::move(so)));
  if (e.options.wrap_store_for_testing) {
    e.store = e.options.wrap_store_for_testing(std::move(e.store));
  }
  NIMBUS_ASSIGN_OR_RETURN(e.index, SeriesIndex::Load(*e.store));
  e.heads = std::make_unique<HeadStore>(e.options.head_seal_points);
  e.reader = std::make_unique<RawReader>(*e.store, *e.heads);
  e.window = std::make_unique<RecentWindow>(*e.store, *e.heads, *e.index);
  {
    RecentWindow* w = e.window.get();
    e.heads->set_feed(
        [w](const CommitGroup& g, int64_t now) { w->Feed(g, now); });
    e.index->set_on_create(
        [w](absl::Span<Series* const> created) { w->OnCreate(created); });
  }
  e.statistics = std::make_unique<StatisticsExecutor>(
      *e.store, *e.index, e.dirty, *e.reader, e.options.reach);
  NIMBUS_RETURN_IF_ERROR(e.Replay());
  // A pass's retry record takes a sequence just below its boundary, which a
  // commit whose write failed may have left unused: numbering resumes above
  // it, so that no commit's record can replace it.
  NIMBUS_ASSIGN_OR_RETURN(
      const uint64_t newest_dirty,
      e.dirty.Load(*e.store, /*legacy=*/e.store->format_version() == 2,
                   clock.NowMs()));
  e.commits.ResumeAbove(newest_dirty);
  RollupOptions ro = e.options.rollup;
  ro.raw_retention_ms = e.options.raw_retention_ms;
  if (e.options.raw_retention_ms != 0) {
    // Nothing older is stored.
    ro.initial_lookback_ms =
        std::min(ro.initial_lookback_ms, e.options.raw_retention_ms);
  }
  // A new store has nothing to catch up on (points written later with
  // older timestamps are late, and marked); only a store that predates
  // rollups needs the look back, once.
  if (e.index->size() == 0) ro.initial_lookback_ms = 0;
  e.rollups =
      std::make_unique<RollupScheduler>(e, *e.store, clock, std::move(ro));
  NIMBUS_ASSIGN_OR_RETURN(const int64_t watermark, e.rollups->Load());
  e.commits.RaiseLateWatermark(watermark);
  SealerOptions seal_options;
  seal_options.background = e.options.background_sealing;
  seal_options.nice = e.options.background_nice;
  seal_options.after_write_for_testing = e.options.after_seal_write_for_testing;
  e.sealer = std::make_unique<Sealer>(*e.store, *e.heads, clock,
                                      std::move(seal_options));
  e.sweeper =
      std::make_unique<Sweeper>(*e.store, *e.index, *e.heads, *e.sealer, clock);
  if (e.store->format_version() == 2) {
    NIMBUS_RETURN_IF_ERROR(e.MigrateFromVersion2());
  }
  if (e.options.sweep_interval_ms > 0) {
    e.sweep_thread = std::make_unique<PeriodicThread>(
        e.options.sweep_interval_ms,
        [&e] {
          // Failures are logged and counted by the sealer and the
          // sweeper; the next sweep does the work again.
          absl::Status s = e.sweeper->Run(e.options.head_max_age_ms);
          (void)s;
        },
        e.options.background_nice);
  }
  if (e.options.rollup_interval_ms > 0) {
    e.rollup_thread = std::make_unique<PeriodicThread>(
        e.options.rollup_interval_ms,
        [&e] {
          // Logged and counted by RunRollupsUntilCaughtUp; the next pass
          // does it again. Hours a backfill is still touching wait.
          absl::Status s = e.RunRollupsUntilCaughtUp(/*redo_busy_hours=*/false);
          (void)s;
        },
        e.options.background_nice);
  }
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

void Engine::FindSeries(absl::Span<const IdentityView> ids,
                        absl::Span<const uint64_t> hashes, Series** out) {
  impl_->index->FindByIdentity(ids, hashes, out);
}

absl::Status Engine::Impl::PrepareWriter(const IngestBatch& batch,
                                         CommitWriter* w) {
  w->items.clear();
  w->sets.clear();
  w->bytes = 0;
  // Series the caller found already, and the keys of the others.
  std::vector<Series*> series(batch.runs.size());
  std::vector<absl::string_view> keys;
  std::vector<size_t> keyed;  // the runs of keys[j]
  for (size_t i = 0; i < batch.runs.size(); ++i) {
    series[i] = batch.runs[i].series;
    if (series[i] == nullptr) {
      keys.push_back(batch.runs[i].key);
      keyed.push_back(i);
    }
  }
  if (!keys.empty()) {
    NIMBUS_ASSIGN_OR_RETURN(std::vector<Series*> resolved,
                            index->Resolve(keys));
    std::vector<SeriesIndex::RememberedIdentity> remembered;
    for (size_t j = 0; j < keyed.size(); ++j) {
      const size_t i = keyed[j];
      series[i] = resolved[j];
      if (batch.runs[i].identity_hash != 0) {
        remembered.push_back(
            {batch.runs[i].identity_hash, batch.runs[i].identity, resolved[j]});
      }
    }
    index->RememberIdentities(remembered);
  }
  w->items.reserve(batch.runs.size());
  for (size_t i = 0; i < batch.runs.size(); ++i) {
    const IngestBatch::Run& run = batch.runs[i];
    if (run.sample_count > 0) {
      w->items.push_back({series[i], run.samples, run.sample_count});
      // Its log entry: ids and counts, then per point a varint timestamp
      // delta (up to ten bytes) and eight value bytes.
      w->bytes += 20 + run.sample_count * 18;
    }
    for (size_t k = 0; k < run.set_count; ++k) {
      w->sets.push_back({series[i], &run.sets[k]});
      w->bytes += storage::kStatSetKeySize + storage::kStatSetValueSize;
    }
  }
  // Heads push back when the sealer lags.
  if (!w->items.empty() || !w->sets.empty()) {
    sealer->AwaitBacklogBelow(options.max_seal_backlog);
  }
  return absl::OkStatus();
}

absl::Status Engine::Write(const IngestBatch& batch) {
  Impl* e = impl_.get();
  CommitWriter w;
  NIMBUS_RETURN_IF_ERROR(e->PrepareWriter(batch, &w));
  if (w.items.empty() && w.sets.empty()) return absl::OkStatus();
  return e->commits.Commit(
      &w, [e](const CommitGroup& g) { return e->ApplyGroup(g); });
}

void Engine::WriteAsync(const IngestBatch& batch, CommitWriter* w,
                        absl::AnyInvocable<void(absl::Status) &&> done) {
  Impl* e = impl_.get();
  if (absl::Status s = e->PrepareWriter(batch, w); !s.ok()) {
    std::move(done)(std::move(s));
    return;
  }
  if (w->items.empty() && w->sets.empty()) {
    std::move(done)(absl::OkStatus());
    return;
  }
  e->commits.CommitAsync(
      w, [e](const CommitGroup& g) { return e->ApplyGroup(g); },
      std::move(done));
}

absl::Status Engine::Write(std::vector<SeriesWrite>& writes) {
  // Encodings: the caller's, or made here into `made` (which is sized up
  // front, so views into it stay valid).
  std::vector<std::string> made(writes.size());
  IngestBatch batch;
  batch.runs.resize(writes.size());
  for (size_t i = 0; i < writes.size(); ++i) {
    IngestBatch::Run& run = batch.runs[i];
    if (writes[i].encoded_key.empty()) {
      made[i] = writes[i].key.Encode();
      run.key = made[i];
    } else {
      run.key = writes[i].encoded_key;
    }
    run.samples = writes[i].samples.data();
    run.sample_count = writes[i].samples.size();
    run.sets = writes[i].statistic_sets.data();
    run.set_count = writes[i].statistic_sets.size();
  }
  return Write(batch);
}

absl::StatusOr<std::vector<StatisticsDatapoint>> Engine::GetStatistics(
    const StatisticsQuery& q) {
  return impl_->statistics->Run(q, impl_->clock.NowMs(),
                                impl_->rollups->watermark());
}

absl::StatusOr<ListResult> Engine::ListSeries(const ListQuery& q) {
  return impl_->index->List(q, impl_->clock.NowMs());
}

EngineStats Engine::Stats() {
  EngineStats s;
  s.points_accepted = impl_->points_accepted.load();
  s.chunks_sealed = impl_->sealer->chunks_written();
  s.chunks_merged = impl_->sealer->chunks_merged();
  s.head_points = impl_->heads->points();
  s.series_count = static_cast<int64_t>(impl_->index->size());
  s.bytes_on_disk = impl_->store->BytesOnDisk();
  s.memtable_bytes = impl_->store->MemtableBytes();
  s.rollup_watermark_ms = impl_->rollups->watermark();
  s.rollups = impl_->rollups->stats();
  s.seal_failures = impl_->sealer->failures();
  s.sweep_failures = impl_->sweeper->failures();
  s.rollup_failures = impl_->rollup_failures.load();
  s.writes_throttled = impl_->sealer->throttled();
  s.dirty_hours_pending = impl_->dirty.size();
  s.dirty_records_written = impl_->dirty_records_written.load();
  s.dirty_pairs_written = impl_->dirty_pairs_written.load();
  return s;
}

absl::Status Engine::RunRollups(bool redo_busy_hours) {
  return impl_->RunRollupsUntilCaughtUp(redo_busy_hours);
}

absl::Status Engine::Compact() { return impl_->store->CompactAll(); }

storage::Store& Engine::store() { return *impl_->store; }

absl::StatusOr<uint64_t> Engine::WatchSeries(const SeriesKey& key,
                                             int64_t bucket_ms,
                                             int64_t span_ms) {
  return impl_->window->Watch(key, bucket_ms, span_ms, impl_->clock.NowMs());
}

void Engine::UnwatchSeries(uint64_t handle) { impl_->window->Unwatch(handle); }

size_t Engine::WatchedWindows() { return impl_->window->watches(); }
size_t Engine::WindowBuckets() { return impl_->window->buckets(); }

bool Engine::ReadWatched(uint64_t handle, int64_t start_ms, int64_t period_ms,
                         size_t n, std::vector<WindowStats>* out) {
  return impl_->window->Read(handle, start_ms, period_ms, n,
                             impl_->clock.NowMs(), out);
}

void Engine::ReadWatchedMany(absl::Span<const WindowRead> reads,
                             std::vector<WindowStats>* out,
                             std::vector<bool>* answered) {
  impl_->window->ReadMany(reads, impl_->clock.NowMs(), out, answered);
}

absl::Status Engine::SealAgedHeads() {
  return impl_->sweeper->Run(impl_->options.head_max_age_ms);
}

absl::Status Engine::SealAllHeads() { return impl_->sweeper->Run(0); }

}  // namespace nimbus::engine
