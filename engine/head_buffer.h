// The points of one series that are not sealed yet, in arrival order, kept
// compact: each timestamp as a zigzag varint of its difference from the one
// before (one to three bytes for a regular series), each value as its eight
// raw bytes. About 10 bytes a point instead of 16.
#ifndef NIMBUS_ENGINE_HEAD_BUFFER_H_
#define NIMBUS_ENGINE_HEAD_BUFFER_H_

#include <bit>
#include <cstdint>
#include <string>
#include <vector>

#include "storage/internal/coding.h"

namespace nimbus::engine {

struct Sample {
  int64_t ts_ms;
  double value;
};

// Thread-compatible.
class HeadBuffer {
 public:
  void Append(int64_t ts_ms, double value) {
    // Differences wrap modulo 2^64, so any pair of int64 timestamps works.
    const int64_t delta = static_cast<int64_t>(
        static_cast<uint64_t>(ts_ms) - static_cast<uint64_t>(last_ts_ms_));
    storage::internal::PutVarint64(&bytes_,
                                   storage::internal::ZigZagEncode(delta));
    storage::internal::PutFixed64(&bytes_, std::bit_cast<uint64_t>(value));
    last_ts_ms_ = ts_ms;
    ++count_;
  }

  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }

  // Appends the points, oldest first, to *out.
  void DecodeTo(std::vector<Sample>* out) const {
    const char* p = bytes_.data();
    const char* limit = p + bytes_.size();
    int64_t ts = 0;
    for (uint32_t i = 0; i < count_; ++i) {
      uint64_t zz = 0;
      storage::internal::GetVarint64(&p, limit, &zz);  // written by Append
      ts = static_cast<int64_t>(
          static_cast<uint64_t>(ts) +
          static_cast<uint64_t>(storage::internal::ZigZagDecode(zz)));
      out->push_back(
          {ts, std::bit_cast<double>(storage::internal::LoadLE64(p))});
      p += 8;
    }
  }

  // Drops the oldest n points. REQUIRES: n <= size().
  void DropFront(size_t n) {
    if (n == count_) {
      Clear();
      return;
    }
    std::vector<Sample> all;
    DecodeTo(&all);
    Clear();
    for (size_t i = n; i < all.size(); ++i) Append(all[i].ts_ms, all[i].value);
  }

  // Empties the buffer and releases its memory.
  void Clear() {
    std::string().swap(bytes_);
    count_ = 0;
    last_ts_ms_ = 0;
  }

 private:
  std::string bytes_;
  uint32_t count_ = 0;
  int64_t last_ts_ms_ = 0;
};

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_HEAD_BUFFER_H_
