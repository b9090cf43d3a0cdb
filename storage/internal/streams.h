// The two block-structured streams a chunk is made of.
//
// Integer stream: a sequence of 64-bit integers (timestamps, or decimal values
// scaled to integers). Each block of up to kBlockSize values picks the
// residual order that packs smallest: the values themselves (order 0), their
// deltas (order 1) or their deltas of deltas (order 2); subtracts the block
// minimum (frame of reference), drops trailing zero bits common to the block,
// and bit-packs the rest at one width.
//
// XOR stream: a sequence of 64-bit patterns (doubles that are not decimals).
// Each value is XORed with the one before it, as in Gorilla, and each block
// stores the window of bits that is non-zero in any of its XORs at one width.
//
// Both layouts are specified in storage/FORMAT.md. All arithmetic is modulo
// 2^64, so any int64 sequence round-trips.
#ifndef NIMBUS_STORAGE_INTERNAL_STREAMS_H_
#define NIMBUS_STORAGE_INTERNAL_STREAMS_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace nimbus::storage::internal {

// Values per block. Block 0 holds the stream's first value (stored in the
// stream header) and kBlockSize - 1 residuals; later blocks kBlockSize each.
inline constexpr size_t kBlockSize = 128;

// Appends the integer stream of x[0, n) to *out.
void EncodeIntStream(const uint64_t* x, size_t n, std::string* out);

// Appends the XOR stream of x[0, n) to *out.
void EncodeXorStream(const uint64_t* x, size_t n, std::string* out);

// Where a stream decoder stands. Plain data so that an iterator can hold it
// without allocating. Only streams.cc changes the fields; the chunk iterator
// reads `p` and `limit` to check that a section was consumed exactly.
struct StreamCursor {
  const char* p = nullptr;             // next unread byte of the stream
  const char* limit = nullptr;         // end of the stream's section
  const char* readable_end = nullptr;  // end of the chunk buffer
  size_t remaining = 0;                // values not yet decoded
  size_t decoded = 0;                  // values decoded so far
  uint64_t prev_x = 0;                 // last decoded value
  uint64_t prev_d = 0;                 // last decoded delta (integer stream)
};

// Starts decoding a stream of `n` values at [p, limit); readable_end >= limit
// bounds the word loads of the bit unpacker. Returns DataLoss if the stream
// header is truncated or malformed.
absl::Status InitIntStream(const char* p, const char* limit,
                           const char* readable_end, size_t n, StreamCursor* c);
absl::Status InitXorStream(const char* p, const char* limit,
                           const char* readable_end, size_t n, StreamCursor* c);

// Decodes the next block, min(kBlockSize, remaining) values, into out[] and
// sets *len. Returns DataLoss if the block is truncated or malformed; the
// cursor is then unusable.
// REQUIRES: c->remaining > 0; out has room for kBlockSize values.
absl::Status DecodeIntBlock(StreamCursor* c, uint64_t* out, size_t* len);
absl::Status DecodeXorBlock(StreamCursor* c, uint64_t* out, size_t* len);

}  // namespace nimbus::storage::internal

#endif  // NIMBUS_STORAGE_INTERNAL_STREAMS_H_
