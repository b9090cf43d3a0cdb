// Reads a series' raw data in a time range: its head points, its sealed
// chunks and its statistic sets, as one consistent view (a seal running
// meanwhile is seen wholly or not at all: engine/head_store.h).
#ifndef NIMBUS_ENGINE_RAW_READER_H_
#define NIMBUS_ENGINE_RAW_READER_H_

#include <cstdint>

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

 private:
  storage::Store& store_;
  HeadStore& heads_;
};

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_RAW_READER_H_
