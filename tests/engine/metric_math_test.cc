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
