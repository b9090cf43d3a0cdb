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
  const uint64_t keep_from = heads_.KeepFrom(index_);
  storage::WriteBatch batch;
  // When each series was last written: written when it changed, at most
  // every sweep.
  std::vector<std::pair<Series*, int64_t>> persisted;
  index_.ForEach([&](Series& s) {
    const int64_t w = s.last_write_ms.load(std::memory_order_relaxed);
    if (w == s.persisted_write_ms) return;
    std::string v;
    storage::PutBigEndian64(&v, static_cast<uint64_t>(w));
    batch.Put(storage::Column::kSeries,
              storage::EncodeSeriesIdKey(storage::kSeriesLastWriteTag, s.id),
              v);
    persisted.push_back({&s, w});
  });
  // The log may now be empty: AddLogTrim records how far numbering got, so
  // that a restart continues above it (a reused sequence would look already
  // sealed to the next replay).
  if (keep_from > trimmed_below_) AddLogTrim(keep_from, &batch);
  if (batch.Count() == 0) return absl::OkStatus();
  const absl::Status st = store_.Write(batch);
  if (!st.ok()) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    Log(LogLevel::kError, "sweeper",
        absl::StrCat("trimming the ingest log below sequence ", keep_from,
                     " failed; the next sweep tries again: ", st.ToString()));
    return st;
  }
  for (const auto& [s, w] : persisted) s->persisted_write_ms = w;
  trimmed_below_ = std::max(trimmed_below_, keep_from);
  return absl::OkStatus();
}

}  // namespace nimbus::engine
