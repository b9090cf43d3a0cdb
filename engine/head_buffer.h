// The points of one series that are not sealed yet, in arrival order, kept
// compact because every active series holds one: a bit stream in the manner
// of Gorilla (Pelkonen et al., VLDB 2015), as Prometheus keeps its head
// chunks. A timestamp is its delta-of-delta (one bit for a regular series,
// a few bits for jitter, 64 for anything else: arrival order is free); a
// value is one bit when unchanged; else, when it and the value before are
// exact decimals at the head's scale (integers over 10^k, k <= 6, the scale
// found from the values themselves), the difference of the two integers in
// 9 to 37 bits; else its XOR with the value before (its meaningful bits,
// reusing the previous leading/trailing-zero window when they fit). In
// memory only: sealing encodes chunks (storage/chunk_codec.h),
// and the ingest log has its own record format.
//
// The buffer grows by a quarter of its size (not doubling), so that a head of
// a few hundred bytes wastes little.
#ifndef NIMBUS_ENGINE_HEAD_BUFFER_H_
#define NIMBUS_ENGINE_HEAD_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace nimbus::engine {

struct Sample {
  int64_t ts_ms;
  double value;
};

// Thread-compatible.
class HeadBuffer {
 public:
  HeadBuffer() = default;
  HeadBuffer(const HeadBuffer&) = delete;
  HeadBuffer& operator=(const HeadBuffer&) = delete;

  void Append(int64_t ts_ms, double value);

  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  // Bytes allocated for the points (for memory accounting and tests).
  size_t capacity_bytes() const { return capacity_; }

  // Appends the points, oldest first, to *out.
  void DecodeTo(std::vector<Sample>* out) const;

  // Drops the oldest n points. REQUIRES: n <= size().
  void DropFront(size_t n);

  // Empties the buffer and releases its memory.
  void Clear();

 private:
  // Follows the decimal scale after value v: the one v is an exact decimal
  // at, raised if need be, or a miss. at_scale: 1 or 0 if the caller knows
  // whether v is a decimal at the current scale, -1 if not.
  void AfterValue(double v, int at_scale = -1);
  // Room for `bits` more bits, zeroed.
  void Reserve(size_t bits);
  void Write(uint64_t v, int n);  // the low n bits of v, n <= 64

  std::unique_ptr<uint8_t[]> bytes_;
  uint32_t bit_size_ = 0;  // bits used
  uint32_t capacity_ = 0;  // bytes allocated
  uint32_t count_ = 0;
  uint8_t lead_ = 0;              // the XOR window of the last value written
  uint8_t length_ = 0;            // its width in bits; 0: no window yet
  int8_t scale_ = -1;             // the decimal scale; -1: none yet
  uint8_t scale_misses_ : 7 = 0;  // values decimal at no scale
  // The last value is a decimal at scale_ (Append's state only).
  bool last_decimal_ : 1 = false;
  int64_t last_ts_ms_ = 0;
  int64_t last_delta_ = 0;
  uint64_t last_bits_ = 0;
};

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_HEAD_BUFFER_H_
