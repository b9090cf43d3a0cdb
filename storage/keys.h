// Key layouts of every column family (storage/FORMAT.md, "The store").
// Integers are big-endian so that byte order is numeric order; signed ones
// have their sign bit flipped.
#ifndef NIMBUS_STORAGE_KEYS_H_
#define NIMBUS_STORAGE_KEYS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace nimbus::storage {

// A sealed chunk never spans more than this from its first to its last
// timestamp, so a query for [start, end) need only look at chunks whose first
// timestamp is in [start - kMaxChunkSpanMs, end).
inline constexpr int64_t kMaxChunkSpanMs = int64_t{2} * 3600 * 1000;

// points: series id, first timestamp, the series' sealed log sequence when
// the chunk was written, and the chunk's part number within that seal (a
// seal that cuts one run of equal timestamps into several chunks gives them
// the same first timestamp and sequence).
struct ChunkKey {
  uint64_t series_id = 0;
  int64_t first_ts_ms = 0;
  uint64_t seq = 0;
  uint32_t part = 0;
};
inline constexpr size_t kChunkKeySize = 28;

std::string EncodeChunkKey(const ChunkKey& k);
// Returns false if `key` is not kChunkKeySize bytes.
bool DecodeChunkKey(absl::string_view key, ChunkKey* k);
// The 16-byte prefix (series id, timestamp) to seek to.
std::string ChunkKeyPrefix(uint64_t series_id, int64_t ts_ms);

// rollup_60, rollup_300, rollup_3600: series id, the start of the hour the
// block holds.
inline constexpr size_t kRollupKeySize = 16;
std::string EncodeRollupKey(uint64_t series_id, int64_t period_start_ms);
bool DecodeRollupKey(absl::string_view key, uint64_t* series_id,
                     int64_t* period_start_ms);

// ingest_log and rollup_dirty: the log sequence.
std::string EncodeLogKey(uint64_t seq);
bool DecodeLogKey(absl::string_view key, uint64_t* seq);

// series: three kinds of key, told apart by their first byte.
//   'k' + encoded series key -> series id (u64 BE)
//   's' + series id (u64 BE) -> sealed log sequence (u64 BE)
//   'a' + series id (u64 BE) -> last write time, ms since the epoch (u64 BE)
inline constexpr char kSeriesKeyTag = 'k';
inline constexpr char kSeriesSealedTag = 's';
inline constexpr char kSeriesLastWriteTag = 'a';
std::string EncodeSeriesIndexKey(absl::string_view encoded_series_key);
// A 's' or 'a' key.
std::string EncodeSeriesIdKey(char tag, uint64_t series_id);
// Returns false if `key` is not a 's' or 'a' key of tag `tag`.
bool DecodeSeriesIdKey(absl::string_view key, char tag, uint64_t* series_id);

// stat_sets: series id, timestamp (ordered), log sequence, ordinal within
// the commit (u32 BE). Values are four f64 LE: count, sum, min, max.
inline constexpr size_t kStatSetKeySize = 28;
inline constexpr size_t kStatSetValueSize = 32;
std::string EncodeStatSetKey(uint64_t series_id, int64_t ts_ms, uint64_t seq,
                             uint32_t ordinal);
// Returns false if `key` is not kStatSetKeySize bytes.
bool DecodeStatSetKey(absl::string_view key, uint64_t* series_id,
                      int64_t* ts_ms);

// alarm_history: the alarm's name, a 0 byte (names hold no control
// characters), the item's time (ordered i64 BE) and a sequence (u64 BE), so
// that one alarm's items are contiguous and in time order.
inline constexpr size_t kAlarmHistoryKeySuffix = 17;
std::string EncodeAlarmHistoryKey(absl::string_view alarm_name, int64_t time_ms,
                                  uint64_t seq);
// The keys of one alarm's items sort at and after this.
std::string AlarmHistoryKeyPrefix(absl::string_view alarm_name);
// Returns false if `key` is too short or lacks the 0 byte before its
// suffix.
bool DecodeAlarmHistoryKey(absl::string_view key, absl::string_view* alarm_name,
                           int64_t* time_ms, uint64_t* seq);

// meta keys.
inline constexpr char kMetaFormatVersion[] = "format_version";
// The highest ingest-log sequence ever trimmed away (u64 BE).
inline constexpr char kMetaLogSequence[] = "log_sequence";
// The rollup watermark, a whole hour (ordered i64 BE).
inline constexpr char kMetaRollupWatermark[] = "rollup_watermark";
// The highest alarm-history sequence written (u64 BE).
inline constexpr char kMetaAlarmHistorySequence[] = "alarm_history_sequence";
// Alarm evaluation checkpoints: this prefix and an evaluation interval (ms,
// u64 BE) -> the newest tick (ordered i64 BE) every alarm of that interval
// has evaluated, except those whose record says it is behind.
inline constexpr char kMetaAlarmCheckpointPrefix[] = "alarm_checkpoint/";

// Big-endian helpers, also used by other key layouts.
void PutBigEndian64(std::string* out, uint64_t v);
uint64_t GetBigEndian64(const char* p);
// Signed values map to unsigned ones that sort the same way.
inline uint64_t OrderedFromSigned(int64_t v) {
  return static_cast<uint64_t>(v) ^ (uint64_t{1} << 63);
}
inline int64_t SignedFromOrdered(uint64_t v) {
  return static_cast<int64_t>(v ^ (uint64_t{1} << 63));
}

}  // namespace nimbus::storage

#endif  // NIMBUS_STORAGE_KEYS_H_
