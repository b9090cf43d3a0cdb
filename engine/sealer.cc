#include "engine/sealer.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "engine/log.h"
#include "engine/periodic_thread.h"
#include "storage/chunk_codec.h"
#include "storage/status_macros.h"

namespace nimbus::engine {

using storage::Column;

static_assert(kMaxSealPoints <= storage::kMaxChunkPoints);
// Series::run_points holds a run's points: at most kTargetChunkPoints, or
// one chunk of at most kMaxSealPoints. run_chunks is at most kMaxRunChunks,
// below kRunUnknown.
static_assert(kTargetChunkPoints <= UINT16_MAX && kMaxSealPoints <= UINT16_MAX);
static_assert(kMaxRunChunks < Series::kRunUnknown);

Sealer::Sealer(storage::Store& store, HeadStore& heads, Clock& clock,
               SealerOptions options)
    : store_(store),
      heads_(heads),
      clock_(clock),
      options_(std::move(options)) {
  if (options_.background) thread_ = std::thread([this] { Loop(); });
}

Sealer::~Sealer() { Stop(); }

void Sealer::Stop() {
  {
    absl::MutexLock l(&queue_mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Sealer::Queue(std::vector<Series*> full) {
  if (!options_.background) {
    // A failed seal loses nothing: the points stay in the head and the log,
    // and the next full head or aged sweep tries again. Seal() logs and
    // counts the failure.
    absl::Status s = Seal(full);
    (void)s;
    return;
  }
  absl::MutexLock l(&queue_mu_);
  queue_.insert(queue_.end(), full.begin(), full.end());
}

void Sealer::AwaitBacklogBelow(size_t max) {
  if (!options_.background) return;
  absl::MutexLock l(&queue_mu_);
  if (stopping_ || queue_.size() + in_progress_ < max) return;
  throttled_.fetch_add(1, std::memory_order_relaxed);
  struct Arg {
    Sealer* sealer;
    size_t max;
  } arg{this, max};
  queue_mu_.Await(absl::Condition(
      +[](Arg* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return a->sealer->stopping_ ||
               a->sealer->queue_.size() + a->sealer->in_progress_ < a->max;
      },
      &arg));
}

void Sealer::Loop() {
  LowerThisThreadPriority(options_.nice);
  std::vector<Series*> batch;
  while (true) {
    {
      absl::MutexLock l(&queue_mu_);
      in_progress_ = 0;
      queue_mu_.Await(absl::Condition(
          +[](Sealer* s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return s->stopping_ || !s->queue_.empty();
          },
          this));
      if (stopping_) return;  // what is unsealed is in the log
      batch.swap(queue_);
      in_progress_ = batch.size();
    }
    // A failure is logged and counted by Seal(); the heads stay full, so
    // the next write to each series queues it again, and the aged sweep
    // seals it in any case.
    absl::Status s = Seal(batch);
    (void)s;
    batch.clear();
  }
}

absl::Status Sealer::Seal(const std::vector<Series*>& series) {
  // A series can be listed twice (queued for the sealer, sealed by the aged
  // sweep meanwhile, queued again); sealing it twice in one pass would drop
  // its head's points twice.
  //
  // Sorted by id, so that each batch's keys ascend in every column family:
  // RocksDB's memtable skiplist then starts each insert from where the
  // previous one ended instead of searching from the top.
  std::vector<Series*> to_seal = series;
  std::sort(to_seal.begin(), to_seal.end(),
            [](const Series* a, const Series* b) { return a->id < b->id; });
  to_seal.erase(std::unique(to_seal.begin(), to_seal.end()), to_seal.end());
  absl::Status first;
  size_t failed = 0;
  for (size_t next = 0; next < to_seal.size(); next += kSealBatch) {
    const absl::Span<Series* const> part =
        absl::MakeConstSpan(to_seal).subspan(next, kSealBatch);
    absl::Status st;
    {
      absl::MutexLock one_sealer(&seal_mu_);
      st = SealOnce(part);
    }
    if (!st.ok()) {
      // The series the failed batch had not taken yet are still marked
      // queued: unmarked, the next write to any of them queues it again.
      heads_.ClearSealQueued(part);
      failures_.fetch_add(1, std::memory_order_relaxed);
      failed += part.size();
      if (first.ok()) first = st;
    }
  }
  if (!first.ok()) {
    Log(LogLevel::kError, "sealer",
        absl::StrCat("seal of ", failed, " of ", to_seal.size(),
                     " series failed; their points stay in the heads and "
                     "the log and are sealed again: ",
                     first.ToString()));
  }
  return first;
}

namespace {

// Scratch space that one seal reuses for every chunk it encodes.
struct Scratch {
  std::vector<int64_t> ts;
  std::vector<double> vs;
  std::string chunk;
};

// Cuts points sorted by time into chunks of at most kMaxChunkSpanMs and
// kMaxSealPoints, adds each to *batch under (series id, its first
// timestamp, seq, part), and calls part(first_ms, last_ms, points) for each.
// Returns the number of chunks added.
absl::StatusOr<int64_t> AddChunks(
    uint64_t id, absl::Span<const Sample> pts, uint64_t seq,
    storage::WriteBatch* batch, Scratch* scratch,
    absl::FunctionRef<void(int64_t, int64_t, size_t)> part) {
  uint32_t number = 0;
  size_t begin = 0;
  while (begin < pts.size()) {
    size_t end = begin + 1;
    while (end < pts.size() && end - begin < kMaxSealPoints &&
           pts[end].ts_ms - pts[begin].ts_ms <= storage::kMaxChunkSpanMs) {
      ++end;
    }
    scratch->ts.clear();
    scratch->vs.clear();
    for (size_t i = begin; i < end; ++i) {
      scratch->ts.push_back(pts[i].ts_ms);
      scratch->vs.push_back(pts[i].value);
    }
    // Sorted and bounded above, so encoding cannot fail; if it did, nothing
    // is written.
    NIMBUS_RETURN_IF_ERROR(
        storage::EncodeChunk(scratch->ts, scratch->vs, &scratch->chunk));
    batch->Put(Column::kPoints,
               storage::EncodeChunkKey({id, scratch->ts.front(), seq, number}),
               scratch->chunk);
    ++number;
    part(scratch->ts.front(), scratch->ts.back(), end - begin);
    begin = end;
  }
  return static_cast<int64_t>(number);
}

bool ByTime(const Sample& a, const Sample& b) { return a.ts_ms < b.ts_ms; }

// Whether `points` more, the last at last_ms, fit in one chunk with the run
// of `first_ms` holding `run_points` (a run of `run_chunks` > 0 chunks).
bool FitsRun(size_t run_chunks, int64_t first_ms, size_t run_points,
             int64_t last_ms, size_t points) {
  return run_chunks > 0 && last_ms - first_ms <= storage::kMaxChunkSpanMs &&
         run_points + points <= kTargetChunkPoints;
}

// Sorts points by time, keeping the order of equal timestamps; they mostly
// come sorted already.
void SortByTime(std::vector<Sample>* pts) {
  if (!std::is_sorted(pts->begin(), pts->end(), ByTime)) {
    std::stable_sort(pts->begin(), pts->end(), ByTime);
  }
}

}  // namespace

absl::StatusOr<Sealer::Run> Sealer::KnownRun(const Series& s) {
  if (s.run_chunks != Series::kRunUnknown) {
    return Run{s.run_first_ms, s.run_points, s.run_chunks};
  }
  // Not known since this process loaded the series: the newest chunks that
  // would fit in one, read back from the newest.
  Run run;
  int64_t newest_first = 0;
  auto it = store_.NewIterator(Column::kPoints);
  for (it->SeekForPrev(storage::ChunkKeyPrefix(s.id, INT64_MAX) +
                       std::string(12, '\xff'));
       it->Valid() && run.chunks < kMaxRunChunks; it->Prev()) {
    storage::ChunkKey k;
    if (!storage::DecodeChunkKey(it->key(), &k) || k.series_id != s.id) break;
    // A damaged chunk ends the run here; a merge that meets it (its body)
    // leaves the run as it is.
    const auto header = storage::ReadChunkHeader(it->value());
    if (!header.ok()) break;
    if (run.chunks == 0) newest_first = k.first_ts_ms;
    if (newest_first - k.first_ts_ms > storage::kMaxChunkSpanMs ||
        run.points + header->point_count > kTargetChunkPoints) {
      break;
    }
    run.first_ms = k.first_ts_ms;
    run.points += header->point_count;
    ++run.chunks;
  }
  NIMBUS_RETURN_IF_ERROR(it->status());
  return run;
}

absl::Status Sealer::MergeRun(const Series& s, Run* run,
                              storage::WriteBatch* batch, int64_t* merged) {
  std::vector<std::string> keys;
  std::vector<Sample> pts;
  uint64_t max_seq = 0;
  Scratch scratch;
  auto it = store_.NewIterator(Column::kPoints);
  for (it->Seek(storage::ChunkKeyPrefix(s.id, run->first_ms)); it->Valid();
       it->Next()) {
    storage::ChunkKey k;
    if (!storage::DecodeChunkKey(it->key(), &k) || k.series_id != s.id) break;
    const absl::Status d =
        storage::DecodeChunk(it->value(), &scratch.ts, &scratch.vs);
    if (!d.ok()) {
      failures_.fetch_add(1, std::memory_order_relaxed);
      Log(LogLevel::kError, "sealer",
          absl::StrCat(
              "series ", s.id, ": the chunk at ", k.first_ts_ms,
              " does not decode, so its run is left unmerged: ", d.ToString()));
      *run = Run{};
      return absl::OkStatus();
    }
    keys.emplace_back(it->key());
    max_seq = std::max(max_seq, k.seq);
    for (size_t i = 0; i < scratch.ts.size(); ++i) {
      pts.push_back({scratch.ts[i], scratch.vs[i]});
    }
  }
  NIMBUS_RETURN_IF_ERROR(it->status());
  *run = Run{};
  if (keys.size() < 2) {
    // One chunk is the run, unless it is already full.
    if (!keys.empty() && pts.size() <= kTargetChunkPoints) {
      *run = Run{pts.front().ts_ms, pts.size(), 1};
    }
    return absl::OkStatus();
  }
  // Equal timestamps stay in key order.
  SortByTime(&pts);
  for (const std::string& key : keys) batch->Delete(Column::kPoints, key);
  // The largest sequence of the parts, all published: a reader sees either
  // the parts or their merge (engine/head_store.h). The puts come after the
  // deletes, so a merged key equal to a part's is written, not deleted.
  absl::StatusOr<int64_t> n =
      AddChunks(s.id, pts, max_seq, batch, &scratch,
                [&](int64_t first, int64_t, size_t points) {
                  *run = Run{first, points, 1};
                });
  NIMBUS_RETURN_IF_ERROR(n.status());
  *merged += *n;
  return absl::OkStatus();
}

absl::Status Sealer::SealOnce(absl::Span<Series* const> to_seal) {
  storage::WriteBatch batch;
  std::vector<HeadStore::Sealed> sealed;
  std::vector<std::pair<Series*, Run>> runs;
  std::vector<Sample> pts;
  Scratch scratch;
  int64_t chunks = 0, merged = 0;
  for (Series* s : to_seal) {
    uint64_t seq;
    if (!heads_.TakeForSeal(s, &pts, &seq)) continue;
    // Heads mostly arrive in time order.
    SortByTime(&pts);
    absl::StatusOr<Run> known = KnownRun(*s);
    // Nothing is written, and the heads keep their points.
    NIMBUS_RETURN_IF_ERROR(known.status());
    Run run = *known;
    const bool late = run.chunks > 0 && pts.front().ts_ms < run.first_ms;
    if (!late) {
      auto fits = [&] {
        return FitsRun(run.chunks, run.first_ms, run.points, pts.back().ts_ms,
                       pts.size());
      };
      if (run.chunks > 1 && (!fits() || run.chunks >= kMaxRunChunks)) {
        NIMBUS_RETURN_IF_ERROR(MergeRun(*s, &run, &batch, &merged));
      }
      if (!fits()) run = Run{};  // the points start a new run
    }
    absl::StatusOr<int64_t> n = AddChunks(
        s->id, pts, seq, &batch, &scratch,
        [&](int64_t first, int64_t last, size_t points) {
          if (late) return;  // outside the run
          if (run.chunks < kMaxRunChunks &&
              FitsRun(run.chunks, run.first_ms, run.points, last, points)) {
            run.points += points;
            ++run.chunks;
          } else {
            run = Run{first, points, 1};
          }
        });
    NIMBUS_RETURN_IF_ERROR(n.status());
    chunks += *n;
    runs.push_back({s, run});
    std::string seq_be;
    storage::PutBigEndian64(&seq_be, seq);
    batch.Put(Column::kSeries,
              storage::EncodeSeriesIdKey(storage::kSeriesSealedTag, s->id),
              seq_be);
    sealed.push_back({s, seq, pts.size()});
  }
  if (sealed.empty()) return absl::OkStatus();
  NIMBUS_RETURN_IF_ERROR(heads_.PublishSeal(
      sealed,
      [&]() -> absl::Status {
        NIMBUS_RETURN_IF_ERROR(store_.Write(batch));
        chunks_written_.fetch_add(chunks, std::memory_order_relaxed);
        chunks_merged_.fetch_add(merged, std::memory_order_relaxed);
        if (options_.after_write_for_testing) {
          options_.after_write_for_testing();
        }
        return absl::OkStatus();
      },
      clock_.NowMs()));
  // Only once written: a failed write left the runs as they were.
  for (const auto& [s, run] : runs) SetRun(s, run);
  return absl::OkStatus();
}

absl::Status Sealer::MergeQuiet(SeriesIndex& index, int64_t cutoff_ms) {
  // Candidates: quiet series whose run has several chunks, or is not known
  // since this process loaded them (read back below, once).
  std::vector<Series*> quiet;
  {
    absl::MutexLock one_sealer(&seal_mu_);
    index.ForEach([&](Series& s) {
      if ((s.run_chunks == Series::kRunUnknown || s.run_chunks > 1) &&
          s.last_write_ms.load(std::memory_order_relaxed) <= cutoff_ms) {
        quiet.push_back(&s);
      }
    });
  }
  std::sort(quiet.begin(), quiet.end(),
            [](const Series* a, const Series* b) { return a->id < b->id; });
  // In batches, each a store write with seals held off only meanwhile, so
  // that a sweep after a busy hour neither makes one huge write nor stalls
  // the sealer for long.
  for (size_t next = 0; next < quiet.size();) {
    const size_t end = std::min(quiet.size(), next + kMergeBatch);
    absl::MutexLock one_sealer(&seal_mu_);
    storage::WriteBatch batch;
    std::vector<std::pair<Series*, Run>> runs;
    int64_t merged = 0;
    absl::Status st;
    for (size_t i = next; i < end && st.ok(); ++i) {
      Series* s = quiet[i];
      // Written (and perhaps sealed) since it was listed: not quiet.
      if (s->last_write_ms.load(std::memory_order_relaxed) > cutoff_ms) {
        continue;
      }
      absl::StatusOr<Run> run = KnownRun(*s);
      if (!run.ok()) {
        st = run.status();
        break;
      }
      if (run->chunks > 1) st = MergeRun(*s, &*run, &batch, &merged);
      runs.push_back({s, *run});
    }
    if (st.ok() && batch.Count() > 0) st = store_.Write(batch);
    if (!st.ok()) {
      failures_.fetch_add(1, std::memory_order_relaxed);
      Log(LogLevel::kError, "sealer",
          absl::StrCat("merging the chunks of ", end - next,
                       " quiet series failed; they stay as they are and "
                       "the next sweep tries again: ",
                       st.ToString()));
      return st;
    }
    chunks_merged_.fetch_add(merged, std::memory_order_relaxed);
    for (const auto& [s, run] : runs) SetRun(s, run);
    next = end;
  }
  return absl::OkStatus();
}

void Sealer::SetRun(Series* s, const Run& run) {
  s->run_first_ms = run.first_ms;
  s->run_points = static_cast<uint16_t>(run.points);
  s->run_chunks = static_cast<uint16_t>(run.chunks);
}

}  // namespace nimbus::engine
