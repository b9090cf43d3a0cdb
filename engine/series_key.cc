#include "engine/series_key.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "storage/internal/coding.h"

namespace nimbus::engine {
namespace {

using storage::internal::GetVarint64;

bool GetString(const char** p, const char* limit, std::string* s) {
  uint64_t n;
  if (!GetVarint64(p, limit, &n) || n > static_cast<uint64_t>(limit - *p)) {
    return false;
  }
  s->assign(*p, n);
  *p += n;
  return true;
}

}  // namespace

namespace {

size_t StringLength(absl::string_view s) {
  return storage::internal::VarintLength(s.size()) + s.size();
}

char* WriteVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

char* WriteString(char* p, absl::string_view s) {
  p = WriteVarint(p, s.size());
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

}  // namespace

void AppendSeriesKeyEncoding(absl::string_view namespace_name,
                             absl::string_view metric_name,
                             absl::string_view unit,
                             absl::Span<const DimensionView> dims,
                             std::string* out) {
  // Sized first and written in place: this runs once per datum ingested.
  size_t n = StringLength(namespace_name) + StringLength(metric_name) +
             StringLength(unit) + storage::internal::VarintLength(dims.size());
  for (const DimensionView& d : dims) {
    n += StringLength(d.name) + StringLength(d.value);
  }
  const size_t at = out->size();
  out->resize(at + n);
  char* p = out->data() + at;
  p = WriteString(p, namespace_name);
  p = WriteString(p, metric_name);
  p = WriteString(p, unit);
  p = WriteVarint(p, dims.size());
  for (const DimensionView& d : dims) {
    p = WriteString(p, d.name);
    p = WriteString(p, d.value);
  }
}

std::string SeriesKey::Encode() const {
  std::vector<DimensionView> dims;
  dims.reserve(dimensions.size());
  for (const Dimension& d : dimensions) dims.push_back({d.name, d.value});
  std::string out;
  AppendSeriesKeyEncoding(namespace_name, metric_name, unit, dims, &out);
  return out;
}

bool SeriesKey::Decode(absl::string_view bytes, SeriesKey* key) {
  const char* p = bytes.data();
  const char* limit = p + bytes.size();
  uint64_t n;
  if (!GetString(&p, limit, &key->namespace_name) ||
      !GetString(&p, limit, &key->metric_name) ||
      !GetString(&p, limit, &key->unit) || !GetVarint64(&p, limit, &n) ||
      n > 64) {
    return false;
  }
  key->dimensions.resize(n);
  for (size_t i = 0; i < n; ++i) {
    Dimension& d = key->dimensions[i];
    if (!GetString(&p, limit, &d.name) || !GetString(&p, limit, &d.value)) {
      return false;
    }
    // Encode() writes dimensions sorted by name, names unique: other bytes
    // would decode to a key that encodes differently, and one key could
    // then be stored under two encodings.
    if (i > 0 && !(key->dimensions[i - 1].name < d.name)) return false;
  }
  return p == limit;
}

std::string SeriesKey::DebugString() const {
  std::string out = absl::StrCat(namespace_name, "/", metric_name, "{");
  for (size_t i = 0; i < dimensions.size(); ++i) {
    absl::StrAppend(&out, i ? "," : "", dimensions[i].name, "=",
                    dimensions[i].value);
  }
  absl::StrAppend(&out, "} [", unit, "]");
  return out;
}

bool SortDimensions(std::vector<Dimension>* dims, size_t* duplicate) {
  std::stable_sort(
      dims->begin(), dims->end(),
      [](const Dimension& a, const Dimension& b) { return a.name < b.name; });
  for (size_t i = 1; i < dims->size(); ++i) {
    if ((*dims)[i].name == (*dims)[i - 1].name) {
      *duplicate = i;
      return false;
    }
  }
  return true;
}

}  // namespace nimbus::engine
