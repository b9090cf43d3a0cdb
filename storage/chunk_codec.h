// The chunk codec: the compressed, self-describing form of a run of points of
// one series, as stored in the `points` column family. This header is the
// codec's whole surface; the format is specified in storage/FORMAT.md.
//
// A point is (timestamp in milliseconds since the Unix epoch, double value).
// Timestamps in a chunk never decrease; equal timestamps are separate samples
// and are all kept, in the order given. Values round-trip bit for bit, for
// every double: -0.0, subnormals, infinities and every NaN payload included.
//
// Values that are exact decimals (integers, 2-decimal gauges, multiples of
// 4096, ...) are stored as scaled integers with delta or delta-of-delta and bit
// packing, and the few values of such a chunk that are not (NaN, -0.0, a
// stray long decimal) are stored raw; chunks whose values are not decimals are
// XORed against the previous value. The encoder chooses per chunk and records
// the choice in the header.
#ifndef NIMBUS_STORAGE_CHUNK_CODEC_H_
#define NIMBUS_STORAGE_CHUNK_CODEC_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "storage/internal/streams.h"

namespace nimbus::storage {

// The format version this build writes and reads.
inline constexpr uint8_t kChunkFormatVersion = 1;

// The most points one chunk may hold.
inline constexpr size_t kMaxChunkPoints = size_t{1} << 20;

// How a chunk stores its values (the low bits of the mode byte).
enum class ValueCodec : uint8_t {
  kDecimal = 0,  // scaled integers; values that are not stored raw
  kXor = 1,      // XOR with the previous value, per-block bit window
};

// What a chunk's header says about it.
struct ChunkHeader {
  uint8_t version = 0;
  uint32_t point_count = 0;
  ValueCodec value_codec = ValueCodec::kDecimal;
  // kDecimal only: values are integers divided by 10^decimal_exponent.
  int decimal_exponent = 0;
  // kDecimal only: values that were not exact at that exponent and are stored
  // as raw 64-bit patterns.
  uint32_t exception_count = 0;
};

// Replaces *out with the chunk holding the points
// (timestamps_ms[i], values[i]).
// Returns InvalidArgument, leaving *out empty, if the spans differ in length,
// hold more than kMaxChunkPoints points, or a timestamp is smaller than the
// one before it; the message names the index.
absl::Status EncodeChunk(absl::Span<const int64_t> timestamps_ms,
                         absl::Span<const double> values, std::string* out);

// Checks a chunk's length and CRC32C and parses its header.
// Returns DataLoss if the chunk is shorter than a header, its checksum does not
// match or its header is malformed; Unimplemented if its format version is not
// one this build reads.
absl::StatusOr<ChunkHeader> ReadChunkHeader(absl::string_view chunk);

// Decodes every point of `chunk`, replacing the contents of both vectors.
// Returns the errors of ReadChunkHeader, or DataLoss if the body is corrupt;
// the vectors' contents are then unspecified.
absl::Status DecodeChunk(absl::string_view chunk,
                         std::vector<int64_t>* timestamps_ms,
                         std::vector<double>* values);

// Collects points one at a time and encodes them into a chunk.
// Thread-compatible.
class ChunkBuilder {
 public:
  // Returns InvalidArgument if timestamp_ms is smaller than the last appended
  // timestamp, and ResourceExhausted if the builder holds kMaxChunkPoints.
  absl::Status Append(int64_t timestamp_ms, double value);

  size_t size() const { return timestamps_ms_.size(); }
  bool empty() const { return timestamps_ms_.empty(); }
  // REQUIRES: !empty().
  int64_t last_timestamp_ms() const { return timestamps_ms_.back(); }

  // Replaces *out with the chunk of the appended points and empties the
  // builder.
  void Finish(std::string* out);

 private:
  std::vector<int64_t> timestamps_ms_;
  std::vector<double> values_;
};

// Iterates over the points of a chunk in order, decoding a block of points at
// a time into buffers it holds. Decoding a valid chunk allocates nothing; an
// error allocates its status message.
//
//   ChunkIterator it(chunk);
//   for (; it.Valid(); it.Next()) Use(it.timestamp_ms(), it.value());
//   if (!it.status().ok()) ...  // the chunk is corrupt
//
// The checksum is verified before the first point is produced, so a damaged
// chunk yields no points. A chunk whose checksum matches but whose body is
// malformed (only possible if it was written wrong) may yield the points of
// its earlier blocks before status() turns non-OK: callers must check
// status() after the loop. An error ends the iteration and stays in status().
// The chunk's bytes must outlive the iterator. Thread-compatible.
class ChunkIterator {
 public:
  explicit ChunkIterator(absl::string_view chunk);
  ChunkIterator(const ChunkIterator&) = delete;
  ChunkIterator& operator=(const ChunkIterator&) = delete;

  bool Valid() const { return pos_ < block_len_; }
  // REQUIRES: Valid().
  void Next() {
    if (++pos_ == block_len_) LoadBlock();
  }
  // REQUIRES: Valid().
  int64_t timestamp_ms() const { return static_cast<int64_t>(ts_[pos_]); }
  double value() const { return std::bit_cast<double>(vs_[pos_]); }

  // OK, or why the chunk could not be decoded.
  const absl::Status& status() const { return status_; }
  // The header's point count (0 if the header could not be read).
  uint32_t point_count() const { return count_; }

 private:
  void LoadBlock();
  void Fail(absl::Status s);

  absl::Status status_;
  uint32_t count_ = 0;
  uint32_t produced_ = 0;   // points decoded into blocks so far
  uint32_t pos_ = 0;        // index in the current block
  uint32_t block_len_ = 0;  // points in the current block
  ValueCodec codec_ = ValueCodec::kDecimal;
  double divisor_ = 1;  // 10^decimal exponent
  int64_t last_ts_ = INT64_MIN;
  internal::StreamCursor ts_cursor_;
  internal::StreamCursor value_cursor_;
  // Decimal exceptions not yet applied, and the next one.
  const char* exc_p_ = nullptr;
  const char* exc_limit_ = nullptr;
  uint32_t exc_left_ = 0;
  uint64_t exc_pos_ = 0;
  uint64_t exc_bits_ = 0;
  alignas(64) uint64_t ts_[internal::kBlockSize];
  alignas(64) uint64_t vs_[internal::kBlockSize];
};

}  // namespace nimbus::storage

#endif  // NIMBUS_STORAGE_CHUNK_CODEC_H_
