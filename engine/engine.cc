#include "engine/engine.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <deque>
#include <limits>
#include <thread>
#include <utility>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "engine/head_buffer.h"
#include "engine/rollup.h"
#include "engine/validation.h"
#include "storage/chunk_codec.h"
#include "storage/internal/coding.h"
#include "storage/keys.h"
#include "storage/status_macros.h"

namespace nimbus::engine {
namespace {

using storage::Column;
using storage::internal::GetVarint64;
using storage::internal::PutFixed64;
using storage::internal::PutVarint64;
using storage::internal::ZigZagDecode;
using storage::internal::ZigZagEncode;

constexpr int64_t kRecentlyActiveMs = int64_t{3} * 3600 * 1000;
constexpr int64_t kHourMs = 3'600'000;

int64_t FloorTo(int64_t v, int64_t step) {
  const int64_t q = v / step;
  return (v % step < 0 ? q - 1 : q) * step;
}

// meta key: the highest log sequence ever trimmed away (u64 big-endian).
constexpr char kLogSequenceKey[] = "log_sequence";

// The most points the sealer puts in one chunk. Larger heads (a client can
// send a million points at one timestamp) become several chunks.
constexpr size_t kMaxSealPoints = 16384;

// A seal extends the series' newest chunk while the two together hold at most
// this many points (2 hours of 10-second data), so that chunks settle near
// the size the codec packs best (bench/RESULTS.md) however small the heads.
constexpr size_t kTargetChunkPoints = 720;
static_assert(kMaxSealPoints <= storage::kMaxChunkPoints);

// series column family keys (storage/FORMAT.md):
//   'k' + encoded SeriesKey -> big-endian id
//   's' + big-endian id     -> big-endian sealed log sequence
std::string SeriesKeyIndexKey(absl::string_view encoded) {
  return absl::StrCat("k", encoded);
}
std::string SeriesIdKey(char tag, uint64_t id) {
  std::string k(1, tag);
  storage::PutBigEndian64(&k, id);
  return k;
}

// stat_sets keys: series id, ordered timestamp, log sequence, ordinal.
std::string StatSetKey(uint64_t id, int64_t ts, uint64_t seq,
                       uint32_t ordinal) {
  std::string k;
  storage::PutBigEndian64(&k, id);
  storage::PutBigEndian64(&k, storage::OrderedFromSigned(ts));
  storage::PutBigEndian64(&k, seq);
  k.push_back(static_cast<char>(ordinal >> 24));
  k.push_back(static_cast<char>(ordinal >> 16));
  k.push_back(static_cast<char>(ordinal >> 8));
  k.push_back(static_cast<char>(ordinal));
  return k;
}

// Per-series state, kept small: the key is held only in its encoded form
// (decoded when a query needs its fields), and the index maps views of it.
struct Series {
  uint64_t id = 0;
  std::string encoded;  // SeriesKey::Encode()
  SeriesKey Key() const {
    SeriesKey k;
    SeriesKey::Decode(encoded, &k);  // written by Encode(): always decodes
    return k;
  }
  std::atomic<int64_t> last_write_ms{0};
  int64_t persisted_write_ms = 0;  // sweeper only
  // Guarded by Impl::heads_mu_; written only by the commit leader.
  HeadBuffer head;
  uint64_t head_first_seq = 0;  // log sequence of the oldest head point
  uint64_t head_last_seq = 0;
  int64_t head_first_wall_ms = 0;
  uint64_t sealed_seq = 0;   // every log record <= this is in chunks
  bool seal_queued = false;  // waiting for the sealer
};

// One series' points inside a commit.
struct Item {
  Series* series;
  std::vector<Sample>* samples;
};

// A value and how many samples have it (1 for a raw point; an exact
// statistic set's count, which may be fractional).
using Weighted = WeightedValue;

// The p-th percentile by nearest rank over weighted values: the smallest
// value whose cumulative weight reaches p% of the total. NaN if empty.
double NearestRank(std::vector<Weighted>& values, double p) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  double total = 0;
  for (const Weighted& w : values) total += w.weight;
  const double target = std::max(p / 100.0 * total, 0.0);
  double cumulative = 0;
  for (const Weighted& w : values) {
    cumulative += w.weight;
    if (cumulative >= target && w.weight > 0) return w.value;
  }
  return values.back().value;
}

}  // namespace

struct Engine::Impl : public RollupSource {
  EngineOptions options;
  Clock& clock;
  std::unique_ptr<storage::Store> store;

  // Series index. The maps and the deque's size are guarded by index_mu_;
  // a Series, once created, lives as long as the engine.
  absl::Mutex index_mu_;
  // Keys are views of Series::encoded, which never moves (deque elements).
  absl::flat_hash_map<absl::string_view, Series*> by_key_
      ABSL_GUARDED_BY(index_mu_);
  std::deque<Series> series_ ABSL_GUARDED_BY(index_mu_);
  absl::flat_hash_map<uint64_t, Series*> by_id_ ABSL_GUARDED_BY(index_mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(index_mu_) = 1;

  // Commit queue (leader/follower group commit, as in LevelDB).
  struct Writer {
    std::vector<Item> items;
    std::vector<std::pair<Series*, const StatisticSet*>> sets;
    absl::Status status;
    bool done = false;
    absl::CondVar cv;
  };
  absl::Mutex queue_mu_;
  std::deque<Writer*> writers_ ABSL_GUARDED_BY(queue_mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(queue_mu_) = 1;
  // Every commit up to this sequence is applied to the heads (or failed).
  uint64_t completed_seq_ ABSL_GUARDED_BY(queue_mu_) = 0;
  // Points below this are late: their hour is marked dirty for the rollup
  // scheduler (engine/rollup_scheduler.h).
  int64_t late_watermark_ ABSL_GUARDED_BY(queue_mu_) = 0;

  // Heads and the sequence applied to them.
  absl::Mutex heads_mu_;
  uint64_t applied_seq_ ABSL_GUARDED_BY(heads_mu_) = 0;

  std::atomic<int64_t> points_accepted{0};
  std::atomic<int64_t> chunks_sealed{0};
  std::atomic<int64_t> head_points{0};

  // The ingest log below this sequence has been deleted (sweeper only).
  uint64_t trimmed_below_ = 0;

  // Sealing: one at a time; full heads queue for the sealer thread.
  absl::Mutex seal_mu_;
  // A seal's chunk writes and head trims happen under this lock held
  // exclusively; a query copies a head and opens its store iterators under
  // it held shared, so it sees a series either wholly before or wholly after
  // a seal (a seal may replace a chunk by a larger one).
  absl::Mutex chunks_mu_;
  absl::Mutex seal_queue_mu_;
  std::vector<Series*> seal_queue_ ABSL_GUARDED_BY(seal_queue_mu_);
  bool seal_stopping_ ABSL_GUARDED_BY(seal_queue_mu_) = false;
  std::thread sealer_;

  std::unique_ptr<RollupScheduler> rollups;
  // Hours with late points that no pass has rolled up again yet, by series:
  // hour -> the newest log sequence that marked it. Queries read them raw.
  absl::Mutex dirty_mu_;
  absl::flat_hash_map<uint64_t, absl::btree_map<int64_t, uint64_t>> dirty_
      ABSL_GUARDED_BY(dirty_mu_);
  int64_t opened_ms = 0;  // when Open() ran
  std::atomic<bool> closing_{false};
  absl::Mutex rollup_mu_;  // one pass at a time
  std::thread roller_;

  // Background sweeper (and roller, which waits on the same flag).
  absl::Mutex sweep_mu_;
  bool stopping_ ABSL_GUARDED_BY(sweep_mu_) = false;
  std::thread sweeper_;

  Impl(EngineOptions o, Clock& c) : options(std::move(o)), clock(c) {}

  absl::Status Load();
  absl::Status Replay();
  absl::StatusOr<std::vector<Series*>> Resolve(
      std::vector<SeriesWrite>& writes);
  absl::Status Commit(Writer* w);
  void EncodeLogRecord(const std::vector<Writer*>& group, std::string* out);
  void AppendToHeads(Series* s, const Sample* samples, size_t n, uint64_t seq,
                     int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(heads_mu_);
  // Seals the heads of `to_seal`: the points they hold now go to chunks,
  // points appended meanwhile stay. One sealer at a time (seal_mu_).
  absl::Status Seal(const std::vector<Series*>& to_seal);
  // Hands full heads to the sealer thread, or seals them here when there is
  // none.
  void QueueSeals(std::vector<Series*> full);
  void SealLoop();
  // Seals heads whose oldest point has waited at least max_age_ms (all of
  // them for 0) and trims the log.
  absl::Status SealAgedAndTrim(int64_t max_age_ms);
  std::vector<Series*> Match(const SeriesKey& key);
  void SweepLoop();
  void RollupLoop();
  absl::Status RunRollupsUntilCaughtUp();

  // Every raw sample and statistic set of `s` in [start, end).
  absl::Status ReadSeries(
      Series* s, int64_t start_ms, int64_t end_ms,
      absl::FunctionRef<void(int64_t, double)> sample,
      absl::FunctionRef<void(int64_t, double, double, double, double)> set);

  // Reads the dirty records into dirty_.
  absl::Status LoadDirty();
  // The dirty hours of a series in [start, end), ascending.
  std::vector<int64_t> DirtyHours(uint64_t series_id, int64_t start_ms,
                                  int64_t end_ms);

  // RollupSource.
  uint64_t RaiseLateWatermark(int64_t watermark_ms) override;
  void DirtyHandled(uint64_t boundary,
                    const std::vector<DirtyHour>& retry) override;
  std::vector<uint64_t> SeriesWithPointsSince(int64_t start_ms) override;
  absl::Status ReadRaw(
      uint64_t series_id, int64_t start_ms, int64_t end_ms,
      absl::FunctionRef<void(int64_t, double)> sample,
      absl::FunctionRef<void(int64_t, double, double, double, double)> set)
      override;
};

absl::Status Engine::Impl::Load() {
  auto it = store->NewIterator(Column::kSeries);
  absl::MutexLock l(&index_mu_);
  absl::flat_hash_map<uint64_t, uint64_t> sealed;
  absl::flat_hash_map<uint64_t, int64_t> last_write;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const absl::string_view k = it->key();
    const absl::string_view v = it->value();
    if (!k.empty() && k[0] == 'k' && v.size() == 8) {
      Series& s = series_.emplace_back();
      s.id = storage::GetBigEndian64(v.data());
      s.encoded = std::string(k.substr(1));
      SeriesKey check;
      if (!SeriesKey::Decode(s.encoded, &check)) {
        return absl::DataLossError(
            absl::StrCat("series ", s.id, ": undecodable series key"));
      }
      next_id_ = std::max(next_id_, s.id + 1);
    } else if (k.size() == 9 && k[0] == 's' && v.size() == 8) {
      sealed[storage::GetBigEndian64(k.data() + 1)] =
          storage::GetBigEndian64(v.data());
    } else if (k.size() == 9 && k[0] == 'a' && v.size() == 8) {
      last_write[storage::GetBigEndian64(k.data() + 1)] =
          static_cast<int64_t>(storage::GetBigEndian64(v.data()));
    }
  }
  NIMBUS_RETURN_IF_ERROR(it->status());
  for (Series& s : series_) {
    by_key_[s.encoded] = &s;
    by_id_[s.id] = &s;
    auto f = sealed.find(s.id);
    if (f != sealed.end()) s.sealed_seq = f->second;
    auto w = last_write.find(s.id);
    if (w != last_write.end()) {
      s.last_write_ms.store(w->second);
      s.persisted_write_ms = w->second;
    }
  }
  return absl::OkStatus();
}

absl::Status Engine::Impl::Replay() {
  absl::flat_hash_map<uint64_t, Series*> by_id;
  {
    absl::MutexLock l(&index_mu_);
    for (Series& s : series_) by_id[s.id] = &s;
  }
  auto it = store->NewIterator(Column::kIngestLog);
  uint64_t last = 0;
  const int64_t now = clock.NowMs();
  std::vector<Sample> samples;
  absl::MutexLock l(&heads_mu_);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    uint64_t seq;
    if (!storage::DecodeLogKey(it->key(), &seq)) {
      return absl::DataLossError("ingest log: malformed key");
    }
    const absl::string_view rec = it->value();
    const char* p = rec.data();
    const char* limit = p + rec.size();
    uint64_t entries;
    if (!GetVarint64(&p, limit, &entries)) {
      return absl::DataLossError(
          absl::StrCat("ingest log record ", seq, ": malformed"));
    }
    for (uint64_t e = 0; e < entries; ++e) {
      uint64_t id, n;
      if (!GetVarint64(&p, limit, &id) || !GetVarint64(&p, limit, &n) ||
          n > static_cast<uint64_t>(limit - p)) {
        return absl::DataLossError(
            absl::StrCat("ingest log record ", seq, ": malformed entry"));
      }
      samples.clear();
      int64_t ts = 0;
      for (uint64_t i = 0; i < n; ++i) {
        uint64_t zz;
        if (!GetVarint64(&p, limit, &zz) || limit - p < 8) {
          return absl::DataLossError(
              absl::StrCat("ingest log record ", seq, ": truncated"));
        }
        ts = static_cast<int64_t>(static_cast<uint64_t>(ts) +
                                  static_cast<uint64_t>(ZigZagDecode(zz)));
        samples.push_back(
            {ts, std::bit_cast<double>(storage::internal::LoadLE64(p))});
        p += 8;
      }
      auto s = by_id.find(id);
      if (s == by_id.end()) {
        return absl::DataLossError(absl::StrCat("ingest log record ", seq,
                                                " names unknown series ", id));
      }
      if (seq <= s->second->sealed_seq) continue;  // already in chunks
      AppendToHeads(s->second, samples.data(), samples.size(), seq, now);
    }
    last = seq;
  }
  NIMBUS_RETURN_IF_ERROR(it->status());
  // Sequences only rise: past the newest record, every seal, and the
  // numbering recorded when the log was last trimmed.
  for (auto& [id, s] : by_id) last = std::max(last, s->sealed_seq);
  NIMBUS_ASSIGN_OR_RETURN(std::optional<std::string> recorded,
                          store->Get(Column::kMeta, kLogSequenceKey));
  if (recorded.has_value() && recorded->size() == 8) {
    last = std::max(last, storage::GetBigEndian64(recorded->data()));
  }
  applied_seq_ = last;
  absl::MutexLock q(&queue_mu_);
  next_seq_ = last + 1;
  completed_seq_ = last;
  return absl::OkStatus();
}

void Engine::Impl::AppendToHeads(Series* s, const Sample* samples, size_t n,
                                 uint64_t seq, int64_t now) {
  if (n == 0) return;
  if (s->head.empty()) {
    s->head_first_seq = seq;
    s->head_first_wall_ms = now;
  }
  s->head_last_seq = seq;
  for (size_t i = 0; i < n; ++i)
    s->head.Append(samples[i].ts_ms, samples[i].value);
  s->last_write_ms.store(now, std::memory_order_relaxed);
  head_points.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
}

absl::StatusOr<std::vector<Series*>> Engine::Impl::Resolve(
    std::vector<SeriesWrite>& writes) {
  std::vector<Series*> out(writes.size(), nullptr);
  // Encodings: the caller's, or made here into `made` (which is sized up
  // front, so views into it stay valid).
  std::vector<std::string> made(writes.size());
  std::vector<absl::string_view> encoded(writes.size());
  for (size_t i = 0; i < writes.size(); ++i) {
    if (writes[i].encoded_key.empty()) {
      made[i] = writes[i].key.Encode();
      encoded[i] = made[i];
    } else {
      encoded[i] = writes[i].encoded_key;
    }
  }
  bool missing = false;
  {
    absl::ReaderMutexLock l(&index_mu_);
    for (size_t i = 0; i < writes.size(); ++i) {
      auto f = by_key_.find(encoded[i]);
      if (f != by_key_.end()) {
        out[i] = f->second;
      } else {
        missing = true;
      }
    }
  }
  if (!missing) return out;
  // New series are written durably before any log record names them.
  absl::MutexLock l(&index_mu_);
  storage::WriteBatch batch;
  std::vector<std::pair<size_t, Series*>> created;
  absl::flat_hash_map<absl::string_view, Series*> fresh;
  for (size_t i = 0; i < writes.size(); ++i) {
    if (out[i] != nullptr) continue;
    auto f = by_key_.find(encoded[i]);
    if (f != by_key_.end()) {
      out[i] = f->second;
      continue;
    }
    auto g = fresh.find(encoded[i]);
    if (g != fresh.end()) {
      out[i] = g->second;
      continue;
    }
    Series& s = series_.emplace_back();
    s.id = next_id_++;
    s.encoded = std::string(encoded[i]);
    std::string id_be;
    storage::PutBigEndian64(&id_be, s.id);
    batch.Put(Column::kSeries, SeriesKeyIndexKey(s.encoded), id_be);
    fresh[s.encoded] = &s;
    out[i] = &s;
  }
  absl::Status st = store->Write(batch);
  if (!st.ok()) {
    // Forget the series that could not be persisted: they are the newest.
    for (size_t i = 0; i < fresh.size(); ++i) series_.pop_back();
    next_id_ -= fresh.size();
    return st;
  }
  for (auto& [enc, s] : fresh) {
    by_key_[enc] = s;
    by_id_[s->id] = s;
  }
  return out;
}

void Engine::Impl::EncodeLogRecord(const std::vector<Writer*>& group,
                                   std::string* out) {
  size_t entries = 0;
  for (const Writer* w : group) {
    for (const Item& it : w->items) entries += !it.samples->empty();
  }
  PutVarint64(out, entries);
  for (const Writer* w : group) {
    for (const Item& it : w->items) {
      if (it.samples->empty()) continue;
      PutVarint64(out, it.series->id);
      PutVarint64(out, it.samples->size());
      int64_t prev = 0;
      for (const Sample& s : *it.samples) {
        // Differences wrap modulo 2^64, like the head buffer's.
        PutVarint64(
            out,
            ZigZagEncode(static_cast<int64_t>(static_cast<uint64_t>(s.ts_ms) -
                                              static_cast<uint64_t>(prev))));
        prev = s.ts_ms;
        PutFixed64(out, std::bit_cast<uint64_t>(s.value));
      }
    }
  }
}

absl::Status Engine::Impl::Commit(Writer* w) {
  absl::MutexLock l(&queue_mu_);
  writers_.push_back(w);
  while (!w->done && w != writers_.front()) w->cv.Wait(&queue_mu_);
  if (w->done) return w->status;

  // Leader: take everyone queued now (bounded) as one group.
  constexpr size_t kMaxGroup = 64;
  const size_t n = std::min(writers_.size(), kMaxGroup);
  const std::vector<Writer*> group(writers_.begin(), writers_.begin() + n);
  const uint64_t seq = next_seq_++;
  const int64_t late_before = late_watermark_;
  absl::Status status;
  {
    queue_mu_.Unlock();
    storage::WriteBatch batch;
    std::string record;
    EncodeLogRecord(group, &record);
    batch.Put(Column::kIngestLog, storage::EncodeLogKey(seq), record);
    // Late points: their hours are rolled up again. Written with the points,
    // so that a crash cannot keep one without the other.
    absl::flat_hash_set<std::pair<uint64_t, int64_t>> dirty;
    std::vector<DirtyHour> dirty_hours;
    for (const Writer* x : group) {
      for (const Item& it : x->items) {
        for (const Sample& p : *it.samples) {
          if (p.ts_ms < late_before) {
            dirty.insert({it.series->id, FloorTo(p.ts_ms, kHourMs)});
          }
        }
      }
      for (const auto& [series, st] : x->sets) {
        if (st->ts_ms < late_before) {
          dirty.insert({series->id, FloorTo(st->ts_ms, kHourMs)});
        }
      }
    }
    if (!dirty.empty()) {
      for (const auto& [id, hour] : dirty) dirty_hours.push_back({id, hour});
      batch.Put(Column::kRollupDirty, storage::EncodeLogKey(seq),
                EncodeDirtyRecord(dirty_hours));
    }
    uint32_t ordinal = 0;
    for (const Writer* x : group) {
      for (const auto& [series, st] : x->sets) {
        std::string v;
        PutFixed64(&v, std::bit_cast<uint64_t>(st->sample_count));
        PutFixed64(&v, std::bit_cast<uint64_t>(st->sum));
        PutFixed64(&v, std::bit_cast<uint64_t>(st->minimum));
        PutFixed64(&v, std::bit_cast<uint64_t>(st->maximum));
        batch.Put(Column::kStatSets,
                  StatSetKey(series->id, st->ts_ms, seq, ordinal++), v);
      }
    }
    status = store->Write(batch);
    std::vector<Series*> to_seal;
    if (status.ok() && !dirty_hours.empty()) {
      // Before any point of the commit is acknowledged: from here on,
      // queries read these hours raw until a pass rolls them up again.
      absl::MutexLock d(&dirty_mu_);
      for (const DirtyHour& h : dirty_hours)
        dirty_[h.series_id][h.hour_ms] = seq;
    }
    if (status.ok()) {
      const int64_t now = clock.NowMs();
      absl::MutexLock h(&heads_mu_);
      for (const Writer* x : group) {
        for (const auto& [series, st] : x->sets) {
          series->last_write_ms.store(now, std::memory_order_relaxed);
        }
        for (const Item& it : x->items) {
          AppendToHeads(it.series, it.samples->data(), it.samples->size(), seq,
                        now);
          points_accepted.fetch_add(static_cast<int64_t>(it.samples->size()),
                                    std::memory_order_relaxed);
          if (it.series->head.size() >= options.head_seal_points &&
              !it.series->seal_queued) {
            it.series->seal_queued = true;
            to_seal.push_back(it.series);
          }
        }
      }
      applied_seq_ = seq;
    }
    if (!to_seal.empty()) QueueSeals(std::move(to_seal));
    queue_mu_.Lock();
    completed_seq_ = seq;
  }
  for (size_t g = 0; g < n; ++g) {
    Writer* x = writers_.front();
    writers_.pop_front();
    if (x != w) {
      x->status = status;
      x->done = true;
      x->cv.Signal();
    }
  }
  if (!writers_.empty()) writers_.front()->cv.Signal();
  return status;
}

void Engine::Impl::QueueSeals(std::vector<Series*> full) {
  if (!options.background_sealing) {
    // A failed seal loses nothing: the points stay in the head and the log,
    // and the next full head or aged sweep tries again.
    absl::Status s = Seal(full);
    (void)s;
    return;
  }
  absl::MutexLock l(&seal_queue_mu_);
  seal_queue_.insert(seal_queue_.end(), full.begin(), full.end());
}

void Engine::Impl::SealLoop() {
  std::vector<Series*> batch;
  while (true) {
    {
      absl::MutexLock l(&seal_queue_mu_);
      seal_queue_mu_.Await(absl::Condition(
          +[](Impl* i) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return i->seal_stopping_ || !i->seal_queue_.empty();
          },
          this));
      if (seal_stopping_) return;  // what is unsealed is in the log
      batch.swap(seal_queue_);
    }
    absl::Status s = Seal(batch);
    (void)s;  // retried by the aged sweep
    batch.clear();
  }
}

absl::Status Engine::Impl::Seal(const std::vector<Series*>& to_seal_in) {
  absl::MutexLock one_sealer(&seal_mu_);
  // A series can be listed twice (queued for the sealer, sealed by the aged
  // sweep meanwhile, queued again); sealing it twice in one pass would drop
  // its head's points twice.
  std::vector<Series*> to_seal = to_seal_in;
  std::sort(to_seal.begin(), to_seal.end());
  to_seal.erase(std::unique(to_seal.begin(), to_seal.end()), to_seal.end());
  storage::WriteBatch batch;
  struct Sealed {
    Series* series;
    uint64_t seq;
    size_t count;
  };
  std::vector<Sealed> sealed;
  std::vector<Sample> pts;
  std::vector<int64_t> ts;
  std::vector<double> vs;
  std::string chunk;
  int64_t chunks = 0;
  for (Series* s : to_seal) {
    uint64_t seq;
    {
      // Appends happen under heads_mu_ in log order, so every point in the
      // head now has a sequence <= head_last_seq and every later one >.
      absl::MutexLock h(&heads_mu_);
      s->seal_queued = false;
      if (s->head.empty()) continue;
      pts.clear();
      s->head.DecodeTo(&pts);
      seq = s->head_last_seq;
    }
    std::stable_sort(
        pts.begin(), pts.end(),
        [](const Sample& a, const Sample& b) { return a.ts_ms < b.ts_ms; });
    const size_t head_count = pts.size();
    // Extend the series' newest chunk if the new points belong at its end
    // and the two fit in one chunk.
    {
      auto it = store->NewIterator(Column::kPoints);
      it->SeekForPrev(storage::ChunkKeyPrefix(s->id, INT64_MAX) +
                      std::string(12, '\xff'));
      storage::ChunkKey last;
      if (it->Valid() && storage::DecodeChunkKey(it->key(), &last) &&
          last.series_id == s->id && pts.front().ts_ms >= last.first_ts_ms &&
          pts.back().ts_ms - last.first_ts_ms <= storage::kMaxChunkSpanMs) {
        std::vector<int64_t> old_ts;
        std::vector<double> old_vs;
        if (storage::DecodeChunk(it->value(), &old_ts, &old_vs).ok() &&
            old_ts.size() + pts.size() <= kTargetChunkPoints) {
          std::vector<Sample> merged;
          merged.reserve(old_ts.size() + pts.size());
          for (size_t i = 0; i < old_ts.size(); ++i)
            merged.push_back({old_ts[i], old_vs[i]});
          merged.insert(merged.end(), pts.begin(), pts.end());
          std::stable_sort(merged.begin(), merged.end(),
                           [](const Sample& a, const Sample& b) {
                             return a.ts_ms < b.ts_ms;
                           });
          batch.Delete(Column::kPoints, it->key());
          pts.swap(merged);
        }
      }
      NIMBUS_RETURN_IF_ERROR(it->status());
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
      // Sorted and bounded above, so encoding cannot fail.
      absl::Status encoded = storage::EncodeChunk(ts, vs, &chunk);
      if (!encoded.ok()) return encoded;
      batch.Put(Column::kPoints,
                storage::EncodeChunkKey({s->id, ts.front(), seq, part++}),
                chunk);
      ++chunks;
      begin = end;
    }
    std::string seq_be;
    storage::PutBigEndian64(&seq_be, seq);
    batch.Put(Column::kSeries, SeriesIdKey('s', s->id), seq_be);
    sealed.push_back({s, seq, head_count});
  }
  if (sealed.empty()) return absl::OkStatus();
  absl::MutexLock exclusive(&chunks_mu_);
  NIMBUS_RETURN_IF_ERROR(store->Write(batch));
  chunks_sealed.fetch_add(chunks, std::memory_order_relaxed);
  if (options.after_seal_write_for_testing) {
    options.after_seal_write_for_testing();
  }
  const int64_t now = clock.NowMs();
  absl::MutexLock h(&heads_mu_);
  for (const Sealed& x : sealed) {
    Series* s = x.series;
    head_points.fetch_sub(static_cast<int64_t>(x.count),
                          std::memory_order_relaxed);
    s->head.DropFront(x.count);
    s->sealed_seq = x.seq;
    if (s->head.empty()) {
      s->head_first_seq = 0;
    } else {
      // Points appended while sealing: their records are all > x.seq.
      s->head_first_seq = x.seq + 1;
      s->head_first_wall_ms = now;
    }
  }
  return absl::OkStatus();
}

absl::Status Engine::Impl::SealAgedAndTrim(int64_t max_age_ms) {
  const int64_t cutoff = clock.NowMs() - max_age_ms;
  std::vector<Series*> aged;
  {
    absl::ReaderMutexLock l(&index_mu_);
    absl::MutexLock h(&heads_mu_);
    for (Series& s : series_) {
      if (!s.head.empty() && s.head_first_wall_ms <= cutoff) aged.push_back(&s);
    }
  }
  NIMBUS_RETURN_IF_ERROR(Seal(aged));
  uint64_t keep_from;
  {
    absl::ReaderMutexLock l(&index_mu_);
    absl::MutexLock h(&heads_mu_);
    keep_from = applied_seq_ + 1;
    for (Series& s : series_) {
      if (!s.head.empty()) keep_from = std::min(keep_from, s.head_first_seq);
    }
  }
  storage::WriteBatch batch;
  // When each series was last written, for ListMetrics' recently-active
  // filter across restarts: written when it changed, at most every sweep.
  {
    absl::ReaderMutexLock l(&index_mu_);
    for (Series& s : series_) {
      const int64_t w = s.last_write_ms.load(std::memory_order_relaxed);
      if (w == s.persisted_write_ms) continue;
      std::string v;
      storage::PutBigEndian64(&v, static_cast<uint64_t>(w));
      batch.Put(Column::kSeries, SeriesIdKey('a', s.id), v);
      s.persisted_write_ms = w;
    }
  }
  if (keep_from > trimmed_below_) {
    batch.DeleteRange(Column::kIngestLog, storage::EncodeLogKey(0),
                      storage::EncodeLogKey(keep_from));
    // The log may now be empty: record how far numbering got, so that a
    // restart continues above it (a reused sequence would look already
    // sealed to the next replay).
    std::string seq_be;
    storage::PutBigEndian64(&seq_be, keep_from - 1);
    batch.Put(Column::kMeta, kLogSequenceKey, seq_be);
  }
  if (batch.Count() == 0) return absl::OkStatus();
  NIMBUS_RETURN_IF_ERROR(store->Write(batch));
  trimmed_below_ = std::max(trimmed_below_, keep_from);
  return absl::OkStatus();
}

void Engine::Impl::SweepLoop() {
  absl::MutexLock l(&sweep_mu_);
  while (!stopping_) {
    sweep_mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                               absl::Milliseconds(options.sweep_interval_ms));
    if (stopping_) break;
    sweep_mu_.Unlock();
    absl::Status s = SealAgedAndTrim(options.head_max_age_ms);
    (void)s;  // retried at the next sweep
    sweep_mu_.Lock();
  }
}

std::vector<Series*> Engine::Impl::Match(const SeriesKey& key) {
  std::vector<Series*> out;
  absl::ReaderMutexLock l(&index_mu_);
  if (!key.unit.empty()) {
    auto f = by_key_.find(key.Encode());
    if (f != by_key_.end()) out.push_back(f->second);
    return out;
  }
  // Any unit: look the key up under each unit name.
  SeriesKey k = key;
  for (absl::string_view unit : kUnitNames) {
    k.unit = std::string(unit);
    auto f = by_key_.find(k.Encode());
    if (f != by_key_.end()) out.push_back(f->second);
  }
  return out;
}

absl::Status Engine::Impl::ReadSeries(
    Series* s, int64_t start_ms, int64_t end_ms,
    absl::FunctionRef<void(int64_t, double)> sample,
    absl::FunctionRef<void(int64_t, double, double, double, double)> set) {
  std::vector<Sample> head;
  uint64_t sealed;
  std::unique_ptr<storage::StoreIterator> it, sit;
  {
    absl::ReaderMutexLock consistent(&chunks_mu_);
    {
      absl::MutexLock h(&heads_mu_);
      s->head.DecodeTo(&head);
      sealed = s->sealed_seq;
    }
    // Iterators read the store as of their creation.
    it = store->NewIterator(Column::kPoints);
    sit = store->NewIterator(Column::kStatSets);
  }
  for (const Sample& x : head) {
    if (x.ts_ms >= start_ms && x.ts_ms < end_ms) sample(x.ts_ms, x.value);
  }
  for (it->Seek(
           storage::ChunkKeyPrefix(s->id, start_ms - storage::kMaxChunkSpanMs));
       it->Valid(); it->Next()) {
    storage::ChunkKey k;
    if (!storage::DecodeChunkKey(it->key(), &k) || k.series_id != s->id ||
        k.first_ts_ms >= end_ms) {
      break;
    }
    if (k.seq > sealed) continue;  // still in the head we copied
    storage::ChunkIterator ci(it->value());
    for (; ci.Valid(); ci.Next()) {
      const int64_t ts = ci.timestamp_ms();
      if (ts >= start_ms && ts < end_ms) sample(ts, ci.value());
    }
    if (!ci.status().ok()) {
      return absl::DataLossError(absl::StrCat("series ", s->id, " chunk at ",
                                              k.first_ts_ms, ": ",
                                              ci.status().message()));
    }
  }
  NIMBUS_RETURN_IF_ERROR(it->status());
  std::string begin;
  storage::PutBigEndian64(&begin, s->id);
  storage::PutBigEndian64(&begin, storage::OrderedFromSigned(start_ms));
  for (sit->Seek(begin); sit->Valid(); sit->Next()) {
    const absl::string_view k = sit->key();
    const absl::string_view v = sit->value();
    if (k.size() != 28 || storage::GetBigEndian64(k.data()) != s->id) break;
    const int64_t ts =
        storage::SignedFromOrdered(storage::GetBigEndian64(k.data() + 8));
    if (ts >= end_ms) break;
    if (v.size() != 32) {
      return absl::DataLossError("statistic set: value is not 32 bytes");
    }
    double f[4];
    for (int i = 0; i < 4; ++i) {
      f[i] =
          std::bit_cast<double>(storage::internal::LoadLE64(v.data() + 8 * i));
    }
    set(ts, f[0], f[1], f[2], f[3]);
  }
  return sit->status();
}

absl::Status Engine::Impl::LoadDirty() {
  auto it = store->NewIterator(Column::kRollupDirty);
  std::vector<DirtyHour> hours;
  uint64_t last = 0;
  {
    absl::MutexLock d(&dirty_mu_);
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      uint64_t seq;
      hours.clear();
      // An unreadable record is left to the next pass, which drops and
      // counts it.
      if (!storage::DecodeLogKey(it->key(), &seq) ||
          !DecodeDirtyRecord(it->value(), &hours).ok()) {
        continue;
      }
      last = std::max(last, seq);
      for (const DirtyHour& h : hours) dirty_[h.series_id][h.hour_ms] = seq;
    }
    NIMBUS_RETURN_IF_ERROR(it->status());
  }
  // A pass's retry record takes a sequence just below its boundary, which a
  // commit whose write failed may have left unused: numbering resumes above
  // it, so that no commit's record can replace it.
  absl::MutexLock q(&queue_mu_);
  if (last >= next_seq_) {
    next_seq_ = last + 1;
    completed_seq_ = last;
  }
  return absl::OkStatus();
}

std::vector<int64_t> Engine::Impl::DirtyHours(uint64_t series_id,
                                              int64_t start_ms,
                                              int64_t end_ms) {
  std::vector<int64_t> out;
  absl::MutexLock d(&dirty_mu_);
  auto f = dirty_.find(series_id);
  if (f == dirty_.end()) return out;
  for (auto h = f->second.lower_bound(FloorTo(start_ms, kHourMs));
       h != f->second.end() && h->first < end_ms; ++h) {
    out.push_back(h->first);
  }
  return out;
}

void Engine::Impl::DirtyHandled(uint64_t boundary,
                                const std::vector<DirtyHour>& retry) {
  absl::MutexLock d(&dirty_mu_);
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

uint64_t Engine::Impl::RaiseLateWatermark(int64_t watermark_ms) {
  absl::MutexLock l(&queue_mu_);
  late_watermark_ = std::max(late_watermark_, watermark_ms);
  const uint64_t boundary = next_seq_;
  // Leaders run one at a time in sequence order: once the commit before the
  // boundary is complete, all are.
  struct Arg {
    Impl* impl;
    uint64_t boundary;
  } arg{this, boundary};
  queue_mu_.Await(absl::Condition(
      +[](Arg* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return a->impl->completed_seq_ + 1 >= a->boundary;
      },
      &arg));
  return boundary;
}

std::vector<uint64_t> Engine::Impl::SeriesWithPointsSince(int64_t start_ms) {
  // A point is at most kMaxFutureMs ahead of the clock when written, so a
  // series last written before start - kMaxFutureMs has none at or after
  // start. Last-write times are exact for writes since the engine opened;
  // those from before are what the sweeper last persisted, which a crash
  // leaves behind by up to a sweep (or entirely, for a new series): while
  // the range could hold points written before the open, every series is a
  // candidate.
  const int64_t since = start_ms - kMaxFutureMs;
  const bool all = since <= opened_ms;
  std::vector<uint64_t> out;
  absl::ReaderMutexLock l(&index_mu_);
  for (const Series& s : series_) {
    if (all || s.last_write_ms.load(std::memory_order_relaxed) >= since) {
      out.push_back(s.id);
    }
  }
  return out;
}

absl::Status Engine::Impl::ReadRaw(
    uint64_t series_id, int64_t start_ms, int64_t end_ms,
    absl::FunctionRef<void(int64_t, double)> sample,
    absl::FunctionRef<void(int64_t, double, double, double, double)> set) {
  Series* s;
  {
    absl::ReaderMutexLock l(&index_mu_);
    auto f = by_id_.find(series_id);
    if (f == by_id_.end()) {
      return absl::DataLossError(
          absl::StrCat("rollups name unknown series ", series_id));
    }
    s = f->second;
  }
  return ReadSeries(s, start_ms, end_ms, sample, set);
}

absl::Status Engine::Impl::RunRollupsUntilCaughtUp() {
  absl::MutexLock one(&rollup_mu_);
  // A catch-up of many passes stops at a pass boundary when the engine
  // closes; the next open resumes it.
  while (!closing_.load(std::memory_order_relaxed)) {
    NIMBUS_ASSIGN_OR_RETURN(bool behind, rollups->RunPass());
    if (!behind) return absl::OkStatus();
  }
  return absl::OkStatus();
}

void Engine::Impl::RollupLoop() {
  absl::MutexLock l(&sweep_mu_);
  while (!stopping_) {
    sweep_mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                               absl::Milliseconds(options.rollup_interval_ms));
    if (stopping_) break;
    sweep_mu_.Unlock();
    absl::Status s = RunRollupsUntilCaughtUp();
    (void)s;  // the next pass does it again
    sweep_mu_.Lock();
  }
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() {
  impl_->closing_.store(true);
  {
    absl::MutexLock l(&impl_->sweep_mu_);
    impl_->stopping_ = true;
  }
  if (impl_->sweeper_.joinable()) impl_->sweeper_.join();
  if (impl_->roller_.joinable()) impl_->roller_.join();
  {
    absl::MutexLock l(&impl_->seal_queue_mu_);
    impl_->seal_stopping_ = true;
  }
  if (impl_->sealer_.joinable()) impl_->sealer_.join();
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(EngineOptions options,
                                                     Clock& clock) {
  if (options.raw_retention_ms != 0 &&
      options.raw_retention_ms < kMaxPastMs + 3 * kHourMs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "raw retention: ", options.raw_retention_ms,
        " ms is shorter than 14 days + 3 hours; points are accepted 14 days "
        "back and a late point's hour is rolled up again from raw points"));
  }
  options.reach.raw_ms = options.raw_retention_ms == 0
                             ? std::numeric_limits<int64_t>::max()
                             : options.raw_retention_ms;
  auto impl = std::make_unique<Impl>(std::move(options), clock);
  impl->opened_ms = clock.NowMs();
  storage::StoreOptions so;
  so.path = impl->options.data_dir;
  so.sync = impl->options.sync;
  so.points_retention_ms = impl->options.raw_retention_ms;
  so.stat_sets_retention_ms = impl->options.raw_retention_ms;
  so.rollup_60_retention_ms = impl->options.reach.tier_ms[0];
  so.rollup_300_retention_ms = impl->options.reach.tier_ms[1];
  so.rollup_3600_retention_ms = impl->options.reach.tier_ms[2];
  Clock* c = &clock;
  so.now_ms = [c] { return c->NowMs(); };
  NIMBUS_ASSIGN_OR_RETURN(impl->store, storage::Store::Open(std::move(so)));
  NIMBUS_RETURN_IF_ERROR(impl->Load());
  NIMBUS_RETURN_IF_ERROR(impl->Replay());
  NIMBUS_RETURN_IF_ERROR(impl->LoadDirty());
  RollupOptions ro = impl->options.rollup;
  ro.raw_retention_ms = impl->options.raw_retention_ms;
  if (impl->options.raw_retention_ms != 0) {
    // Nothing older is stored.
    ro.initial_lookback_ms =
        std::min(ro.initial_lookback_ms, impl->options.raw_retention_ms);
  }
  {
    // A new store has nothing to catch up on (points written later with
    // older timestamps are late, and marked); only a store that predates
    // rollups needs the look back, once.
    absl::ReaderMutexLock l(&impl->index_mu_);
    if (impl->series_.empty()) ro.initial_lookback_ms = 0;
  }
  impl->rollups = std::make_unique<RollupScheduler>(*impl, *impl->store, clock,
                                                    std::move(ro));
  NIMBUS_ASSIGN_OR_RETURN(const int64_t watermark, impl->rollups->Load());
  {
    absl::MutexLock q(&impl->queue_mu_);
    impl->late_watermark_ = watermark;
  }
  Impl* raw = impl.get();
  if (raw->options.background_sealing) {
    raw->sealer_ = std::thread([raw] { raw->SealLoop(); });
  }
  if (raw->options.sweep_interval_ms > 0) {
    raw->sweeper_ = std::thread([raw] { raw->SweepLoop(); });
  }
  if (raw->options.rollup_interval_ms > 0) {
    raw->roller_ = std::thread([raw] { raw->RollupLoop(); });
  }
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

absl::Status Engine::Write(std::vector<SeriesWrite>& writes) {
  NIMBUS_ASSIGN_OR_RETURN(std::vector<Series*> series, impl_->Resolve(writes));
  Impl::Writer w;
  for (size_t i = 0; i < writes.size(); ++i) {
    if (!writes[i].samples.empty()) {
      w.items.push_back({series[i], &writes[i].samples});
    }
    for (const StatisticSet& st : writes[i].statistic_sets) {
      w.sets.push_back({series[i], &st});
    }
  }
  return impl_->Commit(&w);
}

absl::StatusOr<std::vector<StatisticsDatapoint>> Engine::GetStatistics(
    const StatisticsQuery& q) {
  if (q.period_ms <= 0) {
    return absl::InvalidArgumentError("period: must be positive");
  }
  if (q.end_ms <= q.start_ms) {
    return absl::InvalidArgumentError("end_time: must be after start_time");
  }
  for (int64_t t : {q.start_ms, q.end_ms, q.requested_start_ms, q.period_ms}) {
    if (t < -kMaxQueryTimeMs || t > kMaxQueryTimeMs) {
      return absl::InvalidArgumentError(absl::StrCat(
          "start_time/end_time/period: ", t, " ms is beyond +-2^53 ms"));
    }
  }
  const bool want_values = !q.percentiles.empty() || !q.extended.empty();
  const QueryPlan plan = PlanStatisticsQuery(
      impl_->clock.NowMs(), q.start_ms, q.end_ms, q.period_ms, want_values,
      impl_->rollups->watermark(), impl_->options.reach,
      q.requested_start_ms == 0 ? q.start_ms : q.requested_start_ms);
  if (plan.empty) return std::vector<StatisticsDatapoint>();
  // Percentiles are exact over raw values, and come from sketches where
  // rollups serve (then raw values of the newest periods join the sketch).
  const bool sketches = want_values && plan.tier >= 0;
  struct Acc {
    double count = 0, sum = 0;
    double min = std::numeric_limits<double>::infinity();
    double max = -std::numeric_limits<double>::infinity();
    std::vector<Weighted> values;  // exact percentiles
    QuantileSketch sketch;         // approximate percentiles
    bool inexact = false;  // a statistic set that percentiles cannot use
    int unit = -1;         // index into `units`
    bool mixed_units = false;
  };
  // Periods by index from the start: a vector when there are few (the usual
  // case; an index costs nothing), a map otherwise. Unsigned arithmetic: the
  // range may span more than INT64_MAX.
  const uint64_t periods = (static_cast<uint64_t>(q.end_ms) -
                            static_cast<uint64_t>(q.start_ms) - 1) /
                               static_cast<uint64_t>(q.period_ms) +
                           1;
  constexpr uint64_t kMaxDense = 4096;
  std::vector<Acc> dense(periods <= kMaxDense ? periods : 0);
  absl::flat_hash_map<uint64_t, Acc> sparse;
  std::vector<std::string> units;  // of the series read, in order
  int unit = -1;                   // of the series being read
  // The period holding ts, with count, sum, minimum and maximum added.
  auto add = [&](int64_t ts, double count, double sum, double mn,
                 double mx) -> Acc* {
    if (ts < q.start_ms || ts >= q.end_ms) return nullptr;
    const uint64_t k =
        (static_cast<uint64_t>(ts) - static_cast<uint64_t>(q.start_ms)) /
        static_cast<uint64_t>(q.period_ms);
    Acc& a = dense.empty() ? sparse[k] : dense[k];
    a.count += count;
    a.sum += sum;
    a.min = std::min(a.min, mn);
    a.max = std::max(a.max, mx);
    if (a.unit < 0) {
      a.unit = unit;
    } else if (a.unit != unit && units[a.unit] != units[unit]) {
      a.mixed_units = true;
    }
    return &a;
  };
  auto sample = [&](int64_t ts, double v) {
    Acc* a = add(ts, 1, v, v, v);
    if (a == nullptr || !want_values) return;
    if (sketches) {
      a->sketch.Add(v);
    } else {
      a->values.push_back({v, 1});
    }
  };
  auto set = [&](int64_t ts, double count, double sum, double mn, double mx) {
    Acc* a = add(ts, count, sum, mn, mx);
    if (a == nullptr || !want_values) return;
    // A set whose samples are all equal joins percentiles with its count as
    // weight; any other leaves the period without percentiles, as in
    // CloudWatch (SEMANTICS.md).
    if (!IsExactSet(count, sum, mn, mx)) {
      a->inexact = true;
    } else if (sketches) {
      a->sketch.Add(mn, count);
    } else {
      a->values.push_back({mn, count});
    }
  };
  int64_t block_hour = 0;            // of the rollup block being read
  std::vector<int64_t> dirty_hours;  // of the series being read, ascending
  for (Series* s : impl_->Match(q.key)) {
    units.push_back(s->Key().unit);
    unit = static_cast<int>(units.size()) - 1;
    if (plan.tier >= 0 && plan.rollup_end_ms > q.start_ms) {
      // Hours with late points not rolled up again yet are read raw, so a
      // query never misses an acknowledged point. Marks are read before the
      // blocks: a pass writes its blocks before it deletes the marks.
      dirty_hours = impl_->DirtyHours(s->id, q.start_ms, plan.rollup_end_ms);
      auto it = impl_->store->NewIterator(kTierColumns[plan.tier]);
      const int64_t tier_ms = kTierPeriodsMs[plan.tier];
      auto record = [&](int index, PeriodStatistics& r) {
        const int64_t start = block_hour + index * tier_ms;
        if (start < q.start_ms || start >= plan.rollup_end_ms) return;
        Acc* a = add(start, r.count, r.sum, r.minimum, r.maximum);
        if (a == nullptr || !sketches) return;
        if (r.percentiles_known) {
          a->sketch.Merge(r.sketch);
        } else {
          a->inexact = true;
        }
      };
      for (it->Seek(
               storage::EncodeRollupKey(s->id, FloorTo(q.start_ms, kHourMs)));
           it->Valid(); it->Next()) {
        uint64_t id;
        if (!storage::DecodeRollupKey(it->key(), &id, &block_hour) ||
            id != s->id || block_hour >= plan.rollup_end_ms) {
          break;
        }
        if (std::binary_search(dirty_hours.begin(), dirty_hours.end(),
                               block_hour)) {
          continue;
        }
        NIMBUS_RETURN_IF_ERROR(DecodeRollupBlock(
            it->value(), kTierSlots[plan.tier], sketches, record));
      }
      NIMBUS_RETURN_IF_ERROR(it->status());
      for (int64_t hour : dirty_hours) {
        NIMBUS_RETURN_IF_ERROR(impl_->ReadSeries(
            s, std::max(q.start_ms, hour),
            std::min(plan.rollup_end_ms, hour + kHourMs), sample, set));
      }
    }
    if (plan.rollup_end_ms < q.end_ms) {
      NIMBUS_RETURN_IF_ERROR(impl_->ReadSeries(
          s, std::max(q.start_ms, plan.rollup_end_ms), q.end_ms, sample, set));
    }
  }
  std::vector<uint64_t> keys;
  if (dense.empty()) {
    keys.reserve(sparse.size());
    for (auto& [k, a] : sparse) keys.push_back(k);
    std::sort(keys.begin(), keys.end());
  } else {
    for (uint64_t k = 0; k < dense.size(); ++k) {
      if (dense[k].count > 0) keys.push_back(k);
    }
  }
  std::vector<StatisticsDatapoint> out;
  out.reserve(keys.size());
  std::vector<Weighted> buckets;
  for (uint64_t k : keys) {
    Acc& a = dense.empty() ? sparse[k] : dense[k];
    if (a.count <= 0) continue;
    StatisticsDatapoint d;
    d.start_ms = static_cast<int64_t>(static_cast<uint64_t>(q.start_ms) +
                                      k * static_cast<uint64_t>(q.period_ms));
    d.sample_count = a.count;
    d.sum = a.sum;
    d.minimum = a.min;
    d.maximum = a.max;
    d.unit = a.mixed_units ? "None" : units[a.unit];
    constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
    if (sketches) {
      buckets.clear();
      if (!q.extended.empty()) a.sketch.AppendBuckets(&buckets);
      for (double p : q.percentiles) {
        // Within the period's exact minimum and maximum: a folded low
        // bucket's value may lie outside them.
        d.percentiles.push_back(
            a.inexact ? kNaN
                      : std::clamp(a.sketch.Quantile(p / 100), a.min, a.max));
      }
      for (const ExtendedStatistic& e : q.extended) {
        d.extended.push_back(a.inexact ? kNaN
                                       : EvaluateExtendedStatistic(e, buckets));
      }
    } else {
      std::sort(a.values.begin(), a.values.end(),
                [](const Weighted& x, const Weighted& y) {
                  return x.value < y.value;
                });
      for (double p : q.percentiles) {
        d.percentiles.push_back(a.inexact ? kNaN : NearestRank(a.values, p));
      }
      for (const ExtendedStatistic& e : q.extended) {
        d.extended.push_back(
            a.inexact ? kNaN : EvaluateExtendedStatistic(e, a.values));
      }
    }
    out.push_back(std::move(d));
  }
  return out;
}

absl::StatusOr<ListResult> Engine::ListSeries(const ListQuery& q) {
  std::string after;
  if (!q.next_token.empty() &&
      !absl::WebSafeBase64Unescape(q.next_token, &after)) {
    return absl::InvalidArgumentError(
        "next_token: not a token this server gave out");
  }
  const int64_t active_since = impl_->clock.NowMs() - kRecentlyActiveMs;
  struct Match {
    const Series* series;
    SeriesKey key;
  };
  std::vector<Match> matched;
  {
    absl::ReaderMutexLock l(&impl_->index_mu_);
    for (const Series& s : impl_->series_) {
      if (q.recently_active && s.last_write_ms.load() < active_since) continue;
      if (!after.empty() && s.encoded <= after) continue;
      SeriesKey key = s.Key();
      if (!q.namespace_name.empty() && key.namespace_name != q.namespace_name)
        continue;
      if (!q.metric_name.empty() && key.metric_name != q.metric_name) continue;
      bool ok = true;
      for (const auto& f : q.dimensions) {
        auto d =
            std::find_if(key.dimensions.begin(), key.dimensions.end(),
                         [&](const Dimension& x) { return x.name == f.name; });
        if (d == key.dimensions.end() || (f.value && d->value != *f.value)) {
          ok = false;
          break;
        }
      }
      if (ok) matched.push_back({&s, std::move(key)});
    }
  }
  std::sort(matched.begin(), matched.end(), [](const Match& a, const Match& b) {
    return a.series->encoded < b.series->encoded;
  });
  ListResult r;
  const size_t n = std::min(matched.size(), q.page_size);
  for (size_t i = 0; i < n; ++i) r.series.push_back(std::move(matched[i].key));
  if (matched.size() > n) {
    r.next_token = absl::WebSafeBase64Escape(matched[n - 1].series->encoded);
  }
  return r;
}

EngineStats Engine::Stats() {
  EngineStats s;
  s.points_accepted = impl_->points_accepted.load();
  s.chunks_sealed = impl_->chunks_sealed.load();
  s.head_points = impl_->head_points.load();
  {
    absl::ReaderMutexLock l(&impl_->index_mu_);
    s.series_count = static_cast<int64_t>(impl_->series_.size());
  }
  s.bytes_on_disk = impl_->store->BytesOnDisk();
  s.memtable_bytes = impl_->store->MemtableBytes();
  s.rollup_watermark_ms = impl_->rollups->watermark();
  s.rollups = impl_->rollups->stats();
  return s;
}

absl::Status Engine::RunRollups() { return impl_->RunRollupsUntilCaughtUp(); }

absl::Status Engine::Compact() { return impl_->store->CompactAll(); }

absl::Status Engine::SealAgedHeads() {
  return impl_->SealAgedAndTrim(impl_->options.head_max_age_ms);
}

absl::Status Engine::SealAllHeads() { return impl_->SealAgedAndTrim(0); }

}  // namespace nimbus::engine
