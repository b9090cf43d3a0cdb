#include "storage/store.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rocksdb/cache.h"
#include "rocksdb/compaction_filter.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "storage/keys.h"

namespace nimbus::storage {
namespace {

constexpr const char* kFormatVersionKey = kMetaFormatVersion;
// Version 1 was written by development builds before the store's layout
// settled (24-byte chunk keys, 'i' series records); they are not migrated.
// Version 2 has ingest-log and dirty records without a version byte; the
// engine migrates it to 3 on open (storage/FORMAT.md).
constexpr char kFormatVersion[] = "3";
constexpr char kMigratableVersion[] = "2";

constexpr const char* kColumnNames[] = {
    "series",       "points",    "ingest_log",   "meta",
    "stat_sets",    "rollup_60", "rollup_300",   "rollup_3600",
    "rollup_dirty", "alarms",    "alarm_history"};
static_assert(std::size(kColumnNames) == kColumnCount);

#define NIMBUS_RETURN_IF_ROCKS(expr, what)                          \
  do {                                                              \
    const rocksdb::Status nimbus_rocks_ = (expr);                   \
    if (!nimbus_rocks_.ok()) return FromRocks(nimbus_rocks_, what); \
  } while (0)

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = absl::StrCat(what, ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsIOError() || s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) {
    return absl::UnavailableError(msg);
  }
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  return absl::InternalError(msg);
}

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Drops sealed chunks whose span ends before now - retention. A chunk key
// carries its first timestamp and chunks span at most kMaxChunkSpanMs, so the
// key alone decides.
class PointsRetentionFilter : public rocksdb::CompactionFilter {
 public:
  PointsRetentionFilter(int64_t retention_ms, std::function<int64_t()> now)
      : retention_ms_(retention_ms), now_(std::move(now)) {}

  bool Filter(int /*level*/, const rocksdb::Slice& key,
              const rocksdb::Slice& /*value*/, std::string* /*new_value*/,
              bool* /*value_changed*/) const override {
    if (retention_ms_ <= 0) return false;
    ChunkKey k;
    if (!DecodeChunkKey(absl::string_view(key.data(), key.size()), &k)) {
      return false;  // not ours to judge; keep
    }
    return k.first_ts_ms + kMaxChunkSpanMs < now_() - retention_ms_;
  }
  const char* Name() const override { return "nimbus.PointsRetention"; }

 private:
  const int64_t retention_ms_;
  const std::function<int64_t()> now_;
};

// Drops records of a column whose key starts with a series id and an ordered
// timestamp (stat_sets, rollups) once timestamp + span_ms is older than
// now - retention.
class TimeKeyedRetentionFilter : public rocksdb::CompactionFilter {
 public:
  TimeKeyedRetentionFilter(const char* name, int64_t retention_ms,
                           int64_t span_ms, std::function<int64_t()> now)
      : name_(name),
        retention_ms_(retention_ms),
        span_ms_(span_ms),
        now_(std::move(now)) {}

  bool Filter(int /*level*/, const rocksdb::Slice& key,
              const rocksdb::Slice& /*value*/, std::string* /*new_value*/,
              bool* /*value_changed*/) const override {
    if (retention_ms_ <= 0 || key.size() < 16) return false;
    const int64_t ts = SignedFromOrdered(GetBigEndian64(key.data() + 8));
    return ts + span_ms_ < now_() - retention_ms_;
  }
  const char* Name() const override { return name_; }

 private:
  const char* const name_;
  const int64_t retention_ms_;
  const int64_t span_ms_;
  const std::function<int64_t()> now_;
};

class RocksIterator : public StoreIterator {
 public:
  explicit RocksIterator(rocksdb::Iterator* it) : it_(it) {}
  void Seek(absl::string_view key) override {
    it_->Seek(rocksdb::Slice(key.data(), key.size()));
  }
  void SeekForPrev(absl::string_view key) override {
    it_->SeekForPrev(rocksdb::Slice(key.data(), key.size()));
  }
  void SeekToFirst() override { it_->SeekToFirst(); }
  bool Valid() const override { return it_->Valid(); }
  void Next() override { it_->Next(); }
  void Prev() override { it_->Prev(); }
  absl::string_view key() const override {
    const rocksdb::Slice k = it_->key();
    return absl::string_view(k.data(), k.size());
  }
  absl::string_view value() const override {
    const rocksdb::Slice v = it_->value();
    return absl::string_view(v.data(), v.size());
  }
  absl::Status status() const override {
    return FromRocks(it_->status(), "iterator");
  }

 private:
  std::unique_ptr<rocksdb::Iterator> it_;
};

// Drops alarm history items (storage/keys.h) once their time is older than
// now - retention.
class AlarmHistoryRetentionFilter : public rocksdb::CompactionFilter {
 public:
  AlarmHistoryRetentionFilter(int64_t retention_ms,
                              std::function<int64_t()> now)
      : retention_ms_(retention_ms), now_(std::move(now)) {}

  bool Filter(int /*level*/, const rocksdb::Slice& key,
              const rocksdb::Slice& /*value*/, std::string* /*new_value*/,
              bool* /*value_changed*/) const override {
    absl::string_view name;
    int64_t time_ms;
    uint64_t seq;
    if (retention_ms_ <= 0 ||
        !DecodeAlarmHistoryKey(absl::string_view(key.data(), key.size()), &name,
                               &time_ms, &seq)) {
      return false;
    }
    return time_ms < now_() - retention_ms_;
  }
  const char* Name() const override { return "nimbus.AlarmHistoryRetention"; }

 private:
  const int64_t retention_ms_;
  const std::function<int64_t()> now_;
};

class RocksStore : public Store {
 public:
  explicit RocksStore(StoreOptions options)
      : options_(std::move(options)),
        filter_(std::make_unique<PointsRetentionFilter>(
            options_.points_retention_ms, options_.now_ms)),
        stat_sets_filter_(std::make_unique<TimeKeyedRetentionFilter>(
            "nimbus.StatSetsRetention", options_.stat_sets_retention_ms, 0,
            options_.now_ms)),
        history_filter_(std::make_unique<AlarmHistoryRetentionFilter>(
            options_.alarm_history_retention_ms, options_.now_ms)) {
    const int64_t retention[] = {options_.rollup_60_retention_ms,
                                 options_.rollup_300_retention_ms,
                                 options_.rollup_3600_retention_ms};
    const char* names[] = {"nimbus.Rollup60Retention",
                           "nimbus.Rollup300Retention",
                           "nimbus.Rollup3600Retention"};
    // Rollup keys carry the hour of their block, whatever the tier.
    const int64_t spans[] = {3600'000, 3600'000, 3600'000};
    for (int i = 0; i < 3; ++i) {
      rollup_filters_[i] = std::make_unique<TimeKeyedRetentionFilter>(
          names[i], retention[i], spans[i], options_.now_ms);
    }
  }

  ~RocksStore() override {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    handles_.clear();
    if (db_ != nullptr) db_->Close();
  }

  absl::Status OpenDb() {
    rocksdb::Options db_options;
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
    db_options.IncreaseParallelism(2);
    // Two flushes at a time (RocksDB's default with two background jobs is
    // one), so that a flush of another family (points, rollups: 64 MiB
    // memtables) does not hold up the ingest log's (see its memtables
    // below). Set, it replaces max_background_jobs: two flushes and one
    // compaction. Open() sizes the process-wide flush pool to match.
    db_options.max_background_flushes = 2;
    db_options.max_total_wal_size = 256 << 20;
    // Written back as they grow, so that the fsyncs of a flush (which syncs
    // the closed logs first, as RocksDB must with several families) find
    // little of ours left to write. (One that ran right after 400 MB of
    // another program's writes took 1.1 s.)
    db_options.wal_bytes_per_sync = 1 << 20;
    db_options.bytes_per_sync = 1 << 20;

    // One block cache for every column family (RocksDB's default is 8 MB
    // for each), so that reads of whichever family is hot share it.
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = rocksdb::NewLRUCache(
        static_cast<size_t>(std::max<int64_t>(options_.block_cache_bytes, 0)));
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* name : kColumnNames) {
      rocksdb::ColumnFamilyOptions cf;
      cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
      if (std::string(name) == "points") {
        // Chunks are already packed; LZ4 above, ZSTD at the bottom level.
        cf.compression = rocksdb::kLZ4Compression;
        cf.bottommost_compression = rocksdb::kZSTD;
        cf.compaction_filter = filter_.get();
      }
      if (std::string(name) == "stat_sets") {
        cf.compaction_filter = stat_sets_filter_.get();
      }
      for (int i = 0; i < 3; ++i) {
        if (std::string(name) ==
            kColumnNames[static_cast<int>(Column::kRollup60) + i]) {
          cf.compaction_filter = rollup_filters_[i].get();
        }
      }
      if (std::string(name) == "series") {
        // Series keys, sealed sequences and last-write times: small records,
        // read back only on open, so flushed soon rather than held in
        // memory (64 MB by default), yet not so small that a sweep's batch
        // of last-write records flushes it again and again.
        cf.write_buffer_size = 2 << 20;
      }
      if (std::string(name) == "alarms" ||
          std::string(name) == "alarm_history") {
        // Small records (an alarm's configuration and state, a history
        // item), read back on open or per request: a small memtable keeps
        // them from holding 64 MiB each. Yet with 2 MiB and RocksDB's two
        // a family, puts of a million alarms (a record and two history
        // items each) waited on flushes: 8 MiB and up to four took the
        // bench's million puts and restart from 89 s to 47-56 s, for 4
        // bytes an alarm more (alarm_bench, BM_MemoryAndRestart; the extra
        // memtables exist only while flushes lag).
        cf.write_buffer_size = 8 << 20;
        cf.max_write_buffer_number = 4;
        // Flushed and read back uncompressed (a transition reads the record
        // it replaces: decompressing its block took a seventh of a
        // transition's evaluation); compressed where compaction settles
        // them, at the bottom level.
        cf.compression = rocksdb::kNoCompression;
        cf.bottommost_compression = rocksdb::kLZ4Compression;
        if (std::string(name) == "alarm_history") {
          cf.compaction_filter = history_filter_.get();
        } else {
          // Alarm records are read one by one (the reason a transition
          // replaces, a described alarm's reasons): a Bloom filter spares
          // each read the tables that do not hold its key. At 10,000
          // transitions in one round, reads without it took most of the
          // round's 0.3-0.5 s (bench/RESULTS.md).
          rocksdb::BlockBasedTableOptions alarms_table = table;
          alarms_table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
          cf.table_factory.reset(
              rocksdb::NewBlockBasedTableFactory(alarms_table));
        }
      }
      if (std::string(name) == "ingest_log") {
        // Log records repeat points the engine also holds in its heads, and
        // are deleted once sealed: a small memtable keeps that second copy
        // from costing memory per active series.
        cf.write_buffer_size = 4 << 20;
        // A flush fsyncs the closed logs and the table it writes, and on a
        // busy disk one fsync took 0.3-1.1 s: with RocksDB's default of two
        // memtables a family, writes stopped meanwhile ("Stopping writes
        // because we have 2 immutable memtables"), after about 0.13 s of
        // log at 1.8 M points/s (30 MB/s). With four, RocksDB slows writes
        // after about 0.3 s and stops them after about 0.5 s; the extra
        // memtables (8 MiB at most) exist only while flushes lag.
        cf.max_write_buffer_number = 4;
        // Short-lived, and eight raw bytes a value: not worth compressing.
        cf.compression = rocksdb::kNoCompression;
      }
      cfs.emplace_back(name, cf);
    }
    // RocksDB names its first family "default"; Nimbus keeps it empty.
    cfs.emplace_back(rocksdb::kDefaultColumnFamilyName,
                     rocksdb::ColumnFamilyOptions());
    rocksdb::DB* db = nullptr;
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    NIMBUS_RETURN_IF_ROCKS(rocksdb::DB::Open(rocksdb::DBOptions(db_options),
                                             options_.path, cfs, &handles, &db),
                           absl::StrCat("opening ", options_.path));
    db_.reset(db);
    handles_ = handles;
    write_options_.sync = options_.sync == SyncMode::kPowerLoss;

    auto version = Get(Column::kMeta, kFormatVersionKey);
    if (!version.ok()) return version.status();
    if (!version->has_value()) {
      WriteBatch b;
      b.Put(Column::kMeta, kFormatVersionKey, kFormatVersion);
      format_version_ = 3;
      return Write(b);
    }
    if (**version == kMigratableVersion) {
      format_version_ = 2;
      return absl::OkStatus();
    }
    if (**version != kFormatVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          options_.path, " holds a Nimbus store of format version ", **version,
          "; this build reads versions ", kMigratableVersion, " and ",
          kFormatVersion));
    }
    format_version_ = 3;
    return absl::OkStatus();
  }

  int format_version() const override { return format_version_; }

  rocksdb::ColumnFamilyHandle* Handle(Column c) {
    return handles_[static_cast<int>(c)];
  }

  absl::Status Write(WriteBatch& batch) override;

  absl::StatusOr<std::optional<std::string>> Get(
      Column column, absl::string_view key) override {
    std::string value;
    rocksdb::Status s =
        db_->Get(rocksdb::ReadOptions(), Handle(column),
                 rocksdb::Slice(key.data(), key.size()), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return FromRocks(s, "get");
    return std::optional<std::string>(std::move(value));
  }

  std::unique_ptr<StoreIterator> NewIterator(Column column) override {
    return std::make_unique<RocksIterator>(
        db_->NewIterator(rocksdb::ReadOptions(), Handle(column)));
  }

  int64_t BytesOnDisk() override {
    uint64_t total = SumProperty("rocksdb.total-sst-files-size");
    rocksdb::VectorLogPtr wals;
    if (db_->GetSortedWalFiles(wals).ok()) {
      for (const auto& w : wals) total += w->SizeFileBytes();
    }
    return static_cast<int64_t>(total);
  }

  int64_t MemtableBytes() override {
    return static_cast<int64_t>(SumProperty("rocksdb.cur-size-all-mem-tables"));
  }

  // An integer property summed over every column family.
  uint64_t SumProperty(const char* name) {
    uint64_t total = 0;
    for (auto* h : handles_) {
      uint64_t v = 0;
      if (db_->GetIntProperty(h, name, &v)) total += v;
    }
    return total;
  }

  absl::Status CompactAll() override {
    for (auto* h : handles_) {
      NIMBUS_RETURN_IF_ROCKS(db_->Flush(rocksdb::FlushOptions(), h), "flush");
      rocksdb::CompactRangeOptions o;
      o.bottommost_level_compaction =
          rocksdb::BottommostLevelCompaction::kForce;
      NIMBUS_RETURN_IF_ROCKS(db_->CompactRange(o, h, nullptr, nullptr),
                             "compact");
    }
    return absl::OkStatus();
  }

 private:
  StoreOptions options_;
  std::unique_ptr<PointsRetentionFilter> filter_;
  std::unique_ptr<TimeKeyedRetentionFilter> stat_sets_filter_;
  std::unique_ptr<TimeKeyedRetentionFilter> rollup_filters_[3];
  std::unique_ptr<AlarmHistoryRetentionFilter> history_filter_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::WriteOptions write_options_;
  int format_version_ = 3;
};

}  // namespace

struct WriteBatch::Rep {
  // Column handles are bound at Write() time, so the batch records the
  // column with each operation.
  struct Op {
    enum Kind { kPut, kDelete, kDeleteRange } kind;
    Column column;
    std::string a, b;
  };
  std::vector<Op> ops;
  size_t bytes = 0;  // of the keys and values: what Write reserves
};

WriteBatch::WriteBatch() : rep_(std::make_unique<Rep>()) {}
WriteBatch::~WriteBatch() = default;
WriteBatch::WriteBatch(WriteBatch&&) noexcept = default;
WriteBatch& WriteBatch::operator=(WriteBatch&&) noexcept = default;

void WriteBatch::Put(Column column, absl::string_view key,
                     absl::string_view value) {
  Put(column, key, std::string(value));
}
void WriteBatch::Put(Column column, absl::string_view key,
                     std::string&& value) {
  rep_->bytes += key.size() + value.size();
  rep_->ops.push_back(
      {Rep::Op::kPut, column, std::string(key), std::move(value)});
}
void WriteBatch::Delete(Column column, absl::string_view key) {
  rep_->bytes += key.size();
  rep_->ops.push_back({Rep::Op::kDelete, column, std::string(key), {}});
}
void WriteBatch::DeleteRange(Column column, absl::string_view begin,
                             absl::string_view end) {
  rep_->bytes += begin.size() + end.size();
  rep_->ops.push_back(
      {Rep::Op::kDeleteRange, column, std::string(begin), std::string(end)});
}
void WriteBatch::Append(const WriteBatch& other) {
  rep_->bytes += other.rep_->bytes;
  rep_->ops.insert(rep_->ops.end(), other.rep_->ops.begin(),
                   other.rep_->ops.end());
}
size_t WriteBatch::Count() const { return rep_->ops.size(); }
bool WriteBatch::Touches(Column column) const {
  for (const Rep::Op& op : rep_->ops) {
    if (op.column == column) return true;
  }
  return false;
}
void WriteBatch::Clear() {
  rep_->ops.clear();
  rep_->bytes = 0;
}

struct WriteBatchAccess {
  static const std::vector<WriteBatch::Rep::Op>& Ops(const WriteBatch& b) {
    return b.rep_->ops;
  }
  static size_t Bytes(const WriteBatch& b) { return b.rep_->bytes; }
  using Op = WriteBatch::Rep::Op;
};

absl::Status RocksStore::Write(WriteBatch& batch) {
  // Sized once: a batch of 20 MB grown by appends copied itself over and
  // over into fresh pages (a quarter of a mass alarm round's write).
  // Per operation: a tag, a column id and two lengths as varints.
  const auto& ops = WriteBatchAccess::Ops(batch);
  rocksdb::WriteBatch wb(/*reserved_bytes=*/12 +
                         WriteBatchAccess::Bytes(batch) + 16 * ops.size());
  using Op = WriteBatchAccess::Op;
  for (const auto& op : ops) {
    auto* h = Handle(op.column);
    switch (op.kind) {
      case Op::kPut:
        wb.Put(h, op.a, op.b);
        break;
      case Op::kDelete:
        wb.Delete(h, op.a);
        break;
      case Op::kDeleteRange:
        wb.DeleteRange(h, op.a, op.b);
        break;
    }
  }
  return FromRocks(db_->Write(write_options_, &wb), "write");
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(StoreOptions options) {
  if (!options.now_ms) options.now_ms = SystemNowMs;
  auto store = std::make_unique<RocksStore>(std::move(options));
  absl::Status s = store->OpenDb();
  if (!s.ok()) return s;
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace nimbus::storage
