// Fixed-width bit packing: n unsigned values of `width` bits each, stored
// LSB-first in a byte string (value i occupies bits [i*width, (i+1)*width)).
#ifndef NIMBUS_STORAGE_INTERNAL_BITPACK_H_
#define NIMBUS_STORAGE_INTERNAL_BITPACK_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace nimbus::storage::internal {

// Bytes taken by n values of `width` bits.
inline size_t PackedBytes(size_t n, int width) {
  return (n * static_cast<size_t>(width) + 7) / 8;
}

// Appends PackedBytes(n, width) bytes to *out.
// REQUIRES: 0 <= width <= 64 and every in[i] < 2^width.
void PackBits(const uint64_t* in, size_t n, int width, std::string* out);

// Reads n values of `width` bits from src into out[0, n).
// REQUIRES: 0 <= width <= 64 and [src, src + PackedBytes(n, width)) is
// readable. Bytes in [src, readable_end) beyond the packed bytes may be read
// (and are masked off) to use whole-word loads; nothing at or after
// `readable_end` is read.
void UnpackBits(const char* src, const char* readable_end, size_t n, int width,
                uint64_t* out);

}  // namespace nimbus::storage::internal

#endif  // NIMBUS_STORAGE_INTERNAL_BITPACK_H_
