// Fuzz target for the metric-math parser (ParseMetricMath) and evaluator.
//
// The input is an expression. Parsing must fail with InvalidArgument or
// give a tree whose text form (DebugString) parses to the same text form,
// unless that fully parenthesized text is too deep or too long for the
// parser's limits. A parsed tree is evaluated over a few input series, with
// and without a time grid: it must fail with InvalidArgument or give series
// whose timestamps ascend strictly, one value each; an expression whose
// top operator commutes (+ * == != AND OR) must give the same result with
// its operands swapped. A crash, a sanitizer report or a failed check is a
// finding.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "engine/metric_math.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using nimbus::engine::EvaluateMetricMath;
using nimbus::engine::MathContext;
using nimbus::engine::MathNode;
using nimbus::engine::MathSeries;
using nimbus::engine::MathValue;
using nimbus::engine::ParseMetricMath;
using nimbus::fuzz::SameBits;

constexpr int64_t kMinute = 60'000;

// Ids the seeds use: m1 and m2 on the query's grid with gaps, e1 with a
// period of its own, and a (no points, period unknown).
const std::vector<MathSeries>& Inputs() {
  static const std::vector<MathSeries>* inputs = [] {
    auto* v = new std::vector<MathSeries>;
    v->push_back({"m1",
                  {0, kMinute, 3 * kMinute, 4 * kMinute},
                  {1, 2.5, -3, 0},
                  kMinute,
                  "Requests web-1"});
    v->push_back({"m2",
                  {kMinute, 2 * kMinute, 4 * kMinute, 9 * kMinute},
                  {10, 0, 7, 1e300},
                  kMinute,
                  "Requests web-2"});
    v->push_back({"e1", {0, 5 * kMinute}, {6, -0.5}, 5 * kMinute, ""});
    v->push_back({"a", {}, {}, 0, "empty"});
    return v;
  }();
  return *inputs;
}

void CheckValue(const MathValue& v) {
  if (v.kind == MathValue::Kind::kSeries) FUZZ_CHECK(v.series.size() == 1);
  if (v.kind == MathValue::Kind::kScalar) FUZZ_CHECK(v.series.empty());
  for (const MathSeries& s : v.series) {
    FUZZ_CHECK(s.timestamps_ms.size() == s.values.size());
    for (size_t i = 1; i < s.timestamps_ms.size(); ++i) {
      FUZZ_CHECK(s.timestamps_ms[i - 1] < s.timestamps_ms[i]);
    }
  }
}

bool SameNumber(double a, double b) {
  return SameBits(a, b) || (std::isnan(a) && std::isnan(b));
}

// The same result, ids and labels aside (a series combined with a number
// keeps its own; which side it came from may differ).
bool SameResult(const absl::StatusOr<MathValue>& a,
                const absl::StatusOr<MathValue>& b) {
  if (a.ok() != b.ok()) return false;
  if (!a.ok()) return true;
  if (a->kind != b->kind || a->series.size() != b->series.size()) return false;
  if (a->kind == MathValue::Kind::kScalar) {
    return SameNumber(a->scalar, b->scalar);
  }
  for (size_t i = 0; i < a->series.size(); ++i) {
    const MathSeries& x = a->series[i];
    const MathSeries& y = b->series[i];
    if (x.timestamps_ms != y.timestamps_ms || x.period_ms != y.period_ms ||
        x.values.size() != y.values.size()) {
      return false;
    }
    for (size_t j = 0; j < x.values.size(); ++j) {
      if (!SameNumber(x.values[j], y.values[j])) return false;
    }
  }
  return true;
}

bool Commutes(const MathNode& n) {
  return n.kind == MathNode::Kind::kBinary &&
         (n.name == "+" || n.name == "*" || n.name == "==" || n.name == "!=" ||
          n.name == "AND" || n.name == "OR");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nimbus::fuzz::ExactCopy copy(data, size);
  auto tree = ParseMetricMath(copy.view());
  if (!tree.ok()) {
    FUZZ_CHECK(tree.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(*tree != nullptr);
  const std::string text = (*tree)->DebugString();
  auto reparsed = ParseMetricMath(text);
  if (reparsed.ok()) {
    FUZZ_CHECK((*reparsed)->DebugString() == text);
  } else {
    // Every operator gets its parentheses: a long chain nests deeper than
    // the parser allows, or makes the text longer than it reads.
    FUZZ_CHECK(absl::StrContains(reparsed.status().message(), "levels deep") ||
               absl::StrContains(reparsed.status().message(), "longer than"));
  }
  MathContext grid;
  grid.start_ms = 0;
  grid.end_ms = 10 * kMinute;
  grid.period_ms = kMinute;
  for (const MathContext& ctx : {grid, MathContext{}}) {
    auto v = EvaluateMetricMath(**tree, Inputs(), ctx);
    if (!v.ok()) {
      FUZZ_CHECK(v.status().code() == absl::StatusCode::kInvalidArgument);
    } else {
      CheckValue(*v);
    }
    // a + b is b + a (likewise *, ==, !=, AND, OR), whichever side holds a
    // number, a series or an array.
    if (Commutes(**tree)) {
      std::swap((*tree)->args[0], (*tree)->args[1]);
      auto swapped = EvaluateMetricMath(**tree, Inputs(), ctx);
      std::swap((*tree)->args[0], (*tree)->args[1]);
      FUZZ_CHECK(SameResult(v, swapped));
    }
  }
  return 0;
}
