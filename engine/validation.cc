#include "engine/validation.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace nimbus::engine {
namespace {

bool HasControl(absl::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7F) return true;
  }
  return false;
}

bool AllBlank(absl::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t') return false;
  }
  return true;
}

bool IsAscii(absl::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

Rejection Reject(RejectReason r, std::string message) {
  return Rejection{r, std::move(message)};
}

// 2^360, the largest magnitude CloudWatch accepts.
const double kMaxMagnitude = std::ldexp(1.0, 360);

}  // namespace

absl::string_view RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kTimestampTooOld:
      return "TimestampTooOld";
    case RejectReason::kTimestampTooFarInFuture:
      return "TimestampTooFarInFuture";
    case RejectReason::kValueNotFinite:
      return "ValueNotFinite";
    case RejectReason::kValueOutOfRange:
      return "ValueOutOfRange";
    case RejectReason::kTooManyDimensions:
      return "TooManyDimensions";
    case RejectReason::kInvalidMetricName:
      return "InvalidMetricName";
    case RejectReason::kInvalidDimension:
      return "InvalidDimension";
    case RejectReason::kDuplicateDimension:
      return "DuplicateDimension";
    case RejectReason::kInvalidUnit:
      return "InvalidUnit";
    case RejectReason::kInvalidStorageResolution:
      return "InvalidStorageResolution";
    case RejectReason::kNoValue:
      return "NoValue";
    case RejectReason::kConflictingValues:
      return "ConflictingValues";
    case RejectReason::kValuesCountsMismatch:
      return "ValuesCountsMismatch";
    case RejectReason::kTooManyValues:
      return "TooManyValues";
    case RejectReason::kInvalidCount:
      return "InvalidCount";
    case RejectReason::kInvalidStatisticSet:
      return "InvalidStatisticSet";
    case RejectReason::kInvalidNamespace:
      return "InvalidNamespace";
    case RejectReason::kTimestampsValuesMismatch:
      return "TimestampsValuesMismatch";
  }
  return "Unknown";
}

absl::Status ValidateNamespace(absl::string_view ns, absl::string_view field) {
  if (ns.empty() || ns.size() > 255) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must be 1 to 255 characters, got ", ns.size()));
  }
  if (ns[0] == ':') {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must not start with ':'"));
  }
  for (char c : ns) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
                    (c >= 'a' && c <= 'z') || c == '.' || c == '-' ||
                    c == '_' || c == '/' || c == '#' || c == ':';
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": character '", std::string(1, c),
                       "' is not allowed (allowed: 0-9 A-Z a-z . - _ / # :)"));
    }
  }
  return absl::OkStatus();
}

std::optional<Rejection> ValidateMetricName(absl::string_view name) {
  if (name.empty() || name.size() > 255) {
    return Reject(RejectReason::kInvalidMetricName,
                  absl::StrCat("metric_name: must be 1 to 255 characters, got ",
                               name.size()));
  }
  if (HasControl(name)) {
    return Reject(RejectReason::kInvalidMetricName,
                  "metric_name: must not contain control characters");
  }
  if (AllBlank(name)) {
    return Reject(RejectReason::kInvalidMetricName,
                  "metric_name: must have a non-blank character");
  }
  return std::nullopt;
}

std::optional<Rejection> ValidateDimensions(std::vector<Dimension>* dims) {
  if (dims->size() > kMaxDimensions) {
    return Reject(RejectReason::kTooManyDimensions,
                  absl::StrCat("dimensions: ", dims->size(), " given, at most ",
                               kMaxDimensions));
  }
  for (size_t i = 0; i < dims->size(); ++i) {
    const Dimension& d = (*dims)[i];
    const std::string where = absl::StrCat("dimensions[", i, "]");
    if (d.name.empty() || d.name.size() > 255) {
      return Reject(RejectReason::kInvalidDimension,
                    absl::StrCat(where, ".name: must be 1 to 255 characters"));
    }
    if (d.name[0] == ':' || !IsAscii(d.name) || HasControl(d.name) ||
        AllBlank(d.name)) {
      return Reject(RejectReason::kInvalidDimension,
                    absl::StrCat(where,
                                 ".name: must be printable ASCII, not blank, "
                                 "not starting with ':'"));
    }
    if (d.value.empty() || d.value.size() > 1024) {
      return Reject(
          RejectReason::kInvalidDimension,
          absl::StrCat(where, ".value: must be 1 to 1024 characters"));
    }
    if (!IsAscii(d.value) || HasControl(d.value) || AllBlank(d.value)) {
      return Reject(RejectReason::kInvalidDimension,
                    absl::StrCat(where,
                                 ".value: must be printable ASCII, "
                                 "not blank"));
    }
  }
  size_t dup = 0;
  if (!SortDimensions(dims, &dup)) {
    return Reject(RejectReason::kDuplicateDimension,
                  absl::StrCat("dimensions: name '", (*dims)[dup].name,
                               "' appears more than once"));
  }
  return std::nullopt;
}

std::optional<Rejection> ValidateUnit(std::string* unit) {
  if (unit->empty()) {
    *unit = "None";
    return std::nullopt;
  }
  for (absl::string_view u : kUnitNames) {
    if (*unit == u) return std::nullopt;
  }
  return Reject(RejectReason::kInvalidUnit,
                absl::StrCat("unit: '", *unit,
                             "' is not a CloudWatch unit (e.g. Seconds, "
                             "Bytes, Percent, Count, Count/Second, None)"));
}

std::optional<Rejection> ValidateStorageResolution(int32_t* resolution) {
  if (*resolution == 0) *resolution = 60;
  if (*resolution == 1 || *resolution == 60) return std::nullopt;
  return Reject(
      RejectReason::kInvalidStorageResolution,
      absl::StrCat("storage_resolution: must be 1 or 60, got ", *resolution));
}

std::optional<Rejection> ValidateTimestamp(int64_t ts_ms, int64_t now_ms) {
  if (ts_ms < now_ms - kMaxPastMs) {
    return Reject(
        RejectReason::kTimestampTooOld,
        absl::StrCat("timestamp: ", ts_ms,
                     " ms is more than 14 days before now (", now_ms, " ms)"));
  }
  if (ts_ms > now_ms + kMaxFutureMs) {
    return Reject(
        RejectReason::kTimestampTooFarInFuture,
        absl::StrCat("timestamp: ", ts_ms,
                     " ms is more than 2 hours after now (", now_ms, " ms)"));
  }
  return std::nullopt;
}

std::optional<Rejection> ValidateValue(double v, absl::string_view field) {
  if (!std::isfinite(v)) {
    return Reject(RejectReason::kValueNotFinite,
                  absl::StrCat(field, ": NaN and infinities are not accepted"));
  }
  if (std::fabs(v) > kMaxMagnitude) {
    return Reject(RejectReason::kValueOutOfRange,
                  absl::StrCat(field, ": ", v,
                               " is outside the accepted range -2^360..2^360"));
  }
  return std::nullopt;
}

}  // namespace nimbus::engine
