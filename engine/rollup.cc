#include "engine/rollup.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "storage/internal/coding.h"

namespace nimbus::engine {
namespace {

constexpr uint8_t kRecordVersion = 1;
constexpr uint8_t kBlockVersion = 1;
constexpr uint8_t kPercentilesUnknown = 1;
constexpr size_t kHeaderSize = 2 + 4 * 8;

}  // namespace

bool IsExactSet(double sample_count, double sum, double minimum,
                double maximum) {
  return minimum == maximum && std::fabs(sum - minimum * sample_count) <=
                                   1e-9 * std::max(std::fabs(sum), 1.0);
}

void PeriodStatistics::AddSet(double sample_count, double set_sum,
                              double set_min, double set_max) {
  count += sample_count;
  sum += set_sum;
  minimum = std::min(minimum, set_min);
  maximum = std::max(maximum, set_max);
  if (IsExactSet(sample_count, set_sum, set_min, set_max)) {
    sketch.Add(set_min, sample_count);
  } else {
    percentiles_known = false;
  }
}

void PeriodStatistics::Merge(const PeriodStatistics& other) {
  count += other.count;
  sum += other.sum;
  minimum = std::min(minimum, other.minimum);
  maximum = std::max(maximum, other.maximum);
  sketch.Merge(other.sketch);
  percentiles_known = percentiles_known && other.percentiles_known;
}

void PeriodStatistics::Clear() {
  count = 0;
  sum = 0;
  minimum = std::numeric_limits<double>::infinity();
  maximum = -std::numeric_limits<double>::infinity();
  sketch.Clear();
  percentiles_known = true;
}

std::string PeriodStatistics::Encode() const {
  std::string out;
  EncodeTo(&out);
  return out;
}

void PeriodStatistics::EncodeTo(std::string* out) const {
  out->clear();
  out->push_back(static_cast<char>(kRecordVersion));
  out->push_back(
      static_cast<char>(percentiles_known ? 0 : kPercentilesUnknown));
  for (double v : {count, sum, minimum, maximum}) {
    storage::internal::PutFixed64(out, std::bit_cast<uint64_t>(v));
  }
  sketch.SerializeTo(out);
}

absl::StatusOr<PeriodStatistics> PeriodStatistics::Decode(
    absl::string_view bytes, bool with_sketch) {
  if (bytes.size() < kHeaderSize) {
    return absl::DataLossError(
        absl::StrCat("rollup record: ", bytes.size(), " bytes, too short"));
  }
  if (static_cast<uint8_t>(bytes[0]) != kRecordVersion) {
    return absl::DataLossError(
        absl::StrCat("rollup record: version ", static_cast<int>(bytes[0]),
                     "; this build reads version ", kRecordVersion));
  }
  PeriodStatistics p;
  p.percentiles_known =
      (static_cast<uint8_t>(bytes[1]) & kPercentilesUnknown) == 0;
  double* fields[] = {&p.count, &p.sum, &p.minimum, &p.maximum};
  for (int i = 0; i < 4; ++i) {
    *fields[i] = std::bit_cast<double>(
        storage::internal::LoadLE64(bytes.data() + 2 + 8 * i));
  }
  if (with_sketch) {
    auto sketch = QuantileSketch::Parse(bytes.substr(kHeaderSize));
    if (!sketch.ok()) return sketch.status();
    p.sketch = std::move(*sketch);
  }
  return p;
}

std::string EncodeDirtyRecord(const std::vector<DirtyHour>& hours) {
  std::string out;
  out.push_back(static_cast<char>(kDirtyRecordVersion));
  storage::internal::PutVarint64(&out, hours.size());
  for (const DirtyHour& h : hours) {
    storage::internal::PutVarint64(&out, h.series_id);
    storage::internal::PutVarint64(
        &out, storage::internal::ZigZagEncode(h.hour_ms / 3'600'000));
  }
  return out;
}

absl::Status DecodeDirtyRecord(absl::string_view bytes,
                               std::vector<DirtyHour>* out) {
  if (bytes.empty() || static_cast<uint8_t>(bytes[0]) != kDirtyRecordVersion) {
    return absl::DataLossError(
        "rollup_dirty record: missing or unknown version");
  }
  return DecodeLegacyDirtyRecord(bytes.substr(1), out);
}

absl::Status DecodeLegacyDirtyRecord(absl::string_view bytes,
                                     std::vector<DirtyHour>* out) {
  const char* p = bytes.data();
  const char* limit = p + bytes.size();
  uint64_t n;
  if (!storage::internal::GetVarint64(&p, limit, &n) ||
      n > static_cast<uint64_t>(limit - p)) {
    return absl::DataLossError("rollup_dirty record: malformed count");
  }
  for (uint64_t k = 0; k < n; ++k) {
    uint64_t id, zz;
    if (!storage::internal::GetVarint64(&p, limit, &id) ||
        !storage::internal::GetVarint64(&p, limit, &zz)) {
      return absl::DataLossError("rollup_dirty record: truncated");
    }
    const int64_t hour = storage::internal::ZigZagDecode(zz);
    if (hour > (int64_t{1} << 40) || hour < -(int64_t{1} << 40)) {
      return absl::DataLossError("rollup_dirty record: hour out of range");
    }
    out->push_back({id, hour * 3'600'000});
  }
  if (p != limit) return absl::DataLossError("rollup_dirty record: trailing");
  return absl::OkStatus();
}

void EncodeRollupBlock(const PeriodStatistics* const* records, int n,
                       std::string* out) {
  out->clear();
  out->push_back(static_cast<char>(kBlockVersion));
  int present = 0;
  for (int i = 0; i < n; ++i) present += records[i] != nullptr;
  storage::internal::PutVarint64(out, static_cast<uint64_t>(present));
  std::string record;
  for (int i = 0; i < n; ++i) {
    if (records[i] == nullptr) continue;
    records[i]->EncodeTo(&record);
    out->push_back(static_cast<char>(i));
    storage::internal::PutVarint64(out, record.size());
    out->append(record);
  }
}

absl::Status DecodeRollupBlock(
    absl::string_view bytes, int slots, bool with_sketch,
    absl::FunctionRef<void(int index, PeriodStatistics& record)> visit) {
  const char* p = bytes.data();
  const char* limit = p + bytes.size();
  if (p == limit || static_cast<uint8_t>(*p) != kBlockVersion) {
    return absl::DataLossError(absl::StrCat(
        "rollup block: version ",
        p == limit ? -1 : static_cast<int>(static_cast<uint8_t>(*p)),
        "; this build reads version ", kBlockVersion));
  }
  ++p;
  uint64_t n;
  if (!storage::internal::GetVarint64(&p, limit, &n)) {
    return absl::DataLossError("rollup block: malformed count");
  }
  int previous = -1;
  for (uint64_t k = 0; k < n; ++k) {
    uint64_t len;
    if (p == limit) return absl::DataLossError("rollup block: truncated");
    const int index = static_cast<uint8_t>(*p++);
    if (index >= slots || index <= previous) {
      return absl::DataLossError(absl::StrCat("rollup block: period index ",
                                              index, " after ", previous,
                                              " in a block of ", slots));
    }
    previous = index;
    if (!storage::internal::GetVarint64(&p, limit, &len) ||
        len > static_cast<uint64_t>(limit - p)) {
      return absl::DataLossError("rollup block: truncated record");
    }
    auto r = PeriodStatistics::Decode(absl::string_view(p, len), with_sketch);
    if (!r.ok()) return r.status();
    p += len;
    visit(index, *r);
  }
  if (p != limit) return absl::DataLossError("rollup block: trailing bytes");
  return absl::OkStatus();
}

}  // namespace nimbus::engine
