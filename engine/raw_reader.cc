#include "engine/raw_reader.h"

#include <bit>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/chunk_codec.h"
#include "storage/internal/coding.h"
#include "storage/keys.h"
#include "storage/status_macros.h"

namespace nimbus::engine {

using storage::Column;

absl::Status RawReader::Read(
    Series* s, int64_t start_ms, int64_t end_ms,
    absl::FunctionRef<void(int64_t, double)> sample,
    absl::FunctionRef<void(int64_t, double, double, double, double)> set) {
  std::vector<Sample> head;
  uint64_t sealed;
  std::unique_ptr<storage::StoreIterator> it, sit;
  // Iterators read the store as of their creation.
  heads_.Snapshot(s, &head, &sealed, [&] {
    it = store_.NewIterator(Column::kPoints);
    sit = store_.NewIterator(Column::kStatSets);
  });
  return ReadSnapshot(s, start_ms, end_ms, head, sealed, UINT64_MAX, *it, *sit,
                      sample, set);
}

absl::Status RawReader::ReadForWatch(
    Series* s, int64_t start_ms, int64_t end_ms,
    absl::FunctionRef<bool()> in_step,
    absl::FunctionRef<void(int64_t, double)> sample,
    absl::FunctionRef<void(int64_t, double, double, double, double)> set) {
  std::vector<Sample> head;
  uint64_t sealed, applied;
  std::unique_ptr<storage::StoreIterator> it, sit;
  if (!heads_.Snapshot(s, &head, &sealed, &applied, in_step, [&] {
        it = store_.NewIterator(Column::kPoints);
        sit = store_.NewIterator(Column::kStatSets);
      })) {
    return absl::OkStatus();
  }
  return ReadSnapshot(s, start_ms, end_ms, head, sealed, applied, *it, *sit,
                      sample, set);
}

absl::Status RawReader::ReadSnapshot(
    Series* s, int64_t start_ms, int64_t end_ms,
    const std::vector<Sample>& head, uint64_t sealed, uint64_t max_set_seq,
    storage::StoreIterator& it_ref, storage::StoreIterator& sit_ref,
    absl::FunctionRef<void(int64_t, double)> sample,
    absl::FunctionRef<void(int64_t, double, double, double, double)> set) {
  storage::StoreIterator* it = &it_ref;
  storage::StoreIterator* sit = &sit_ref;
  for (const Sample& x : head) {
    if (x.ts_ms >= start_ms && x.ts_ms < end_ms) sample(x.ts_ms, x.value);
  }
  for (it->Seek(
           storage::ChunkKeyPrefix(s->id, start_ms - storage::kMaxChunkSpanMs));
       it->Valid(); it->Next()) {
    storage::ChunkKey k;
    if (!storage::DecodeChunkKey(it->key(), &k) || k.series_id != s->id ||
        k.first_ts_ms >= end_ms) {
      break;
    }
    if (k.seq > sealed) continue;  // still in the head we copied
    storage::ChunkIterator ci(it->value());
    for (; ci.Valid(); ci.Next()) {
      const int64_t ts = ci.timestamp_ms();
      if (ts >= start_ms && ts < end_ms) sample(ts, ci.value());
    }
    if (!ci.status().ok()) {
      return absl::DataLossError(absl::StrCat("series ", s->id, " chunk at ",
                                              k.first_ts_ms, ": ",
                                              ci.status().message()));
    }
  }
  NIMBUS_RETURN_IF_ERROR(it->status());
  for (sit->Seek(storage::ChunkKeyPrefix(s->id, start_ms)); sit->Valid();
       sit->Next()) {
    const absl::string_view v = sit->value();
    uint64_t id;
    int64_t ts;
    if (!storage::DecodeStatSetKey(sit->key(), &id, &ts) || id != s->id) break;
    if (ts >= end_ms) break;
    // The key's log sequence (storage/keys.h): a set written by a commit
    // not applied at the snapshot.
    if (storage::GetBigEndian64(sit->key().data() + 16) > max_set_seq) continue;
    if (v.size() != storage::kStatSetValueSize) {
      return absl::DataLossError("statistic set: value is not 32 bytes");
    }
    double f[4];
    for (int i = 0; i < 4; ++i) {
      f[i] =
          std::bit_cast<double>(storage::internal::LoadLE64(v.data() + 8 * i));
    }
    set(ts, f[0], f[1], f[2], f[3]);
  }
  return sit->status();
}

}  // namespace nimbus::engine
