// Series identity: (namespace, metric name, dimensions, unit), CloudWatch's
// definition of a metric stream, with Nimbus keeping units apart.
#ifndef NIMBUS_ENGINE_SERIES_KEY_H_
#define NIMBUS_ENGINE_SERIES_KEY_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace nimbus::engine {

struct Dimension {
  std::string name;
  std::string value;
  bool operator==(const Dimension&) const = default;
};

// A dimension whose bytes live elsewhere (a request being decoded).
struct DimensionView {
  absl::string_view name;
  absl::string_view value;
};

struct SeriesKey {
  std::string namespace_name;
  std::string metric_name;
  // Sorted by name, names unique (see SortDimensions).
  std::vector<Dimension> dimensions;
  std::string unit;  // a CloudWatch unit name; "None" by default

  bool operator==(const SeriesKey&) const = default;

  // The canonical byte encoding (storage/FORMAT.md): equal keys encode to
  // equal bytes and different keys to different bytes. Fields are
  // length-prefixed, so byte order is not alphabetical order.
  std::string Encode() const;
  // Returns false if `bytes` is not an encoding Encode() writes (dimensions
  // out of name order or with a repeated name included).
  static bool Decode(absl::string_view bytes, SeriesKey* key);
  // "Namespace/MetricName{name=value,...} [unit]", for messages.
  std::string DebugString() const;
};

// Appends SeriesKey::Encode() of the key with these fields to *out, without
// building the key. `dims` must be sorted by name, names unique.
void AppendSeriesKeyEncoding(absl::string_view namespace_name,
                             absl::string_view metric_name,
                             absl::string_view unit,
                             absl::Span<const DimensionView> dims,
                             std::string* out);

// A series identity exactly as a client sent it, before validation: its
// namespace, the wire bytes of its metric name and dimension fields, and its
// unit as given ("" for None). Equal bytes parse to equal fields, so an
// identity names one series whatever the order of its dimensions.
struct IdentityView {
  absl::string_view namespace_name;
  absl::string_view fields;
  absl::string_view unit;

  template <typename H>
  friend H AbslHashValue(H h, const IdentityView& v) {
    return H::combine(std::move(h), v.namespace_name, v.fields, v.unit);
  }
};

// Sorts dimensions by name. Returns false (and the index of the second one in
// *duplicate) if two have the same name.
bool SortDimensions(std::vector<Dimension>* dims, size_t* duplicate);

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_SERIES_KEY_H_
