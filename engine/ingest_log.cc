#include "engine/ingest_log.h"

#include <bit>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "storage/internal/coding.h"
#include "storage/keys.h"
#include "storage/status_macros.h"

namespace nimbus::engine {

using storage::Column;
using storage::internal::EncodeVarint64;
using storage::internal::GetVarint64;
using storage::internal::PutFixed64;
using storage::internal::PutVarint64;
using storage::internal::ZigZagDecode;
using storage::internal::ZigZagEncode;

void StartLogRecord(size_t entries, std::string* out) {
  out->push_back(static_cast<char>(kLogRecordVersion));
  PutVarint64(out, entries);
}

void AppendLogEntry(uint64_t series_id, const Sample* samples, size_t n,
                    std::string* out) {
  // Written in place into room for the longest entry (two ten-byte
  // varints, then ten and eight bytes a point), then cut to size.
  const size_t at = out->size();
  out->resize(at + 20 + 18 * n);
  char* const begin = out->data();
  char* p = begin + at;
  p = EncodeVarint64(p, series_id);
  p = EncodeVarint64(p, n);
  int64_t prev = 0;
  for (size_t i = 0; i < n; ++i) {
    // Differences wrap modulo 2^64, like the head buffer's.
    p = EncodeVarint64(p, ZigZagEncode(static_cast<int64_t>(
                              static_cast<uint64_t>(samples[i].ts_ms) -
                              static_cast<uint64_t>(prev))));
    prev = samples[i].ts_ms;
    const uint64_t bits = std::bit_cast<uint64_t>(samples[i].value);
    std::memcpy(p, &bits, 8);  // little-endian, as PutFixed64 writes
    p += 8;
  }
  out->resize(p - begin);
}

namespace {

// The record after its version byte.
absl::Status DecodeLogBody(
    absl::string_view record,
    absl::FunctionRef<absl::Status(uint64_t, const std::vector<Sample>&)>
        entry) {
  const char* p = record.data();
  const char* limit = p + record.size();
  uint64_t entries;
  if (!GetVarint64(&p, limit, &entries)) {
    return absl::DataLossError("ingest log record: no entry count");
  }
  std::vector<Sample> samples;
  for (uint64_t e = 0; e < entries; ++e) {
    uint64_t id, n;
    // Each point takes at least 9 bytes.
    if (!GetVarint64(&p, limit, &id) || !GetVarint64(&p, limit, &n) ||
        n > static_cast<uint64_t>(limit - p) / 9) {
      return absl::DataLossError(
          absl::StrCat("ingest log record: malformed entry ", e));
    }
    samples.clear();
    int64_t ts = 0;
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t zz;
      if (!GetVarint64(&p, limit, &zz) || limit - p < 8) {
        return absl::DataLossError(
            absl::StrCat("ingest log record: entry ", e, " truncated"));
      }
      ts = static_cast<int64_t>(static_cast<uint64_t>(ts) +
                                static_cast<uint64_t>(ZigZagDecode(zz)));
      samples.push_back(
          {ts, std::bit_cast<double>(storage::internal::LoadLE64(p))});
      p += 8;
    }
    NIMBUS_RETURN_IF_ERROR(entry(id, samples));
  }
  if (p != limit) {
    return absl::DataLossError("ingest log record: trailing bytes");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status DecodeLogRecord(
    absl::string_view record,
    absl::FunctionRef<absl::Status(uint64_t, const std::vector<Sample>&)>
        entry) {
  if (record.empty()) return absl::DataLossError("ingest log record: empty");
  if (static_cast<uint8_t>(record[0]) != kLogRecordVersion) {
    return absl::DataLossError(
        absl::StrCat("ingest log record: unknown version ",
                     static_cast<uint8_t>(record[0])));
  }
  return DecodeLogBody(record.substr(1), entry);
}

absl::Status DecodeLegacyLogRecord(
    absl::string_view record,
    absl::FunctionRef<absl::Status(uint64_t, const std::vector<Sample>&)>
        entry) {
  return DecodeLogBody(record, entry);
}

absl::Status ReplayLog(storage::Store& store,
                       absl::FunctionRef<absl::Status(
                           uint64_t, uint64_t, const std::vector<Sample>&)>
                           entry,
                       bool legacy, uint64_t* last_seq) {
  *last_seq = 0;
  auto it = store.NewIterator(Column::kIngestLog);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    uint64_t seq;
    if (!storage::DecodeLogKey(it->key(), &seq)) {
      return absl::DataLossError("ingest log: malformed key");
    }
    auto visit = [&](uint64_t id, const std::vector<Sample>& samples) {
      return entry(seq, id, samples);
    };
    absl::Status st = legacy ? DecodeLegacyLogRecord(it->value(), visit)
                             : DecodeLogRecord(it->value(), visit);
    if (!st.ok()) {
      return absl::Status(st.code(), absl::StrCat("ingest log record ", seq,
                                                  ": ", st.message()));
    }
    *last_seq = seq;
  }
  return it->status();
}

absl::StatusOr<uint64_t> ReadTrimmedSequence(storage::Store& store) {
  NIMBUS_ASSIGN_OR_RETURN(std::optional<std::string> recorded,
                          store.Get(Column::kMeta, storage::kMetaLogSequence));
  if (!recorded.has_value()) return 0;
  if (recorded->size() != 8) {
    return absl::DataLossError("meta log_sequence: not 8 bytes");
  }
  return storage::GetBigEndian64(recorded->data());
}

void AddLogTrim(uint64_t keep_from, storage::WriteBatch* batch) {
  batch->DeleteRange(Column::kIngestLog, storage::EncodeLogKey(0),
                     storage::EncodeLogKey(keep_from));
  std::string seq_be;
  storage::PutBigEndian64(&seq_be, keep_from - 1);
  batch->Put(Column::kMeta, storage::kMetaLogSequence, seq_be);
}

std::string EncodeStatisticSetValue(const StatisticSet& set) {
  std::string v;
  v.reserve(storage::kStatSetValueSize);
  PutFixed64(&v, std::bit_cast<uint64_t>(set.sample_count));
  PutFixed64(&v, std::bit_cast<uint64_t>(set.sum));
  PutFixed64(&v, std::bit_cast<uint64_t>(set.minimum));
  PutFixed64(&v, std::bit_cast<uint64_t>(set.maximum));
  return v;
}

}  // namespace nimbus::engine
