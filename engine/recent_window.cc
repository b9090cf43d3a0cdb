#include "engine/recent_window.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/clock.h"
#include "engine/raw_reader.h"

namespace nimbus::engine {

// Buckets kept ahead of now's in the ring; points further ahead wait in
// `ahead` (clients may send points up to two hours ahead).
constexpr int64_t kAheadBuckets = 1;

struct SeriesWatchers {
  absl::InlinedVector<WatchedWindow*, 1> windows;
};

struct WatchedWindow {
  // The series key's encoding; by_key_'s key views these bytes.
  std::string key;
  int64_t bucket_ms = 0;
  int64_t span_ms = 0;
  size_t size = 0;  // ring buckets
  int refs = 0;
  // Periods from here on are complete; INT64_MAX until the build is done.
  int64_t complete_from_ms = INT64_MAX;
  // The ring: bucket p's statistics in ring[p mod size], for the buckets
  // (newest - size, newest]; newest is the newest bucket it was given.
  std::unique_ptr<WindowStats[]> ring;
  int64_t newest = INT64_MIN;
  // Buckets too far ahead for the ring; allocated when one arrives.
  std::unique_ptr<absl::btree_map<int64_t, WindowStats>> ahead;
  absl::InlinedVector<Series*, 1> series;
  // The latest time it was fed at (reads take the larger of it and their
  // own): a clock that steps back must not make the ring look as if it
  // reached back further than it does.
  int64_t max_now_ms = INT64_MIN;
  int64_t Now(int64_t now_ms) {
    if (now_ms > max_now_ms) max_now_ms = now_ms;
    return max_now_ms;
  }

  int64_t Bucket(int64_t ts) const {
    return FloorTo(ts, bucket_ms) / bucket_ms;
  }
  // The oldest bucket the ring can hold at `now_ms`.
  int64_t Oldest(int64_t now_ms) const {
    return Bucket(now_ms) + kAheadBuckets - static_cast<int64_t>(size) + 1;
  }
  WindowStats& SlotOf(int64_t p) { return ring[Slot(p)]; }
  const WindowStats& SlotOf(int64_t p) const { return ring[Slot(p)]; }
  size_t Slot(int64_t p) const {
    const int64_t n = static_cast<int64_t>(size);
    return static_cast<size_t>(((p % n) + n) % n);
  }
  // Bucket p's statistics in the ring, or nullptr if it holds none.
  const WindowStats* InRing(int64_t p) const {
    if (newest == INT64_MIN || p > newest ||
        p <= newest - static_cast<int64_t>(size)) {
      return nullptr;
    }
    return &SlotOf(p);
  }
  // Drops the ahead buckets older than `oldest`.
  void TrimAhead(int64_t oldest) {
    if (ahead == nullptr) return;
    ahead->erase(ahead->begin(), ahead->lower_bound(oldest));
    if (ahead->empty()) ahead.reset();
  }

  void Add(int64_t ts, const WindowStats& s, int64_t clock_ms) {
    const int64_t now_ms = Now(clock_ms);
    const int64_t p = Bucket(ts);
    const int64_t now_p = Bucket(now_ms);
    // Buckets that were ahead and are now older than the ring's reach
    // (reads, holding the lock shared, leave them): trimmed at every point,
    // so that a series whose points always come early keeps no more than
    // the buckets still ahead.
    TrimAhead(Oldest(now_ms));
    if (p > now_p + kAheadBuckets) {
      if (ahead == nullptr) {
        ahead = std::make_unique<absl::btree_map<int64_t, WindowStats>>();
      }
      (*ahead)[p].Merge(s);
      return;
    }
    if (p < Oldest(now_ms)) return;  // older than the span: not kept
    const int64_t n = static_cast<int64_t>(size);
    if (newest == INT64_MIN || p - newest >= n) {
      for (int64_t i = 0; i < n; ++i) ring[static_cast<size_t>(i)] = {};
      newest = p;
    } else if (p > newest) {
      // The buckets the ring moves over start empty.
      for (int64_t q = newest + 1; q <= p; ++q) SlotOf(q) = {};
      newest = p;
    } else if (p <= newest - n) {
      return;  // not reachable: newest is at most now's bucket + ahead
    }
    SlotOf(p).Merge(s);
  }
};

namespace {

WindowStats One(double v) {
  WindowStats s;
  s.Add(v);
  return s;
}

}  // namespace

RecentWindow::RecentWindow(storage::Store& store, HeadStore& heads,
                           SeriesIndex& index)
    : store_(store), heads_(heads), index_(index) {}

RecentWindow::~RecentWindow() {
  for (auto& [key, list] : by_key_) {
    for (const std::unique_ptr<Window>& w : list) {
      for (Series* s : w->series) {
        delete s->watchers;
        s->watchers = nullptr;
      }
    }
  }
}

bool RecentWindow::Attach(Series* s, Window* w) {
  if (s->watchers == nullptr) s->watchers = new SeriesWatchers;
  auto& ws = s->watchers->windows;
  if (std::find(ws.begin(), ws.end(), w) != ws.end()) return false;
  ws.push_back(w);
  w->series.push_back(s);
  return true;
}

void RecentWindow::Detach(Series* s, Window* w) {
  if (s->watchers == nullptr) return;
  auto& ws = s->watchers->windows;
  ws.erase(std::remove(ws.begin(), ws.end(), w), ws.end());
  if (ws.empty()) {
    delete s->watchers;
    s->watchers = nullptr;
  }
}

absl::StatusOr<uint64_t> RecentWindow::Watch(const SeriesKey& key,
                                             int64_t bucket_ms, int64_t span_ms,
                                             int64_t now_ms) {
  if (bucket_ms <= 0 || 60'000 % bucket_ms != 0 || span_ms < 0) {
    return absl::InvalidArgumentError(absl::StrCat("recent window: bucket ",
                                                   bucket_ms, " ms or span ",
                                                   span_ms, " ms not allowed"));
  }
  std::string encoded = key.Encode();
  Window* w;
  {
    absl::MutexLock l(&mu_);
    auto it = by_key_.find(encoded);
    if (it != by_key_.end()) {
      for (const std::unique_ptr<Window>& other : it->second) {
        if (other->bucket_ms == bucket_ms && other->span_ms == span_ms) {
          ++other->refs;
          const uint64_t h = next_handle_++;
          handles_[h] = other.get();
          return h;
        }
      }
    }
    auto owned = std::make_unique<Window>();
    w = owned.get();
    w->key = std::move(encoded);
    w->bucket_ms = bucket_ms;
    w->span_ms = span_ms;
    w->size = static_cast<size_t>(span_ms / bucket_ms) + 2 + kAheadBuckets;
    w->ring = std::make_unique<WindowStats[]>(w->size);
    w->refs = 1;
    // Registered before the build looks for series, so that a series
    // created meanwhile is attached by OnCreate if not by the build.
    if (it == by_key_.end()) {
      it = by_key_.try_emplace(w->key).first;
    }
    it->second.push_back(std::move(owned));
  }
  absl::Status built = Build(w, key, now_ms);
  if (!built.ok()) {
    heads_.WithLock([&] {
      absl::MutexLock l(&mu_);
      // Watches that shared the window while it was built lose it: their
      // handles read nothing (the caller reads the store).
      for (auto it = handles_.begin(); it != handles_.end();) {
        if (it->second == w) {
          handles_.erase(it++);
        } else {
          ++it;
        }
      }
      Remove(w);
    });
    return built;
  }
  absl::MutexLock l(&mu_);
  const uint64_t h = next_handle_++;
  handles_[h] = w;
  return h;
}

absl::Status RecentWindow::Build(Window* w, const SeriesKey& key,
                                 int64_t now_ms) {
  const int64_t start =
      now_ms -
      (static_cast<int64_t>(w->size) - 2 - kAheadBuckets) * w->bucket_ms;
  const int64_t from = FloorTo(start, w->bucket_ms);
  RawReader reader(store_, heads_);
  for (Series* s : index_.Match(key)) {
    std::vector<std::pair<int64_t, WindowStats>> read;
    absl::Status st = reader.ReadForWatch(
        s, from, INT64_MAX,
        [&] {
          absl::MutexLock l(&mu_);
          // Attached already (created during this build): every point of
          // it is fed, none to read.
          return Attach(s, w);
        },
        [&](int64_t ts, double v) {
          read.push_back({ts, One(v)});
        },
        [&](int64_t ts, double count, double sum, double minimum,
            double maximum) {
          WindowStats x;
          x.count = count;
          x.sum = sum;
          x.minimum = minimum;
          x.maximum = maximum;
          read.push_back({ts, x});
        });
    if (!st.ok()) return st;
    absl::MutexLock l(&mu_);
    for (const auto& [ts, x] : read) w->Add(ts, x, now_ms);
  }
  absl::MutexLock l(&mu_);
  w->complete_from_ms = from;
  return absl::OkStatus();
}

void RecentWindow::Unwatch(uint64_t handle) {
  heads_.WithLock([&] {
    absl::MutexLock l(&mu_);
    auto it = handles_.find(handle);
    if (it == handles_.end()) return;
    Window* w = it->second;
    handles_.erase(it);
    if (--w->refs > 0) return;
    Remove(w);
  });
}

void RecentWindow::Remove(Window* w) {
  for (Series* s : w->series) Detach(s, w);
  auto it = by_key_.find(w->key);
  auto& list = it->second;
  const bool viewed = it->first.data() == w->key.data();
  auto pos = std::find_if(
      list.begin(), list.end(),
      [w](const std::unique_ptr<Window>& x) { return x.get() == w; });
  std::unique_ptr<Window> owned = std::move(*pos);
  list.erase(pos);
  if (list.empty()) {
    by_key_.erase(it);
  } else if (viewed) {
    // The map's key views this window's bytes: another's from now on.
    auto rest = std::move(list);
    by_key_.erase(it);
    const absl::string_view key = rest.front()->key;
    by_key_.emplace(key, std::move(rest));
  }
  // `owned` destroys w.
}

bool RecentWindow::ReadLocked(const WindowRead& r, const Window* found,
                              int64_t now_ms, WindowStats* out) {
  if (found == nullptr) return false;
  const Window& w = *found;
  // Not recorded (a read holds the lock shared): Add records it.
  now_ms = std::max(now_ms, w.max_now_ms);
  if (r.start_ms < w.complete_from_ms || r.period_ms % w.bucket_ms != 0 ||
      r.start_ms % w.bucket_ms != 0) {
    return false;
  }
  const int64_t first = w.Bucket(r.start_ms);
  if (first < w.Oldest(now_ms)) return false;
  // Ahead buckets older than the ring's reach (dropped by the next point
  // fed) are older than `first`: never looked up.
  const int64_t per = r.period_ms / w.bucket_ms;
  for (size_t k = 0; k < r.periods; ++k) {
    WindowStats& acc = out[k];
    acc = WindowStats();
    for (int64_t b = 0; b < per; ++b) {
      const int64_t p = first + static_cast<int64_t>(k) * per + b;
      if (const WindowStats* s = w.InRing(p)) acc.Merge(*s);
      if (w.ahead != nullptr) {
        if (auto a = w.ahead->find(p); a != w.ahead->end()) {
          acc.Merge(a->second);
        }
      }
    }
  }
  return true;
}

bool RecentWindow::Read(uint64_t handle, int64_t start_ms, int64_t period_ms,
                        size_t n, int64_t now_ms,
                        std::vector<WindowStats>* out) {
  out->resize(n);
  absl::ReaderMutexLock l(&mu_);
  auto it = handles_.find(handle);
  return ReadLocked({handle, start_ms, period_ms, n},
                    it == handles_.end() ? nullptr : it->second, now_ms,
                    out->data());
}

void RecentWindow::ReadMany(absl::Span<const WindowRead> reads, int64_t now_ms,
                            std::vector<WindowStats>* out,
                            std::vector<bool>* answered) {
  size_t total = 0;
  for (const WindowRead& r : reads) total += r.periods;
  out->resize(total);
  answered->assign(reads.size(), false);
  // A read is three dependent cache misses (the handle, the window, its
  // ring), most of a round's evaluation when taken one read at a time:
  // each step is prefetched for every read before the next step runs.
  absl::InlinedVector<const Window*, 64> found(reads.size(), nullptr);
  absl::ReaderMutexLock l(&mu_);
  for (const WindowRead& r : reads) handles_.prefetch(r.handle);
  for (size_t i = 0; i < reads.size(); ++i) {
    auto it = handles_.find(reads[i].handle);
    if (it == handles_.end()) continue;
    found[i] = it->second;
    __builtin_prefetch(found[i]);
    __builtin_prefetch(reinterpret_cast<const char*>(found[i]) + 64);
  }
  for (size_t i = 0; i < reads.size(); ++i) {
    const Window* w = found[i];
    if (w == nullptr || w->ring == nullptr) continue;
    const int64_t first = w->Bucket(reads[i].start_ms);
    __builtin_prefetch(&w->SlotOf(first));
    __builtin_prefetch(&w->SlotOf(first +
                                  static_cast<int64_t>(reads[i].periods) *
                                      (reads[i].period_ms / w->bucket_ms) -
                                  1));
  }
  WindowStats* next = out->data();
  for (size_t i = 0; i < reads.size(); ++i) {
    (*answered)[i] = ReadLocked(reads[i], found[i], now_ms, next);
    next += reads[i].periods;
  }
}

void RecentWindow::Feed(const CommitGroup& group, int64_t now_ms) {
  bool any = false;
  for (const CommitWriter* wr : group.writers) {
    for (const CommitWriter::Item& it : wr->items) {
      any = any || it.series->watchers != nullptr;
    }
    for (const CommitWriter::Set& st : wr->sets) {
      any = any || st.series->watchers != nullptr;
    }
  }
  if (!any) return;
  absl::MutexLock l(&mu_);
  for (const CommitWriter* wr : group.writers) {
    for (const CommitWriter::Item& it : wr->items) {
      if (it.series->watchers == nullptr) continue;
      for (Window* w : it.series->watchers->windows) {
        for (size_t i = 0; i < it.count; ++i) {
          w->Add(it.samples[i].ts_ms, One(it.samples[i].value), now_ms);
        }
      }
    }
    for (const CommitWriter::Set& st : wr->sets) {
      if (st.series->watchers == nullptr) continue;
      WindowStats x;
      x.count = st.set->sample_count;
      x.sum = st.set->sum;
      x.minimum = st.set->minimum;
      x.maximum = st.set->maximum;
      for (Window* w : st.series->watchers->windows) {
        w->Add(st.set->ts_ms, x, now_ms);
      }
    }
  }
}

void RecentWindow::OnCreate(absl::Span<Series* const> created) {
  {
    absl::MutexLock l(&mu_);
    if (by_key_.empty()) return;
  }
  heads_.WithLock([&] {
    absl::MutexLock l(&mu_);
    for (Series* s : created) {
      const absl::string_view encoded = s->encoded();
      if (auto it = by_key_.find(encoded); it != by_key_.end()) {
        for (const auto& w : it->second) Attach(s, w.get());
      }
      SeriesKey any;
      if (!SeriesKey::Decode(encoded, &any) || any.unit.empty()) continue;
      any.unit.clear();
      if (auto it = by_key_.find(any.Encode()); it != by_key_.end()) {
        for (const auto& w : it->second) Attach(s, w.get());
      }
    }
  });
}

size_t RecentWindow::watches() {
  absl::MutexLock l(&mu_);
  size_t n = 0;
  for (const auto& [key, list] : by_key_) n += list.size();
  return n;
}

size_t RecentWindow::buckets() {
  absl::MutexLock l(&mu_);
  size_t n = 0;
  for (const auto& [key, list] : by_key_) {
    for (const std::unique_ptr<Window>& w : list) {
      n += w->size + (w->ahead != nullptr ? w->ahead->size() : 0);
    }
  }
  return n;
}

}  // namespace nimbus::engine
