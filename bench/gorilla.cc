#include "bench/gorilla.h"

#include <bit>

namespace nimbus::bench {
namespace {

class BitWriter {
 public:
  void Write(uint64_t v, int bits) {
    while (bits > 0) {
      if ((pos_ & 7) == 0) out_.push_back(0);
      const int room = 8 - static_cast<int>(pos_ & 7);
      const int take = bits < room ? bits : room;
      const uint8_t chunk =
          static_cast<uint8_t>((v >> (bits - take)) & ((1u << take) - 1));
      out_.back() = static_cast<char>(static_cast<uint8_t>(out_.back()) |
                                      (chunk << (room - take)));
      pos_ += take;
      bits -= take;
    }
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
  size_t pos_ = 0;
};

}  // namespace

std::string GorillaEncode(const std::vector<int64_t>& ts,
                          const std::vector<double>& values) {
  BitWriter w;
  if (ts.empty()) return {};
  w.Write(static_cast<uint64_t>(ts[0]), 64);
  uint64_t prev = std::bit_cast<uint64_t>(values[0]);
  w.Write(prev, 64);
  int64_t delta = 0;
  int leading = -1, trailing = 0;
  for (size_t i = 1; i < ts.size(); ++i) {
    const int64_t d = ts[i] - ts[i - 1];
    const int64_t dod = d - delta;
    delta = d;
    if (dod == 0) {
      w.Write(0, 1);
    } else if (dod >= -8191 && dod <= 8192) {
      w.Write(0b10, 2);
      w.Write(static_cast<uint64_t>(dod + 8191), 14);
    } else if (dod >= -65535 && dod <= 65536) {
      w.Write(0b110, 3);
      w.Write(static_cast<uint64_t>(dod + 65535), 17);
    } else if (dod >= -524287 && dod <= 524288) {
      w.Write(0b1110, 4);
      w.Write(static_cast<uint64_t>(dod + 524287), 20);
    } else {
      w.Write(0b1111, 4);
      w.Write(static_cast<uint64_t>(dod), 64);
    }
    const uint64_t cur = std::bit_cast<uint64_t>(values[i]);
    const uint64_t x = cur ^ prev;
    prev = cur;
    if (x == 0) {
      w.Write(0, 1);
      continue;
    }
    w.Write(1, 1);
    int lz = std::countl_zero(x);
    const int tz = std::countr_zero(x);
    if (lz > 31) lz = 31;  // 5 bits
    if (leading >= 0 && lz >= leading && tz >= trailing) {
      w.Write(0, 1);
      w.Write(x >> trailing, 64 - leading - trailing);
    } else {
      leading = lz;
      trailing = tz;
      const int sig = 64 - leading - trailing;
      w.Write(1, 1);
      w.Write(static_cast<uint64_t>(leading), 5);
      w.Write(static_cast<uint64_t>(sig == 64 ? 0 : sig), 6);
      w.Write(x >> trailing, sig);
    }
  }
  return w.Take();
}

}  // namespace nimbus::bench
