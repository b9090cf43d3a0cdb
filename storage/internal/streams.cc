#include "storage/internal/streams.h"

#include <algorithm>
#include <bit>

#include "absl/strings/str_cat.h"
#include "storage/internal/bitpack.h"
#include "storage/internal/coding.h"

namespace nimbus::storage::internal {
namespace {

// Bit width of v: 0 for 0, else 1 + floor(log2 v).
inline int BitWidth(uint64_t v) { return 64 - std::countl_zero(v); }

// Residuals of one block under one order, summarised for choosing.
struct OrderStats {
  int64_t min = INT64_MAX;
  int64_t max = INT64_MIN;
  uint64_t diff_or = 0;  // OR of (r_i - r_first): its trailing zeros are the
                         // trailing zeros every (r_i - min) has in common
  uint64_t first = 0;
  void Add(uint64_t r, bool is_first) {
    if (is_first) first = r;
    const int64_t s = static_cast<int64_t>(r);
    min = std::min(min, s);
    max = std::max(max, s);
    diff_or |= r - first;
  }
  int Shift() const { return diff_or == 0 ? 0 : std::countr_zero(diff_or); }
  int Width() const {
    return BitWidth((static_cast<uint64_t>(max) - static_cast<uint64_t>(min)) >>
                    Shift());
  }
};

// Encodes residuals for x[begin, end), with x[begin-1] = prev_x and the delta
// into it prev_d.
void EncodeIntBlock(const uint64_t* x, size_t begin, size_t end,
                    uint64_t prev_x, uint64_t prev_d, std::string* out) {
  OrderStats st[3];
  {
    uint64_t px = prev_x, pd = prev_d;
    for (size_t i = begin; i < end; ++i) {
      const uint64_t d = x[i] - px;
      st[0].Add(x[i], i == begin);
      st[1].Add(d, i == begin);
      st[2].Add(d - pd, i == begin);
      px = x[i];
      pd = d;
    }
  }
  const size_t m = end - begin;
  int best = 0;
  size_t best_bits = SIZE_MAX;
  for (int order = 0; order < 3; ++order) {
    const size_t bits =
        m * st[order].Width() +
        8 * VarintLength(ZigZagEncode(st[order].min));
    if (bits < best_bits) {
      best_bits = bits;
      best = order;
    }
  }
  const OrderStats& s = st[best];
  const int shift = s.Shift();
  const int width = s.Width();
  out->push_back(static_cast<char>((best << 6) | shift));
  out->push_back(static_cast<char>(width));
  PutVarint64(out, ZigZagEncode(s.min));
  if (width == 0) return;

  uint64_t u[kBlockSize];
  const uint64_t base = static_cast<uint64_t>(s.min);
  uint64_t px = prev_x, pd = prev_d;
  for (size_t i = begin; i < end; ++i) {
    const uint64_t d = x[i] - px;
    const uint64_t r = best == 0 ? x[i] : best == 1 ? d : d - pd;
    u[i - begin] = (r - base) >> shift;
    px = x[i];
    pd = d;
  }
  PackBits(u, m, width, out);
}

void EncodeXorBlock(const uint64_t* x, size_t begin, size_t end,
                    std::string* out) {
  uint64_t any = 0;
  for (size_t i = begin; i < end; ++i) any |= x[i] ^ x[i - 1];
  const int shift = any == 0 ? 0 : std::countr_zero(any);
  const int width = BitWidth(any >> shift);
  out->push_back(static_cast<char>(shift));
  out->push_back(static_cast<char>(width));
  if (width == 0) return;
  uint64_t u[kBlockSize];
  for (size_t i = begin; i < end; ++i) u[i - begin] = (x[i] ^ x[i - 1]) >> shift;
  PackBits(u, end - begin, width, out);
}

// [begin, end) of the residuals of block k in a stream of n values.
inline void BlockRange(size_t k, size_t n, size_t* begin, size_t* end) {
  *begin = k == 0 ? 1 : k * kBlockSize;
  *end = std::min(n, (k + 1) * kBlockSize);
}

absl::Status Truncated(absl::string_view what, const StreamCursor& c) {
  return absl::DataLossError(
      absl::StrCat("chunk: ", what, " truncated or malformed at value ",
                   c.decoded));
}

}  // namespace

void EncodeIntStream(const uint64_t* x, size_t n, std::string* out) {
  if (n == 0) return;
  PutVarint64(out, ZigZagEncode(static_cast<int64_t>(x[0])));
  if (n == 1) return;
  const uint64_t d1 = x[1] - x[0];
  PutVarint64(out, ZigZagEncode(static_cast<int64_t>(d1)));
  uint64_t prev_d = d1;
  for (size_t k = 0; k * kBlockSize < n; ++k) {
    size_t begin, end;
    BlockRange(k, n, &begin, &end);
    EncodeIntBlock(x, begin, end, x[begin - 1], prev_d, out);
    prev_d = x[end - 1] - x[end - 2];  // end >= 2, and end - 2 >= begin - 1
  }
}

void EncodeXorStream(const uint64_t* x, size_t n, std::string* out) {
  if (n == 0) return;
  PutFixed64(out, x[0]);
  for (size_t k = 0; k * kBlockSize < n; ++k) {
    size_t begin, end;
    BlockRange(k, n, &begin, &end);
    if (begin < end) EncodeXorBlock(x, begin, end, out);
  }
}

absl::Status InitIntStream(const char* p, const char* limit,
                           const char* readable_end, size_t n,
                           StreamCursor* c) {
  *c = StreamCursor{p, limit, readable_end, n, 0, 0, 0};
  if (n == 0) return absl::OkStatus();
  uint64_t v;
  if (!GetVarint64(&c->p, limit, &v)) return Truncated("integer stream header", *c);
  c->prev_x = static_cast<uint64_t>(ZigZagDecode(v));
  if (n >= 2) {
    if (!GetVarint64(&c->p, limit, &v)) return Truncated("integer stream header", *c);
    c->prev_d = static_cast<uint64_t>(ZigZagDecode(v));
  }
  return absl::OkStatus();
}

absl::Status InitXorStream(const char* p, const char* limit,
                           const char* readable_end, size_t n,
                           StreamCursor* c) {
  *c = StreamCursor{p, limit, readable_end, n, 0, 0, 0};
  if (n == 0) return absl::OkStatus();
  if (limit - c->p < 8) return Truncated("XOR stream header", *c);
  c->prev_x = LoadLE64(c->p);
  c->p += 8;
  return absl::OkStatus();
}

absl::Status DecodeIntBlock(StreamCursor* c, uint64_t* out, size_t* len) {
  size_t first = 0;  // values of this block that come from the header
  if (c->decoded == 0) {
    out[0] = c->prev_x;
    first = 1;
  }
  const size_t n = std::min(kBlockSize, c->remaining);
  const size_t m = n - first;  // residuals stored in the block
  if (m > 0) {
    if (c->limit - c->p < 2) return Truncated("integer block header", *c);
    const uint8_t a = static_cast<uint8_t>(c->p[0]);
    const int order = a >> 6;
    const int shift = a & 63;
    const int width = static_cast<uint8_t>(c->p[1]);
    c->p += 2;
    uint64_t zz;
    if (order == 3 || width > 64 || !GetVarint64(&c->p, c->limit, &zz)) {
      return Truncated("integer block header", *c);
    }
    const size_t bytes = PackedBytes(m, width);
    if (static_cast<size_t>(c->limit - c->p) < bytes) {
      return Truncated("integer block payload", *c);
    }
    uint64_t* r = out + first;
    UnpackBits(c->p, c->readable_end, m, width, r);
    c->p += bytes;
    const uint64_t base = static_cast<uint64_t>(ZigZagDecode(zz));
    uint64_t x = c->prev_x, d = c->prev_d;
    switch (order) {
      case 0:
        for (size_t i = 0; i < m; ++i) r[i] = base + (r[i] << shift);
        d = r[m - 1] - (m >= 2 ? r[m - 2] : x);
        x = r[m - 1];
        break;
      case 1:
        for (size_t i = 0; i < m; ++i) {
          d = base + (r[i] << shift);
          x += d;
          r[i] = x;
        }
        break;
      case 2:
        for (size_t i = 0; i < m; ++i) {
          d += base + (r[i] << shift);
          x += d;
          r[i] = x;
        }
        break;
    }
    c->prev_x = x;
    c->prev_d = d;
  }
  c->remaining -= n;
  c->decoded += n;
  *len = n;
  return absl::OkStatus();
}

absl::Status DecodeXorBlock(StreamCursor* c, uint64_t* out, size_t* len) {
  size_t first = 0;
  if (c->decoded == 0) {
    out[0] = c->prev_x;
    first = 1;
  }
  const size_t n = std::min(kBlockSize, c->remaining);
  const size_t m = n - first;
  if (m > 0) {
    if (c->limit - c->p < 2) return Truncated("XOR block header", *c);
    const int shift = static_cast<uint8_t>(c->p[0]);
    const int width = static_cast<uint8_t>(c->p[1]);
    c->p += 2;
    if (shift > 63 || width > 64 - shift) return Truncated("XOR block header", *c);
    const size_t bytes = PackedBytes(m, width);
    if (static_cast<size_t>(c->limit - c->p) < bytes) {
      return Truncated("XOR block payload", *c);
    }
    uint64_t* r = out + first;
    UnpackBits(c->p, c->readable_end, m, width, r);
    c->p += bytes;
    uint64_t x = c->prev_x;
    for (size_t i = 0; i < m; ++i) {
      x ^= r[i] << shift;
      r[i] = x;
    }
    c->prev_x = x;
  }
  c->remaining -= n;
  c->decoded += n;
  *len = n;
  return absl::OkStatus();
}

}  // namespace nimbus::storage::internal
