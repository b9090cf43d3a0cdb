// Fuzz target for the chunk decoder.
//
// Each input is decoded three ways: as a chunk as it is (almost always
// stopped by the checksum), as a chunk with its checksum recomputed (so the
// structural checks are exercised), and as raw points to encode and decode
// (the round trip must be exact). A crash, a sanitizer report or a failed
// round trip is a finding.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "storage/chunk_codec.h"
#include "storage/internal/crc32c.h"

namespace {

using nimbus::storage::ChunkIterator;

// Encodes the points, decodes them and aborts unless every timestamp and
// every value's bit pattern comes back.
void CheckRoundTrip(const std::vector<int64_t>& ts,
                    const std::vector<double>& vs) {
  std::string chunk;
  if (!nimbus::storage::EncodeChunk(ts, vs, &chunk).ok()) std::abort();
  std::vector<int64_t> ts2;
  std::vector<double> vs2;
  if (!nimbus::storage::DecodeChunk(chunk, &ts2, &vs2).ok()) std::abort();
  if (ts != ts2 || vs.size() != vs2.size()) std::abort();
  for (size_t i = 0; i < vs.size(); ++i) {
    if (std::bit_cast<uint64_t>(vs[i]) != std::bit_cast<uint64_t>(vs2[i])) {
      std::abort();
    }
  }
}

void DecodeAll(absl::string_view chunk) {
  ChunkIterator it(chunk);
  uint64_t sink = 0;
  for (; it.Valid(); it.Next()) {
    sink += static_cast<uint64_t>(it.timestamp_ms()) ^
            std::bit_cast<uint64_t>(it.value());
  }
  // A chunk that decodes must hold points that round-trip.
  if (it.status().ok()) {
    std::vector<int64_t> ts;
    std::vector<double> vs;
    if (!nimbus::storage::DecodeChunk(chunk, &ts, &vs).ok()) std::abort();
    CheckRoundTrip(ts, vs);
  }
  (void)sink;
}

// Reads the input as (delta timestamp, value bits) pairs and checks the
// encode/decode round trip.
void RoundTripPoints(const uint8_t* data, size_t size) {
  std::vector<int64_t> ts;
  std::vector<double> vs;
  int64_t t = 0;
  for (size_t i = 0; i + 10 <= size; i += 10) {
    uint16_t dt;
    uint64_t bits;
    std::memcpy(&dt, data + i, 2);
    std::memcpy(&bits, data + i + 2, 8);
    t += dt;
    ts.push_back(t);
    // Half of the values as small decimals so the decimal path is reached.
    vs.push_back((bits & 1)
                     ? std::bit_cast<double>(bits)
                     : static_cast<double>(static_cast<int32_t>(bits >> 32)) /
                           100);
  }
  CheckRoundTrip(ts, vs);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Both decodes read buffers of exactly the input's size, so that
  // AddressSanitizer sees any read past the end.
  DecodeAll(absl::string_view(reinterpret_cast<const char*>(data), size));
  if (size >= 4) {
    auto copy = std::make_unique<char[]>(size);
    std::memcpy(copy.get(), data, size);
    const uint32_t crc =
        nimbus::storage::internal::Crc32c(copy.get(), size - 4);
    std::memcpy(copy.get() + size - 4, &crc, 4);
    DecodeAll(absl::string_view(copy.get(), size));
  }
  RoundTripPoints(data, size);
  return 0;
}
