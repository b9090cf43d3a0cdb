#include "engine/sweeper.h"

#include <algorithm>
#include <string>
#include <vector>

#include "engine/ingest_log.h"
#include "storage/keys.h"
#include "storage/status_macros.h"

namespace nimbus::engine {

absl::Status Sweeper::Run(int64_t max_age_ms) {
  const int64_t cutoff = clock_.NowMs() - max_age_ms;
  NIMBUS_RETURN_IF_ERROR(sealer_.Seal(heads_.Aged(index_, cutoff)));
  const uint64_t keep_from = heads_.KeepFrom(index_);
  storage::WriteBatch batch;
  // When each series was last written: written when it changed, at most
  // every sweep.
  index_.ForEach([&](Series& s) {
    const int64_t w = s.last_write_ms.load(std::memory_order_relaxed);
    if (w == s.persisted_write_ms) return;
    std::string v;
    storage::PutBigEndian64(&v, static_cast<uint64_t>(w));
    batch.Put(storage::Column::kSeries,
              storage::EncodeSeriesIdKey(storage::kSeriesLastWriteTag, s.id),
              v);
    s.persisted_write_ms = w;
  });
  // The log may now be empty: AddLogTrim records how far numbering got, so
  // that a restart continues above it (a reused sequence would look already
  // sealed to the next replay).
  if (keep_from > trimmed_below_) AddLogTrim(keep_from, &batch);
  if (batch.Count() == 0) return absl::OkStatus();
  NIMBUS_RETURN_IF_ERROR(store_.Write(batch));
  trimmed_below_ = std::max(trimmed_below_, keep_from);
  return absl::OkStatus();
}

}  // namespace nimbus::engine
