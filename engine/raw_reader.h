// Reads a series' raw data in a time range: its head points, its sealed
// chunks and its statistic sets, as one consistent view (a seal running
// meanwhile is seen wholly or not at all: engine/head_store.h).
#ifndef NIMBUS_ENGINE_RAW_READER_H_
#define NIMBUS_ENGINE_RAW_READER_H_

#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "engine/head_store.h"
#include "engine/series_index.h"
#include "storage/store.h"

namespace nimbus::engine {

// Thread-safe.
class RawReader {
 public:
  RawReader(storage::Store& store, HeadStore& heads)
      : store_(store), heads_(heads) {}

  // Calls sample(ts, value) for every raw point and set(ts, count, sum, min,
  // max) for every statistic set of `s` in [start, end), in no particular
  // order. Returns DataLoss for a damaged chunk or set, or the store's error.
  absl::Status Read(Series* s, int64_t start_ms, int64_t end_ms,
                    absl::FunctionRef<void(int64_t ts, double value)> sample,
                    absl::FunctionRef<void(int64_t ts, double count, double sum,
                                           double minimum, double maximum)>
                        set);
  // The same as one step of a watch's build (engine/recent_window.h):
  // in_step() runs in the snapshot step and, returning false, skips the
  // read (returns OK); statistic sets written but not yet applied at that
  // step are left out (the watch's feed counts them).
  absl::Status ReadForWatch(
      Series* s, int64_t start_ms, int64_t end_ms,
      absl::FunctionRef<bool()> in_step,
      absl::FunctionRef<void(int64_t ts, double value)> sample,
      absl::FunctionRef<void(int64_t ts, double count, double sum,
                             double minimum, double maximum)>
          set);

 private:
  absl::Status ReadSnapshot(
      Series* s, int64_t start_ms, int64_t end_ms,
      const std::vector<Sample>& head, uint64_t sealed, uint64_t max_set_seq,
      storage::StoreIterator& it, storage::StoreIterator& sit,
      absl::FunctionRef<void(int64_t, double)> sample,
      absl::FunctionRef<void(int64_t, double, double, double, double)> set);

  storage::Store& store_;
  HeadStore& heads_;
};

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_RAW_READER_H_
