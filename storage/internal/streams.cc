#include "storage/internal/streams.h"

#include <algorithm>
#include <bit>

#include "absl/strings/str_cat.h"
#include "storage/internal/bitpack.h"
#include "storage/internal/coding.h"

namespace nimbus::storage::internal {
namespace {

// Bit 7 of an integer block's width byte: the block is sparse.
constexpr uint8_t kSparseFlag = 0x80;
// Positions in a block (0..127) take 7 bits.
constexpr int kSparsePositionBits = 7;
static_assert(kBlockSize <= (size_t{1} << kSparsePositionBits));
// At most this many residuals differ from the common one in a sparse block.
constexpr size_t kMaxSparseOthers = kBlockSize / 2;

// Bit width of v: 0 for 0, else 1 + floor(log2 v).
inline int BitWidth(uint64_t v) { return 64 - std::countl_zero(v); }

// Residuals of one block under one order, summarised for choosing.
struct OrderStats {
  int64_t min = INT64_MAX;
  int64_t max = INT64_MIN;
  uint64_t diff_or = 0;  // OR of (r_i - r_0): its trailing zeros are the
                         // trailing zeros every (r_i - min) has in common
  // Boyer-Moore majority vote: if one residual is more than half of the
  // block, it is `candidate`, and votes >= 2 * (its count) - m.
  uint64_t candidate = 0;
  uint64_t votes = 0;

  void Add(uint64_t r, uint64_t r0) {
    const int64_t s = static_cast<int64_t>(r);
    min = std::min(min, s);
    max = std::max(max, s);
    diff_or |= r - r0;
    const bool fresh = votes == 0;
    candidate = fresh ? r : candidate;
    votes = fresh ? 1 : (r == candidate ? votes + 1 : votes - 1);
  }
  int Shift() const { return diff_or == 0 ? 0 : std::countr_zero(diff_or); }
  int Width() const {
    return BitWidth((static_cast<uint64_t>(max) - static_cast<uint64_t>(min)) >>
                    Shift());
  }
};

// Bits of a dense block: header, min, payload.
size_t DenseBits(const OrderStats& st, size_t m) {
  return 8 * (2 + VarintLength(ZigZagEncode(st.min))) +
         8 * PackedBytes(m, st.Width());
}

// A sparse block stores the residual most of the block shares once and lists
// the others by position. Returns its size in bits (SIZE_MAX if the block has
// no majority residual) and sets the count of others and their width.
size_t SparseBits(const OrderStats& st, const uint64_t* r, size_t m,
                  size_t* others, int* width) {
  if (st.votes == 0) return SIZE_MAX;
  const uint64_t base = static_cast<uint64_t>(st.min);
  const int shift = st.Shift();
  size_t c = 0;
  uint64_t any = 0;
  for (size_t i = 0; i < m; ++i) {
    if (r[i] != st.candidate) {
      ++c;
      any |= (r[i] - base) >> shift;
    }
  }
  if (c == 0 || c > kMaxSparseOthers || 2 * c >= m) return SIZE_MAX;
  *others = c;
  *width = BitWidth(any);
  const uint64_t common = (st.candidate - base) >> shift;
  return 8 * (2 + VarintLength(ZigZagEncode(st.min)) + VarintLength(common) +
              1) +
         8 * PackedBytes(c, kSparsePositionBits) + 8 * PackedBytes(c, *width);
}

// Encodes residuals for x[begin, end), with x[begin-1] = prev_x and the delta
// into it prev_d.
void EncodeIntBlock(const uint64_t* x, size_t begin, size_t end,
                    uint64_t prev_x, uint64_t prev_d, std::string* out) {
  const size_t m = end - begin;
  uint64_t r[3][kBlockSize];
  OrderStats st[3];
  {
    uint64_t px = prev_x, pd = prev_d;
    const uint64_t r0[3] = {x[begin], x[begin] - px, x[begin] - px - pd};
    for (size_t i = 0; i < m; ++i) {
      const uint64_t v = x[begin + i];
      const uint64_t d = v - px;
      r[0][i] = v;
      r[1][i] = d;
      r[2][i] = d - pd;
      st[0].Add(v, r0[0]);
      st[1].Add(d, r0[1]);
      st[2].Add(d - pd, r0[2]);
      px = v;
      pd = d;
    }
  }
  int best = 0;
  bool best_sparse = false;
  size_t best_bits = SIZE_MAX, best_others = 0;
  int best_sparse_width = 0;
  for (int order = 0; order < 3; ++order) {
    const size_t dense = DenseBits(st[order], m);
    if (dense < best_bits) {
      best_bits = dense;
      best = order;
      best_sparse = false;
    }
    // A sparse block pays 7 bits of position for each residual it lists; it
    // can only win when one residual fills most of the block, which the vote
    // count bounds cheaply: a count of at least 5/8 of m leaves votes >= m/4.
    if (st[order].votes < m / 4 || st[order].Width() == 0) continue;
    size_t others;
    int width;
    const size_t sparse = SparseBits(st[order], r[order], m, &others, &width);
    if (sparse < best_bits) {
      best_bits = sparse;
      best = order;
      best_sparse = true;
      best_others = others;
      best_sparse_width = width;
    }
  }
  const OrderStats& s = st[best];
  const int shift = s.Shift();
  const uint64_t base = static_cast<uint64_t>(s.min);
  const uint64_t* rb = r[best];
  out->push_back(static_cast<char>((best << 6) | shift));
  uint64_t u[kBlockSize];
  if (!best_sparse) {
    const int width = s.Width();
    out->push_back(static_cast<char>(width));
    PutVarint64(out, ZigZagEncode(s.min));
    if (width == 0) return;
    for (size_t i = 0; i < m; ++i) u[i] = (rb[i] - base) >> shift;
    PackBits(u, m, width, out);
    return;
  }
  out->push_back(static_cast<char>(kSparseFlag | best_sparse_width));
  PutVarint64(out, ZigZagEncode(s.min));
  PutVarint64(out, (s.candidate - base) >> shift);
  out->push_back(static_cast<char>(best_others));
  uint64_t pos[kMaxSparseOthers];
  size_t c = 0;
  for (size_t i = 0; i < m; ++i) {
    if (rb[i] != s.candidate) {
      pos[c] = i;
      u[c] = (rb[i] - base) >> shift;
      ++c;
    }
  }
  PackBits(pos, c, kSparsePositionBits, out);
  PackBits(u, c, best_sparse_width, out);
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
  for (size_t i = begin; i < end; ++i)
    u[i - begin] = (x[i] ^ x[i - 1]) >> shift;
  PackBits(u, end - begin, width, out);
}

// [begin, end) of the residuals of block k in a stream of n values.
inline void BlockRange(size_t k, size_t n, size_t* begin, size_t* end) {
  *begin = k == 0 ? 1 : k * kBlockSize;
  *end = std::min(n, (k + 1) * kBlockSize);
}

absl::Status Truncated(absl::string_view what, const StreamCursor& c) {
  return absl::DataLossError(absl::StrCat(
      "chunk: ", what, " truncated or malformed at value ", c.decoded));
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
  if (!GetVarint64(&c->p, limit, &v))
    return Truncated("integer stream header", *c);
  c->prev_x = static_cast<uint64_t>(ZigZagDecode(v));
  if (n >= 2) {
    if (!GetVarint64(&c->p, limit, &v))
      return Truncated("integer stream header", *c);
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
    const uint8_t width_byte = static_cast<uint8_t>(c->p[1]);
    const int width = width_byte & ~kSparseFlag;
    c->p += 2;
    uint64_t zz;
    if (order == 3 || width > 64 || !GetVarint64(&c->p, c->limit, &zz)) {
      return Truncated("integer block header", *c);
    }
    uint64_t* r = out + first;
    if ((width_byte & kSparseFlag) == 0) {
      const size_t bytes = PackedBytes(m, width);
      if (static_cast<size_t>(c->limit - c->p) < bytes) {
        return Truncated("integer block payload", *c);
      }
      UnpackBits(c->p, c->readable_end, m, width, r);
      c->p += bytes;
    } else {
      uint64_t common;
      if (!GetVarint64(&c->p, c->limit, &common) || c->p >= c->limit) {
        return Truncated("sparse block header", *c);
      }
      const size_t others = static_cast<uint8_t>(*c->p++);
      const size_t pos_bytes = PackedBytes(others, kSparsePositionBits);
      const size_t val_bytes = PackedBytes(others, width);
      if (others == 0 || others > m ||
          static_cast<size_t>(c->limit - c->p) < pos_bytes + val_bytes) {
        return Truncated("sparse block payload", *c);
      }
      uint64_t pos[kBlockSize], val[kBlockSize];
      UnpackBits(c->p, c->readable_end, others, kSparsePositionBits, pos);
      UnpackBits(c->p + pos_bytes, c->readable_end, others, width, val);
      c->p += pos_bytes + val_bytes;
      for (size_t i = 0; i < m; ++i) r[i] = common;
      for (size_t k = 0; k < others; ++k) {
        if (pos[k] >= m || (k > 0 && pos[k] <= pos[k - 1])) {
          return Truncated("sparse block positions", *c);
        }
        r[pos[k]] = val[k];
      }
    }
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
    if (shift > 63 || width > 64 - shift)
      return Truncated("XOR block header", *c);
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
