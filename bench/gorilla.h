// Plain Gorilla compression (Pelkonen et al., VLDB 2015) with Prometheus's
// millisecond timestamp buckets: the baseline the chunk codec is measured
// against. Benchmark-only; not a Nimbus format.
#ifndef NIMBUS_BENCH_GORILLA_H_
#define NIMBUS_BENCH_GORILLA_H_

#include <cstdint>
#include <string>
#include <vector>

namespace nimbus::bench {

// Encodes the points into a bit stream (no header, no checksum).
std::string GorillaEncode(const std::vector<int64_t>& timestamps_ms,
                          const std::vector<double>& values);

// Decodes `count` points of a GorillaEncode() stream, calling
// sink(timestamp_ms, value) for each.
template <typename Sink>
void GorillaDecode(const std::string& data, size_t count, Sink&& sink);

// Bit-at-a-time reader over a byte string (MSB first), padded by the caller.
class GorillaBitReader {
 public:
  explicit GorillaBitReader(const std::string& data) : data_(data) {}
  uint64_t Read(int bits) {
    uint64_t v = 0;
    while (bits > 0) {
      const size_t byte = pos_ >> 3;
      const int avail = 8 - static_cast<int>(pos_ & 7);
      const int take = bits < avail ? bits : avail;
      const uint8_t b =
          byte < data_.size() ? static_cast<uint8_t>(data_[byte]) : 0;
      const uint64_t chunk = (b >> (avail - take)) & ((1u << take) - 1);
      v = (v << take) | chunk;
      pos_ += take;
      bits -= take;
    }
    return v;
  }
  bool Bit() { return Read(1) != 0; }

 private:
  const std::string& data_;
  size_t pos_ = 0;
};

template <typename Sink>
void GorillaDecode(const std::string& data, size_t count, Sink&& sink) {
  if (count == 0) return;
  GorillaBitReader r(data);
  int64_t t = static_cast<int64_t>(r.Read(64));
  uint64_t v = r.Read(64);
  sink(t, v);
  int64_t delta = 0;
  int leading = 0, trailing = 0;
  for (size_t i = 1; i < count; ++i) {
    int64_t dod;
    if (!r.Bit()) {
      dod = 0;
    } else if (!r.Bit()) {
      dod = static_cast<int64_t>(r.Read(14)) - 8191;
    } else if (!r.Bit()) {
      dod = static_cast<int64_t>(r.Read(17)) - 65535;
    } else if (!r.Bit()) {
      dod = static_cast<int64_t>(r.Read(20)) - 524287;
    } else {
      dod = static_cast<int64_t>(r.Read(64));
    }
    delta += dod;
    t += delta;
    if (r.Bit()) {
      if (r.Bit()) {
        leading = static_cast<int>(r.Read(5));
        int sig = static_cast<int>(r.Read(6));
        if (sig == 0) sig = 64;
        trailing = 64 - leading - sig;
      }
      const int sig = 64 - leading - trailing;
      v ^= r.Read(sig) << trailing;
    }
    sink(t, v);
  }
}

}  // namespace nimbus::bench

#endif  // NIMBUS_BENCH_GORILLA_H_
