// Series identity: (namespace, metric name, dimensions, unit), CloudWatch's
// definition of a metric stream, with Nimbus keeping units apart.
#ifndef NIMBUS_ENGINE_SERIES_KEY_H_
#define NIMBUS_ENGINE_SERIES_KEY_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace nimbus::engine {

struct Dimension {
  std::string name;
  std::string value;
  bool operator==(const Dimension&) const = default;
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

// Sorts dimensions by name. Returns false (and the index of the second one in
// *duplicate) if two have the same name.
bool SortDimensions(std::vector<Dimension>* dims, size_t* duplicate);

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_SERIES_KEY_H_
