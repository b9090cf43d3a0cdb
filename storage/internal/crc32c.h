// CRC32C (Castagnoli polynomial 0x1EDC6F41, reflected), the checksum of every
// Nimbus on-disk record. Uses the SSE4.2 `crc32` instruction when the CPU has
// it and a slice-by-8 table otherwise; both give identical results.
#ifndef NIMBUS_STORAGE_INTERNAL_CRC32C_H_
#define NIMBUS_STORAGE_INTERNAL_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace nimbus::storage::internal {

// Returns the CRC32C of data[0, n) continuing from `crc` (the CRC of the bytes
// before it; 0 for a fresh computation). Thread-safe.
uint32_t Crc32cExtend(uint32_t crc, const char* data, size_t n);

inline uint32_t Crc32c(const char* data, size_t n) {
  return Crc32cExtend(0, data, n);
}

// The portable table implementation, exposed so tests can check that the
// hardware path agrees with it.
uint32_t Crc32cExtendPortable(uint32_t crc, const char* data, size_t n);

}  // namespace nimbus::storage::internal

#endif  // NIMBUS_STORAGE_INTERNAL_CRC32C_H_
