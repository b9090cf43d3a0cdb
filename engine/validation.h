// CloudWatch's input rules (docs/semantics.md, "Sending points"), each
// failure named.
//
// Per-datum problems are Rejections: the datum is refused with a reason code
// and a message naming the field and the rule, and the rest of the request
// goes on. Whole-request problems are InvalidArgument statuses.
#ifndef NIMBUS_ENGINE_VALIDATION_H_
#define NIMBUS_ENGINE_VALIDATION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/series_key.h"

namespace nimbus::engine {

enum class RejectReason {
  kTimestampTooOld,
  kTimestampTooFarInFuture,
  kValueNotFinite,
  kValueOutOfRange,
  kTooManyDimensions,
  kInvalidMetricName,
  kInvalidDimension,
  kDuplicateDimension,
  kInvalidUnit,
  kInvalidStorageResolution,
  kNoValue,
  kConflictingValues,
  kValuesCountsMismatch,
  kTooManyValues,
  kInvalidCount,
  kInvalidStatisticSet,
  kInvalidNamespace,
  kTimestampsValuesMismatch,
};
inline constexpr int kRejectReasonCount = 18;

// The stable code, e.g. "TimestampTooOld".
absl::string_view RejectReasonName(RejectReason reason);

struct Rejection {
  RejectReason reason;
  std::string message;
};

// CloudWatch's unit names.
inline constexpr absl::string_view kUnitNames[] = {"Seconds",
                                                   "Microseconds",
                                                   "Milliseconds",
                                                   "Bytes",
                                                   "Kilobytes",
                                                   "Megabytes",
                                                   "Gigabytes",
                                                   "Terabytes",
                                                   "Bits",
                                                   "Kilobits",
                                                   "Megabits",
                                                   "Gigabits",
                                                   "Terabits",
                                                   "Percent",
                                                   "Count",
                                                   "Bytes/Second",
                                                   "Kilobytes/Second",
                                                   "Megabytes/Second",
                                                   "Gigabytes/Second",
                                                   "Terabytes/Second",
                                                   "Bits/Second",
                                                   "Kilobits/Second",
                                                   "Megabits/Second",
                                                   "Gigabits/Second",
                                                   "Terabits/Second",
                                                   "Count/Second",
                                                   "None"};

inline constexpr int64_t kMaxPastMs = int64_t{14} * 24 * 3600 * 1000;
inline constexpr int64_t kMaxFutureMs = int64_t{2} * 3600 * 1000;
inline constexpr size_t kMaxDimensions = 30;
inline constexpr size_t kMaxValuesPerDatum = 150;
inline constexpr size_t kMaxDatumsPerRequest = 1000;
inline constexpr size_t kMaxRequestBytes = 1 << 20;

// Namespace: 1-255 characters from 0-9 A-Z a-z . - _ / # :, not starting
// with ':'. Returns InvalidArgument naming `field`.
absl::Status ValidateNamespace(absl::string_view ns, absl::string_view field);

// Whether `s` holds a control character (below 0x20, or 0x7F).
bool HasControlCharacter(absl::string_view s);
// The characters (Unicode code points) of UTF-8 text: the bytes that do not
// continue a sequence.
size_t CharacterCount(absl::string_view s);

// Metric name 1-255 characters, no control characters, not all blank.
std::optional<Rejection> ValidateMetricName(absl::string_view name);

// At most 30; names 1-255 ASCII not starting with ':', values 1-1024 ASCII,
// no control characters, not all blank; unique names. Sorts *dims by name.
std::optional<Rejection> ValidateDimensions(std::vector<Dimension>* dims);

// One of CloudWatch's unit names; an empty unit becomes "None".
std::optional<Rejection> ValidateUnit(std::string* unit);

// The same rules for fields that are views into a request, allocating only
// for a rejection's message: ValidateDimensionViews sorts *dims by name;
// ValidateUnitView points an empty unit at "None".
std::optional<Rejection> ValidateDimensionViews(absl::Span<DimensionView> dims);
std::optional<Rejection> ValidateUnitView(absl::string_view* unit);

// 1 or 60; 0 becomes 60.
std::optional<Rejection> ValidateStorageResolution(int32_t* resolution);

// Within 14 days before and 2 hours after now_ms.
std::optional<Rejection> ValidateTimestamp(int64_t ts_ms, int64_t now_ms);

// Finite and within +-2^360. `field` names the value in the message.
std::optional<Rejection> ValidateValue(double v, absl::string_view field);
// The same test without a message: when it fails, ValidateValue says why.
inline bool IsAcceptedValue(double v) {
  return v >= -0x1p360 && v <= 0x1p360;  // false for NaN
}

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_VALIDATION_H_
