#include "engine/head_buffer.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "storage/internal/coding.h"

namespace nimbus::engine {
namespace {

using storage::internal::ZigZagDecode;
using storage::internal::ZigZagEncode;

// The most bits a point takes: a 4-bit prefix and 64 bits of timestamp,
// three control bits, a 12-bit window and 64 bits of value.
constexpr size_t kMaxPointBits = 4 + 64 + 3 + 12 + 64;
// Zeroed bytes kept past the last bit, so that a write or read may touch
// the nine bytes from its first one (little-endian words).
constexpr size_t kSlackBytes = 8;
static_assert(std::endian::native == std::endian::little,
              "the bit stream is read and written in little-endian words");

// Decimal deltas (see IsDecimal): prefix, payload bits (zigzag).
//   0    + 6 bits           |d| < 2^5
//   10   + 12 bits          |d| < 2^11
//   110  + 20 bits          |d| < 2^19
//   111  + 32 bits          |d| < 2^31; larger ones are XORed
constexpr int kDecimalBits[] = {6, 12, 20, 32};

// The largest decimal scale tried, and how many values may fail to be
// decimal at any scale before a head stops looking (a series of arbitrary
// doubles then pays nothing for it).
constexpr int kMaxScale = 6;
constexpr int kMaxScaleMisses = 8;
constexpr double kPow10[kMaxScale + 1] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};

// v * 10^k rounded to the nearest integer: adding and removing 1.5 * 2^52
// drops the fraction. REQUIRES: |v * 10^k| < 2^51, where it is exact.
int64_t Scaled(double v, int k) {
  return static_cast<int64_t>((v * kPow10[k] + 0x1.8p52) - 0x1.8p52);
}

// Whether v is exactly the integer *n divided by 10^k, as the decoder
// computes it: bit for bit (so -0.0, NaN and infinities never are).
bool IsDecimal(double v, int k, int64_t* n) {
  const double scaled = v * kPow10[k];
  if (!(scaled > -0x1p51 && scaled < 0x1p51)) return false;
  const int64_t m = Scaled(v, k);
  if (std::bit_cast<uint64_t>(static_cast<double>(m) / kPow10[k]) !=
      std::bit_cast<uint64_t>(v)) {
    return false;
  }
  *n = m;
  return true;
}

// Delta-of-delta classes: prefix, prefix bits, payload bits (zigzag).
//   0                       dod 0
//   10   + 7 bits           |dod| < 2^6
//   110  + 12 bits          |dod| < 2^11
//   1110 + 20 bits          |dod| < 2^19
//   1111 + 64 bits          anything
constexpr int kDodBits[] = {7, 12, 20};

// Differences wrap modulo 2^64, so any int64 timestamps work.
int64_t WrapSub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) -
                              static_cast<uint64_t>(b));
}
int64_t WrapAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) +
                              static_cast<uint64_t>(b));
}

// Reads what HeadBuffer::Write wrote: least significant bit first, a word
// at a time (the buffer keeps kSlackBytes readable past its last bit).
class BitReader {
 public:
  explicit BitReader(const uint8_t* bytes) : bytes_(bytes) {}

  uint64_t Read(int n) {  // 1 <= n <= 64
    const uint8_t* at = bytes_ + (pos_ >> 3);
    const int off = static_cast<int>(pos_ & 7);
    uint64_t w;
    std::memcpy(&w, at, 8);
    uint64_t v = w >> off;
    if (off + n > 64) v |= uint64_t{at[8]} << (64 - off);
    pos_ += static_cast<size_t>(n);
    return n == 64 ? v : v & ((uint64_t{1} << n) - 1);
  }
  bool Bit() {
    const bool b = (bytes_[pos_ >> 3] >> (pos_ & 7)) & 1;
    ++pos_;
    return b;
  }

 private:
  const uint8_t* bytes_;
  size_t pos_ = 0;
};

}  // namespace

void HeadBuffer::Reserve(size_t bits) {
  const size_t need = (bit_size_ + bits + 7) / 8 + kSlackBytes;
  if (need <= capacity_) return;
  // A quarter again, at least 32 bytes: a head of 120 points takes about ten
  // growths, each a copy of a few hundred bytes at most, and wastes a tenth
  // of its size on average.
  const size_t want =
      std::max<size_t>({need, capacity_ + capacity_ / 4, size_t{32}});
  std::unique_ptr<uint8_t[]> grown(new uint8_t[want]);
  const size_t used = (bit_size_ + 7) / 8;
  if (used > 0) std::memcpy(grown.get(), bytes_.get(), used);
  std::memset(grown.get() + used, 0, want - used);
  bytes_ = std::move(grown);
  capacity_ = static_cast<uint32_t>(want);
}

void HeadBuffer::Write(uint64_t v, int n) {
  if (n < 64) v &= (uint64_t{1} << n) - 1;
  uint8_t* at = bytes_.get() + (bit_size_ >> 3);
  const int off = static_cast<int>(bit_size_ & 7);
  // Bits past bit_size_ are zero: OR the value in a word at a time.
  uint64_t w;
  std::memcpy(&w, at, 8);
  w |= v << off;
  std::memcpy(at, &w, 8);
  if (off + n > 64) at[8] |= static_cast<uint8_t>(v >> (64 - off));
  bit_size_ += static_cast<uint32_t>(n);
}

void HeadBuffer::AfterValue(double v, int at_scale) {
  int64_t n;
  last_decimal_ = true;
  if (scale_ >= 0 &&
      (at_scale >= 0 ? at_scale == 1 : IsDecimal(v, scale_, &n))) {
    return;
  }
  if (scale_misses_ < kMaxScaleMisses) {
    // Decimal at scale k means decimal at every larger one (the same
    // rational number, correctly rounded), so the scale only grows.
    for (int k = scale_ + 1; k <= kMaxScale; ++k) {
      if (IsDecimal(v, k, &n)) {
        scale_ = static_cast<int8_t>(k);
        return;
      }
    }
    ++scale_misses_;
  }
  last_decimal_ = false;
}

void HeadBuffer::Append(int64_t ts_ms, double value) {
  Reserve(kMaxPointBits);
  const int64_t delta = WrapSub(ts_ms, last_ts_ms_);
  const uint64_t zz = ZigZagEncode(WrapSub(delta, last_delta_));
  if (count_ == 0) {
    Write(static_cast<uint64_t>(ts_ms), 64);
  } else if (zz == 0) {
    Write(0, 1);
  } else {
    int cls = 0;
    while (cls < 3 && zz >= (uint64_t{1} << kDodBits[cls])) ++cls;
    // Prefix: a one, cls more ones, then a zero unless cls is the last.
    Write(1, 1);
    Write((uint64_t{1} << cls) - 1, cls);
    if (cls < 3) {
      Write(0, 1);
      Write(zz, kDodBits[cls]);
    } else {
      Write(zz, 64);
    }
  }
  const uint64_t bits = std::bit_cast<uint64_t>(value);
  const uint64_t x = bits ^ last_bits_;
  // Whether the value is a decimal at the scale: computed once, for the
  // choice here and for AfterValue (-1: not computed).
  int at_scale = -1;
  int64_t n = 0;
  if (count_ > 0 && x != 0 && scale_ >= 0) {
    at_scale = IsDecimal(value, scale_, &n) ? 1 : 0;
  }
  uint64_t dz = 0;
  bool decimal =
      at_scale == 1 && last_decimal_ &&
      (dz = ZigZagEncode(n - Scaled(std::bit_cast<double>(last_bits_),
                                    scale_))) < (uint64_t{1} << 32);
  int cls = 0;
  if (decimal) {
    while (cls < 3 && dz >= (uint64_t{1} << kDecimalBits[cls])) ++cls;
    // Whichever is shorter: the difference, or the XOR (multiples of 4096,
    // say, have long runs of zero bits at the end of their mantissas).
    const int lead = std::countl_zero(x);
    const int trail = std::countr_zero(x);
    const int xor_bits =
        length_ > 0 && lead >= lead_ && 64 - lead_ - length_ <= trail
            ? 1 + length_
            : 13 + (64 - lead - trail);
    decimal = cls + (cls < 3 ? 1 : 0) + kDecimalBits[cls] <= xor_bits;
  }
  if (count_ == 0) {
    Write(bits, 64);
  } else if (x == 0) {
    Write(0, 1);
  } else if (decimal) {
    // 1, 0, then the class prefix and the zigzagged difference.
    Write(1, 1);
    Write(0, 1);
    Write((uint64_t{1} << cls) - 1, cls);
    if (cls < 3) Write(0, 1);
    Write(dz, kDecimalBits[cls]);
  } else {
    Write(1, 1);
    Write(1, 1);
    const int lead = std::countl_zero(x);
    const int trail = std::countr_zero(x);
    if (length_ > 0 && lead >= lead_ && 64 - lead_ - length_ <= trail) {
      // Fits the previous window.
      Write(0, 1);
      Write(x >> (64 - lead_ - length_), length_);
    } else {
      const int length = 64 - lead - trail;
      Write(1, 1);
      Write(static_cast<uint64_t>(lead), 6);
      Write(static_cast<uint64_t>(length - 1), 6);
      Write(x >> trail, length);
      lead_ = static_cast<uint8_t>(lead);
      length_ = static_cast<uint8_t>(length);
    }
  }
  last_ts_ms_ = ts_ms;
  // The first point's "delta" from 0 is no delta: the second point's
  // delta-of-delta is its delta.
  last_delta_ = count_ == 0 ? 0 : delta;
  last_bits_ = bits;
  ++count_;
  // Only for a first or changed value: the decoder follows the scale on the
  // values it decodes, and an unchanged one is a single bit to it (a repeat
  // would otherwise count a miss here and not there).
  if (count_ == 1 || x != 0) AfterValue(value, at_scale);
}

void HeadBuffer::DecodeTo(std::vector<Sample>* out) const {
  if (count_ == 0) return;
  BitReader r(bytes_.get());
  out->reserve(out->size() + count_);
  // The decimal scale, followed as Append followed it.
  HeadBuffer head;
  int64_t ts = 0, delta = 0;
  uint64_t bits = 0;
  int lead = 0, length = 0;
  for (uint32_t i = 0; i < count_; ++i) {
    // Written by Append: well formed.
    if (i == 0) {
      ts = static_cast<int64_t>(r.Read(64));
      delta = 0;
      bits = r.Read(64);
      head.AfterValue(std::bit_cast<double>(bits));
    } else {
      if (r.Bit()) {
        int cls = 0;
        while (cls < 3 && r.Bit()) ++cls;  // consumes the closing zero
        const uint64_t zz = r.Read(cls < 3 ? kDodBits[cls] : 64);
        delta = WrapAdd(delta, ZigZagDecode(zz));
      }
      ts = WrapAdd(ts, delta);
      if (r.Bit()) {
        if (!r.Bit()) {
          int cls = 0;
          while (cls < 3 && r.Bit()) ++cls;  // consumes the closing zero
          // Append wrote this only for a decimal last value.
          const int64_t n = Scaled(std::bit_cast<double>(bits), head.scale_) +
                            ZigZagDecode(r.Read(kDecimalBits[cls]));
          bits = std::bit_cast<uint64_t>(static_cast<double>(n) /
                                         kPow10[head.scale_]);
        } else {
          if (r.Bit()) {
            lead = static_cast<int>(r.Read(6));
            length = static_cast<int>(r.Read(6)) + 1;
          }
          bits ^= r.Read(length) << (64 - lead - length);
        }
        head.AfterValue(std::bit_cast<double>(bits));
      }
    }
    out->push_back({ts, std::bit_cast<double>(bits)});
  }
}

void HeadBuffer::DropFront(size_t n) {
  if (n == count_) {
    Clear();
    return;
  }
  std::vector<Sample> all;
  DecodeTo(&all);
  Clear();
  for (size_t i = n; i < all.size(); ++i) Append(all[i].ts_ms, all[i].value);
}

void HeadBuffer::Clear() {
  bytes_.reset();
  bit_size_ = capacity_ = count_ = 0;
  lead_ = length_ = 0;
  scale_ = -1;
  scale_misses_ = 0;
  last_decimal_ = false;
  last_ts_ms_ = last_delta_ = 0;
  last_bits_ = 0;
}

}  // namespace nimbus::engine
