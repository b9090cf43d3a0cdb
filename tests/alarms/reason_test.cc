// State reasons (alarms/reason.h): the text and the reason data JSON of
// each kind of transition, and Java's printing of doubles.
#include "alarms/reason.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace nimbus::alarms {
namespace {

// 2026-12-01 09:58:00 UTC, the oldest of five one-minute periods.
constexpr int64_t kStart = 1796119080000;
constexpr int64_t kMinute = 60'000;

struct Case {
  AlarmRule rule;
  std::vector<Period> range;
  Evaluation evaluation;
  ReasonInput input;
};

Case Make(size_t n, size_t m, TreatMissingData tmd, std::vector<Period> range,
          AlarmState previous) {
  Case c;
  c.rule.evaluation_periods = n;
  c.rule.datapoints_to_alarm = m;
  c.rule.threshold = 80;
  c.rule.comparison = ComparisonOperator::kGreaterThanThreshold;
  c.rule.treat_missing_data = tmd;
  c.range = std::move(range);
  c.evaluation = Evaluate(c.rule, c.range, previous);
  c.input = {&c.rule,
             c.range,
             &c.evaluation,
             previous,
             kStart,
             kMinute,
             kStart + 5 * kMinute + 4'547,
             "Average"};
  return c;
}

// Both time formats equal absl::FormatTime's over the calendar's edges
// (leap days, century years, before 1970, the ends of years 999, 1000 and
// 9999) and a spread of instants, in years 0 to 10000.
TEST(Reason, TimesAreFormattedAsAbslFormatsThem) {
  auto absl_format = [](const char* f, int64_t ms) {
    return absl::FormatTime(f, absl::FromUnixMillis(ms), absl::UTCTimeZone());
  };
  std::vector<int64_t> instants = {
      0,
      -1,
      1796119200000,    // 2026-12-01T10:00:00
      951782400000,     // 2000-02-29T00:00:00
      951868799999,     // 2000-02-29T23:59:59.999
      -2203891200000,   // 1900-03-01
      -62167219200000,  // 0000-01-01
      -62167219200001,  // the last millisecond of year -1
      -30610224000000,  // 1000-01-01
      -30610224000001,  // 0999-12-31T23:59:59.999
      253402300799999,  // 9999-12-31T23:59:59.999
      253402300800000,  // 10000-01-01
      4107542400000,    // 2100-03-01
      int64_t{-86'400'000} * 365,
  };
  // Every 7,919,311 ms (a prime: all hours, minutes and days come up) over
  // 1960-2040, and a stride of about 37 days over years 0-9999.
  for (int64_t ms = -315619200000; ms < 2208988800000; ms += 7919311) {
    instants.push_back(ms);
  }
  for (int64_t ms = -62167219200000; ms < 253402300800000;
       ms += 3196800000 + 1234) {
    instants.push_back(ms);
  }
  for (int64_t ms : instants) {
    ASSERT_EQ(JsonTime(ms), absl_format("%Y-%m-%dT%H:%M:%E3S+0000", ms)) << ms;
    ASSERT_EQ(ReasonTime(ms), absl_format("%d/%m/%y %H:%M:%S", ms)) << ms;
  }
  EXPECT_EQ(JsonTime(1796119200123), "2026-12-01T10:00:00.123+0000");
  EXPECT_EQ(ReasonTime(1796119200123), "01/12/26 10:00:00");
}

TEST(Reason, JavaPrintsDoublesWithAPointAndSwitchesToExponents) {
  EXPECT_EQ(JavaDouble(80), "80.0");
  EXPECT_EQ(JavaDouble(91.2), "91.2");
  EXPECT_EQ(JavaDouble(-2.5), "-2.5");
  EXPECT_EQ(JavaDouble(0), "0.0");
  EXPECT_EQ(JavaDouble(123456.789), "123456.789");
  EXPECT_EQ(JavaDouble(9999999), "9999999.0");
  EXPECT_EQ(JavaDouble(1e7), "1.0E7");
  EXPECT_EQ(JavaDouble(1.5e7), "1.5E7");
  EXPECT_EQ(JavaDouble(0.001), "0.001");
  EXPECT_EQ(JavaDouble(1e-4), "1.0E-4");
  EXPECT_EQ(JavaDouble(2.5e-10), "2.5E-10");
  EXPECT_EQ(JavaDouble(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(JavaDouble(9.999999999999998E-4), "9.999999999999998E-4");
  EXPECT_EQ(JavaDouble(1e21), "1.0E21");
  EXPECT_EQ(JavaDouble(std::nan("")), "NaN");
  EXPECT_EQ(JavaDouble(1.0 / 0.0), "Infinity");
  EXPECT_EQ(JavaDouble(-1.0 / 0.0), "-Infinity");
  EXPECT_EQ(JavaDouble(-0.0), "-0.0");
  EXPECT_EQ(JavaDouble(1234567), "1234567.0");
  EXPECT_EQ(JavaDouble(0.0012345), "0.0012345");
  EXPECT_EQ(JavaDouble(-1e-5), "-1.0E-5");
  EXPECT_EQ(JavaDouble(1.7976931348623157e308), "1.7976931348623157E308");
  EXPECT_EQ(JavaDouble(-123.456e100), "-1.23456E102");
}

// Over many doubles of every magnitude: the text reads back as the value,
// with a point always, and an exponent outside [1e-3, 1e7) only.
TEST(Reason, JavaDoublesReadBackExactly) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200'000; ++i) {
    uint64_t bits = rng();
    double v;
    std::memcpy(&v, &bits, sizeof(v));
    if (!std::isfinite(v)) continue;
    if (i % 2 == 0)
      v = std::ldexp(static_cast<double>(bits % 100'000'000) / 1000,
                     static_cast<int>(rng() % 60) - 30);
    const std::string s = JavaDouble(v);
    std::string appended = "x";
    AppendJavaDouble(&appended, v);
    ASSERT_EQ(appended, "x" + s);
    std::string c = s;
    std::replace(c.begin(), c.end(), 'E', 'e');
    ASSERT_EQ(std::strtod(c.c_str(), nullptr), v) << s;
    ASSERT_NE(s.find('.'), std::string::npos) << s;
    const double a = std::abs(v);
    ASSERT_EQ(s.find('E') != std::string::npos,
              v != 0 && (a < 1e-3 || a >= 1e7))
        << s;
  }
}

TEST(Reason, JsonStringsEscapeQuotesBackslashesAndControls) {
  std::string out = "x";
  AppendJsonString(&out,
                   "a\"b\\c\n\x01"
                   "d");
  EXPECT_EQ(out, "x\"a\\\"b\\\\c\\u000a\\u0001d\"");
  out.clear();
  AppendJsonString(&out, "");
  EXPECT_EQ(out, "\"\"");
  out.clear();
  AppendJsonString(&out, "plain \xc3\xa9");
  EXPECT_EQ(out, "\"plain \xc3\xa9\"");
}

TEST(Reason, AThresholdCrossingListsTheDatapointsNewestFirst) {
  Case c = Make(3, 3, TreatMissingData::kMissing,
                {{}, {}, {85.5}, {90.0}, {91.2}}, AlarmState::kOk);
  ASSERT_EQ(c.evaluation.state, AlarmState::kAlarm);
  EXPECT_EQ(StateReason(c.input),
            "Threshold Crossed: 3 out of the last 3 datapoints [91.2 "
            "(01/12/26 10:02:00), 90.0 (01/12/26 10:01:00), 85.5 (01/12/26 "
            "10:00:00)] were greater than the threshold (80.0) (minimum 3 "
            "datapoints for OK -> ALARM transition).");
  EXPECT_EQ(
      StateReasonData(c.input),
      "{\"version\":\"1.0\",\"queryDate\":\"2026-12-01T10:03:04.547+0000\","
      "\"startDate\":\"2026-12-01T10:00:00.000+0000\",\"statistic\":"
      "\"Average\",\"period\":60,\"recentDatapoints\":[85.5,90.0,91.2],"
      "\"threshold\":80.0,\"evaluatedDatapoints\":[{\"timestamp\":"
      "\"2026-12-01T10:02:00.000+0000\",\"value\":91.2},{\"timestamp\":"
      "\"2026-12-01T10:01:00.000+0000\",\"value\":90.0},{\"timestamp\":"
      "\"2026-12-01T10:00:00.000+0000\",\"value\":85.5}]}");
}

TEST(Reason, BackToOkCountsThePeriodsThatDoNotBreach) {
  Case c = Make(1, 1, TreatMissingData::kMissing, {{}, {}, {10.0}},
                AlarmState::kAlarm);
  ASSERT_EQ(c.evaluation.state, AlarmState::kOk);
  EXPECT_EQ(StateReason(c.input),
            "Threshold Crossed: 1 out of the last 1 datapoints [10.0 (01/12/26 "
            "10:00:00)] was not greater than the threshold (80.0) (minimum 1 "
            "datapoint for ALARM -> OK transition).");
}

TEST(Reason, FilledPeriodsAreCountedAndNamed) {
  Case c = Make(3, 3, TreatMissingData::kBreaching, {{70.0}, {}, {}, {}, {}},
                AlarmState::kAlarm);
  ASSERT_EQ(c.evaluation.state, AlarmState::kOk);
  EXPECT_EQ(StateReason(c.input),
            "Threshold Crossed: 1 out of the last 1 datapoints [70.0 (01/12/26 "
            "09:58:00)] was not greater than the threshold (80.0) and 2 "
            "missing datapoints were treated as [Breaching] (minimum 1 "
            "datapoint for ALARM -> OK transition).");
  // The filled periods are in the data with their times only.
  const std::string data = StateReasonData(c.input);
  EXPECT_NE(data.find("\"evaluatedDatapoints\":[{\"timestamp\":\"2026-12-01T"
                      "10:02:00.000+0000\"},{\"timestamp\":\"2026-12-01T10:01:"
                      "00.000+0000\"},{\"timestamp\":\"2026-12-01T09:58:00.000"
                      "+0000\",\"value\":70.0}]"),
            std::string::npos)
      << data;
  Case none = Make(3, 3, TreatMissingData::kBreaching, {{}, {}, {}, {}, {}},
                   AlarmState::kOk);
  ASSERT_EQ(none.evaluation.state, AlarmState::kAlarm);
  EXPECT_EQ(StateReason(none.input),
            "Threshold Crossed: no datapoints were received for 3 periods and "
            "3 missing datapoints were treated as [Breaching].");
  Case one = Make(1, 1, TreatMissingData::kNotBreaching, {{}, {}, {}},
                  AlarmState::kAlarm);
  ASSERT_EQ(one.evaluation.state, AlarmState::kOk);
  EXPECT_EQ(StateReason(one.input),
            "Threshold Crossed: no datapoints were received for 1 period and "
            "1 missing datapoint was treated as [NonBreaching].");
}

TEST(Reason, TheCountIsOfThePeriodsThatMakeTheCase) {
  // 2 of 3: the OK reason lists the periods that do not breach.
  Case c = Make(3, 2, TreatMissingData::kMissing,
                {{}, {}, {90.0}, {50.0}, {60.0}}, AlarmState::kAlarm);
  ASSERT_EQ(c.evaluation.state, AlarmState::kOk);
  EXPECT_EQ(StateReason(c.input),
            "Threshold Crossed: 2 out of the last 3 datapoints [60.0 (01/12/26 "
            "10:02:00), 50.0 (01/12/26 10:01:00)] were not greater than the "
            "threshold (80.0) (minimum 2 datapoints for ALARM -> OK "
            "transition).");
}

TEST(Reason, AnAlarmListsOnlyTheBreachingPeriods) {
  Case c = Make(3, 2, TreatMissingData::kMissing,
                {{}, {}, {90.0}, {50.0}, {95.0}}, AlarmState::kOk);
  ASSERT_EQ(c.evaluation.state, AlarmState::kAlarm);
  EXPECT_EQ(StateReason(c.input),
            "Threshold Crossed: 2 out of the last 3 datapoints [95.0 (01/12/26 "
            "10:02:00), 90.0 (01/12/26 10:00:00)] were greater than the "
            "threshold (80.0) (minimum 2 datapoints for OK -> ALARM "
            "transition).");
}

TEST(Reason, NoDataTheEarlyAlarmAndAKeptState) {
  Case none = Make(3, 3, TreatMissingData::kMissing, {{}, {}, {}, {}, {}},
                   AlarmState::kOk);
  EXPECT_EQ(StateReason(none.input),
            "Insufficient Data: 3 datapoints were unknown.");
  // The N newest periods, unknown, and no start date.
  EXPECT_EQ(
      StateReasonData(none.input),
      "{\"version\":\"1.0\",\"queryDate\":\"2026-12-01T10:03:04.547+0000\","
      "\"statistic\":\"Average\",\"period\":60,\"recentDatapoints\":[],"
      "\"threshold\":80.0,\"evaluatedDatapoints\":[{\"timestamp\":"
      "\"2026-12-01T10:02:00.000+0000\"},{\"timestamp\":\"2026-12-01T10:"
      "01:00.000+0000\"},{\"timestamp\":\"2026-12-01T10:00:00.000+0000\"}]}");
  Case one =
      Make(1, 1, TreatMissingData::kMissing, {{}, {}, {}}, AlarmState::kOk);
  EXPECT_EQ(StateReason(one.input),
            "Insufficient Data: 1 datapoint was unknown.");
  Case early = Make(3, 3, TreatMissingData::kMissing, {{}, {}, {95.0}, {}, {}},
                    AlarmState::kOk);
  ASSERT_EQ(early.evaluation.state, AlarmState::kAlarm);
  EXPECT_EQ(StateReason(early.input),
            "Threshold Crossed: 1 out of the last 3 datapoints [95.0 (01/12/26 "
            "10:00:00)] was greater than the threshold (80.0) (minimum 3 "
            "datapoints for OK -> ALARM transition).");
  Case kept = Make(3, 3, TreatMissingData::kIgnore, {{}, {}, {}, {}, {}},
                   AlarmState::kAlarm);
  ASSERT_TRUE(kept.evaluation.kept);
  EXPECT_EQ(StateReason(kept.input), "");
}

}  // namespace
}  // namespace nimbus::alarms
