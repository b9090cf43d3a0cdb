#include "engine/sweeper.h"

#include <algorithm>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/ingest_log.h"
#include "engine/log.h"
#include "storage/keys.h"
#include "storage/status_macros.h"

namespace nimbus::engine {

absl::Status Sweeper::Run(int64_t max_age_ms) {
  absl::MutexLock one_run(&mu_);
  // Every head for 0, whatever the clock did since its first point.
  const int64_t cutoff = max_age_ms == 0 ? std::numeric_limits<int64_t>::max()
                                         : clock_.NowMs() - max_age_ms;
  // A failed seal is logged and counted by the sealer.
  NIMBUS_RETURN_IF_ERROR(sealer_.Seal(heads_.Aged(index_, cutoff)));
  // Quiet series' chunks merged into one: they would not be by a next seal.
  // A failure (logged and counted by the sealer) loses nothing and is tried
  // again by the next sweep, so the sweep goes on.
  (void)sealer_.MergeQuiet(index_, cutoff);
  const uint64_t keep_from = heads_.KeepFrom(index_);
  // When each series was last written, persisted when it moved by a step
  // (every change on a full sweep, max_age_ms 0), in batches of at most
  // kLastWriteBatch series: an active series costs one small record a
  // minute, and 100,000 of them never make one large write.
  std::vector<std::pair<Series*, int64_t>> changed;
  index_.ForEach([&](Series& s) {
    const int64_t w = s.last_write_ms.load(std::memory_order_relaxed);
    if (w == s.persisted_write_ms) return;
    if (max_age_ms != 0 && s.persisted_write_ms != 0 &&
        w - s.persisted_write_ms < kLastWriteStepMs) {
      return;
    }
    changed.push_back({&s, w});
  });
  size_t next = 0;
  do {
    storage::WriteBatch batch;
    const size_t end = std::min(changed.size(), next + kLastWriteBatch);
    for (size_t i = next; i < end; ++i) {
      std::string v;
      storage::PutBigEndian64(&v, static_cast<uint64_t>(changed[i].second));
      batch.Put(storage::Column::kSeries,
                storage::EncodeSeriesIdKey(storage::kSeriesLastWriteTag,
                                           changed[i].first->id),
                v);
    }
    // The log may now be empty: AddLogTrim records how far numbering got,
    // so that a restart continues above it (a reused sequence would look
    // already sealed to the next replay).
    if (end == changed.size() && keep_from > trimmed_below_) {
      AddLogTrim(keep_from, &batch);
    }
    if (batch.Count() == 0) return absl::OkStatus();
    const absl::Status st = store_.Write(batch);
    if (!st.ok()) {
      failures_.fetch_add(1, std::memory_order_relaxed);
      Log(LogLevel::kError, "sweeper",
          absl::StrCat("persisting last-write times and trimming the ingest "
                       "log below sequence ",
                       keep_from,
                       " failed; the next sweep tries again: ", st.ToString()));
      return st;
    }
    for (size_t i = next; i < end; ++i) {
      changed[i].first->persisted_write_ms = changed[i].second;
    }
    next = end;
  } while (next < changed.size());
  trimmed_below_ = std::max(trimmed_below_, keep_from);
  return absl::OkStatus();
}

}  // namespace nimbus::engine
