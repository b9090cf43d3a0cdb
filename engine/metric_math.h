// Metric math expressions (GetMetricData): the parser. It turns an
// expression such as `100 * (m1 - m2) / m2` or `IF(m1 > 80, m1, 0)` into a
// tree, with CloudWatch's precedence and errors that point at the column.
// EvaluateMetricMath() evaluates a tree over time series.
//
// Grammar, loosest binding first (all binary operators left-associative
// except ^):
//   or      := and (OR and)*
//   and     := cmp (AND cmp)*
//   cmp     := sum ((> | < | >= | <= | == | !=) sum)?
//   sum     := product ((+ | -) product)*
//   product := unary ((* | /) unary)*
//   unary   := (- | +) unary | power        (so -x ^ 2 is -(x ^ 2))
//   power   := primary (^ unary)?
//   primary := number | id | NAME "(" [expr ("," expr)*] ")" | "(" or ")"
// Ids start with a lower-case letter (query ids); function names are upper
// case (ABS, SUM, FILL, ...); REPEAT and LINEAR are keywords for FILL. A
// string, 'text' or "text", is only the whole argument of METRICS.
#ifndef NIMBUS_ENGINE_METRIC_MATH_H_
#define NIMBUS_ENGINE_METRIC_MATH_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace nimbus::engine {

struct MathNode {
  enum class Kind { kNumber, kId, kKeyword, kCall, kUnary, kBinary, kString };
  Kind kind = Kind::kNumber;
  double number = 0;  // kNumber
  // kId, kKeyword, kString (its text, unquoted), kCall (the function),
  // kUnary/kBinary (the operator).
  std::string name;
  std::vector<std::unique_ptr<MathNode>> args;  // operands or call arguments
  int column = 0;  // 1-based column where the node starts

  // The expression back as text, fully parenthesized (for tests and errors).
  std::string DebugString() const;
};

// The functions the parser accepts, with their argument counts.
bool IsMetricMathFunction(absl::string_view name, size_t* min_args,
                          size_t* max_args);

// Parses `expression`. Returns InvalidArgument "column N: ..." for a syntax
// error, an unknown function or a wrong number of arguments.
absl::StatusOr<std::unique_ptr<MathNode>> ParseMetricMath(
    absl::string_view expression);

// A time series on the query's grid: values by period start, ascending; a
// period without a value is absent.
struct MathSeries {
  std::string id;
  std::vector<int64_t> timestamps_ms;
  std::vector<double> values;
  int64_t period_ms = 0;  // the series' period; 0 if unknown
  std::string label;  // the label shown to users; METRICS('filter') reads it
};

// The query's time grid: periods start at start_ms + k * period, k >= 0,
// below end_ms. period_ms is the grid for functions without a series
// argument (TIME_SERIES); a series' own period_ms wins where it has one.
struct MathContext {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  int64_t period_ms = 0;
  // What METRICS() returns: the request's metric queries, when the inputs
  // also hold results of other expressions. Null: the inputs.
  const std::vector<MathSeries>* metrics = nullptr;
};

// A value of an expression: a number, one series, or several (METRICS()).
struct MathValue {
  enum class Kind { kScalar, kSeries, kArray };
  Kind kind = Kind::kScalar;
  double scalar = 0;
  std::vector<MathSeries> series;  // one for kSeries
};

// Evaluates `expr` over the input series, by query id, on the grid of
// `ctx`. Implemented: numbers, ids, + - * / ^, comparisons (1 or 0), AND,
// OR, unary minus, and every function the parser accepts:
//   ABS; IF; SUM/AVG/MIN/MAX/STDDEV over an array (per timestamp) or a
//   series (to a number); DIFF, DIFF_TIME, RATE and RUNNING_SUM per series;
//   DATAPOINT_COUNT; FIRST and LAST of an array;
//   METRICS() (every input) and METRICS('text') (the inputs whose label, or
//   id where the label is empty, contains `text`; case-sensitive);
//   FILL(s, number | series | REPEAT | LINEAR): a value for each grid
//   period of s (its own period_ms, else ctx.period_ms) that has none;
//   REPEAT takes the previous value, LINEAR interpolates between the
//   neighbours, and neither fills before the first or after the last value;
//   PERIOD(s): s's period in seconds (an array's first series);
//   TIME_SERIES(number): that number at every period of ctx's grid.
// In arithmetic between series a missing value counts as 0; a division by
// zero drops the point (docs/semantics.md). Result series carry a period_ms: an
// input's own through functions of one series, the smaller known one where
// series are combined or aggregated, the grid's after FILL and TIME_SERIES;
// 0 where none is known. A series keeps its id and label through operations
// on it alone (FILL, DIFF, m1 * 2, ...); one made from several has neither.
// Returns InvalidArgument naming the column for an unknown id, operands of
// the wrong kind, PERIOD of a series whose period is unknown, and FILL or
// TIME_SERIES without a grid (ctx.end_ms <= ctx.start_ms or no period) or
// with a grid of more than 100,800 periods.
absl::StatusOr<MathValue> EvaluateMetricMath(
    const MathNode& expr, const std::vector<MathSeries>& inputs,
    const MathContext& ctx);

// The same without a grid (MathContext{}): FILL and TIME_SERIES fail.
absl::StatusOr<MathValue> EvaluateMetricMath(
    const MathNode& expr, const std::vector<MathSeries>& inputs);

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_METRIC_MATH_H_
