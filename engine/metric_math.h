// Metric math expressions (GetMetricData): the parser. It turns an
// expression such as `100 * (m1 - m2) / m2` or `IF(m1 > 80, m1, 0)` into a
// tree, with CloudWatch's precedence and errors that point at the column.
// Evaluation over time series comes with GetMetricData.
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

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_METRIC_MATH_H_
