#include "engine/quantile_sketch.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numbers>

#include "storage/internal/coding.h"

namespace nimbus::engine {
namespace {

using storage::internal::GetVarint64;
using storage::internal::LoadLE64;
using storage::internal::PutFixed64;
using storage::internal::PutVarint64;
using storage::internal::ZigZagDecode;
using storage::internal::ZigZagEncode;

// Version 1 (read, no longer written) listed every bucket of a store's span.
constexpr uint8_t kSketchVersion = 2;

const double kGamma = (1 + QuantileSketch::kRelativeAccuracy) /
                      (1 - QuantileSketch::kRelativeAccuracy);
const double kLogGamma = std::log(kGamma);
const double kInverseLogGamma = 1 / kLogGamma;

// IndexOf's fast path: [1, 2) cut into 128 slices of equal width, each with
// the reciprocal and the natural log of its centre.
struct LogTable {
  static constexpr int kBits = 7;
  double inverse[1 << kBits];
  double ln[1 << kBits];
  LogTable() {
    for (int j = 0; j < (1 << kBits); ++j) {
      const double centre = 1 + (j + 0.5) / (1 << kBits);
      inverse[j] = 1 / centre;
      ln[j] = std::log(centre);
    }
  }
};
const LogTable kLogTable;

// The fast path's estimate of ln(x) / ln(gamma) is within 1e-10 bucket
// widths of the exact expression's quotient; it answers only where no
// bucket boundary lies within this many widths of the estimate.
constexpr double kIndexSlack = 1e-6;
// ceil(y) = kCeilBias - trunc(kCeilBias - y) for |y| < kCeilBias (bucket
// indices of normal doubles are within +-36,000).
constexpr int64_t kCeilBias = int64_t{1} << 20;

// Bucket counts: an integral count c as varint 2c; any other as varint 1
// followed by its eight bytes.
void PutCount(std::string* out, double c) {
  if (c >= 0 && c < 4503599627370496.0 && c == std::floor(c)) {
    PutVarint64(out, static_cast<uint64_t>(c) * 2);
  } else {
    PutVarint64(out, 1);
    PutFixed64(out, std::bit_cast<uint64_t>(c));
  }
}

bool GetCount(const char** p, const char* limit, double* c) {
  uint64_t v;
  if (!GetVarint64(p, limit, &v)) return false;
  if ((v & 1) == 0) {
    // The short form holds integral counts below 2^52 only (PutCount):
    // another reading would give one sketch two encodings.
    if (v / 2 >= (uint64_t{1} << 52)) return false;
    *c = static_cast<double>(v / 2);
    return true;
  }
  if (v != 1 || limit - *p < 8) return false;
  *c = std::bit_cast<double>(LoadLE64(*p));
  *p += 8;
  return std::isfinite(*c) && *c >= 0;
}

}  // namespace

int32_t QuantileSketch::IndexOf(double magnitude) {
  // The bucket (gamma^(i-1), gamma^i] holding `magnitude`, defined as
  // ceil(std::log(magnitude) / kLogGamma): the last line. REQUIRES:
  // magnitude is positive and normal.
  //
  // Fast path, the same answer without calling log or ceil: magnitude is
  // f 2^e with f in [1, 2); f = c (1 + r) for the centre c of f's slice of
  // kLogTable, |r| <= 1/256, and ln(1 + r) is its series up to r^4
  // (remainder under |r|^5 / 5 < 2e-13). With rounding, the estimate is
  // within 1e-10 bucket widths of the exact expression's quotient (ln gamma
  // is 0.02, std::log is within an ulp). If no integer lies within
  // kIndexSlack of it, its ceiling is the exact expression's.
  const uint64_t bits = std::bit_cast<uint64_t>(magnitude);
  const int exponent = static_cast<int>(bits >> 52) - 1023;
  const size_t slice =
      (bits >> (52 - LogTable::kBits)) & ((size_t{1} << LogTable::kBits) - 1);
  const double f = std::bit_cast<double>((bits & ((uint64_t{1} << 52) - 1)) |
                                         (uint64_t{1023} << 52));
  const double r = f * kLogTable.inverse[slice] - 1;
  const double ln_f = kLogTable.ln[slice] +
                      r * (1 + r * (-1.0 / 2 + r * (1.0 / 3 + r * (-1.0 / 4))));
  const double estimate =
      (exponent * std::numbers::ln2 + ln_f) * kInverseLogGamma;
  const int64_t low =
      kCeilBias - static_cast<int64_t>(static_cast<double>(kCeilBias) -
                                       (estimate - kIndexSlack));
  const int64_t high =
      kCeilBias - static_cast<int64_t>(static_cast<double>(kCeilBias) -
                                       (estimate + kIndexSlack));
  if (low == high) return static_cast<int32_t>(low);
  return static_cast<int32_t>(std::ceil(std::log(magnitude) / kLogGamma));
}

double QuantileSketch::ValueOf(int32_t index) {
  // The point of the bucket with the smallest largest relative error.
  return 2 * std::pow(kGamma, index) / (kGamma + 1);
}

void QuantileSketch::Clear() {
  for (Store* s : {&positive_, &negative_}) {
    s->offset = 0;
    s->counts.clear();
  }
  zero_count_ = 0;
  count_ = 0;
}

void QuantileSketch::Store::Add(int32_t index, double count, bool keep_high) {
  if (counts.empty()) {
    offset = index;
    counts.push_back(count);
    return;
  }
  const int32_t top = offset + static_cast<int32_t>(counts.size()) - 1;
  int32_t lo = std::min(offset, index);
  int32_t hi = std::max(top, index);
  if (hi - lo < kMaxBuckets) {  // fits: grow to it
    if (index < offset) {
      counts.insert(counts.begin(), static_cast<size_t>(offset - index), 0.0);
      offset = index;
    } else if (index > top) {
      counts.resize(static_cast<size_t>(index - offset) + 1, 0.0);
    }
    counts[static_cast<size_t>(index - offset)] += count;
    return;
  }
  // Past kMaxBuckets, the buckets of the lowest values fold into the lowest
  // one kept (the positive store keeps its high indexes, the negative store,
  // by magnitude, its low ones). The window never grows past the limit, so
  // values spread over the whole accepted range cost no more memory.
  if (keep_high) {
    lo = hi - kMaxBuckets + 1;
  } else {
    hi = lo + kMaxBuckets - 1;
  }
  if (lo == offset && hi == top) {  // the window stays: fold into its edge
    counts[static_cast<size_t>(std::clamp(index, lo, hi) - lo)] += count;
    return;
  }
  std::vector<double> window(static_cast<size_t>(hi - lo) + 1, 0.0);
  for (size_t j = 0; j < counts.size(); ++j) {
    const int32_t at = std::clamp(offset + static_cast<int32_t>(j), lo, hi);
    window[static_cast<size_t>(at - lo)] += counts[j];
  }
  window[static_cast<size_t>(std::clamp(index, lo, hi) - lo)] += count;
  counts.swap(window);
  offset = lo;
}

double QuantileSketch::Store::total() const {
  double t = 0;
  for (double c : counts) t += c;
  return t;
}

void QuantileSketch::Add(double value, double count) {
  if (!std::isfinite(value) || !std::isfinite(count) || !(count > 0)) return;
  count_ += count;
  const double magnitude = std::fabs(value);
  if (magnitude < std::numeric_limits<double>::min()) {  // zero, subnormal
    zero_count_ += count;
    return;
  }
  Store& s = value > 0 ? positive_ : negative_;
  s.Add(IndexOf(magnitude), count, /*keep_high=*/value > 0);
}

void QuantileSketch::Store::Merge(const Store& other, bool keep_high) {
  if (other.counts.empty()) return;
  const int32_t other_top =
      other.offset + static_cast<int32_t>(other.counts.size()) - 1;
  int32_t lo = other.offset, hi = other_top;
  if (!counts.empty()) {
    lo = std::min(lo, offset);
    hi = std::max(hi, offset + static_cast<int32_t>(counts.size()) - 1);
  }
  if (hi - lo >= kMaxBuckets) {  // fold as Add does
    if (keep_high) {
      lo = hi - kMaxBuckets + 1;
    } else {
      hi = lo + kMaxBuckets - 1;
    }
  }
  // Same bucket boundaries: counts add index by index, in a window that
  // covers both (clamped to the limit).
  if (counts.empty() || lo != offset ||
      hi != offset + static_cast<int32_t>(counts.size()) - 1) {
    std::vector<double> window(static_cast<size_t>(hi - lo) + 1, 0.0);
    for (size_t j = 0; j < counts.size(); ++j) {
      const int32_t at = std::clamp(offset + static_cast<int32_t>(j), lo, hi);
      window[static_cast<size_t>(at - lo)] += counts[j];
    }
    counts.swap(window);
    offset = lo;
  }
  for (size_t j = 0; j < other.counts.size(); ++j) {
    const int32_t at =
        std::clamp(other.offset + static_cast<int32_t>(j), lo, hi);
    counts[static_cast<size_t>(at - lo)] += other.counts[j];
  }
}

void QuantileSketch::Merge(const QuantileSketch& other) {
  positive_.Merge(other.positive_, /*keep_high=*/true);
  negative_.Merge(other.negative_, /*keep_high=*/false);
  zero_count_ += other.zero_count_;
  count_ += other.count_;
}

void QuantileSketch::AppendBuckets(std::vector<WeightedValue>* out) const {
  for (size_t i = negative_.counts.size(); i-- > 0;) {
    const double c = negative_.counts[i];
    if (c > 0) {
      out->push_back({-ValueOf(negative_.offset + static_cast<int32_t>(i)), c});
    }
  }
  if (zero_count_ > 0) out->push_back({0, zero_count_});
  for (size_t i = 0; i < positive_.counts.size(); ++i) {
    const double c = positive_.counts[i];
    if (c > 0) {
      out->push_back({ValueOf(positive_.offset + static_cast<int32_t>(i)), c});
    }
  }
}

double QuantileSketch::Quantile(double q) const {
  if (empty()) return std::numeric_limits<double>::quiet_NaN();
  const double target = std::clamp(q, 0.0, 1.0) * count_;
  double cumulative = 0;
  // Ascending values: negatives from the largest magnitude down, zero,
  // positives from the smallest magnitude up.
  // The largest value seen so far: what rounding, leaving the target just
  // above the sum of the weights, returns.
  double last = std::numeric_limits<double>::quiet_NaN();
  for (size_t i = negative_.counts.size(); i-- > 0;) {
    const double c = negative_.counts[i];
    if (c <= 0) continue;
    cumulative += c;
    last = -ValueOf(negative_.offset + static_cast<int32_t>(i));
    if (cumulative >= target) return last;
  }
  cumulative += zero_count_;
  if (zero_count_ > 0) {
    last = 0;
    if (cumulative >= target) return 0;
  }
  for (size_t i = 0; i < positive_.counts.size(); ++i) {
    const double c = positive_.counts[i];
    if (c <= 0) continue;
    cumulative += c;
    last = ValueOf(positive_.offset + static_cast<int32_t>(i));
    if (cumulative >= target) return last;
  }
  return last;  // rounding left the target just above the total
}

std::string QuantileSketch::Serialize() const {
  std::string out;
  SerializeTo(&out);
  return out;
}

void QuantileSketch::SerializeTo(std::string* out) const {
  // Version 2: version, zero count, then per store (positive, negative) the
  // number of non-empty buckets and, per bucket, the zigzag difference of
  // its index from the previous one's (the first from 0) and its count. A
  // period's few samples spread over a wide range leave most buckets between
  // them empty: listing the non-empty ones is a fraction of the size.
  out->push_back(static_cast<char>(kSketchVersion));
  PutCount(out, zero_count_);
  for (const Store* s : {&positive_, &negative_}) {
    uint64_t nonempty = 0;
    for (double c : s->counts) nonempty += c > 0;
    PutVarint64(out, nonempty);
    int64_t previous = 0;
    for (size_t i = 0; i < s->counts.size(); ++i) {
      if (!(s->counts[i] > 0)) continue;
      const int64_t index = s->offset + static_cast<int64_t>(i);
      PutVarint64(out, ZigZagEncode(index - previous));
      PutCount(out, s->counts[i]);
      previous = index;
    }
  }
}

absl::StatusOr<QuantileSketch> QuantileSketch::Parse(absl::string_view bytes) {
  const char* p = bytes.data();
  const char* limit = p + bytes.size();
  auto bad = [](const char* what) {
    return absl::DataLossError(std::string("quantile sketch: ") + what);
  };
  if (p == limit) return bad("empty");
  const uint8_t version = static_cast<uint8_t>(*p);
  if (version != 1 && version != kSketchVersion) {
    return bad("unknown version");
  }
  ++p;
  QuantileSketch sk;
  if (!GetCount(&p, limit, &sk.zero_count_)) return bad("bad zero count");
  sk.count_ = sk.zero_count_;
  if (version == kSketchVersion) {
    for (Store* s : {&sk.positive_, &sk.negative_}) {
      uint64_t n;
      if (!GetVarint64(&p, limit, &n)) return bad("truncated store");
      if (n > static_cast<uint64_t>(kMaxBuckets))
        return bad("too many buckets");
      int64_t index = 0;
      for (uint64_t k = 0; k < n; ++k) {
        uint64_t zz;
        double c;
        if (!GetVarint64(&p, limit, &zz) || !GetCount(&p, limit, &c)) {
          return bad("bad bucket");
        }
        const int64_t delta = ZigZagDecode(zz);
        // Ascending indexes, within the span a store may have.
        if ((k > 0 && delta <= 0) || delta > (int64_t{1} << 21) ||
            delta < -(int64_t{1} << 21)) {
          return bad("bucket index out of order or range");
        }
        index += delta;
        if (index < -(1 << 20) || index > (1 << 20) ||
            (k > 0 && index - s->offset >= kMaxBuckets)) {
          return bad("bucket index out of range");
        }
        if (k == 0) s->offset = static_cast<int32_t>(index);
        s->counts.resize(static_cast<size_t>(index - s->offset) + 1, 0.0);
        s->counts.back() = c;
        sk.count_ += c;
      }
    }
    if (p != limit) return bad("trailing bytes");
    return sk;
  }
  for (Store* s : {&sk.positive_, &sk.negative_}) {
    uint64_t zz, n;
    if (!GetVarint64(&p, limit, &zz) || !GetVarint64(&p, limit, &n)) {
      return bad("truncated store");
    }
    const int64_t offset = ZigZagDecode(zz);
    // The whole span, not only its first bucket, within the indexes
    // version 2 can hold.
    if (n > static_cast<uint64_t>(kMaxBuckets) || offset < -(1 << 20) ||
        offset + static_cast<int64_t>(n) - 1 > (1 << 20)) {
      return bad("store out of range");
    }
    s->offset = static_cast<int32_t>(offset);
    s->counts.resize(n);
    for (double& c : s->counts) {
      if (!GetCount(&p, limit, &c)) return bad("bad bucket count");
      sk.count_ += c;
    }
  }
  if (p != limit) return bad("trailing bytes");
  return sk;
}

}  // namespace nimbus::engine
