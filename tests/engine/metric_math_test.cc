#include "engine/metric_math.h"

#include <charconv>
#include <string>
#include <system_error>

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
  EXPECT_EQ(Tree("SUM(METRICS('cpu'))"), "SUM(METRICS('cpu'))");
  EXPECT_EQ(Tree("METRICS(\"it's\")"), "METRICS(\"it's\")");
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
      {"METRICS('cpu)", "column 9: unterminated string"},
      {"m1 + 'cpu'",
       "column 6: a string such as 'cpu' can only be the argument of METRICS"},
      {"ABS('cpu')", "column 5: a string such as 'cpu' can only be"},
      {"METRICS('cpu' + 1)", "column 15: expected ',' or ')' in the call of"},
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
  return {{"m1", {0, 60'000}, {1, 2}, 60'000, ""},
          {"m2", {60'000, 120'000, 180'000}, {10, 0, 5}, 60'000, ""}};
}

MathValue Eval(const std::string& expr) {
  auto tree = ParseMetricMath(expr);
  EXPECT_TRUE(tree.ok()) << tree.status();
  auto v = EvaluateMetricMath(**tree, Inputs());
  EXPECT_TRUE(v.ok()) << expr << ": " << v.status();
  return v.ok() ? *v : MathValue{};
}

// The shortest text that reads back as exactly `v` ("0.5", "-10",
// "0.3333333333333333"): two values print the same only if they are the
// same double.
std::string Exact(double v) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : "?";
}

// "t:v" per point, t in seconds and v exact, and "| " after each series.
std::string Points(const MathValue& v) {
  std::string out;
  for (const MathSeries& s : v.series) {
    for (size_t i = 0; i < s.values.size(); ++i) {
      out += std::to_string(s.timestamps_ms[i] / 1000) + ":" +
             Exact(s.values[i]) + " ";
    }
    out += "| ";
  }
  return out;
}

// Found by metric_math_fuzz: a series combined with an array took the
// array's first series only (m1 * METRICS() was m1 * m1), and with an empty
// array read past its end.
TEST(MetricMathEval, ASeriesCombinesWithEverySeriesOfAnArrayOnEitherSide) {
  EXPECT_EQ(Points(Eval("m1 * METRICS()")),
            "0:1 60:4 | 0:0 60:20 120:0 180:0 | ");
  EXPECT_EQ(Points(Eval("METRICS() * m1")),
            "0:1 60:4 | 0:0 60:20 120:0 180:0 | ");
  EXPECT_EQ(Points(Eval("m1 + METRICS('nomatch')")), "");
  EXPECT_EQ(Points(Eval("METRICS('nomatch') - m2")), "");
  EXPECT_EQ(Eval("m1 + METRICS('nomatch')").kind, MathValue::Kind::kArray);
}

TEST(MetricMathEval, MissingValuesCountAsZeroInArithmetic) {
  EXPECT_EQ(Points(Eval("m1 + m2")), "0:1 60:12 120:0 180:5 | ");
  EXPECT_EQ(Points(Eval("m2 - m1")), "0:-1 60:8 120:0 180:5 | ");
  EXPECT_EQ(Points(Eval("10 * m1")), "0:10 60:20 | ");
}

TEST(MetricMathEval, DivisionByZeroDropsThePoint) {
  // m2 is 0 at 120 and missing (0) at 0: both points go; 2 / 10 is not
  // rounded to an integer.
  EXPECT_EQ(Points(Eval("m1 / m2")), "60:0.2 180:0 | ");
  EXPECT_EQ(Points(Eval("m2 / 5")), "60:2 120:0 180:1 | ");
  EXPECT_EQ(Points(Eval("m1 / 2")), "0:0.5 60:1 | ");
  EXPECT_EQ(Points(Eval("m1 / 3")),
            "0:0.3333333333333333 60:0.6666666666666666 | ");
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
  // Per second: -10 / 60 and 5 / 60, each division rounded once.
  EXPECT_EQ(Points(Eval("RATE(m2)")),
            "120:-0.16666666666666666 180:0.08333333333333333 | ");
  EXPECT_EQ(Eval("AVG(m1)").scalar, 1.5);
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
      {"FILL(m1, 0)", "column 1: FILL needs the query's time range and period"},
      {"1 + TIME_SERIES(3)",
       "column 5: TIME_SERIES needs the query's time range and period"},
      {"METRICS(m1)", "column 1: METRICS' filter must be a string"},
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

namespace nimbus::engine {
namespace {

// Five 60-second periods: 0, 60, 120, 180 and 240 s.
constexpr MathContext kGrid{0, 300'000, 60'000};

MathSeries Series(std::string id, std::vector<int64_t> seconds,
                  std::vector<double> values, int64_t period_s = 60,
                  std::string label = "") {
  for (int64_t& t : seconds) t *= 1000;
  return {std::move(id), std::move(seconds), std::move(values), period_s * 1000,
          std::move(label)};
}

// g: 5 at 60 s and 7 at 180 s, gaps at 0, 120 and 240 s.
// f: 100 at 0 s, 300 at 120 s (nothing at 240 s).
std::vector<MathSeries> GapInputs() {
  return {Series("g", {60, 180}, {5, 7}), Series("f", {0, 120}, {100, 300})};
}

absl::StatusOr<MathValue> EvalIn(const std::string& expr,
                                 const std::vector<MathSeries>& inputs,
                                 const MathContext& ctx = kGrid) {
  auto tree = ParseMetricMath(expr);
  if (!tree.ok()) return tree.status();
  return EvaluateMetricMath(**tree, inputs, ctx);
}

// Points() of a successful run; the status otherwise.
std::string PointsIn(const std::string& expr,
                     const std::vector<MathSeries>& inputs,
                     const MathContext& ctx = kGrid) {
  auto v = EvalIn(expr, inputs, ctx);
  return v.ok() ? Points(*v) : std::string(v.status().message());
}

TEST(MetricMathFill, FillsGapsWithANumber) {
  EXPECT_EQ(PointsIn("FILL(g, 0)", GapInputs()),
            "0:0 60:5 120:0 180:7 240:0 | ");
  EXPECT_EQ(PointsIn("FILL(g, 1 + SUM(g))", GapInputs()),
            "0:13 60:5 120:13 180:7 240:13 | ");
}

TEST(MetricMathFill, RepeatLeavesTheLeadingGap) {
  EXPECT_EQ(PointsIn("FILL(g, REPEAT)", GapInputs()),
            "60:5 120:5 180:7 240:7 | ");
}

TEST(MetricMathFill, LinearInterpolatesInteriorGapsOnly) {
  // 10 at 60 s and 40 at 240 s: two gaps between, one before, one after.
  const MathContext six{0, 360'000, 60'000};
  auto v = EvalIn("FILL(h, LINEAR)", {Series("h", {60, 240}, {10, 40})}, six);
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->series.size(), 1u);
  EXPECT_EQ(v->series[0].timestamps_ms,
            (std::vector<int64_t>{60'000, 120'000, 180'000, 240'000}));
  EXPECT_EQ(v->series[0].values, (std::vector<double>{10, 20, 30, 40}));
  // Thirds: exact to within rounding (the interpolation may be computed in
  // more than one step).
  v = EvalIn("FILL(h, LINEAR)", {Series("h", {60, 240}, {10, 20})}, six);
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->series.size(), 1u);
  EXPECT_THAT(v->series[0].values,
              ::testing::Pointwise(::testing::DoubleNear(1e-12),
                                   {10.0, 10 + 10.0 / 3, 10 + 20.0 / 3, 20.0}));
}

TEST(MetricMathFill, FillsEachSeriesOfAnArray) {
  auto v = EvalIn("FILL(METRICS(), 0)", GapInputs());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->kind, MathValue::Kind::kArray);
  EXPECT_EQ(Points(*v),
            "0:0 60:5 120:0 180:7 240:0 | 0:100 60:0 120:300 180:0 240:0 | ");
  EXPECT_EQ(v->series[0].id, "g");
  EXPECT_EQ(v->series[1].id, "f");
}

TEST(MetricMathFill, FillsFromASeriesWhereItHasAValue) {
  // f has nothing at 240 s: that gap of g stays.
  EXPECT_EQ(PointsIn("FILL(g, f)", GapInputs()), "0:100 60:5 120:300 180:7 | ");
  EXPECT_EQ(PointsIn("FILL(g, f * 2)", GapInputs()),
            "0:200 60:5 120:600 180:7 | ");
}

TEST(MetricMathFill, UsesTheSeriesOwnPeriodAndKeepsPointsOffTheGrid) {
  // A 120-second series on the 60-second query grid, with a stray point at
  // 90 s: only 0, 120 and 240 s are its periods.
  auto v = EvalIn("FILL(s, 0)", {Series("s", {90, 120}, {9, 4}, 120)});
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(Points(*v), "0:0 90:9 120:4 240:0 | ");
  EXPECT_EQ(v->series[0].period_ms, 120'000);
  // Without a period of its own a series is filled on the query's grid.
  v = EvalIn("FILL(s, 0)", {Series("s", {60}, {1}, 0)});
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(Points(*v), "0:0 60:1 120:0 180:0 240:0 | ");
  EXPECT_EQ(v->series[0].period_ms, 60'000);
}

TEST(MetricMathFill, NeedsAGrid) {
  auto tree = ParseMetricMath("FILL(g, 0)");
  ASSERT_TRUE(tree.ok());
  auto v = EvaluateMetricMath(**tree, GapInputs());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(v.status().message()),
              ::testing::HasSubstr(
                  "column 1: FILL needs the query's time range and period"));
  // A time range, but neither the series nor the query has a period.
  EXPECT_THAT(PointsIn("FILL(s, 0)", {Series("s", {60}, {1}, 0)},
                       MathContext{0, 300'000, 0}),
              ::testing::HasSubstr("FILL needs the query's time range"));
  EXPECT_THAT(PointsIn("FILL(g, 0)", GapInputs(), MathContext{0, 0, 60'000}),
              ::testing::HasSubstr("FILL needs the query's time range"));
  // A grid no answer could hold is refused, not allocated.
  EXPECT_THAT(PointsIn("FILL(s, 0)", {Series("s", {60}, {1}, 0)},
                       MathContext{0, 1'000'000'000, 1}),
              ::testing::HasSubstr(
                  "FILL: the time range holds 1000000000 periods, more than "
                  "100800"));
}

TEST(MetricMathFill, RejectsArgumentsOfTheWrongKind) {
  EXPECT_THAT(
      PointsIn("FILL(3, 0)", GapInputs()),
      ::testing::HasSubstr("column 1: FILL needs a series or an array"));
  EXPECT_THAT(PointsIn("FILL(g, METRICS())", GapInputs()),
              ::testing::HasSubstr("FILL's second argument must be a number"));
  EXPECT_THAT(PointsIn("REPEAT + g", GapInputs()),
              ::testing::HasSubstr("REPEAT is only an argument of FILL"));
}

TEST(MetricMathPeriod, IsTheSeriesPeriodInSeconds) {
  const std::vector<MathSeries> in = {Series("m1", {0, 60}, {60, 120}),
                                      Series("m5", {0}, {1}, 300)};
  auto v = EvalIn("PERIOD(m1)", in);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->kind, MathValue::Kind::kScalar);
  EXPECT_EQ(v->scalar, 60);
  EXPECT_EQ(PointsIn("m1 / PERIOD(m1)", in), "0:1 60:2 | ");
  EXPECT_EQ(EvalIn("PERIOD(m5)", in)->scalar, 300);
  // An array answers for its first series; two series for the finer period.
  EXPECT_EQ(EvalIn("PERIOD(METRICS())", in)->scalar, 60);
  EXPECT_EQ(EvalIn("PERIOD(m5 + m1)", in)->scalar, 60);
  EXPECT_EQ(EvalIn("PERIOD(DIFF(m5))", in)->scalar, 300);
}

TEST(MetricMathPeriod, ErrorsNameTheColumn) {
  const std::vector<MathSeries> in = {Series("m1", {0}, {1}),
                                      Series("x", {0}, {1}, 0)};
  EXPECT_EQ(EvalIn("PERIOD(5)", in).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(PointsIn("PERIOD(5)", in),
              ::testing::HasSubstr(
                  "column 1: PERIOD needs a series or an array, not a number"));
  EXPECT_THAT(PointsIn("m1 * PERIOD(5)", in),
              ::testing::HasSubstr("column 6: PERIOD needs a series"));
  EXPECT_THAT(PointsIn("PERIOD(x)", in),
              ::testing::HasSubstr("column 1: PERIOD: the series' period is "
                                   "unknown"));
  EXPECT_THAT(PointsIn("PERIOD(METRICS('none'))", in),
              ::testing::HasSubstr("column 1: PERIOD of an empty array"));
}

TEST(MetricMathTimeSeries, PutsTheNumberOnEveryPeriodOfTheGrid) {
  auto v = EvalIn("TIME_SERIES(3)", {});
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->kind, MathValue::Kind::kSeries);
  EXPECT_EQ(Points(*v), "0:3 60:3 120:3 180:3 240:3 | ");
  EXPECT_EQ(v->series[0].period_ms, 60'000);
  // The grid starts at start_ms; end_ms is exclusive.
  EXPECT_EQ(
      PointsIn("TIME_SERIES(1 + 1)", {}, MathContext{120'000, 300'001, 60'000}),
      "120:2 180:2 240:2 300:2 | ");
  EXPECT_EQ(PointsIn("g + TIME_SERIES(1)", GapInputs()),
            "0:1 60:6 120:1 180:8 240:1 | ");
}

TEST(MetricMathTimeSeries, NeedsANumberAndAGrid) {
  EXPECT_THAT(PointsIn("TIME_SERIES(g)", GapInputs()),
              ::testing::HasSubstr("column 1: TIME_SERIES needs a number"));
  EXPECT_THAT(PointsIn("TIME_SERIES(METRICS())", GapInputs()),
              ::testing::HasSubstr("column 1: TIME_SERIES needs a number"));
  // A series' period does not help: TIME_SERIES has no series.
  EXPECT_THAT(
      PointsIn("TIME_SERIES(3)", GapInputs(), MathContext{0, 300'000, 0}),
      ::testing::HasSubstr("column 1: TIME_SERIES needs the query's "
                           "time range and period"));
}

// cpu1 and cpu2 by label, cpu3 by id (no label); "CPU b" differs in case.
std::vector<MathSeries> LabelledInputs() {
  return {Series("m1", {0, 60}, {1, 2}, 60, "cpu host-a"),
          Series("m2", {0}, {10}, 60, "disk host-a"),
          Series("m3", {60, 120}, {20, 30}, 60, "host-b cpu"),
          Series("m4", {0}, {1000}, 60, "CPU b"),
          Series("cpu5", {120}, {300}, 60, "")};
}

TEST(MetricMathMetrics, FilterPicksInputsByLabel) {
  auto v = EvalIn("METRICS('cpu')", LabelledInputs());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->kind, MathValue::Kind::kArray);
  std::vector<std::string> ids, labels;
  for (const MathSeries& s : v->series) {
    ids.push_back(s.id);
    labels.push_back(s.label);
  }
  EXPECT_THAT(ids, ::testing::ElementsAre("m1", "m3", "cpu5"));
  EXPECT_THAT(labels, ::testing::ElementsAre("cpu host-a", "host-b cpu", ""));
  EXPECT_EQ(EvalIn("METRICS(\"host-a\")", LabelledInputs())->series.size(), 2u);
  EXPECT_EQ(EvalIn("METRICS('')", LabelledInputs())->series.size(), 5u);
  const auto none = EvalIn("METRICS('gpu')", LabelledInputs());
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->kind, MathValue::Kind::kArray);
  EXPECT_TRUE(none->series.empty());
}

TEST(MetricMathMetrics, AggregatesTheFilteredSeriesPerTimestamp) {
  EXPECT_EQ(PointsIn("SUM(METRICS('cpu'))", LabelledInputs()),
            "0:1 60:22 120:330 | ");
  EXPECT_EQ(PointsIn("MAX(METRICS('host-a'))", LabelledInputs()),
            "0:10 60:2 | ");
}

TEST(MetricMathEval, ResultsCarryPeriodsAndLabels) {
  const std::vector<MathSeries> in = {Series("m1", {0, 60}, {1, 2}, 60, "a"),
                                      Series("m5", {0}, {1}, 300, "b"),
                                      Series("x", {0}, {1}, 0, "c")};
  const auto first = [&](const std::string& e) {
    auto v = EvalIn(e, in);
    EXPECT_TRUE(v.ok()) << e << ": " << v.status();
    return v.ok() && !v->series.empty() ? v->series[0] : MathSeries{};
  };
  EXPECT_EQ(first("m1").label, "a");
  EXPECT_EQ(first("m5 + m1").period_ms, 60'000);
  EXPECT_EQ(first("x * m5").period_ms, 300'000);
  EXPECT_EQ(first("x - 1").period_ms, 0);
  EXPECT_EQ(first("-m5").period_ms, 300'000);
  EXPECT_EQ(first("ABS(m5)").period_ms, 300'000);
  EXPECT_EQ(first("RATE(m5)").period_ms, 300'000);
  EXPECT_EQ(first("RUNNING_SUM(m5)").label, "b");
  EXPECT_EQ(first("SUM(METRICS())").period_ms, 60'000);
  EXPECT_EQ(first("IF(x > 0, m5, m1)").period_ms, 60'000);
  EXPECT_EQ(first("FIRST(METRICS('b'))").period_ms, 300'000);
  EXPECT_EQ(first("METRICS() * 2").label, "a");
}

}  // namespace
}  // namespace nimbus::engine
