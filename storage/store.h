// The Nimbus store: RocksDB column families behind an interface that speaks
// only Abseil and std types, so that no RocksDB header leaves storage/.
#ifndef NIMBUS_STORAGE_STORE_H_
#define NIMBUS_STORAGE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace nimbus::storage {

// The column families (storage/FORMAT.md gives their keys and values).
enum class Column {
  kSeries,        // series index
  kPoints,        // sealed chunks
  kIngestLog,     // accepted points not yet sealed, by log sequence
  kMeta,          // format version and other single values
  kStatSets,      // statistic sets (count, sum, min, max) as sent by clients
  kRollup60,      // 60-second period statistics
  kRollup300,     // 300-second period statistics
  kRollup3600,    // 3600-second period statistics
  kRollupDirty,   // periods that late points have made stale
  kAlarms,        // alarm configurations and states, by name
  kAlarmHistory,  // alarm history items, by alarm name, time and sequence
};
inline constexpr int kColumnCount = 11;

// How durable a write is when Write() returns.
enum class SyncMode {
  // In the write-ahead log in the operating system's page cache: survives a
  // crash or kill -9 of the server, not a power loss.
  kProcessCrash,
  // fsync'ed: survives power loss. Concurrent writers share one fsync.
  kPowerLoss,
};

struct StoreOptions {
  // Directory of the database; created if missing.
  std::string path;
  SyncMode sync = SyncMode::kProcessCrash;
  // Sealed chunks whose newest possible point is older than this are dropped
  // by compaction. Default: 15 days. 0 keeps them forever.
  int64_t points_retention_ms = int64_t{15} * 24 * 3600 * 1000;
  // Statistic sets older than this are dropped by compaction. Default: 15
  // days. 0 keeps them forever.
  int64_t stat_sets_retention_ms = int64_t{15} * 24 * 3600 * 1000;
  // Rollup blocks (keyed by hour) whose hour ended longer ago than these are
  // dropped by compaction (defaults of docs/semantics.md: 15, 63 and 455 days).
  // 0 keeps them.
  int64_t rollup_60_retention_ms = int64_t{15} * 24 * 3600 * 1000;
  int64_t rollup_300_retention_ms = int64_t{63} * 24 * 3600 * 1000;
  int64_t rollup_3600_retention_ms = int64_t{455} * 24 * 3600 * 1000;
  // Alarm history items older than this are dropped by compaction.
  // Default: 30 days. 0 keeps them forever.
  int64_t alarm_history_retention_ms = int64_t{30} * 24 * 3600 * 1000;
  // Bytes of uncompressed blocks kept in memory for reads, shared by every
  // column family. Default 32 MB.
  int64_t block_cache_bytes = int64_t{32} << 20;
  // The clock retention is measured against (milliseconds since the epoch).
  // Default: the system clock.
  std::function<int64_t()> now_ms;
};

// A set of writes applied atomically by Store::Write. Thread-compatible.
class WriteBatch {
 public:
  WriteBatch();
  ~WriteBatch();
  WriteBatch(WriteBatch&&) noexcept;
  WriteBatch& operator=(WriteBatch&&) noexcept;

  void Put(Column column, absl::string_view key, absl::string_view value);
  // The same, taking the value's bytes without a copy.
  void Put(Column column, absl::string_view key, std::string&& value);
  void Put(Column column, absl::string_view key, const char* value) {
    Put(column, key, absl::string_view(value));
  }
  void Delete(Column column, absl::string_view key);
  // Deletes keys in [begin, end).
  void DeleteRange(Column column, absl::string_view begin,
                   absl::string_view end);
  // Appends the writes of `other`.
  void Append(const WriteBatch& other);
  size_t Count() const;
  // Whether any operation of the batch is on `column`.
  bool Touches(Column column) const;
  void Clear();

 private:
  friend struct WriteBatchAccess;  // store.cc
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

// Iterates over one column family in key order. Not thread-safe.
class StoreIterator {
 public:
  virtual ~StoreIterator() = default;
  virtual void Seek(absl::string_view key) = 0;
  // Positions at the last key <= `key`.
  virtual void SeekForPrev(absl::string_view key) = 0;
  virtual void SeekToFirst() = 0;
  virtual bool Valid() const = 0;
  virtual void Next() = 0;
  virtual void Prev() = 0;
  // REQUIRES: Valid(). Valid until the next move.
  virtual absl::string_view key() const = 0;
  virtual absl::string_view value() const = 0;
  virtual absl::Status status() const = 0;
};

// Thread-safe.
class Store {
 public:
  // Opens or creates the store at options.path (a new store is version 3).
  // Returns FailedPrecondition if the directory holds a store of a version
  // other than 2 or 3, and the RocksDB
  // error (as Internal, Unavailable or DataLoss) if it cannot be opened.
  static absl::StatusOr<std::unique_ptr<Store>> Open(StoreOptions options);
  virtual ~Store() = default;

  // Applies the batch atomically; durable per the sync mode on return.
  virtual absl::Status Write(WriteBatch& batch) = 0;

  // The value at key, or nullopt.
  virtual absl::StatusOr<std::optional<std::string>> Get(
      Column column, absl::string_view key) = 0;

  virtual std::unique_ptr<StoreIterator> NewIterator(Column column) = 0;

  // Bytes of the live SST files and write-ahead log.
  virtual int64_t BytesOnDisk() = 0;

  // Bytes held by memtables (data written but not yet flushed to SST files).
  virtual int64_t MemtableBytes() = 0;

  // Flushes memtables and compacts everything (tests and tools).
  virtual absl::Status CompactAll() = 0;

  // The format version the store was opened with: 3, or 2 for a store the
  // engine must migrate (storage/FORMAT.md). Writing kMetaFormatVersion
  // "3" completes a migration; this value does not change meanwhile.
  virtual int format_version() const = 0;
};

}  // namespace nimbus::storage

#endif  // NIMBUS_STORAGE_STORE_H_
