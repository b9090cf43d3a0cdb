#include "engine/extended_statistics.h"

#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nimbus::engine {
namespace {

std::vector<WeightedValue> OneToHundred() {
  std::vector<WeightedValue> v;
  for (int i = 1; i <= 100; ++i) v.push_back({double(i), 1});
  return v;
}

double Eval(const std::string& name, const std::vector<WeightedValue>& v) {
  auto st = ParseExtendedStatistic(name);
  EXPECT_TRUE(st.ok()) << name << ": " << st.status();
  return st.ok() ? EvaluateExtendedStatistic(*st, v) : NAN;
}

TEST(ExtendedStatistics, PercentilesUseNearestRank) {
  const auto v = OneToHundred();
  EXPECT_EQ(Eval("p0", v), 1);
  EXPECT_EQ(Eval("p50", v), 50);
  EXPECT_EQ(Eval("p99", v), 99);
  EXPECT_EQ(Eval("p99.5", v), 100);
  EXPECT_EQ(Eval("p100", v), 100);
}

TEST(ExtendedStatistics, TrimmedMeansDropTheTails) {
  const auto v = OneToHundred();
  EXPECT_DOUBLE_EQ(Eval("tm99", v), 50);             // 1..99
  EXPECT_DOUBLE_EQ(Eval("TM(:95%)", v), 48);         // 1..95
  EXPECT_DOUBLE_EQ(Eval("TM(10%:90%)", v), 50.5);    // 11..90
  EXPECT_DOUBLE_EQ(Eval("IQM", v), 50.5);            // 26..75
  EXPECT_DOUBLE_EQ(Eval("TM(0%:100%)", v), 50.5);    // everything
  EXPECT_DOUBLE_EQ(Eval("TM(50:60)", v), 55.5);      // values in (50, 60]
  EXPECT_TRUE(std::isnan(Eval("TM(150:1000)", v)));  // none in range
}

TEST(ExtendedStatistics, WinsorizedMeanClampsTheTails) {
  const auto v = OneToHundred();
  EXPECT_DOUBLE_EQ(Eval("wm99", v), (4950.0 + 99) / 100);  // 100 becomes 99
  EXPECT_DOUBLE_EQ(Eval("WM(10%:90%)", v),
                   (10 * 10.0 + (11 + 90) * 80 / 2.0 + 10 * 90.0) / 100);
}

TEST(ExtendedStatistics, RankCountAndSumOverValueRanges) {
  const auto v = OneToHundred();
  EXPECT_DOUBLE_EQ(Eval("PR(:50)", v), 50);
  EXPECT_DOUBLE_EQ(Eval("PR(10:20)", v), 10);
  EXPECT_DOUBLE_EQ(Eval("TC(:50%)", v), 50);
  EXPECT_DOUBLE_EQ(Eval("tc90", v), 90);
  EXPECT_DOUBLE_EQ(Eval("TS(90:100)", v), 955);
  EXPECT_DOUBLE_EQ(Eval("TS(200:300)", v), 0);
  EXPECT_DOUBLE_EQ(Eval("ts10", v), 55);
}

TEST(ExtendedStatistics, WeightsCountAsSamples) {
  const std::vector<WeightedValue> v = {{1, 3}, {10, 1}};
  EXPECT_EQ(Eval("p50", v), 1);
  EXPECT_EQ(Eval("p76", v), 10);
  EXPECT_DOUBLE_EQ(Eval("TC(:5)", v), 3);
  EXPECT_DOUBLE_EQ(Eval("TS(:100)", v), 13);
  EXPECT_TRUE(std::isnan(
      EvaluateExtendedStatistic(*ParseExtendedStatistic("p50"), {})));
}

TEST(ExtendedStatistics, RejectsMalformedNamesNamingTheRule) {
  struct Case {
    std::string name, rule;
  };
  const Case kCases[] = {
      {"p101", "p0 to p100"},
      {"p99.999", "at most two decimals"},
      {"PR(:90%)", "value bounds"},
      {"pr90", "value bounds"},
      {"TM(10%:90)", "both of one kind"},
      {"TM(90%:10%)", "above the high"},
      {"TM(10%:190%)", "0 to 100"},
      {"TM(5)", "(low:high)"},
      {"Median", "not one of"},
      {"tm", "not one of"},
  };
  for (const Case& c : kCases) {
    auto st = ParseExtendedStatistic(c.name);
    EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(std::string(st.status().message()),
                ::testing::HasSubstr(c.rule))
        << c.name;
    EXPECT_THAT(std::string(st.status().message()),
                ::testing::HasSubstr(c.name));
  }
}

}  // namespace
}  // namespace nimbus::engine
