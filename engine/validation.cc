#include "engine/validation.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace nimbus::engine {
namespace {

bool AllBlank(absl::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t') return false;
  }
  return true;
}

Rejection Reject(RejectReason r, std::string message) {
  return Rejection{r, std::move(message)};
}

// 2^360, the largest magnitude CloudWatch accepts.
const double kMaxMagnitude = std::ldexp(1.0, 360);

}  // namespace

size_t CharacterCount(absl::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool HasControlCharacter(absl::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7F) return true;
  }
  return false;
}

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
  if (HasControlCharacter(name)) {
    return Reject(RejectReason::kInvalidMetricName,
                  "metric_name: must not contain control characters");
  }
  if (AllBlank(name)) {
    return Reject(RejectReason::kInvalidMetricName,
                  "metric_name: must have a non-blank character");
  }
  return std::nullopt;
}

namespace {

std::optional<Rejection> TooManyDimensions(size_t n) {
  if (n <= kMaxDimensions) return std::nullopt;
  return Reject(
      RejectReason::kTooManyDimensions,
      absl::StrCat("dimensions: ", n, " given, at most ", kMaxDimensions));
}

// Printable ASCII (no control characters, nothing above 0x7E) and not all
// blank, in one pass: it runs for every dimension of every datum.
bool PrintableAsciiNotBlank(absl::string_view s) {
  bool bad = false;
  bool blank = true;
  for (unsigned char c : s) {
    bad |= c < 0x20 || c >= 0x7F;
    blank &= c == ' ' || c == '\t';
  }
  return !bad && !blank;
}

// The rules for dimension i; the message is built only on failure.
std::optional<Rejection> CheckDimension(absl::string_view name,
                                        absl::string_view value, size_t i) {
  if (name.empty() || name.size() > 255) {
    return Reject(
        RejectReason::kInvalidDimension,
        absl::StrCat("dimensions[", i, "].name: must be 1 to 255 characters"));
  }
  if (name[0] == ':' || !PrintableAsciiNotBlank(name)) {
    return Reject(RejectReason::kInvalidDimension,
                  absl::StrCat("dimensions[", i,
                               "].name: must be printable ASCII, not blank, "
                               "not starting with ':'"));
  }
  if (value.empty() || value.size() > 1024) {
    return Reject(RejectReason::kInvalidDimension,
                  absl::StrCat("dimensions[", i,
                               "].value: must be 1 to 1024 characters"));
  }
  if (!PrintableAsciiNotBlank(value)) {
    return Reject(RejectReason::kInvalidDimension,
                  absl::StrCat("dimensions[", i,
                               "].value: must be printable ASCII, not blank"));
  }
  return std::nullopt;
}

Rejection DuplicateDimension(absl::string_view name) {
  return Reject(
      RejectReason::kDuplicateDimension,
      absl::StrCat("dimensions: name '", name, "' appears more than once"));
}

}  // namespace

std::optional<Rejection> ValidateDimensions(std::vector<Dimension>* dims) {
  if (auto r = TooManyDimensions(dims->size())) return r;
  for (size_t i = 0; i < dims->size(); ++i) {
    if (auto r = CheckDimension((*dims)[i].name, (*dims)[i].value, i)) return r;
  }
  size_t dup = 0;
  if (!SortDimensions(dims, &dup)) return DuplicateDimension((*dims)[dup].name);
  return std::nullopt;
}

std::optional<Rejection> ValidateDimensionViews(
    absl::Span<DimensionView> dims) {
  if (auto r = TooManyDimensions(dims.size())) return r;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (auto r = CheckDimension(dims[i].name, dims[i].value, i)) return r;
  }
  // Insertion sort, stable: at most 30 entries, usually sorted already.
  for (size_t i = 1; i < dims.size(); ++i) {
    const DimensionView d = dims[i];
    size_t j = i;
    for (; j > 0 && d.name < dims[j - 1].name; --j) dims[j] = dims[j - 1];
    dims[j] = d;
  }
  for (size_t i = 1; i < dims.size(); ++i) {
    if (dims[i].name == dims[i - 1].name) {
      return DuplicateDimension(dims[i].name);
    }
  }
  return std::nullopt;
}

std::optional<Rejection> ValidateUnitView(absl::string_view* unit) {
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

std::optional<Rejection> ValidateUnit(std::string* unit) {
  absl::string_view view = *unit;
  if (auto r = ValidateUnitView(&view)) return r;
  if (unit->empty()) *unit = std::string(view);
  return std::nullopt;
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
