#include "storage/internal/bitpack.h"

#include <array>
#include <utility>

#include "storage/internal/coding.h"

namespace nimbus::storage::internal {

void PackBits(const uint64_t* in, size_t n, int width, std::string* out) {
  if (width == 0 || n == 0) return;
  if (width == 64) {
    for (size_t i = 0; i < n; ++i) PutFixed64(out, in[i]);
    return;
  }
  const size_t start = out->size();
  out->resize(start + PackedBytes(n, width));
  char* dst = out->data() + start;
  uint64_t acc = 0;
  int filled = 0;  // bits of `acc` in use, always < 64
  for (size_t i = 0; i < n; ++i) {
    const uint64_t v = in[i];
    acc |= v << filled;
    filled += width;
    if (filled >= 64) {
      std::memcpy(dst, &acc, 8);
      dst += 8;
      filled -= 64;
      // The bits of v that did not fit; filled < width here, so the shift
      // amount width - filled is in [1, 64).
      acc = filled == 0 ? 0 : v >> (width - filled);
    }
  }
  const int tail_bytes = (filled + 7) / 8;
  std::memcpy(dst, &acc, tail_bytes);
}

namespace {

// Reads one value starting at bit `bit` using only bytes inside the packed
// region; used near the end of the readable range.
inline uint64_t ReadBitsSlow(const char* src, size_t bit, int width,
                             uint64_t mask) {
  const char* p = src + (bit >> 3);
  const int shift = static_cast<int>(bit & 7);
  const int nbytes = (shift + width + 7) / 8;  // at most 9
  unsigned __int128 acc = 0;
  for (int k = 0; k < nbytes; ++k) {
    acc |= static_cast<unsigned __int128>(static_cast<uint8_t>(p[k]))
           << (8 * k);
  }
  return static_cast<uint64_t>(acc >> shift) & mask;
}

template <int kWidth>
inline void UnpackFixed(const char* src, size_t n_fast, uint64_t* out) {
  constexpr uint64_t kMask =
      kWidth == 64 ? ~uint64_t{0} : (uint64_t{1} << kWidth) - 1;
  for (size_t i = 0; i < n_fast; ++i) {
    const size_t bit = i * kWidth;
    out[i] = (LoadLE64(src + (bit >> 3)) >> (bit & 7)) & kMask;
  }
}

using UnpackFn = void (*)(const char*, size_t, uint64_t*);

template <int... kWidths>
constexpr auto MakeUnpackTable(std::integer_sequence<int, kWidths...>) {
  return std::array<UnpackFn, sizeof...(kWidths)>{&UnpackFixed<kWidths>...};
}

// Widths 1..56 can be read with one unaligned 64-bit load: the value starts
// at most 7 bits into the word.
constexpr int kMaxSingleLoadWidth = 56;
constexpr auto kUnpackTable =
    MakeUnpackTable(std::make_integer_sequence<int, kMaxSingleLoadWidth + 1>());

}  // namespace

void UnpackBits(const char* src, const char* readable_end, size_t n, int width,
                uint64_t* out) {
  if (width == 0) {
    for (size_t i = 0; i < n; ++i) out[i] = 0;
    return;
  }
  if (width == 64) {
    for (size_t i = 0; i < n; ++i) out[i] = LoadLE64(src + 8 * i);
    return;
  }
  const uint64_t mask = (uint64_t{1} << width) - 1;
  const size_t avail = static_cast<size_t>(readable_end - src);
  size_t i = 0;
  if (width <= kMaxSingleLoadWidth) {
    // Value i is loaded from byte (i*width)/8 and needs 8 bytes from there.
    size_t n_fast = 0;
    if (avail >= 8) {
      n_fast = ((avail - 8) * 8 + 7) / width + 1;
      if (n_fast > n) n_fast = n;
    }
    kUnpackTable[width](src, n_fast, out);
    i = n_fast;
  } else {
    for (; i < n; ++i) {
      const size_t bit = i * width;
      const char* p = src + (bit >> 3);
      if (static_cast<size_t>(p - src) + 9 > avail) break;
      const int shift = static_cast<int>(bit & 7);
      uint64_t v = LoadLE64(p) >> shift;
      if (shift != 0) {
        v |= static_cast<uint64_t>(static_cast<uint8_t>(p[8])) << (64 - shift);
      }
      out[i] = v & mask;
    }
  }
  for (; i < n; ++i) out[i] = ReadBitsSlow(src, i * width, width, mask);
}

}  // namespace nimbus::storage::internal
