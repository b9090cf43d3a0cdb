#include "engine/metric_math.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nimbus::engine {
namespace {

std::string Tree(const std::string& e) {
  auto n = ParseMetricMath(e);
  EXPECT_TRUE(n.ok()) << e << ": " << n.status();
  return n.ok() ? (*n)->DebugString() : "";
}

TEST(MetricMath, FollowsPrecedenceAndAssociativity) {
  EXPECT_EQ(Tree("m1 + m2 * m3"), "(m1 + (m2 * m3))");
  EXPECT_EQ(Tree("m1 - m2 - m3"), "((m1 - m2) - m3)");
  EXPECT_EQ(Tree("100 * (m1 - m2) / m2"), "((100 * (m1 - m2)) / m2)");
  EXPECT_EQ(Tree("2 ^ 3 ^ 2"), "(2 ^ (3 ^ 2))");
  EXPECT_EQ(Tree("-m1 ^ 2"), "(-(m1 ^ 2))");
  EXPECT_EQ(Tree("2 ^ -1"), "(2 ^ (-1))");
  EXPECT_EQ(Tree("m1 * -m2"), "(m1 * (-m2))");
  EXPECT_EQ(Tree("m1 > 80 AND m2 <= 5 OR m3 == 0"),
            "(((m1 > 80) AND (m2 <= 5)) OR (m3 == 0))");
  EXPECT_EQ(Tree("1.5e3 + .5"), "(1500 + 0.5)");
}

TEST(MetricMath, ParsesFunctionCalls) {
  EXPECT_EQ(Tree("SUM(METRICS())"), "SUM(METRICS())");
  EXPECT_EQ(Tree("IF(m1 > 80, m1, 0)"), "IF((m1 > 80), m1, 0)");
  EXPECT_EQ(Tree("FILL(m1, REPEAT)"), "FILL(m1, REPEAT)");
  EXPECT_EQ(Tree("RATE(m1) * PERIOD(m1)"), "(RATE(m1) * PERIOD(m1))");
  EXPECT_EQ(Tree(" AVG ( m1 ) "), "AVG(m1)");
}

TEST(MetricMath, ErrorsPointAtTheColumn) {
  struct Case {
    std::string expr, message;
  };
  const Case kCases[] = {
      {"m1 +", "column 5: expected a number"},
      {"(m1 + m2", "column 9: expected ')' to close the '(' at column 1"},
      {"m1 m2", "column 4: unexpected 'm2' after a complete expression"},
      {"FOO(m1)", "column 1: unknown function 'FOO'"},
      {"ABS(m1, m2)", "column 1: ABS takes 1 argument, got 2"},
      {"IF(m1)", "column 1: IF takes 2 to 3 arguments, got 1"},
      {"SUM(m1",
       "column 7: expected ',' or ')' in the call of SUM opened at column 4"},
      {"M1 + 1", "column 1: 'M1' is neither a query id"},
      {"m1 = 2", "column 4: '=' must be followed by '='"},
      {"m1 > 1 > 2", "column 8: comparisons do not chain"},
      {"m1 # 2", "column 4: unexpected character '#'"},
      {"\"open", "column 1: unterminated string"},
      {"", "column 1: expected a number"},
  };
  for (const Case& c : kCases) {
    auto n = ParseMetricMath(c.expr);
    EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument) << c.expr;
    EXPECT_THAT(std::string(n.status().message()),
                ::testing::HasSubstr(c.message))
        << c.expr;
  }
  EXPECT_EQ(ParseMetricMath(std::string(3000, 'm')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MetricMath, BoundsTheNestingDepth) {
  const auto nested = [](int n) {
    return std::string(n, '(') + "m1" + std::string(n, ')');
  };
  EXPECT_EQ(Tree(nested(50)), "m1");
  std::string calls, powers = "m1";
  for (int i = 0; i < 200; ++i) {  // within the 2048-character limit
    calls += "ABS(";
    powers += " ^ -m1";
  }
  calls += "m1" + std::string(200, ')');
  for (const std::string& hostile :
       {nested(1000), std::string(1000, '-') + "m1", calls, powers}) {
    auto n = ParseMetricMath(hostile);
    EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(n.status().message()),
                ::testing::HasSubstr("nested more than 64 levels deep"));
  }
}

}  // namespace
}  // namespace nimbus::engine

namespace nimbus::engine {
namespace {

// m1: 1 at t=0, 2 at t=60; m2: 10 at t=60, 0 at t=120, 5 at t=180.
std::vector<MathSeries> Inputs() {
  return {{"m1", {0, 60'000}, {1, 2}},
          {"m2", {60'000, 120'000, 180'000}, {10, 0, 5}}};
}

MathValue Eval(const std::string& expr) {
  auto tree = ParseMetricMath(expr);
  EXPECT_TRUE(tree.ok()) << tree.status();
  auto v = EvaluateMetricMath(**tree, Inputs());
  EXPECT_TRUE(v.ok()) << expr << ": " << v.status();
  return v.ok() ? *v : MathValue{};
}

std::string Points(const MathValue& v) {
  std::string out;
  for (const MathSeries& s : v.series) {
    for (size_t i = 0; i < s.values.size(); ++i) {
      out += std::to_string(s.timestamps_ms[i] / 1000) + ":" +
             std::to_string(static_cast<int>(s.values[i])) + " ";
    }
    out += "| ";
  }
  return out;
}

TEST(MetricMathEval, MissingValuesCountAsZeroInArithmetic) {
  EXPECT_EQ(Points(Eval("m1 + m2")), "0:1 60:12 120:0 180:5 | ");
  EXPECT_EQ(Points(Eval("m2 - m1")), "0:-1 60:8 120:0 180:5 | ");
  EXPECT_EQ(Points(Eval("10 * m1")), "0:10 60:20 | ");
}

TEST(MetricMathEval, DivisionByZeroDropsThePoint) {
  // m2 is 0 at 120 and missing (0) at 0: both points go.
  EXPECT_EQ(Points(Eval("m1 / m2")), "60:0 180:0 | ");
  EXPECT_EQ(Points(Eval("m2 / 5")), "60:2 120:0 180:1 | ");
  auto tree = ParseMetricMath("1 / 0");
  EXPECT_EQ(EvaluateMetricMath(**tree, Inputs()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MetricMathEval, ComparisonsAndLogic) {
  EXPECT_EQ(Points(Eval("m2 > 4")), "60:1 120:0 180:1 | ");
  EXPECT_EQ(Points(Eval("m1 > 0 AND m2 > 0")), "0:0 60:1 120:0 180:0 | ");
  EXPECT_EQ(Points(Eval("IF(m2 > 4, m2, -1)")), "60:10 120:-1 180:5 | ");
  EXPECT_EQ(Points(Eval("IF(m2 > 4, m1)")), "60:2 | ");
  EXPECT_EQ(Points(Eval("ABS(-m2)")), "60:10 120:0 180:5 | ");
}

TEST(MetricMathEval, AggregatesOverArraysAndSeries) {
  EXPECT_EQ(Points(Eval("SUM(METRICS())")), "0:1 60:12 120:0 180:5 | ");
  EXPECT_EQ(Points(Eval("MAX(METRICS())")), "0:1 60:10 120:0 180:5 | ");
  EXPECT_EQ(Eval("SUM(m2)").scalar, 15);
  EXPECT_EQ(Eval("AVG(m2)").scalar, 5);
  EXPECT_EQ(Eval("MIN(m1) + MAX(m1)").scalar, 3);
  const MathValue scaled = Eval("METRICS() * 2");
  EXPECT_EQ(scaled.kind, MathValue::Kind::kArray);
  EXPECT_EQ(Points(scaled), "0:2 60:4 | 60:20 120:0 180:10 | ");
}

TEST(MetricMathEval, DifferencesRatesAndRunningSums) {
  // m2: 10 at 60 s, 0 at 120 s, 5 at 180 s.
  EXPECT_EQ(Points(Eval("DIFF(m2)")), "120:-10 180:5 | ");
  EXPECT_EQ(Points(Eval("DIFF_TIME(m2)")), "120:60 180:60 | ");
  EXPECT_EQ(Points(Eval("RATE(m2) * 60")), "120:-10 180:5 | ");
  EXPECT_EQ(Points(Eval("RUNNING_SUM(m2)")), "60:10 120:10 180:15 | ");
  EXPECT_EQ(Eval("DATAPOINT_COUNT(m2)").scalar, 3);
  EXPECT_EQ(Points(Eval("LAST(METRICS())")), "60:10 120:0 180:5 | ");
  EXPECT_EQ(Points(Eval("FIRST(METRICS())")), "0:1 60:2 | ");
  EXPECT_DOUBLE_EQ(Eval("STDDEV(m1)").scalar, 0.5);
  EXPECT_EQ(Points(Eval("STDDEV(METRICS())")), "0:0 60:4 120:0 180:0 | ");
}

TEST(MetricMathEval, ErrorsNameTheColumn) {
  struct Case {
    std::string expr, message;
  };
  const Case kCases[] = {
      {"m1 + m9", "column 6: no query has the id 'm9'"},
      {"FILL(m1, 0)", "column 1: FILL is not implemented yet"},
      {"SUM(3)", "column 1: SUM needs a series or an array"},
      {"METRICS() + METRICS()", "column 11: both sides are arrays"},
  };
  for (const Case& c : kCases) {
    auto tree = ParseMetricMath(c.expr);
    ASSERT_TRUE(tree.ok()) << c.expr;
    auto v = EvaluateMetricMath(**tree, Inputs());
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << c.expr;
    EXPECT_THAT(std::string(v.status().message()),
                ::testing::HasSubstr(c.message))
        << c.expr;
  }
}

}  // namespace
}  // namespace nimbus::engine
