#include "engine/validation.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/series_key.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nimbus::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A fixed "now": 2023-11-14T22:13:20Z.
constexpr int64_t kNowMs = int64_t{1'700'000'000'000};

// Expects `r` to be a rejection with `reason` whose message mentions `field`.
void ExpectRejected(const std::optional<Rejection>& r, RejectReason reason,
                    absl::string_view field) {
  ASSERT_TRUE(r.has_value()) << "expected " << RejectReasonName(reason);
  EXPECT_EQ(r->reason, reason)
      << "got " << RejectReasonName(r->reason) << ": " << r->message;
  EXPECT_THAT(r->message, HasSubstr(std::string(field)));
}

std::vector<Dimension> NDimensions(size_t n) {
  std::vector<Dimension> dims;
  for (size_t i = 0; i < n; ++i) {
    dims.push_back({absl::StrCat("Name", i), absl::StrCat("Value", i)});
  }
  return dims;
}

std::optional<Rejection> ValidateOne(std::string name, std::string value) {
  std::vector<Dimension> dims = {{std::move(name), std::move(value)}};
  return ValidateDimensions(&dims);
}

// ---------------------------------------------------------------------------
// Timestamps

TEST(Validation, RejectsATimestampMoreThanFourteenDaysOld) {
  ExpectRejected(ValidateTimestamp(kNowMs - kMaxPastMs - 1, kNowMs),
                 RejectReason::kTimestampTooOld, "timestamp");
  ExpectRejected(ValidateTimestamp(0, kNowMs), RejectReason::kTimestampTooOld,
                 "timestamp");
}

TEST(Validation, AcceptsATimestampExactlyFourteenDaysOld) {
  EXPECT_EQ(kMaxPastMs, int64_t{14} * 24 * 60 * 60 * 1000);
  EXPECT_EQ(ValidateTimestamp(kNowMs - kMaxPastMs, kNowMs), std::nullopt);
}

TEST(Validation, RejectsATimestampMoreThanTwoHoursAhead) {
  ExpectRejected(ValidateTimestamp(kNowMs + kMaxFutureMs + 1, kNowMs),
                 RejectReason::kTimestampTooFarInFuture, "timestamp");
  ExpectRejected(ValidateTimestamp(std::numeric_limits<int64_t>::max(), kNowMs),
                 RejectReason::kTimestampTooFarInFuture, "timestamp");
}

TEST(Validation, AcceptsATimestampExactlyTwoHoursAhead) {
  EXPECT_EQ(kMaxFutureMs, int64_t{2} * 60 * 60 * 1000);
  EXPECT_EQ(ValidateTimestamp(kNowMs + kMaxFutureMs, kNowMs), std::nullopt);
}

TEST(Validation, AcceptsTimestampsInsideTheWindow) {
  EXPECT_EQ(ValidateTimestamp(kNowMs, kNowMs), std::nullopt);
  EXPECT_EQ(ValidateTimestamp(kNowMs - 1, kNowMs), std::nullopt);
  EXPECT_EQ(ValidateTimestamp(kNowMs + 1, kNowMs), std::nullopt);
}

// ---------------------------------------------------------------------------
// Values

TEST(Validation, RejectsANaNValueAsNotFinite) {
  ExpectRejected(
      ValidateValue(std::numeric_limits<double>::quiet_NaN(), "value"),
      RejectReason::kValueNotFinite, "value");
}

TEST(Validation, RejectsPositiveInfinityAsNotFinite) {
  ExpectRejected(
      ValidateValue(std::numeric_limits<double>::infinity(), "values[3]"),
      RejectReason::kValueNotFinite, "values[3]");
}

TEST(Validation, RejectsNegativeInfinityAsNotFinite) {
  ExpectRejected(ValidateValue(-std::numeric_limits<double>::infinity(),
                               "statistic_values.minimum"),
                 RejectReason::kValueNotFinite, "statistic_values.minimum");
}

TEST(Validation, AcceptsValuesUpToTwoToThe360) {
  const double max = std::ldexp(1.0, 360);
  EXPECT_EQ(ValidateValue(max, "value"), std::nullopt);
  EXPECT_EQ(ValidateValue(-max, "value"), std::nullopt);
  EXPECT_EQ(ValidateValue(0.0, "value"), std::nullopt);
  EXPECT_EQ(ValidateValue(-0.0, "value"), std::nullopt);
  EXPECT_EQ(ValidateValue(std::numeric_limits<double>::denorm_min(), "value"),
            std::nullopt);
}

TEST(Validation, RejectsAValueBeyondTwoToThe360AsOutOfRange) {
  const double max = std::ldexp(1.0, 360);
  const double above = std::nextafter(max, HUGE_VAL);
  ASSERT_GT(above, max);
  ExpectRejected(ValidateValue(above, "value"), RejectReason::kValueOutOfRange,
                 "value");
  ExpectRejected(ValidateValue(-above, "statistic_values.sum"),
                 RejectReason::kValueOutOfRange, "statistic_values.sum");
  ExpectRejected(ValidateValue(std::numeric_limits<double>::max(), "values[0]"),
                 RejectReason::kValueOutOfRange, "values[0]");
}

// ---------------------------------------------------------------------------
// Metric names

TEST(Validation, RejectsAnEmptyMetricName) {
  ExpectRejected(ValidateMetricName(""), RejectReason::kInvalidMetricName,
                 "metric_name");
}

TEST(Validation, RejectsAMetricNameLongerThan255Characters) {
  EXPECT_EQ(ValidateMetricName(std::string(255, 'm')), std::nullopt);
  ExpectRejected(ValidateMetricName(std::string(256, 'm')),
                 RejectReason::kInvalidMetricName, "metric_name");
}

TEST(Validation, RejectsAMetricNameWithControlCharacters) {
  ExpectRejected(ValidateMetricName("CPU\nUtilization"),
                 RejectReason::kInvalidMetricName, "metric_name");
  ExpectRejected(ValidateMetricName(std::string("a\0b", 3)),
                 RejectReason::kInvalidMetricName, "metric_name");
  ExpectRejected(ValidateMetricName("a\x7f"), RejectReason::kInvalidMetricName,
                 "metric_name");
}

TEST(Validation, RejectsAnAllBlankMetricName) {
  ExpectRejected(ValidateMetricName("   "), RejectReason::kInvalidMetricName,
                 "metric_name");
}

TEST(Validation, AcceptsOrdinaryMetricNames) {
  EXPECT_EQ(ValidateMetricName("CPUUtilization"), std::nullopt);
  EXPECT_EQ(ValidateMetricName("Request Latency p99"), std::nullopt);
  EXPECT_EQ(ValidateMetricName(":colon/and#symbols"), std::nullopt);
  EXPECT_EQ(ValidateMetricName("x"), std::nullopt);
}

// ---------------------------------------------------------------------------
// Dimensions

TEST(Validation, AcceptsThirtyDimensions) {
  std::vector<Dimension> dims = NDimensions(30);
  EXPECT_EQ(ValidateDimensions(&dims), std::nullopt);
  EXPECT_EQ(dims.size(), 30u);
}

TEST(Validation, RejectsMoreThanThirtyDimensions) {
  std::vector<Dimension> dims = NDimensions(31);
  ExpectRejected(ValidateDimensions(&dims), RejectReason::kTooManyDimensions,
                 "dimensions");
}

TEST(Validation, AcceptsNoDimensions) {
  std::vector<Dimension> dims;
  EXPECT_EQ(ValidateDimensions(&dims), std::nullopt);
}

TEST(Validation, RejectsAnEmptyDimensionName) {
  ExpectRejected(ValidateOne("", "v"), RejectReason::kInvalidDimension,
                 "dimensions[0].name");
}

TEST(Validation, RejectsADimensionNameLongerThan255Characters) {
  EXPECT_EQ(ValidateOne(std::string(255, 'n'), "v"), std::nullopt);
  ExpectRejected(ValidateOne(std::string(256, 'n'), "v"),
                 RejectReason::kInvalidDimension, "dimensions[0].name");
}

TEST(Validation, RejectsADimensionNameStartingWithAColon) {
  ExpectRejected(ValidateOne(":Host", "v"), RejectReason::kInvalidDimension,
                 "dimensions[0].name");
  EXPECT_EQ(ValidateOne("Host:Port", "v"), std::nullopt);
}

TEST(Validation, RejectsANonAsciiDimensionName) {
  ExpectRejected(ValidateOne("H\xc3\xb4te", "v"),
                 RejectReason::kInvalidDimension, "dimensions[0].name");
}

TEST(Validation, RejectsADimensionNameWithControlCharacters) {
  ExpectRejected(ValidateOne("Ho\tst", "v"), RejectReason::kInvalidDimension,
                 "dimensions[0].name");
  ExpectRejected(ValidateOne("Host\x7f", "v"), RejectReason::kInvalidDimension,
                 "dimensions[0].name");
}

TEST(Validation, RejectsAnAllBlankDimensionName) {
  ExpectRejected(ValidateOne("  ", "v"), RejectReason::kInvalidDimension,
                 "dimensions[0].name");
}

TEST(Validation, RejectsAnEmptyDimensionValue) {
  ExpectRejected(ValidateOne("Host", ""), RejectReason::kInvalidDimension,
                 "dimensions[0].value");
}

TEST(Validation, RejectsADimensionValueLongerThan1024Characters) {
  EXPECT_EQ(ValidateOne("Host", std::string(1024, 'v')), std::nullopt);
  ExpectRejected(ValidateOne("Host", std::string(1025, 'v')),
                 RejectReason::kInvalidDimension, "dimensions[0].value");
}

TEST(Validation, RejectsANonAsciiDimensionValue) {
  ExpectRejected(ValidateOne("Host", "caf\xc3\xa9"),
                 RejectReason::kInvalidDimension, "dimensions[0].value");
}

TEST(Validation, RejectsADimensionValueWithControlCharacters) {
  ExpectRejected(ValidateOne("Host", "a\r\nb"), RejectReason::kInvalidDimension,
                 "dimensions[0].value");
}

TEST(Validation, RejectsAnAllBlankDimensionValue) {
  ExpectRejected(ValidateOne("Host", "   "), RejectReason::kInvalidDimension,
                 "dimensions[0].value");
}

TEST(Validation, AcceptsADimensionValueStartingWithAColon) {
  // Only names are barred from a leading ':'.
  EXPECT_EQ(ValidateOne("Host", ":8080"), std::nullopt);
}

TEST(Validation, NamesTheIndexOfTheOffendingDimension) {
  std::vector<Dimension> dims = {{"b", "1"}, {"a", "2"}, {"c", ""}};
  ExpectRejected(ValidateDimensions(&dims), RejectReason::kInvalidDimension,
                 "dimensions[2].value");
}

TEST(Validation, RejectsDuplicateDimensionNames) {
  std::vector<Dimension> dims = {{"Host", "a"}, {"Region", "r"}, {"Host", "b"}};
  ExpectRejected(ValidateDimensions(&dims), RejectReason::kDuplicateDimension,
                 "dimensions");
  std::vector<Dimension> again = {
      {"Host", "a"}, {"Region", "r"}, {"Host", "b"}};
  EXPECT_THAT(ValidateDimensions(&again)->message, HasSubstr("'Host'"));
}

TEST(Validation, RejectsDuplicateDimensionNamesEvenWithEqualValues) {
  std::vector<Dimension> dims = {{"Host", "a"}, {"Host", "a"}};
  ExpectRejected(ValidateDimensions(&dims), RejectReason::kDuplicateDimension,
                 "dimensions");
}

TEST(Validation, TreatsDimensionNamesCaseSensitively) {
  std::vector<Dimension> dims = {{"host", "a"}, {"Host", "b"}};
  EXPECT_EQ(ValidateDimensions(&dims), std::nullopt);
}

TEST(Validation, ValidateDimensionsSortsByName) {
  std::vector<Dimension> dims = {
      {"Zone", "z"}, {"Host", "h"}, {"Region", "r"}, {"AZ", "a"}};
  ASSERT_EQ(ValidateDimensions(&dims), std::nullopt);
  EXPECT_THAT(dims,
              ElementsAre(Dimension{"AZ", "a"}, Dimension{"Host", "h"},
                          Dimension{"Region", "r"}, Dimension{"Zone", "z"}));
}

// ---------------------------------------------------------------------------
// Units

TEST(Validation, EmptyUnitBecomesNone) {
  std::string unit;
  EXPECT_EQ(ValidateUnit(&unit), std::nullopt);
  EXPECT_EQ(unit, "None");
}

TEST(Validation, AcceptsEveryCloudWatchUnit) {
  // The list in docs/semantics.md, "Names".
  const std::vector<std::string> kUnits = {"Seconds",
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
  ASSERT_EQ(kUnits.size(), 27u);
  for (const std::string& u : kUnits) {
    std::string unit = u;
    EXPECT_EQ(ValidateUnit(&unit), std::nullopt) << u;
    EXPECT_EQ(unit, u) << "a valid unit must be left unchanged";
  }
}

TEST(Validation, RejectsAWrongCaseUnit) {
  std::string unit = "seconds";
  ExpectRejected(ValidateUnit(&unit), RejectReason::kInvalidUnit, "unit");
  EXPECT_EQ(unit, "seconds");
}

TEST(Validation, RejectsAnUnknownUnit) {
  for (std::string unit : {"Hours", "Bytes/Minute", " None", "None ", "ms"}) {
    ExpectRejected(ValidateUnit(&unit), RejectReason::kInvalidUnit, "unit");
  }
}

// ---------------------------------------------------------------------------
// Storage resolution

TEST(Validation, StorageResolutionZeroBecomesSixty) {
  int32_t resolution = 0;
  EXPECT_EQ(ValidateStorageResolution(&resolution), std::nullopt);
  EXPECT_EQ(resolution, 60);
}

TEST(Validation, AcceptsStorageResolutionOneAndSixty) {
  int32_t one = 1;
  EXPECT_EQ(ValidateStorageResolution(&one), std::nullopt);
  EXPECT_EQ(one, 1);
  int32_t sixty = 60;
  EXPECT_EQ(ValidateStorageResolution(&sixty), std::nullopt);
  EXPECT_EQ(sixty, 60);
}

TEST(Validation, RejectsAStorageResolutionOtherThanOneOrSixty) {
  for (int32_t r : {2, -1, 5, 10, 30, 59, 61, 3600}) {
    int32_t resolution = r;
    ExpectRejected(ValidateStorageResolution(&resolution),
                   RejectReason::kInvalidStorageResolution,
                   "storage_resolution");
  }
}

// ---------------------------------------------------------------------------
// Namespaces

TEST(Validation, AcceptsANamespaceOfEveryAllowedCharacter) {
  EXPECT_TRUE(ValidateNamespace("AWS/EC2", "namespace").ok());
  EXPECT_TRUE(
      ValidateNamespace(
          "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
          ".-_/#:",
          "namespace")
          .ok());
  EXPECT_TRUE(ValidateNamespace("a:b", "namespace").ok());
  EXPECT_TRUE(ValidateNamespace("x", "namespace").ok());
}

TEST(Validation, RejectsANamespaceWithADisallowedCharacter) {
  for (absl::string_view ns :
       {"My App", "a@b", "a*b", "a\\b", "a,b", "a\tb", "caf\xc3\xa9"}) {
    const absl::Status s = ValidateNamespace(ns, "namespace");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << ns;
    EXPECT_THAT(s.message(), HasSubstr("namespace")) << ns;
  }
}

TEST(Validation, RejectsANamespaceStartingWithAColon) {
  const absl::Status s = ValidateNamespace(":AWS", "namespace");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("namespace"));
}

TEST(Validation, RejectsAnEmptyNamespace) {
  const absl::Status s = ValidateNamespace("", "namespace");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("namespace"));
}

TEST(Validation, RejectsANamespaceLongerThan255Characters) {
  EXPECT_TRUE(ValidateNamespace(std::string(255, 'n'), "namespace").ok());
  const absl::Status s = ValidateNamespace(std::string(256, 'n'), "namespace");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("namespace"));
}

TEST(Validation, NamespaceErrorsNameTheFieldPassedIn) {
  for (absl::string_view ns : {"", ":x", "a b"}) {
    const absl::Status s = ValidateNamespace(ns, "alarm.metric.namespace");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr("alarm.metric.namespace"));
  }
  const absl::Status s = ValidateNamespace(std::string(256, 'n'), "ns_field");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("ns_field"));
}

// ---------------------------------------------------------------------------
// Reason names

TEST(Validation, RejectReasonNamesAreDistinctAndNonEmpty) {
  std::set<std::string> names;
  for (int i = 0; i < kRejectReasonCount; ++i) {
    const absl::string_view name =
        RejectReasonName(static_cast<RejectReason>(i));
    EXPECT_FALSE(name.empty()) << i;
    EXPECT_NE(name, "Unknown") << i;
    names.insert(std::string(name));
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(kRejectReasonCount));
  EXPECT_EQ(RejectReasonName(RejectReason::kTimestampTooOld),
            "TimestampTooOld");
  EXPECT_EQ(RejectReasonName(RejectReason::kTimestampsValuesMismatch),
            "TimestampsValuesMismatch");
  EXPECT_EQ(static_cast<int>(RejectReason::kTimestampsValuesMismatch) + 1,
            kRejectReasonCount);
}

}  // namespace
}  // namespace nimbus::engine
