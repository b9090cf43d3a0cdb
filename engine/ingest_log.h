// The ingest log: accepted points not yet sealed into chunks, one record per
// commit group in the `ingest_log` column family, keyed by log sequence
// (storage/FORMAT.md, "Ingest-log record").
//
// A commit group's record, its statistic sets and its dirty record (for late
// points) are one RocksDB write, durable per the sync mode before any point
// of the group is acknowledged. On open the log is replayed into the heads;
// the sweeper deletes the records no head needs any more.
#ifndef NIMBUS_ENGINE_INGEST_LOG_H_
#define NIMBUS_ENGINE_INGEST_LOG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/head_buffer.h"
#include "engine/rollup.h"
#include "storage/store.h"

namespace nimbus::engine {

// A client's pre-aggregated statistics for one timestamp.
struct StatisticSet {
  int64_t ts_ms;
  double sample_count;
  double sum;
  double minimum;
  double maximum;
};

// Record bytes, version 1 (storage/FORMAT.md). A record is started with the
// number of entries it will hold, then each entry is appended.
inline constexpr uint8_t kLogRecordVersion = 1;
void StartLogRecord(size_t entries, std::string* out);
void AppendLogEntry(uint64_t series_id, const Sample* samples, size_t n,
                    std::string* out);
// Calls entry(series_id, samples) for each entry, in order; `samples` is
// valid during the call only. Returns DataLoss for bytes that are not a
// record, or the first error entry returns.
absl::Status DecodeLogRecord(
    absl::string_view record,
    absl::FunctionRef<absl::Status(uint64_t series_id,
                                   const std::vector<Sample>& samples)>
        entry);
// The same for a record of a version-2 store, which has no version byte.
absl::Status DecodeLegacyLogRecord(
    absl::string_view record,
    absl::FunctionRef<absl::Status(uint64_t series_id,
                                   const std::vector<Sample>& samples)>
        entry);

// Calls entry(seq, series_id, samples) for every entry of every record, in
// sequence order; `legacy` reads the records of a version-2 store. Returns in
// *last_seq the newest record's sequence (0 for an empty log). Returns DataLoss
// for a malformed key or record, or the first error entry returns.
absl::Status ReplayLog(
    storage::Store& store,
    absl::FunctionRef<absl::Status(uint64_t seq, uint64_t series_id,
                                   const std::vector<Sample>& samples)>
        entry,
    bool legacy, uint64_t* last_seq);

// The highest sequence ever trimmed away (meta/log_sequence), 0 if none.
absl::StatusOr<uint64_t> ReadTrimmedSequence(storage::Store& store);

// Adds to `batch` the deletion of every record below `keep_from`, and
// records keep_from - 1 as trimmed, so that numbering continues above it
// after a restart even when the log is empty.
void AddLogTrim(uint64_t keep_from, storage::WriteBatch* batch);

// The value of a stat_sets record.
std::string EncodeStatisticSetValue(const StatisticSet& set);

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_INGEST_LOG_H_
