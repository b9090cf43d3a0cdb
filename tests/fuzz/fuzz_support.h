// Helpers shared by the fuzz targets: a check that reports and aborts (so
// that libFuzzer keeps the input as a crash and CTest's replay fails), and a
// reader that turns the fuzzer's bytes into structured values.
#ifndef NIMBUS_TESTS_FUZZ_FUZZ_SUPPORT_H_
#define NIMBUS_TESTS_FUZZ_FUZZ_SUPPORT_H_

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"

// Aborts with the failed condition and its place when `cond` is false.
#define FUZZ_CHECK(cond)                                               \
  do {                                                                 \
    if (!(cond)) {                                                     \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, \
                   __LINE__, #cond);                                   \
      std::abort();                                                    \
    }                                                                  \
  } while (0)

namespace nimbus::fuzz {

// The input copied to a heap buffer of exactly its size, so that
// AddressSanitizer reports any read past its end (libFuzzer's own buffer is
// exact too; the CTest replay's std::string is not).
class ExactCopy {
 public:
  ExactCopy(const uint8_t* data, size_t size)
      : bytes_(std::make_unique<char[]>(size == 0 ? 1 : size)), size_(size) {
    if (size > 0) std::memcpy(bytes_.get(), data, size);
  }
  absl::string_view view() const { return {bytes_.get(), size_}; }

 private:
  std::unique_ptr<char[]> bytes_;
  size_t size_;
};

// Reads the input front to back; past its end every read returns zeros.
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : p_(data), left_(size) {}

  bool empty() const { return left_ == 0; }
  size_t left() const { return left_; }

  uint8_t U8() {
    if (left_ == 0) return 0;
    --left_;
    return *p_++;
  }
  // Multi-byte reads are little-endian, read in sequence (never two reads
  // in one expression, whose order C++ leaves to the compiler).
  uint16_t U16() {
    const uint16_t lo = U8();
    return static_cast<uint16_t>(lo | (U8() << 8));
  }
  uint32_t U32() {
    const uint32_t lo = U16();
    return lo | (static_cast<uint32_t>(U16()) << 16);
  }
  uint64_t U64() {
    const uint64_t lo = U32();
    return lo | (static_cast<uint64_t>(U32()) << 32);
  }
  bool Bool() { return (U8() & 1) != 0; }

  // A double drawn so that common shapes come up often: small integers,
  // two-decimal values, and now and then any bit pattern at all.
  double Double() {
    switch (U8() % 4) {
      case 0:
        return static_cast<double>(static_cast<int16_t>(U16()));
      case 1:
        return static_cast<double>(static_cast<int32_t>(U32())) / 100;
      case 2:
        return std::bit_cast<double>(U64());
      default:
        return static_cast<double>(U8()) * 0.25;
    }
  }

  // Up to max_len bytes, its length taken from the input.
  std::string String(size_t max_len) {
    const size_t n = std::min<size_t>(U8() % (max_len + 1), left_);
    std::string s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    left_ -= n;
    return s;
  }

 private:
  const uint8_t* p_;
  size_t left_;
};

// Bit-for-bit equality, so that NaNs compare equal to themselves and -0.0
// differs from 0.0.
inline bool SameBits(double a, double b) {
  return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b);
}

}  // namespace nimbus::fuzz

#endif  // NIMBUS_TESTS_FUZZ_FUZZ_SUPPORT_H_
