// Byte-level encoding helpers for Nimbus formats: little-endian fixed-width
// integers, LEB128 varints and zigzag mapping. GetVarint64 takes an explicit
// limit and never reads past it; the fixed-width loads read exactly 4 or 8
// bytes, which the caller must have checked are there.
#ifndef NIMBUS_STORAGE_INTERNAL_CODING_H_
#define NIMBUS_STORAGE_INTERNAL_CODING_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>

static_assert(std::endian::native == std::endian::little,
              "Nimbus formats are little-endian and the codec loads words "
              "directly; a big-endian port needs byte swaps here");

namespace nimbus::storage::internal {

inline uint64_t ZigZagEncode(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t ZigZagDecode(uint64_t u) {
  return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
}

inline uint64_t LoadLE64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint32_t LoadLE32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline void PutFixed64(std::string* out, uint64_t v) {
  char buf[8];
  std::memcpy(buf, &v, 8);
  out->append(buf, 8);
}
inline void PutFixed32(std::string* out, uint32_t v) {
  char buf[4];
  std::memcpy(buf, &v, 4);
  out->append(buf, 4);
}

inline int VarintLength(uint64_t v) {
  // 1 + floor(log2(v) / 7), with 0 taking one byte.
  return 1 + (63 - std::countl_zero(v | 1)) / 7;
}

// Writes the varint of v at p (room for ten bytes) and returns its end.
inline char* EncodeVarint64(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

inline void PutVarint64(std::string* out, uint64_t v) {
  char buf[10];
  out->append(buf, EncodeVarint64(buf, v) - buf);
}

// Parses a varint at *p (not past `limit`) into *v and advances *p. Returns
// false, leaving *p unchanged, if the varint is truncated or longer than ten
// bytes or overflows 64 bits.
inline bool GetVarint64(const char** p, const char* limit, uint64_t* v) {
  uint64_t result = 0;
  const char* q = *p;
  for (int shift = 0; shift <= 63 && q < limit; shift += 7) {
    uint64_t byte = static_cast<uint8_t>(*q++);
    if (shift == 63 && byte > 1) return false;
    result |= (byte & 0x7F) << shift;
    if (byte < 0x80) {
      *v = result;
      *p = q;
      return true;
    }
  }
  return false;
}

}  // namespace nimbus::storage::internal

#endif  // NIMBUS_STORAGE_INTERNAL_CODING_H_
