#include "storage/keys.h"

namespace nimbus::storage {

void PutBigEndian64(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 7; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xFF);
    v >>= 8;
  }
  out->append(buf, 8);
}

uint64_t GetBigEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string EncodeChunkKey(const ChunkKey& k) {
  std::string out;
  out.reserve(kChunkKeySize);
  PutBigEndian64(&out, k.series_id);
  PutBigEndian64(&out, OrderedFromSigned(k.first_ts_ms));
  PutBigEndian64(&out, k.seq);
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>(k.part >> shift));
  }
  return out;
}

bool DecodeChunkKey(absl::string_view key, ChunkKey* k) {
  if (key.size() != kChunkKeySize) return false;
  k->series_id = GetBigEndian64(key.data());
  k->first_ts_ms = SignedFromOrdered(GetBigEndian64(key.data() + 8));
  k->seq = GetBigEndian64(key.data() + 16);
  k->part = 0;
  for (int i = 24; i < 28; ++i) {
    k->part = (k->part << 8) | static_cast<uint8_t>(key[i]);
  }
  return true;
}

std::string ChunkKeyPrefix(uint64_t series_id, int64_t ts_ms) {
  std::string out;
  PutBigEndian64(&out, series_id);
  PutBigEndian64(&out, OrderedFromSigned(ts_ms));
  return out;
}

std::string AlarmHistoryKeyPrefix(absl::string_view alarm_name) {
  std::string out(alarm_name);
  out.push_back('\0');
  return out;
}

std::string EncodeAlarmHistoryKey(absl::string_view alarm_name, int64_t time_ms,
                                  uint64_t seq) {
  std::string out = AlarmHistoryKeyPrefix(alarm_name);
  PutBigEndian64(&out, OrderedFromSigned(time_ms));
  PutBigEndian64(&out, seq);
  return out;
}

bool DecodeAlarmHistoryKey(absl::string_view key, absl::string_view* alarm_name,
                           int64_t* time_ms, uint64_t* seq) {
  if (key.size() < kAlarmHistoryKeySuffix) return false;
  const size_t name_size = key.size() - kAlarmHistoryKeySuffix;
  if (key[name_size] != '\0') return false;
  *alarm_name = key.substr(0, name_size);
  *time_ms = SignedFromOrdered(GetBigEndian64(key.data() + name_size + 1));
  *seq = GetBigEndian64(key.data() + name_size + 9);
  return true;
}

std::string EncodeRollupKey(uint64_t series_id, int64_t period_start_ms) {
  return ChunkKeyPrefix(series_id, period_start_ms);
}

bool DecodeRollupKey(absl::string_view key, uint64_t* series_id,
                     int64_t* period_start_ms) {
  if (key.size() != kRollupKeySize) return false;
  *series_id = GetBigEndian64(key.data());
  *period_start_ms = SignedFromOrdered(GetBigEndian64(key.data() + 8));
  return true;
}

std::string EncodeLogKey(uint64_t seq) {
  std::string out;
  PutBigEndian64(&out, seq);
  return out;
}

bool DecodeLogKey(absl::string_view key, uint64_t* seq) {
  if (key.size() != 8) return false;
  *seq = GetBigEndian64(key.data());
  return true;
}

std::string EncodeSeriesIndexKey(absl::string_view encoded_series_key) {
  std::string out;
  out.reserve(1 + encoded_series_key.size());
  out.push_back(kSeriesKeyTag);
  out.append(encoded_series_key.data(), encoded_series_key.size());
  return out;
}

std::string EncodeSeriesIdKey(char tag, uint64_t series_id) {
  std::string out(1, tag);
  PutBigEndian64(&out, series_id);
  return out;
}

bool DecodeSeriesIdKey(absl::string_view key, char tag, uint64_t* series_id) {
  if (key.size() != 9 || key[0] != tag) return false;
  *series_id = GetBigEndian64(key.data() + 1);
  return true;
}

std::string EncodeStatSetKey(uint64_t series_id, int64_t ts_ms, uint64_t seq,
                             uint32_t ordinal) {
  std::string out;
  out.reserve(kStatSetKeySize);
  PutBigEndian64(&out, series_id);
  PutBigEndian64(&out, OrderedFromSigned(ts_ms));
  PutBigEndian64(&out, seq);
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>(ordinal >> shift));
  }
  return out;
}

bool DecodeStatSetKey(absl::string_view key, uint64_t* series_id,
                      int64_t* ts_ms) {
  if (key.size() != kStatSetKeySize) return false;
  *series_id = GetBigEndian64(key.data());
  *ts_ms = SignedFromOrdered(GetBigEndian64(key.data() + 8));
  return true;
}

}  // namespace nimbus::storage
