#include "engine/sealer.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/log.h"
#include "storage/chunk_codec.h"
#include "storage/status_macros.h"

namespace nimbus::engine {

using storage::Column;

static_assert(kMaxSealPoints <= storage::kMaxChunkPoints);
// Series::newest_chunk_points holds a chunk's count.
static_assert(kTargetChunkPoints <= UINT16_MAX && kMaxSealPoints <= UINT16_MAX);

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
  const absl::Status st = SealOnce(series);
  if (!st.ok()) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    Log(LogLevel::kError, "sealer",
        absl::StrCat("seal of ", series.size(),
                     " series failed; their points stay in the heads and "
                     "the log and are sealed again: ",
                     st.ToString()));
  }
  return st;
}

absl::Status Sealer::SealOnce(const std::vector<Series*>& to_seal_in) {
  absl::MutexLock one_sealer(&seal_mu_);
  // A series can be listed twice (queued for the sealer, sealed by the aged
  // sweep meanwhile, queued again); sealing it twice in one pass would drop
  // its head's points twice.
  //
  // Sorted by id, so that the batch's keys ascend in every column family:
  // RocksDB's memtable skiplist then starts each insert from where the
  // previous one ended instead of searching from the top.
  std::vector<Series*> to_seal = to_seal_in;
  std::sort(to_seal.begin(), to_seal.end(),
            [](const Series* a, const Series* b) { return a->id < b->id; });
  to_seal.erase(std::unique(to_seal.begin(), to_seal.end()), to_seal.end());
  storage::WriteBatch batch;
  std::vector<HeadStore::Sealed> sealed;
  std::vector<Sample> pts;
  std::vector<int64_t> ts;
  std::vector<double> vs;
  std::string chunk;
  int64_t chunks = 0;
  // What each sealed series' newest chunk becomes once the write succeeds.
  struct NewestChunk {
    Series* series = nullptr;
    int64_t first_ms = 0;
    uint32_t part = 0;
    uint16_t points = 0;
  };
  std::vector<NewestChunk> newest_chunks;
  for (Series* s : to_seal) {
    uint64_t seq, sealed_seq;
    if (!heads_.TakeForSeal(s, &pts, &seq, &sealed_seq)) continue;
    auto by_time = [](const Sample& a, const Sample& b) {
      return a.ts_ms < b.ts_ms;
    };
    // Heads mostly arrive in time order: sorted only if they did not.
    if (!std::is_sorted(pts.begin(), pts.end(), by_time)) {
      std::stable_sort(pts.begin(), pts.end(), by_time);
    }
    const size_t head_count = pts.size();
    NewestChunk newest;
    // Extend the series' newest chunk if the new points belong at its end
    // and the two fit in one chunk. The newest chunk this process wrote is
    // known (Series::newest_chunk_*: its key has the series' sealed
    // sequence), and read only if it can take the points; otherwise, found
    // by a reverse seek.
    std::string last_key, last_value;
    bool extend = false;
    // The first timestamp of the newest chunk, if there is one.
    std::optional<int64_t> newest_first;
    if (s->newest_chunk_points > 0) {
      newest_first = s->newest_chunk_first_ms;
      if (pts.front().ts_ms >= *newest_first &&
          pts.back().ts_ms - *newest_first <= storage::kMaxChunkSpanMs &&
          s->newest_chunk_points + pts.size() <= kTargetChunkPoints) {
        last_key = storage::EncodeChunkKey(
            {s->id, *newest_first, sealed_seq, s->newest_chunk_part});
        auto v = store_.Get(Column::kPoints, last_key);
        if (!v.ok()) {
          // Clears the marks set so far; nothing was written.
          return heads_.PublishSeal(
              sealed, [&] { return v.status(); }, clock_.NowMs());
        }
        // Gone only if retention dropped it: the points start a new chunk.
        if (v->has_value()) {
          last_value = std::move(**v);
          extend = true;
        }
      }
    } else if (s->newest_chunk_part != Series::kNoChunkPart) {
      auto it = store_.NewIterator(Column::kPoints);
      it->SeekForPrev(storage::ChunkKeyPrefix(s->id, INT64_MAX) +
                      std::string(12, '\xff'));
      storage::ChunkKey last;
      if (it->Valid() && storage::DecodeChunkKey(it->key(), &last) &&
          last.series_id == s->id) {
        newest_first = last.first_ts_ms;
        if (pts.front().ts_ms >= last.first_ts_ms &&
            pts.back().ts_ms - last.first_ts_ms <= storage::kMaxChunkSpanMs) {
          last_key = std::string(it->key());
          last_value = std::string(it->value());
          extend = true;
        }
      }
      if (!it->status().ok()) {
        return heads_.PublishSeal(
            sealed, [&] { return it->status(); }, clock_.NowMs());
      }
    }
    if (extend) {
      std::vector<int64_t> old_ts;
      std::vector<double> old_vs;
      if (storage::DecodeChunk(last_value, &old_ts, &old_vs).ok() &&
          old_ts.size() + pts.size() <= kTargetChunkPoints) {
        std::vector<Sample> merged;
        merged.reserve(old_ts.size() + pts.size());
        for (size_t i = 0; i < old_ts.size(); ++i)
          merged.push_back({old_ts[i], old_vs[i]});
        merged.insert(merged.end(), pts.begin(), pts.end());
        // Both runs are sorted, and the new points mostly come after.
        std::inplace_merge(merged.begin(), merged.begin() + old_ts.size(),
                           merged.end(), by_time);
        batch.Delete(Column::kPoints, last_key);
        pts.swap(merged);
        // Readers see the replaced chunk's points from here until the
        // seal is published, whatever their view of the store.
        auto in_flight = std::make_shared<SealInFlight>();
        in_flight->replaced_key = last_key;
        in_flight->replaced_ts = std::move(old_ts);
        in_flight->replaced_values = std::move(old_vs);
        heads_.BeginSeal(s, std::move(in_flight));
      }
    }
    // Chunks span at most kMaxChunkSpanMs and hold at most kMaxSealPoints.
    uint32_t part = 0;
    size_t begin = 0;
    while (begin < pts.size()) {
      size_t end = begin + 1;
      while (end < pts.size() && end - begin < kMaxSealPoints &&
             pts[end].ts_ms - pts[begin].ts_ms <= storage::kMaxChunkSpanMs) {
        ++end;
      }
      ts.clear();
      vs.clear();
      for (size_t i = begin; i < end; ++i) {
        ts.push_back(pts[i].ts_ms);
        vs.push_back(pts[i].value);
      }
      // Sorted and bounded above, so encoding cannot fail; if it did, the
      // marks set so far are cleared and nothing is written.
      const absl::Status encoded = storage::EncodeChunk(ts, vs, &chunk);
      if (!encoded.ok()) {
        sealed.push_back({s, seq, head_count});
        return heads_.PublishSeal(
            sealed, [&] { return encoded; }, clock_.NowMs());
      }
      batch.Put(Column::kPoints,
                storage::EncodeChunkKey({s->id, ts.front(), seq, part}), chunk);
      newest.part = part++;
      newest.first_ms = ts.front();
      newest.points = static_cast<uint16_t>(ts.size());
      ++chunks;
      begin = end;
    }
    // The seal's last chunk is the series' newest unless the points were
    // late (before the newest chunk's start): then its key no longer has
    // the sealed sequence, and the next seal seeks.
    newest.series = s;
    if (newest_first.has_value() && newest.first_ms < *newest_first) {
      newest.points = 0;
    }
    newest_chunks.push_back(newest);
    std::string seq_be;
    storage::PutBigEndian64(&seq_be, seq);
    batch.Put(Column::kSeries,
              storage::EncodeSeriesIdKey(storage::kSeriesSealedTag, s->id),
              seq_be);
    sealed.push_back({s, seq, head_count});
  }
  if (sealed.empty()) return absl::OkStatus();
  const absl::Status st = heads_.PublishSeal(
      sealed,
      [&]() -> absl::Status {
        NIMBUS_RETURN_IF_ERROR(store_.Write(batch));
        chunks_written_.fetch_add(chunks, std::memory_order_relaxed);
        if (options_.after_write_for_testing) {
          options_.after_write_for_testing();
        }
        return absl::OkStatus();
      },
      clock_.NowMs());
  // Only once written: a failed seal left the old newest chunk in place.
  if (st.ok()) {
    for (const NewestChunk& n : newest_chunks) {
      n.series->newest_chunk_first_ms = n.first_ms;
      n.series->newest_chunk_part = n.part;
      n.series->newest_chunk_points = n.points;
    }
  }
  return st;
}

}  // namespace nimbus::engine
