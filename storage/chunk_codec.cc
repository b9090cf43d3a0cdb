#include "storage/chunk_codec.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "storage/internal/coding.h"
#include "storage/internal/crc32c.h"

// The decimal codec relies on exact IEEE 754 arithmetic (a quotient the
// encoder checks must be the quotient the decoder computes).
#if defined(__FAST_MATH__)
#error "storage/chunk_codec.cc must not be built with -ffast-math"
#endif

namespace nimbus::storage {
namespace {

using internal::GetVarint64;
using internal::LoadLE64;
using internal::PutFixed32;
using internal::PutFixed64;
using internal::PutVarint64;

// version (1) + count (>= 1) + mode (1) + CRC32C (4)
constexpr size_t kMinChunkBytes = 7;
constexpr int kMaxDecimalExponent = 18;
constexpr uint8_t kModeCodecMask = 0x03;

constexpr double kPow10[kMaxDecimalExponent + 1] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8, 1e9,
    1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};

// |v * 10^e| must stay below this for the scaled integer and the differences
// of two of them to fit in an int64.
constexpr double kMaxScaled = 4611686018427387904.0;  // 2^62

// The decoder's arithmetic: a decimal value is its integer divided by 10^e.
// Both operands are exact, so the quotient is the double nearest n / 10^e.
inline double DecimalValue(int64_t n, double divisor) {
  return static_cast<double>(n) / divisor;
}

// If v == DecimalValue(n, 10^e) bit for bit for some integer n, sets *n and
// returns true. -0.0, NaN and infinities are never exact.
inline bool ExactDecimal(double v, int e, int64_t* n) {
  const double scaled = v * kPow10[e];
  if (!(std::fabs(scaled) < kMaxScaled)) return false;
  // A candidate; the check below is what makes the round trip exact.
  int64_t c = static_cast<int64_t>(scaled);
  const double frac = scaled - static_cast<double>(c);
  if (frac >= 0.5) ++c;
  if (frac <= -0.5) --c;
  if (std::bit_cast<uint64_t>(DecimalValue(c, kPow10[e])) !=
      std::bit_cast<uint64_t>(v)) {
    return false;
  }
  *n = c;
  return true;
}

// The smallest exponent at which v is an exact decimal whose integer is
// below 2^53 (at most ~16 significant digits), or -1. The cap matters: with 17
// digits every double is some decimal, and such "decimals" pack no better
// than XOR.
int MinDecimalExponent(double v) {
  constexpr double kMaxSampleScaled = 9007199254740992.0;  // 2^53
  int64_t n;
  for (int e = 0; e <= kMaxDecimalExponent; ++e) {
    if (!(std::fabs(v * kPow10[e]) < kMaxSampleScaled)) return -1;
    if (ExactDecimal(v, e, &n)) return e;
  }
  return -1;
}

// Chooses the decimal exponent for a chunk's values from 8 values sampled
// evenly across it (all of them when there are fewer): the smallest exponent
// at which all of them are exact but samples/8 (one of 8; none of fewer).
// Returns -1 if there is none (the values are not decimals; use XOR), giving up
// at the second sample that is not a decimal.
int ChooseDecimalExponent(const double* v, size_t n) {
  constexpr size_t kSamples = 8;
  const size_t samples = std::min(n, kSamples);
  const size_t allowed_misses = samples / 8;
  int hist[kMaxDecimalExponent + 1] = {};
  size_t misses = 0;
  for (size_t j = 0; j < samples; ++j) {
    const int e = MinDecimalExponent(v[j * n / samples]);
    if (e >= 0) {
      ++hist[e];
    } else if (++misses > allowed_misses) {
      return -1;
    }
  }
  size_t covered = 0;
  for (int e = 0; e <= kMaxDecimalExponent; ++e) {
    covered += hist[e];
    if (samples - covered <= allowed_misses) return e;
  }
  return -1;
}

// Appends the decimal value section (exponent, exceptions, integer stream),
// starting from the sampled exponent `guess`. Values not exact at `guess` may
// raise the exponent when that is cheaper than storing them raw: an exception
// costs about 72 bits, one more decimal digit about 3.3 bits on every value.
// Returns false, leaving *out as it was, if more than 1/8 of the values are
// not exact at the exponent chosen.
bool EncodeDecimalValues(const double* v, size_t n, int guess,
                         std::string* out) {
  std::vector<uint64_t> ints(n);
  std::vector<uint32_t> exceptions;
  // needs[k]: values exact first at exponent guess + k (k >= 1) with an
  // integer below 2^53; values exact at no exponent are not counted.
  size_t needs[kMaxDecimalExponent + 1] = {};
  for (size_t i = 0; i < n; ++i) {
    int64_t x;
    if (ExactDecimal(v[i], guess, &x)) {
      ints[i] = static_cast<uint64_t>(x);
      continue;
    }
    exceptions.push_back(static_cast<uint32_t>(i));
    const int e = MinDecimalExponent(v[i]);
    if (e > guess) ++needs[e - guess];
  }
  // Cost in tenths of a bit, relative to `guess` with its exceptions.
  int e = guess;
  size_t best_cost = 720 * exceptions.size();
  size_t covered = 0;
  for (int k = 1; guess + k <= kMaxDecimalExponent; ++k) {
    covered += needs[k];
    const size_t cost = 720 * (exceptions.size() - covered) + 33 * k * n;
    if (cost < best_cost) {
      best_cost = cost;
      e = guess + k;
    }
  }
  if (e != guess) {
    exceptions.clear();
    for (size_t i = 0; i < n; ++i) {
      int64_t x;
      if (ExactDecimal(v[i], e, &x)) {
        ints[i] = static_cast<uint64_t>(x);
      } else {
        exceptions.push_back(static_cast<uint32_t>(i));
      }
    }
  }
  if (exceptions.size() > n / 8) return false;
  // An exception's integer slot repeats its neighbour so the deltas around it
  // stay small; leading exceptions take the first exact value.
  if (!exceptions.empty()) {
    size_t k = 0;
    uint64_t fill = 0;
    for (size_t i = 0; i < n; ++i) {
      if (k < exceptions.size() && exceptions[k] == i) {
        ++k;
        continue;
      }
      fill = ints[i];
      break;
    }
    k = 0;
    for (size_t i = 0; i < n; ++i) {
      if (k < exceptions.size() && exceptions[k] == i) {
        ints[i] = fill;
        ++k;
      } else {
        fill = ints[i];
      }
    }
  }
  out->push_back(static_cast<char>(e));
  PutVarint64(out, exceptions.size());
  uint64_t prev = 0;
  for (size_t k = 0; k < exceptions.size(); ++k) {
    const uint64_t pos = exceptions[k];
    PutVarint64(out, k == 0 ? pos : pos - prev - 1);
    PutFixed64(out, std::bit_cast<uint64_t>(v[pos]));
    prev = pos;
  }
  internal::EncodeIntStream(ints.data(), n, out);
  return true;
}

void EncodeXorValues(const double* v, size_t n, std::string* out) {
  std::vector<uint64_t> bits(n);
  for (size_t i = 0; i < n; ++i) bits[i] = std::bit_cast<uint64_t>(v[i]);
  internal::EncodeXorStream(bits.data(), n, out);
}

// Appends the value section and returns the codec it used.
ValueCodec EncodeValues(const double* v, size_t n, std::string* out) {
  const int e = ChooseDecimalExponent(v, n);
  if (e >= 0) {
    const size_t start = out->size();
    if (EncodeDecimalValues(v, n, e, out)) {
      // Decimals with many significant digits can pack worse than XOR;
      // compare when the decimal form is not clearly small.
      const size_t decimal_bytes = out->size() - start;
      if (decimal_bytes <= 6 * n) return ValueCodec::kDecimal;
      std::string xor_section;
      EncodeXorValues(v, n, &xor_section);
      if (xor_section.size() >= decimal_bytes) return ValueCodec::kDecimal;
      out->resize(start);
      out->append(xor_section);
      return ValueCodec::kXor;
    }
  }
  EncodeXorValues(v, n, out);
  return ValueCodec::kXor;
}

absl::Status Corrupt(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("chunk: ", what));
}

// Where the parts of a chunk are, as read from its header.
struct Layout {
  ChunkHeader header;
  const char* ts_begin = nullptr;
  const char* ts_end = nullptr;
  const char* exceptions = nullptr;    // kDecimal: first exception record
  const char* values_begin = nullptr;  // the value stream
  const char* values_end = nullptr;
  const char* readable_end = nullptr;
};

absl::Status ParseLayout(absl::string_view chunk, Layout* layout) {
  if (chunk.size() < kMinChunkBytes) {
    return Corrupt(absl::StrCat(chunk.size(), " bytes is shorter than the ",
                                kMinChunkBytes, "-byte minimum"));
  }
  const char* data = chunk.data();
  const char* body_end = data + chunk.size() - 4;
  const uint32_t stored = internal::LoadLE32(body_end);
  const uint32_t actual = internal::Crc32c(data, chunk.size() - 4);
  if (stored != actual) {
    return Corrupt(absl::StrFormat(
        "CRC32C mismatch (stored 0x%08x, computed 0x%08x over %d bytes)",
        stored, actual, chunk.size() - 4));
  }
  ChunkHeader& h = layout->header;
  h.version = static_cast<uint8_t>(data[0]);
  if (h.version != kChunkFormatVersion) {
    return absl::UnimplementedError(
        absl::StrCat("chunk: format version ", h.version,
                     " is not supported (this build reads version ",
                     kChunkFormatVersion, ")"));
  }
  const char* p = data + 1;
  uint64_t count;
  if (!GetVarint64(&p, body_end, &count)) return Corrupt("bad point count");
  if (count > kMaxChunkPoints) {
    return Corrupt(absl::StrCat("point count ", count, " exceeds the limit ",
                                kMaxChunkPoints));
  }
  h.point_count = static_cast<uint32_t>(count);
  if (p >= body_end) return Corrupt("missing mode byte");
  const uint8_t mode = static_cast<uint8_t>(*p++);
  if ((mode & ~kModeCodecMask) != 0 || (mode & kModeCodecMask) > 1) {
    return Corrupt(absl::StrFormat("unknown mode byte 0x%02x", mode));
  }
  h.value_codec = static_cast<ValueCodec>(mode & kModeCodecMask);
  layout->readable_end = data + chunk.size();
  if (count == 0) {
    if (mode != 0) return Corrupt("an empty chunk's mode byte must be 0");
    if (p != body_end) return Corrupt("bytes after an empty chunk's header");
    layout->ts_begin = layout->ts_end = p;
    layout->values_begin = layout->values_end = p;
    return absl::OkStatus();
  }
  uint64_t ts_len;
  if (!GetVarint64(&p, body_end, &ts_len) ||
      ts_len > static_cast<uint64_t>(body_end - p)) {
    return Corrupt("timestamp section length out of bounds");
  }
  layout->ts_begin = p;
  layout->ts_end = p + ts_len;
  p = layout->ts_end;
  layout->values_end = body_end;
  if (h.value_codec == ValueCodec::kDecimal) {
    if (p >= body_end) return Corrupt("missing decimal exponent");
    h.decimal_exponent = static_cast<uint8_t>(*p++);
    if (h.decimal_exponent > kMaxDecimalExponent) {
      return Corrupt(absl::StrCat("decimal exponent ", h.decimal_exponent,
                                  " exceeds ", kMaxDecimalExponent));
    }
    uint64_t exceptions;
    if (!GetVarint64(&p, body_end, &exceptions) || exceptions > count) {
      return Corrupt("bad exception count");
    }
    h.exception_count = static_cast<uint32_t>(exceptions);
    layout->exceptions = p;
    uint64_t pos = 0;
    for (uint64_t k = 0; k < exceptions; ++k) {
      uint64_t gap = 0;
      if (!GetVarint64(&p, body_end, &gap) || gap >= count ||
          (pos = (k == 0 ? gap : pos + 1 + gap)) >= count || body_end - p < 8) {
        return Corrupt(absl::StrCat("exception ", k, " out of bounds"));
      }
      p += 8;
    }
  }
  layout->values_begin = p;
  return absl::OkStatus();
}

}  // namespace

absl::Status EncodeChunk(absl::Span<const int64_t> timestamps_ms,
                         absl::Span<const double> values, std::string* out) {
  out->clear();
  const size_t n = timestamps_ms.size();
  if (values.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk: timestamps_ms has ", n, " entries but values has ",
                     values.size(), "; they must be equal"));
  }
  if (n > kMaxChunkPoints) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chunk: ", n, " points exceeds the limit of ", kMaxChunkPoints));
  }
  for (size_t i = 1; i < n; ++i) {
    if (timestamps_ms[i] < timestamps_ms[i - 1]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "chunk: timestamps_ms[", i, "] = ", timestamps_ms[i],
          " is before timestamps_ms[", i - 1, "] = ", timestamps_ms[i - 1],
          "; timestamps in a chunk must not decrease"));
    }
  }
  out->push_back(static_cast<char>(kChunkFormatVersion));
  PutVarint64(out, n);
  const size_t mode_at = out->size();
  out->push_back(0);
  if (n > 0) {
    std::string ts_section;
    // int64 and uint64 may alias; the stream works modulo 2^64.
    internal::EncodeIntStream(
        reinterpret_cast<const uint64_t*>(timestamps_ms.data()), n,
        &ts_section);
    PutVarint64(out, ts_section.size());
    out->append(ts_section);
    const ValueCodec codec = EncodeValues(values.data(), n, out);
    (*out)[mode_at] = static_cast<char>(codec);
  }
  PutFixed32(out, internal::Crc32c(out->data(), out->size()));
  return absl::OkStatus();
}

absl::StatusOr<ChunkHeader> ReadChunkHeader(absl::string_view chunk) {
  Layout layout;
  absl::Status s = ParseLayout(chunk, &layout);
  if (!s.ok()) return s;
  return layout.header;
}

absl::Status DecodeChunk(absl::string_view chunk,
                         std::vector<int64_t>* timestamps_ms,
                         std::vector<double>* values) {
  timestamps_ms->clear();
  values->clear();
  ChunkIterator it(chunk);
  timestamps_ms->reserve(it.point_count());
  values->reserve(it.point_count());
  for (; it.Valid(); it.Next()) {
    timestamps_ms->push_back(it.timestamp_ms());
    values->push_back(it.value());
  }
  return it.status();
}

absl::Status ChunkBuilder::Append(int64_t timestamp_ms, double value) {
  if (!timestamps_ms_.empty() && timestamp_ms < timestamps_ms_.back()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chunk: timestamp ", timestamp_ms, " is before the last one, ",
        timestamps_ms_.back(), "; timestamps in a chunk must not decrease"));
  }
  if (timestamps_ms_.size() == kMaxChunkPoints) {
    return absl::ResourceExhaustedError(
        absl::StrCat("chunk: full at ", kMaxChunkPoints, " points"));
  }
  timestamps_ms_.push_back(timestamp_ms);
  values_.push_back(value);
  return absl::OkStatus();
}

void ChunkBuilder::Finish(std::string* out) {
  // Append() kept the points valid, so encoding cannot fail.
  absl::Status s = EncodeChunk(timestamps_ms_, values_, out);
  (void)s;
  timestamps_ms_.clear();
  values_.clear();
}

ChunkIterator::ChunkIterator(absl::string_view chunk) {
  Layout layout;
  absl::Status s = ParseLayout(chunk, &layout);
  if (!s.ok()) {
    status_ = std::move(s);
    return;
  }
  count_ = layout.header.point_count;
  codec_ = layout.header.value_codec;
  divisor_ = kPow10[layout.header.decimal_exponent];
  exc_p_ = layout.exceptions;
  exc_limit_ = layout.values_begin;
  exc_left_ = layout.header.exception_count;
  s = internal::InitIntStream(layout.ts_begin, layout.ts_end,
                              layout.readable_end, count_, &ts_cursor_);
  if (s.ok()) {
    s = codec_ == ValueCodec::kDecimal
            ? internal::InitIntStream(layout.values_begin, layout.values_end,
                                      layout.readable_end, count_,
                                      &value_cursor_)
            : internal::InitXorStream(layout.values_begin, layout.values_end,
                                      layout.readable_end, count_,
                                      &value_cursor_);
  }
  if (!s.ok()) {
    Fail(std::move(s));
    return;
  }
  if (exc_left_ > 0) {
    uint64_t gap = 0;
    GetVarint64(&exc_p_, exc_limit_, &gap);  // validated by ParseLayout
    exc_pos_ = gap;
    exc_bits_ = LoadLE64(exc_p_);
    exc_p_ += 8;
  }
  LoadBlock();
}

void ChunkIterator::Fail(absl::Status s) {
  status_ = std::move(s);
  pos_ = 0;
  block_len_ = 0;
}

void ChunkIterator::LoadBlock() {
  pos_ = 0;
  block_len_ = 0;
  if (!status_.ok() || produced_ == count_) return;

  size_t n = 0, nv = 0;
  absl::Status s = internal::DecodeIntBlock(&ts_cursor_, ts_, &n);
  if (s.ok()) {
    s = codec_ == ValueCodec::kDecimal
            ? internal::DecodeIntBlock(&value_cursor_, vs_, &nv)
            : internal::DecodeXorBlock(&value_cursor_, vs_, &nv);
  }
  if (!s.ok()) return Fail(std::move(s));

  // Timestamps never decrease: a chunk that says otherwise is corrupt.
  bool decreasing = false;
  int64_t prev = last_ts_;
  for (size_t i = 0; i < n; ++i) {
    const int64_t t = static_cast<int64_t>(ts_[i]);
    decreasing |= t < prev;
    prev = t;
  }
  if (decreasing) {
    return Fail(Corrupt(absl::StrCat("timestamps decrease in points ",
                                     produced_, "..", produced_ + n - 1)));
  }
  last_ts_ = prev;

  if (codec_ == ValueCodec::kDecimal) {
    const double divisor = divisor_;
    if (divisor == 1) {
      for (size_t i = 0; i < n; ++i) {
        vs_[i] = std::bit_cast<uint64_t>(
            static_cast<double>(static_cast<int64_t>(vs_[i])));
      }
    } else {
      for (size_t i = 0; i < n; ++i) {
        vs_[i] = std::bit_cast<uint64_t>(
            DecimalValue(static_cast<int64_t>(vs_[i]), divisor));
      }
    }
    const uint64_t block_end = produced_ + n;
    while (exc_left_ > 0 && exc_pos_ < block_end) {
      vs_[exc_pos_ - produced_] = exc_bits_;
      if (--exc_left_ > 0) {
        uint64_t gap = 0;
        GetVarint64(&exc_p_, exc_limit_, &gap);
        exc_pos_ += 1 + gap;
        exc_bits_ = LoadLE64(exc_p_);
        exc_p_ += 8;
      }
    }
  }
  produced_ += static_cast<uint32_t>(n);
  if (produced_ == count_ && (ts_cursor_.p != ts_cursor_.limit ||
                              value_cursor_.p != value_cursor_.limit)) {
    return Fail(Corrupt("bytes left over after the last block"));
  }
  block_len_ = static_cast<uint32_t>(n);
}

}  // namespace nimbus::storage
