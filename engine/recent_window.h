// Recent period statistics of watched series, in memory, for alarm
// evaluation: per watch, the sample count, sum, minimum and maximum of each
// bucket (10, 20, 30 or 60 s) of the last `span` of time, so that an alarm
// reads its evaluation range without a store read.
//
// Contract:
//  - A watch is of a series key (an empty unit: the series of every unit,
//    as queries match them) and a bucket size. Watch() builds it from the
//    stored data of the span (heads, chunks, statistic sets) and from then
//    on the ingest path feeds it every point and statistic set committed
//    for its series, late ones included, in the commit's apply step
//    (HeadStore::AppendGroup). The build copies each series' head and opens
//    its store iterators in the same step that attaches the watch, under
//    the heads' lock, so a point is counted exactly once: by the build if
//    it was applied before, by the feed otherwise. Statistic sets, written
//    to the store before they are applied, are read only up to the applied
//    sequence of that step.
//  - Series created after Watch() are attached when created.
//  - Read() answers a range only if the watch covers it whole: from the
//    build's start and not older than the span behind now. Otherwise it
//    returns false and the caller reads the engine (Engine::GetStatistics).
//  - Memory: 32 bytes a bucket, span / bucket + 3 buckets a window, plus
//    about 200 bytes and the key's encoding (a 10-second alarm of N = 3
//    with a minute of span: about 550 bytes), plus buckets for points more
//    than one bucket ahead of now (until the first point fed after their
//    time has passed the ring's reach). Watches of the same key, bucket and
//    span share one window.
#ifndef NIMBUS_ENGINE_RECENT_WINDOW_H_
#define NIMBUS_ENGINE_RECENT_WINDOW_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "engine/commit_queue.h"
#include "engine/head_store.h"
#include "engine/series_index.h"
#include "engine/series_key.h"
#include "storage/store.h"

namespace nimbus::engine {

// The statistics of one bucket or period.
struct WindowStats {
  double count = 0;
  double sum = 0;
  double minimum = std::numeric_limits<double>::infinity();
  double maximum = -std::numeric_limits<double>::infinity();
  void Add(double v) {
    count += 1;
    sum += v;
    if (v < minimum) minimum = v;
    if (v > maximum) maximum = v;
  }
  void Merge(const WindowStats& o) {
    count += o.count;
    sum += o.sum;
    if (o.minimum < minimum) minimum = o.minimum;
    if (o.maximum > maximum) maximum = o.maximum;
  }
};

struct WatchedWindow;  // recent_window.cc

// A read of a watch: `periods` periods of period_ms from start_ms.
struct WindowRead {
  uint64_t handle;
  int64_t start_ms;
  int64_t period_ms;
  size_t periods;
};

// Thread-safe.
class RecentWindow {
 public:
  RecentWindow(storage::Store& store, HeadStore& heads, SeriesIndex& index);
  ~RecentWindow();

  // Watches `key` in buckets of bucket_ms (a divisor of 60 s, or 60 s),
  // keeping span_ms behind now (`now_ms`). Returns a handle for Read and
  // Unwatch. The store's error, or DataLoss for damaged data, if the build
  // could not read; then nothing is watched.
  absl::StatusOr<uint64_t> Watch(const SeriesKey& key, int64_t bucket_ms,
                                 int64_t span_ms, int64_t now_ms);
  // Ends a watch. Unknown handles are ignored.
  void Unwatch(uint64_t handle);

  // `n` periods of period_ms (a multiple of the bucket) from start_ms (a
  // multiple of the bucket), oldest first, into *out (count 0: no data).
  // False if the watch does not cover them (see the contract).
  // Reads share the lock: they run beside each other, not beside a feed.
  bool Read(uint64_t handle, int64_t start_ms, int64_t period_ms, size_t n,
            int64_t now_ms, std::vector<WindowStats>* out);
  // Each of `reads` as Read does, under one hold of the lock: read i's
  // periods in *out after those of the reads before it (out holds the sum
  // of their periods); (*answered)[i] is what Read would have returned.
  void ReadMany(absl::Span<const WindowRead> reads, int64_t now_ms,
                std::vector<WindowStats>* out, std::vector<bool>* answered);

  // The ingest path: the group's points and sets of watched series. Called
  // by HeadStore::AppendGroup with its lock held.
  void Feed(const CommitGroup& group, int64_t now_ms);
  // New series: attached to the watches of their key.
  void OnCreate(absl::Span<Series* const> created);

  // Watches, and buckets held by all of them.
  size_t watches();
  size_t buckets();

 private:
  using Window = WatchedWindow;
  // Attaches `w` to `s`; false if it was attached already. Heads' lock held.
  bool Attach(Series* s, Window* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Detach(Series* s, Window* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Build(Window* w, const SeriesKey& key, int64_t now_ms);
  // One read of window `w` (nullptr: the handle is unknown) into
  // out[0, r.periods); the lock held, shared or not.
  static bool ReadLocked(const WindowRead& r, const Window* w, int64_t now_ms,
                         WindowStats* out);
  // Detaches `w` from its series and the maps, and destroys it. Heads' lock
  // held.
  void Remove(Window* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  storage::Store& store_;
  HeadStore& heads_;
  SeriesIndex& index_;

  absl::Mutex mu_;  // after HeadStore's lock
  uint64_t next_handle_ ABSL_GUARDED_BY(mu_) = 1;
  // Key encodings -> their windows, one per bucket and span (OnCreate
  // attaches new series; an empty unit's key also matches series of any
  // unit). A key views the bytes of one of its windows.
  absl::flat_hash_map<absl::string_view,
                      absl::InlinedVector<std::unique_ptr<Window>, 1>>
      by_key_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, Window*> handles_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_RECENT_WINDOW_H_
