// Metric math expressions (GetMetricData): the parser. It turns an
// expression such as `100 * (m1 - m2) / m2` or `IF(m1 > 80, m1, 0)` into a
// tree, with CloudWatch's precedence and errors that point at the column.
// EvaluateMetricMath() evaluates a tree over time series (part of the
// function list so far).
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
// case (ABS, SUM, FILL, ...); REPEAT and LINEAR are keywords for FILL.
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
  enum class Kind { kNumber, kId, kKeyword, kCall, kUnary, kBinary };
  Kind kind = Kind::kNumber;
  double number = 0;  // kNumber
  std::string
      name;  // kId, kKeyword, kCall (function), kUnary/kBinary (operator)
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
};

// A value of an expression: a number, one series, or several (METRICS()).
struct MathValue {
  enum class Kind { kScalar, kSeries, kArray };
  Kind kind = Kind::kScalar;
  double scalar = 0;
  std::vector<MathSeries> series;  // one for kSeries
};

// Evaluates `expr` over the input series, by query id. Implemented so far:
// numbers, ids, + - * / ^, comparisons (1 or 0), AND, OR, unary minus, ABS,
// IF, METRICS(), SUM/AVG/MIN/MAX/STDDEV over an array (per timestamp) or a
// series (to a number), DIFF, DIFF_TIME, RATE and RUNNING_SUM per series,
// DATAPOINT_COUNT, FIRST and LAST. In arithmetic between series a missing
// value counts as 0; a division by zero drops the point (SEMANTICS.md).
// Returns InvalidArgument naming the column for an unknown id, a function
// not yet implemented, or operands of the wrong kind.
absl::StatusOr<MathValue> EvaluateMetricMath(
    const MathNode& expr, const std::vector<MathSeries>& inputs);

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_METRIC_MATH_H_
