#include "rpc/datum_wire.h"

#include <bit>
#include <cstring>

namespace nimbus::rpc {
namespace {

// Protobuf's default recursion limit: nested messages and groups.
constexpr int kMaxDepth = 100;

enum WireType : uint32_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

// Strict UTF-8, as protobuf checks string fields: no overlong forms, no
// surrogates, nothing above U+10FFFF.
bool IsValidUtf8(absl::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
    if (c >= 0xC2 && c <= 0xDF) {
      n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (static_cast<size_t>(end - p) < n) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (size_t i = 2; i < n; ++i) {
      if (p[i] < 0x80 || p[i] > 0xBF) return false;
    }
    p += n;
  }
  return true;
}

// Every string field of every datum goes through it, and most are short: a
// string of 4 to 15 bytes takes two loads (overlapping), 8 to 15 by the
// word loop and one more.
bool IsAscii(absl::string_view s) {
  const char* p = s.data();
  const size_t n = s.size();
  uint64_t high = 0;
  if (n >= 8) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      high |= w;
    }
    uint64_t last;  // the last eight bytes, overlapping what was read
    std::memcpy(&last, p + n - 8, 8);
    high |= last;
  } else if (n >= 4) {
    uint32_t first, last;
    std::memcpy(&first, p, 4);
    std::memcpy(&last, p + n - 4, 4);
    high = first | last;
  } else {
    for (size_t i = 0; i < n; ++i) high |= static_cast<unsigned char>(p[i]);
  }
  return (high & 0x8080808080808080ull) == 0;
}

// A bounded cursor over wire bytes. Every read returns false at a
// malformation; the caller then gives up on the whole request.
struct Reader {
  const char* p;
  const char* limit;

  bool done() const { return p == limit; }

  // A varint of at most max_bytes bytes; bits beyond 64 are dropped, as
  // protobuf does.
  bool VarintOf(int max_bytes, uint64_t* v) {
    // Tags and most lengths are one byte.
    if (p != limit && static_cast<unsigned char>(*p) < 0x80) {
      *v = static_cast<unsigned char>(*p++);
      return true;
    }
    uint64_t result = 0;
    for (int i = 0; i < max_bytes; ++i) {
      if (p == limit) return false;
      const uint64_t byte = static_cast<unsigned char>(*p++);
      result |= (byte & 0x7F) << (7 * i);
      if (byte < 0x80) {
        *v = result;
        return true;
      }
    }
    return false;  // a longer one would follow
  }

  bool Varint(uint64_t* v) { return VarintOf(10, v); }

  // A tag: at most five bytes; bits beyond 32 are dropped, as protobuf does.
  bool Tag(uint32_t* tag) {
    uint64_t v;
    if (!VarintOf(5, &v)) return false;
    *tag = static_cast<uint32_t>(v);
    return true;
  }

  bool Fixed64(uint64_t* v) {
    if (limit - p < 8) return false;
    uint64_t x;
    std::memcpy(&x, p, 8);
    p += 8;
    *v = x;  // little-endian host (x86-64, arm64)
    return true;
  }

  bool Double(double* d) {
    uint64_t x;
    if (!Fixed64(&x)) return false;
    *d = std::bit_cast<double>(x);
    return true;
  }

  // A length: at most five bytes, below 2 GiB, as protobuf reads sizes.
  bool Size(uint64_t* n) { return VarintOf(5, n) && *n < (uint64_t{1} << 31); }

  // The payload of a length-delimited field.
  bool Bytes(absl::string_view* out) {
    uint64_t n;
    if (!Size(&n) || n > static_cast<uint64_t>(limit - p)) return false;
    *out = absl::string_view(p, n);
    p += n;
    return true;
  }

  bool String(absl::string_view* out) {
    if (!Bytes(out)) return false;
    return IsAscii(*out) || IsValidUtf8(*out);
  }

  // Skips the value of a field this decoder does not read.
  bool Skip(uint32_t tag, int depth) {
    switch (tag & 7) {
      case kVarint: {
        uint64_t v;
        return Varint(&v);
      }
      case kFixed64:
        if (limit - p < 8) return false;
        p += 8;
        return true;
      case kLengthDelimited: {
        absl::string_view v;
        return Bytes(&v);
      }
      case kStartGroup: {
        if (--depth < 0) return false;
        while (true) {
          uint32_t t;
          if (!Tag(&t) || (t >> 3) == 0) return false;
          if ((t & 7) == kEndGroup) return t == tag + 1;
          if (!Skip(t, depth)) return false;
        }
      }
      case kFixed32:
        if (limit - p < 4) return false;
        p += 4;
        return true;
      default:  // an end group without its start, or wire types 6 and 7
        return false;
    }
  }

  // The next field's tag, or false at a malformed one (field number 0, an
  // end group outside a group).
  bool Field(uint32_t* tag) {
    return Tag(tag) && (*tag >> 3) != 0 && (*tag & 7) != kEndGroup;
  }
};

// Protobuf's tag for field `number` with wire type `type`.
constexpr uint32_t T(uint32_t number, WireType type) {
  return (number << 3) | type;
}

bool DecodeDimension(absl::string_view bytes, int depth,
                     engine::DimensionView* d) {
  Reader r{bytes.data(), bytes.data() + bytes.size()};
  while (!r.done()) {
    uint32_t tag;
    if (!r.Field(&tag)) return false;
    bool ok;
    switch (tag) {
      case T(1, kLengthDelimited):
        ok = r.String(&d->name);
        break;
      case T(2, kLengthDelimited):
        ok = r.String(&d->value);
        break;
      default:
        ok = r.Skip(tag, depth);
    }
    if (!ok) return false;
  }
  return true;
}

bool DecodeTimestamp(absl::string_view bytes, int depth, DatumView* d) {
  Reader r{bytes.data(), bytes.data() + bytes.size()};
  while (!r.done()) {
    uint32_t tag;
    if (!r.Field(&tag)) return false;
    uint64_t v = 0;
    bool ok;
    switch (tag) {
      case T(1, kVarint):
        ok = r.Varint(&v);
        d->timestamp_seconds = static_cast<int64_t>(v);
        break;
      case T(2, kVarint):
        ok = r.Varint(&v);
        d->timestamp_nanos = static_cast<int32_t>(v);
        break;
      default:
        ok = r.Skip(tag, depth);
    }
    if (!ok) return false;
  }
  return true;
}

bool DecodeStatisticSet(absl::string_view bytes, int depth, DatumView* d) {
  Reader r{bytes.data(), bytes.data() + bytes.size()};
  while (!r.done()) {
    uint32_t tag;
    if (!r.Field(&tag)) return false;
    bool ok;
    switch (tag) {
      case T(1, kFixed64):
        ok = r.Double(&d->sample_count);
        break;
      case T(2, kFixed64):
        ok = r.Double(&d->sum);
        break;
      case T(3, kFixed64):
        ok = r.Double(&d->minimum);
        break;
      case T(4, kFixed64):
        ok = r.Double(&d->maximum);
        break;
      default:
        ok = r.Skip(tag, depth);
    }
    if (!ok) return false;
  }
  return true;
}

// Packed doubles: a whole number of eight-byte values.
bool AppendPacked(absl::string_view bytes, std::vector<double>* out) {
  if (bytes.size() % 8 != 0) return false;
  if (bytes.empty()) return true;
  const size_t n = bytes.size() / 8;
  const size_t at = out->size();
  out->resize(at + n);
  std::memcpy(out->data() + at, bytes.data(), bytes.size());
  return true;
}

// Sets every field of *d to its default. Explicit stores, not assignment
// from DatumView{}: the compiler turns zeroing the whole struct into a
// `rep stos`, whose start-up cost was an eighth of decoding a datum.
void ResetDatum(DatumView* d) {
  static_assert(sizeof(DatumView) == 136,
                "a DatumView field was added or removed: reset it here too");
  d->identity_fields = {};
  d->metric_name = {};
  d->has_timestamp = false;
  d->timestamp_seconds = 0;
  d->timestamp_nanos = 0;
  d->has_value = false;
  d->value = 0;
  d->has_statistic_values = false;
  d->sample_count = d->sum = d->minimum = d->maximum = 0;
  d->unit = {};
  d->storage_resolution = 0;
}

bool DecodeDatum(absl::string_view bytes, int depth, PutMetricDataView* out,
                 DatumView* d) {
  ResetDatum(d);
  Reader r{bytes.data(), bytes.data() + bytes.size()};
  d->dims_begin = d->dims_end = static_cast<uint32_t>(out->dims.size());
  d->values_begin = d->values_end = static_cast<uint32_t>(out->values.size());
  d->counts_begin = d->counts_end = static_cast<uint32_t>(out->counts.size());
  // identity_fields: the leading run of name and dimension fields, unless
  // one of those fields comes again after it.
  const char* identity_end = r.p;
  bool identity_open = true, identity_whole = true;
  while (!r.done()) {
    uint32_t tag;
    if (!r.Field(&tag)) return false;
    const bool identity_tag =
        tag == T(1, kLengthDelimited) || tag == T(2, kLengthDelimited);
    if (!identity_tag) {
      identity_open = false;
    } else if (!identity_open) {
      identity_whole = false;
    }
    absl::string_view sub;
    uint64_t v = 0;
    double x = 0;
    bool ok;
    switch (tag) {
      case T(1, kLengthDelimited):
        ok = r.String(&d->metric_name);
        break;
      case T(2, kLengthDelimited):
        ok = r.Bytes(&sub) && depth > 0 &&
             DecodeDimension(sub, depth - 1, &out->dims.emplace_back());
        break;
      case T(3, kLengthDelimited):
        d->has_timestamp = true;
        ok = r.Bytes(&sub) && depth > 0 && DecodeTimestamp(sub, depth - 1, d);
        break;
      case T(4, kFixed64):
        d->has_value = true;
        ok = r.Double(&d->value);
        break;
      case T(5, kFixed64):
        ok = r.Double(&x);
        out->values.push_back(x);
        break;
      case T(5, kLengthDelimited):
        ok = r.Bytes(&sub) && AppendPacked(sub, &out->values);
        break;
      case T(6, kFixed64):
        ok = r.Double(&x);
        out->counts.push_back(x);
        break;
      case T(6, kLengthDelimited):
        ok = r.Bytes(&sub) && AppendPacked(sub, &out->counts);
        break;
      case T(7, kLengthDelimited):
        d->has_statistic_values = true;
        ok =
            r.Bytes(&sub) && depth > 0 && DecodeStatisticSet(sub, depth - 1, d);
        break;
      case T(8, kLengthDelimited):
        ok = r.String(&d->unit);
        break;
      case T(9, kVarint):
        ok = r.Varint(&v);
        d->storage_resolution = static_cast<int32_t>(v);
        break;
      default:
        ok = r.Skip(tag, depth);
    }
    if (!ok) return false;
    if (identity_open) identity_end = r.p;
  }
  if (identity_whole) {
    d->identity_fields =
        absl::string_view(bytes.data(), identity_end - bytes.data());
  }
  d->dims_end = static_cast<uint32_t>(out->dims.size());
  d->values_end = static_cast<uint32_t>(out->values.size());
  d->counts_end = static_cast<uint32_t>(out->counts.size());
  return true;
}

}  // namespace

bool DecodePutMetricDataRequest(absl::string_view bytes,
                                PutMetricDataView* out) {
  out->namespace_name = {};
  // Datums are reset one by one as they are decoded (ResetDatum), so a
  // view reused for requests of one size makes no new ones.
  size_t datums = 0;
  out->dims.clear();
  out->values.clear();
  out->counts.clear();
  Reader r{bytes.data(), bytes.data() + bytes.size()};
  const int depth = kMaxDepth;
  while (!r.done()) {
    uint32_t tag;
    if (!r.Field(&tag)) {
      out->datums.resize(datums);
      return false;
    }
    absl::string_view sub;
    bool ok;
    switch (tag) {
      case T(1, kLengthDelimited):
        ok = r.String(&out->namespace_name);
        break;
      case T(2, kLengthDelimited):
        if (datums == out->datums.size()) out->datums.emplace_back();
        ok = r.Bytes(&sub) &&
             DecodeDatum(sub, depth - 1, out, &out->datums[datums++]);
        break;
      default:
        ok = r.Skip(tag, depth);
    }
    if (!ok) {
      out->datums.resize(datums);
      return false;
    }
  }
  out->datums.resize(datums);
  return true;
}

}  // namespace nimbus::rpc
