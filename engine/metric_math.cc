#include "engine/metric_math.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace nimbus::engine {
namespace {

struct Function {
  absl::string_view name;
  size_t min_args, max_args;
};

// The functions docs/semantics.md lists ("Expressions").
constexpr Function kFunctions[] = {
    {"ABS", 1, 1},         {"AVG", 1, 1},
    {"SUM", 1, 1},         {"MIN", 1, 1},
    {"MAX", 1, 1},         {"STDDEV", 1, 1},
    {"FILL", 2, 2},        {"IF", 2, 3},
    {"RATE", 1, 1},        {"DIFF", 1, 1},
    {"DIFF_TIME", 1, 1},   {"METRICS", 0, 1},
    {"FIRST", 1, 1},       {"LAST", 1, 1},
    {"RUNNING_SUM", 1, 1}, {"DATAPOINT_COUNT", 1, 1},
    {"PERIOD", 1, 1},      {"TIME_SERIES", 1, 1},
};

enum class Tok { kEnd, kNumber, kName, kOp, kLParen, kRParen, kComma, kString };

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;
  double number = 0;
  int column = 0;  // 1-based
};

class Parser {
 public:
  explicit Parser(absl::string_view s) : s_(s) {}

  absl::StatusOr<std::unique_ptr<MathNode>> Parse() {
    if (absl::Status st = Advance(); !st.ok()) return st;
    auto e = ParseOr();
    if (!e.ok()) return e;
    if (tok_.kind != Tok::kEnd) {
      return Error(tok_.column, absl::StrCat("unexpected '", tok_.text,
                                             "' after a complete expression"));
    }
    return e;
  }

 private:
  using NodeOr = absl::StatusOr<std::unique_ptr<MathNode>>;

  static absl::Status Error(int column, absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("column ", column, ": ", what));
  }

  absl::Status Advance() {
    while (pos_ < s_.size() &&
           absl::ascii_isspace(static_cast<unsigned char>(s_[pos_])))
      ++pos_;
    tok_ = Token();
    tok_.column = static_cast<int>(pos_) + 1;
    if (pos_ >= s_.size()) {
      tok_.text = "end of expression";
      return absl::OkStatus();
    }
    const char c = s_[pos_];
    if (absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '.') {
      size_t end = pos_;
      while (end < s_.size() &&
             (absl::ascii_isdigit(static_cast<unsigned char>(s_[end])) ||
              s_[end] == '.')) {
        ++end;
      }
      if (end < s_.size() && (s_[end] == 'e' || s_[end] == 'E')) {
        size_t exp = end + 1;
        if (exp < s_.size() && (s_[exp] == '+' || s_[exp] == '-')) ++exp;
        if (exp < s_.size() &&
            absl::ascii_isdigit(static_cast<unsigned char>(s_[exp]))) {
          end = exp;
          while (end < s_.size() &&
                 absl::ascii_isdigit(static_cast<unsigned char>(s_[end])))
            ++end;
        }
      }
      tok_.text = std::string(s_.substr(pos_, end - pos_));
      if (!absl::SimpleAtod(tok_.text, &tok_.number)) {
        return Error(tok_.column,
                     absl::StrCat("'", tok_.text, "' is not a number"));
      }
      tok_.kind = Tok::kNumber;
      pos_ = end;
      return absl::OkStatus();
    }
    if (absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t end = pos_;
      while (end < s_.size() &&
             (absl::ascii_isalnum(static_cast<unsigned char>(s_[end])) ||
              s_[end] == '_')) {
        ++end;
      }
      tok_.kind = Tok::kName;
      tok_.text = std::string(s_.substr(pos_, end - pos_));
      pos_ = end;
      return absl::OkStatus();
    }
    if (c == '\'' || c == '"') {  // CloudWatch writes METRICS('text')
      const size_t end = s_.find(c, pos_ + 1);
      if (end == absl::string_view::npos)
        return Error(tok_.column, "unterminated string");
      tok_.kind = Tok::kString;
      tok_.text = std::string(s_.substr(pos_ + 1, end - pos_ - 1));
      pos_ = end + 1;
      return absl::OkStatus();
    }
    ++pos_;
    tok_.text = std::string(1, c);
    switch (c) {
      case '(':
        tok_.kind = Tok::kLParen;
        return absl::OkStatus();
      case ')':
        tok_.kind = Tok::kRParen;
        return absl::OkStatus();
      case ',':
        tok_.kind = Tok::kComma;
        return absl::OkStatus();
      case '+':
      case '-':
      case '*':
      case '/':
      case '^':
        tok_.kind = Tok::kOp;
        return absl::OkStatus();
      case '>':
      case '<':
      case '=':
      case '!':
        if (pos_ < s_.size() && s_[pos_] == '=') {
          tok_.text.push_back('=');
          ++pos_;
        } else if (c == '=' || c == '!') {
          return Error(tok_.column, absl::StrCat("'", tok_.text,
                                                 "' must be followed by '='"));
        }
        tok_.kind = Tok::kOp;
        return absl::OkStatus();
      default:
        return Error(tok_.column,
                     absl::StrCat("unexpected character '", tok_.text, "'"));
    }
  }

  static std::unique_ptr<MathNode> Binary(std::string op, int column,
                                          std::unique_ptr<MathNode> l,
                                          std::unique_ptr<MathNode> r) {
    auto n = std::make_unique<MathNode>();
    n->kind = MathNode::Kind::kBinary;
    n->name = std::move(op);
    n->column = column;
    n->args.push_back(std::move(l));
    n->args.push_back(std::move(r));
    return n;
  }

  bool AtKeyword(absl::string_view word) const {
    return tok_.kind == Tok::kName && tok_.text == word;
  }
  bool AtOp(std::initializer_list<absl::string_view> ops) const {
    if (tok_.kind != Tok::kOp) return false;
    for (absl::string_view op : ops) {
      if (tok_.text == op) return true;
    }
    return false;
  }

  // Parses `lhs (op rhs)*` for the operators `ops`, each side by `next`.
  template <typename Next, typename At>
  NodeOr LeftAssoc(Next next, At at) {
    NodeOr lhs = (this->*next)();
    if (!lhs.ok()) return lhs;
    while (at()) {
      const std::string op = tok_.text;
      const int column = tok_.column;
      if (absl::Status st = Advance(); !st.ok()) return st;
      NodeOr rhs = (this->*next)();
      if (!rhs.ok()) return rhs;
      lhs = Binary(op, column, std::move(*lhs), std::move(*rhs));
    }
    return lhs;
  }

  // Every nesting (parentheses, call arguments, unary operators, exponents)
  // passes through here or ParseUnary: bounding the depth bounds the stack
  // a hostile expression can take.
  NodeOr ParseOr() {
    if (++depth_ > kMaxDepth) return TooDeep();
    NodeOr e = LeftAssoc(&Parser::ParseAnd, [this] { return AtKeyword("OR"); });
    --depth_;
    return e;
  }
  absl::Status TooDeep() const {
    return Error(tok_.column,
                 absl::StrCat("nested more than ", kMaxDepth, " levels deep"));
  }
  NodeOr ParseAnd() {
    return LeftAssoc(&Parser::ParseCmp, [this] { return AtKeyword("AND"); });
  }
  NodeOr ParseCmp() {
    NodeOr lhs = ParseSum();
    if (!lhs.ok()) return lhs;
    if (AtOp({">", "<", ">=", "<=", "==", "!="})) {
      const std::string op = tok_.text;
      const int column = tok_.column;
      if (absl::Status st = Advance(); !st.ok()) return st;
      NodeOr rhs = ParseSum();
      if (!rhs.ok()) return rhs;
      if (AtOp({">", "<", ">=", "<=", "==", "!="})) {
        return Error(tok_.column, "comparisons do not chain; use AND");
      }
      return Binary(op, column, std::move(*lhs), std::move(*rhs));
    }
    return lhs;
  }
  NodeOr ParseSum() {
    return LeftAssoc(&Parser::ParseProduct, [this] {
      return AtOp({"+", "-"});
    });
  }
  NodeOr ParseProduct() {
    return LeftAssoc(&Parser::ParseUnary, [this] { return AtOp({"*", "/"}); });
  }
  NodeOr ParsePower() {
    NodeOr base = ParsePrimary();
    if (!base.ok()) return base;
    if (AtOp({"^"})) {
      const int column = tok_.column;
      if (absl::Status st = Advance(); !st.ok()) return st;
      NodeOr exponent = ParseUnary();  // right-associative; 2 ^ -1 allowed
      if (!exponent.ok()) return exponent;
      return Binary("^", column, std::move(*base), std::move(*exponent));
    }
    return base;
  }
  NodeOr ParseUnary() {
    if (AtOp({"-", "+"})) {
      if (++depth_ > kMaxDepth) return TooDeep();
      auto n = std::make_unique<MathNode>();
      n->kind = MathNode::Kind::kUnary;
      n->name = tok_.text;
      n->column = tok_.column;
      if (absl::Status st = Advance(); !st.ok()) return st;
      NodeOr operand = ParseUnary();
      if (!operand.ok()) return operand;
      --depth_;
      n->args.push_back(std::move(*operand));
      return n;
    }
    return ParsePower();
  }

  NodeOr ParsePrimary() {
    const Token t = tok_;
    switch (t.kind) {
      case Tok::kNumber: {
        if (absl::Status st = Advance(); !st.ok()) return st;
        auto n = std::make_unique<MathNode>();
        n->kind = MathNode::Kind::kNumber;
        n->number = t.number;
        n->column = t.column;
        return n;
      }
      case Tok::kLParen: {
        if (absl::Status st = Advance(); !st.ok()) return st;
        NodeOr inner = ParseOr();
        if (!inner.ok()) return inner;
        if (tok_.kind != Tok::kRParen) {
          return Error(tok_.column,
                       absl::StrCat("expected ')' to close the '(' at column ",
                                    t.column, ", found '", tok_.text, "'"));
        }
        if (absl::Status st = Advance(); !st.ok()) return st;
        return inner;
      }
      case Tok::kName:
        return ParseName(t);
      case Tok::kString:
        return Error(t.column,
                     absl::StrCat("a string such as '", t.text,
                                  "' can only be the argument of METRICS"));
      default:
        return Error(
            t.column,
            absl::StrCat(
                "expected a number, a query id, a function or '(', found '",
                t.text, "'"));
    }
  }

  NodeOr ParseName(const Token& t) {
    if (absl::Status st = Advance(); !st.ok()) return st;
    auto n = std::make_unique<MathNode>();
    n->column = t.column;
    n->name = t.text;
    if (tok_.kind != Tok::kLParen) {
      if (t.text == "REPEAT" || t.text == "LINEAR") {
        n->kind = MathNode::Kind::kKeyword;
        return n;
      }
      if (t.text == "AND" || t.text == "OR") {
        return Error(t.column, absl::StrCat("'", t.text,
                                            "' needs an operand on each side"));
      }
      if (!absl::ascii_islower(static_cast<unsigned char>(t.text[0]))) {
        return Error(t.column,
                     absl::StrCat("'", t.text,
                                  "' is neither a query id (those start with a "
                                  "lower-case letter) nor followed by '('"));
      }
      n->kind = MathNode::Kind::kId;
      return n;
    }
    size_t min_args = 0, max_args = 0;
    if (!IsMetricMathFunction(t.text, &min_args, &max_args)) {
      return Error(t.column, absl::StrCat("unknown function '", t.text, "'"));
    }
    n->kind = MathNode::Kind::kCall;
    const int open = tok_.column;
    if (absl::Status st = Advance(); !st.ok()) return st;
    if (tok_.kind != Tok::kRParen) {
      while (true) {
        NodeOr arg = t.text == "METRICS" && tok_.kind == Tok::kString
                         ? ParseString()
                         : ParseOr();
        if (!arg.ok()) return arg;
        n->args.push_back(std::move(*arg));
        if (tok_.kind == Tok::kComma) {
          if (absl::Status st = Advance(); !st.ok()) return st;
          continue;
        }
        break;
      }
    }
    if (tok_.kind != Tok::kRParen) {
      return Error(tok_.column,
                   absl::StrCat("expected ',' or ')' in the call of ", t.text,
                                " opened at column ", open, ", found '",
                                tok_.text, "'"));
    }
    if (absl::Status st = Advance(); !st.ok()) return st;
    if (n->args.size() < min_args || n->args.size() > max_args) {
      return Error(t.column,
                   absl::StrCat(t.text, " takes ",
                                min_args == max_args
                                    ? absl::StrCat(min_args)
                                    : absl::StrCat(min_args, " to ", max_args),
                                " argument", max_args == 1 ? "" : "s", ", got ",
                                n->args.size()));
    }
    return n;
  }

  // The current string token as a node (METRICS' filter).
  NodeOr ParseString() {
    auto n = std::make_unique<MathNode>();
    n->kind = MathNode::Kind::kString;
    n->name = tok_.text;
    n->column = tok_.column;
    if (absl::Status st = Advance(); !st.ok()) return st;
    return n;
  }

  static constexpr int kMaxDepth = 64;

  absl::string_view s_;
  size_t pos_ = 0;
  Token tok_;
  int depth_ = 0;
};

}  // namespace

bool IsMetricMathFunction(absl::string_view name, size_t* min_args,
                          size_t* max_args) {
  for (const Function& f : kFunctions) {
    if (f.name == name) {
      *min_args = f.min_args;
      *max_args = f.max_args;
      return true;
    }
  }
  return false;
}

std::string MathNode::DebugString() const {
  switch (kind) {
    case Kind::kNumber:
      return absl::StrCat(number);
    case Kind::kId:
    case Kind::kKeyword:
      return name;
    case Kind::kString: {
      // Quoted as it could have been written: '...' unless it holds a '.
      const char q = name.find('\'') == std::string::npos ? '\'' : '"';
      return absl::StrCat(std::string(1, q), name, std::string(1, q));
    }
    case Kind::kUnary:
      return absl::StrCat("(", name, args[0]->DebugString(), ")");
    case Kind::kBinary:
      return absl::StrCat("(", args[0]->DebugString(), " ", name, " ",
                          args[1]->DebugString(), ")");
    case Kind::kCall: {
      std::string out = absl::StrCat(name, "(");
      for (size_t i = 0; i < args.size(); ++i) {
        absl::StrAppend(&out, i ? ", " : "", args[i]->DebugString());
      }
      return out + ")";
    }
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<MathNode>> ParseMetricMath(
    absl::string_view expression) {
  if (expression.size() > 2048) {
    return absl::InvalidArgumentError(
        "expression: longer than 2048 characters");
  }
  return Parser(expression).Parse();
}

}  // namespace nimbus::engine

// ---------------------------------------------------------------------------
// Evaluation.

namespace nimbus::engine {
namespace {

using Kind = MathNode::Kind;
using VKind = MathValue::Kind;
// A pointwise operation; nullopt drops the point.
using PointOp = std::optional<double> (*)(double, double);

absl::Status EvalError(const MathNode& n, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("column ", n.column, ": ", what));
}

MathValue Scalar(double v) {
  MathValue m;
  m.kind = VKind::kScalar;
  m.scalar = v;
  return m;
}

// The period of a series made from two: the finer one, where known.
int64_t SmallerPeriod(int64_t a, int64_t b) {
  if (a <= 0) return b;
  if (b <= 0) return a;
  return std::min(a, b);
}

MathValue OneSeries(MathSeries s) {
  MathValue m;
  m.kind = VKind::kSeries;
  m.series.push_back(std::move(s));
  return m;
}

// Series op series over the union of timestamps; a missing value counts as 0.
MathSeries Combine(const MathSeries& a, const MathSeries& b, PointOp op) {
  MathSeries out;
  out.period_ms = SmallerPeriod(a.period_ms, b.period_ms);
  size_t i = 0, j = 0;
  while (i < a.timestamps_ms.size() || j < b.timestamps_ms.size()) {
    int64_t t;
    double x = 0, y = 0;
    const bool take_a = j >= b.timestamps_ms.size() ||
                        (i < a.timestamps_ms.size() &&
                         a.timestamps_ms[i] <= b.timestamps_ms[j]);
    const bool take_b = i >= a.timestamps_ms.size() ||
                        (j < b.timestamps_ms.size() &&
                         b.timestamps_ms[j] <= a.timestamps_ms[i]);
    t = take_a ? a.timestamps_ms[i] : b.timestamps_ms[j];
    if (take_a) x = a.values[i++];
    if (take_b) y = b.values[j++];
    if (auto v = op(x, y)) {
      out.timestamps_ms.push_back(t);
      out.values.push_back(*v);
    }
  }
  return out;
}

MathSeries WithScalar(const MathSeries& s, double k, bool scalar_left,
                      PointOp op) {
  MathSeries out;
  out.period_ms = s.period_ms;
  for (size_t i = 0; i < s.values.size(); ++i) {
    auto v = scalar_left ? op(k, s.values[i]) : op(s.values[i], k);
    if (v) {
      out.timestamps_ms.push_back(s.timestamps_ms[i]);
      out.values.push_back(*v);
    }
  }
  return out;
}

absl::StatusOr<MathValue> Binary(const MathNode& n, const MathValue& l,
                                 const MathValue& r, PointOp op) {
  if (l.kind == VKind::kScalar && r.kind == VKind::kScalar) {
    auto v = op(l.scalar, r.scalar);
    if (!v) return EvalError(n, "division by zero");
    return Scalar(*v);
  }
  if (l.kind == VKind::kArray && r.kind == VKind::kArray) {
    return EvalError(n, "both sides are arrays of series");
  }
  MathValue out;
  out.kind = (l.kind == VKind::kArray || r.kind == VKind::kArray)
                 ? VKind::kArray
                 : VKind::kSeries;
  if (l.kind == VKind::kSeries && r.kind == VKind::kSeries) {
    out.series.push_back(Combine(l.series[0], r.series[0], op));
    return out;
  }
  // One side is an array (of any number of series, none included) or a
  // series beside a number; the other is a number or one series. Each
  // series of the first side is combined with the other side.
  const bool many_left = l.kind == VKind::kArray ||
                         (l.kind == VKind::kSeries && r.kind == VKind::kScalar);
  const MathValue& many = many_left ? l : r;
  const MathValue& other = many_left ? r : l;
  for (const MathSeries& s : many.series) {
    if (other.kind == VKind::kScalar) {
      out.series.push_back(WithScalar(s, other.scalar, !many_left, op));
    } else {  // one series
      out.series.push_back(many_left ? Combine(s, other.series[0], op)
                                     : Combine(other.series[0], s, op));
    }
    out.series.back().id = s.id;
    out.series.back().label = s.label;
  }
  return out;
}

std::optional<double> OpAdd(double a, double b) { return a + b; }
std::optional<double> OpSub(double a, double b) { return a - b; }
std::optional<double> OpMul(double a, double b) { return a * b; }
std::optional<double> OpDiv(double a, double b) {
  if (b == 0) return std::nullopt;
  return a / b;
}
std::optional<double> OpPow(double a, double b) { return std::pow(a, b); }
std::optional<double> OpGt(double a, double b) { return a > b ? 1 : 0; }
std::optional<double> OpLt(double a, double b) { return a < b ? 1 : 0; }
std::optional<double> OpGe(double a, double b) { return a >= b ? 1 : 0; }
std::optional<double> OpLe(double a, double b) { return a <= b ? 1 : 0; }
std::optional<double> OpEq(double a, double b) { return a == b ? 1 : 0; }
std::optional<double> OpNe(double a, double b) { return a != b ? 1 : 0; }
std::optional<double> OpAnd(double a, double b) {
  return (a != 0 && b != 0) ? 1 : 0;
}
std::optional<double> OpOr(double a, double b) {
  return (a != 0 || b != 0) ? 1 : 0;
}

PointOp OpFor(absl::string_view name) {
  static const std::pair<absl::string_view, PointOp> kOps[] = {
      {"+", OpAdd}, {"-", OpSub},   {"*", OpMul}, {"/", OpDiv}, {"^", OpPow},
      {">", OpGt},  {"<", OpLt},    {">=", OpGe}, {"<=", OpLe}, {"==", OpEq},
      {"!=", OpNe}, {"AND", OpAnd}, {"OR", OpOr}};
  for (const auto& [n, op] : kOps) {
    if (n == name) return op;
  }
  return nullptr;
}

// SUM/AVG/MIN/MAX/STDDEV (population) of values.
double Aggregate(absl::string_view fn, const std::vector<double>& v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  if (fn == "STDDEV") {
    double mean = 0;
    for (double x : v) mean += x;
    mean /= static_cast<double>(v.size());
    double var = 0;
    for (double x : v) var += (x - mean) * (x - mean);
    return std::sqrt(var / static_cast<double>(v.size()));
  }
  double acc = fn == "MIN" ? v[0] : fn == "MAX" ? v[0] : 0;
  for (double x : v) {
    if (fn == "MIN")
      acc = std::min(acc, x);
    else if (fn == "MAX")
      acc = std::max(acc, x);
    else
      acc += x;
  }
  return fn == "AVG" ? acc / static_cast<double>(v.size()) : acc;
}

// The value of a number or a single series at `t`; nullopt where the series
// has none.
std::optional<double> ValueAt(const MathValue& x, int64_t t) {
  if (x.kind == VKind::kScalar) return x.scalar;
  const MathSeries& s = x.series[0];
  auto it = std::lower_bound(s.timestamps_ms.begin(), s.timestamps_ms.end(), t);
  if (it == s.timestamps_ms.end() || *it != t) return std::nullopt;
  return s.values[static_cast<size_t>(it - s.timestamps_ms.begin())];
}

// GetMetricData's default max_datapoints: no answer holds more periods, so a
// longer grid is a caller's mistake and would only cost memory.
constexpr uint64_t kMaxGridPeriods = 100'800;

// The period starts of ctx's time range at `period_ms` steps, for the
// function `n` (named in errors).
absl::StatusOr<std::vector<int64_t>> Grid(const MathNode& n,
                                          const MathContext& ctx,
                                          int64_t period_ms) {
  if (ctx.end_ms <= ctx.start_ms || period_ms <= 0) {
    return EvalError(
        n, absl::StrCat(n.name, " needs the query's time range and period"));
  }
  // Unsigned: a range wider than INT64_MAX must not overflow.
  const uint64_t span =
      static_cast<uint64_t>(ctx.end_ms) - static_cast<uint64_t>(ctx.start_ms);
  const uint64_t step = static_cast<uint64_t>(period_ms);
  const uint64_t count = (span - 1) / step + 1;
  if (count > kMaxGridPeriods) {
    return EvalError(n, absl::StrCat(n.name, ": the time range holds ", count,
                                     " periods, more than ", kMaxGridPeriods));
  }
  std::vector<int64_t> grid;
  grid.reserve(count);
  for (uint64_t k = 0; k < count; ++k) {
    grid.push_back(
        static_cast<int64_t>(static_cast<uint64_t>(ctx.start_ms) + k * step));
  }
  return grid;
}

// FILL's value for the period `t` that `s` has no value for, where
// s's points [0, next) are the ones before t. `by` is the number or series
// to fill with; without it, `how` is REPEAT or LINEAR.
std::optional<double> FillValue(const MathSeries& s, size_t next, int64_t t,
                                const MathNode& how,
                                const std::optional<MathValue>& by) {
  if (by) return ValueAt(*by, t);
  // Neither keyword invents a value before the first point or after the
  // last: there is nothing to repeat or to interpolate towards.
  if (next == 0) return std::nullopt;
  const double before = s.values[next - 1];
  if (how.name == "REPEAT") return before;
  if (next == s.values.size()) return std::nullopt;
  // In doubles, so that far-apart timestamps cannot overflow.
  const double t0 = static_cast<double>(s.timestamps_ms[next - 1]);
  const double t1 = static_cast<double>(s.timestamps_ms[next]);
  return before +
         (s.values[next] - before) * (static_cast<double>(t) - t0) / (t1 - t0);
}

// `s` with FILL's value at each period of `grid` it has none for; its points
// off the grid stay as they are.
MathSeries FillSeries(const MathSeries& s, const std::vector<int64_t>& grid,
                      const MathNode& how, const std::optional<MathValue>& by) {
  MathSeries out;
  out.id = s.id;
  out.label = s.label;
  const auto add = [&out](int64_t t, double v) {
    out.timestamps_ms.push_back(t);
    out.values.push_back(v);
  };
  size_t i = 0;
  for (int64_t t : grid) {
    for (; i < s.values.size() && s.timestamps_ms[i] < t; ++i) {
      add(s.timestamps_ms[i], s.values[i]);
    }
    if (i < s.values.size() && s.timestamps_ms[i] == t) continue;
    if (auto v = FillValue(s, i, t, how, by)) add(t, *v);
  }
  for (; i < s.values.size(); ++i) add(s.timestamps_ms[i], s.values[i]);
  return out;
}

class Evaluator {
 public:
  Evaluator(const std::vector<MathSeries>& inputs, const MathContext& ctx)
      : inputs_(inputs), ctx_(ctx) {}

  absl::StatusOr<MathValue> Eval(const MathNode& n) {
    switch (n.kind) {
      case Kind::kNumber:
        return Scalar(n.number);
      case Kind::kId:
        for (const MathSeries& s : inputs_) {
          if (s.id == n.name) return OneSeries(s);
        }
        return EvalError(n, absl::StrCat("no query has the id '", n.name, "'"));
      case Kind::kKeyword:
        return EvalError(n,
                         absl::StrCat(n.name, " is only an argument of FILL"));
      case Kind::kString:  // the parser allows it only in METRICS
        return EvalError(n, "a string is only the argument of METRICS");
      case Kind::kUnary: {
        auto v = Eval(*n.args[0]);
        if (!v.ok()) return v;
        if (n.name == "+") return v;
        return Binary(n, Scalar(0), *v, OpSub);
      }
      case Kind::kBinary: {
        auto l = Eval(*n.args[0]);
        if (!l.ok()) return l;
        auto r = Eval(*n.args[1]);
        if (!r.ok()) return r;
        return Binary(n, *l, *r, OpFor(n.name));
      }
      case Kind::kCall:
        return Call(n);
    }
    return EvalError(n, "unknown node");
  }

 private:
  absl::StatusOr<MathValue> Call(const MathNode& n) {
    if (n.name == "METRICS") return Metrics(n);
    if (n.name == "FILL") return Fill(n);
    if (n.name == "PERIOD") return Period(n);
    if (n.name == "TIME_SERIES") return TimeSeries(n);
    if (n.name == "ABS") {
      auto v = Eval(*n.args[0]);
      if (!v.ok()) return v;
      if (v->kind == VKind::kScalar) return Scalar(std::fabs(v->scalar));
      for (MathSeries& s : v->series) {
        for (double& x : s.values) x = std::fabs(x);
      }
      return v;
    }
    if (n.name == "SUM" || n.name == "AVG" || n.name == "MIN" ||
        n.name == "MAX" || n.name == "STDDEV") {
      auto v = Eval(*n.args[0]);
      if (!v.ok()) return v;
      if (v->kind == VKind::kScalar)
        return EvalError(n,
                         absl::StrCat(n.name, " needs a series or an array"));
      if (v->kind == VKind::kSeries)
        return Scalar(Aggregate(n.name, v->series[0].values));
      // Per timestamp across the series that have a value there.
      std::map<int64_t, std::vector<double>> by_time;
      for (const MathSeries& s : v->series) {
        for (size_t i = 0; i < s.values.size(); ++i) {
          by_time[s.timestamps_ms[i]].push_back(s.values[i]);
        }
      }
      MathSeries out;
      for (const MathSeries& s : v->series) {
        out.period_ms = SmallerPeriod(out.period_ms, s.period_ms);
      }
      for (const auto& [t, vals] : by_time) {
        out.timestamps_ms.push_back(t);
        out.values.push_back(Aggregate(n.name, vals));
      }
      return OneSeries(std::move(out));
    }
    if (n.name == "IF") {
      auto cond = Eval(*n.args[0]);
      if (!cond.ok()) return cond;
      if (cond->kind != VKind::kSeries)
        return EvalError(n, "IF's condition must be a series");
      auto a = Eval(*n.args[1]);
      if (!a.ok()) return a;
      std::optional<MathValue> b;
      if (n.args.size() == 3) {
        auto bv = Eval(*n.args[2]);
        if (!bv.ok()) return bv.status();
        b = std::move(*bv);
      }
      for (const MathValue* x : {&*a, b ? &*b : nullptr}) {
        if (x != nullptr && x->kind == VKind::kArray) {
          return EvalError(n, "IF's values must be numbers or single series");
        }
      }
      MathSeries out;
      const MathSeries& c = cond->series[0];
      out.period_ms = c.period_ms;
      for (const MathValue* x : {&*a, b ? &*b : nullptr}) {
        if (x != nullptr && x->kind == VKind::kSeries) {
          out.period_ms = SmallerPeriod(out.period_ms, x->series[0].period_ms);
        }
      }
      for (size_t i = 0; i < c.values.size(); ++i) {
        std::optional<double> v;
        if (c.values[i] != 0) {
          v = ValueAt(*a, c.timestamps_ms[i]);
        } else if (b) {
          v = ValueAt(*b, c.timestamps_ms[i]);
        }
        if (v) {
          out.timestamps_ms.push_back(c.timestamps_ms[i]);
          out.values.push_back(*v);
        }
      }
      return OneSeries(std::move(out));
    }
    if (n.name == "DIFF" || n.name == "DIFF_TIME" || n.name == "RATE" ||
        n.name == "RUNNING_SUM") {
      auto v = Eval(*n.args[0]);
      if (!v.ok()) return v;
      if (v->kind == VKind::kScalar) {
        return EvalError(n,
                         absl::StrCat(n.name, " needs a series or an array"));
      }
      // Per series: differences to the previous point (the first point has
      // none and is dropped), or the running sum.
      for (MathSeries& ser : v->series) {
        MathSeries out;
        out.id = ser.id;
        out.label = ser.label;
        out.period_ms = ser.period_ms;
        double running = 0;
        for (size_t i = 0; i < ser.values.size(); ++i) {
          if (n.name == "RUNNING_SUM") {
            running += ser.values[i];
            out.timestamps_ms.push_back(ser.timestamps_ms[i]);
            out.values.push_back(running);
            continue;
          }
          if (i == 0) continue;
          const double dv = ser.values[i] - ser.values[i - 1];
          const double dt = static_cast<double>(ser.timestamps_ms[i] -
                                                ser.timestamps_ms[i - 1]) /
                            1000;
          if (n.name == "RATE" && dt == 0) continue;
          out.timestamps_ms.push_back(ser.timestamps_ms[i]);
          out.values.push_back(n.name == "DIFF"        ? dv
                               : n.name == "DIFF_TIME" ? dt
                                                       : dv / dt);
        }
        ser = std::move(out);
      }
      return v;
    }
    if (n.name == "DATAPOINT_COUNT") {
      auto v = Eval(*n.args[0]);
      if (!v.ok()) return v;
      if (v->kind != VKind::kSeries) {
        return EvalError(n, "DATAPOINT_COUNT needs a series");
      }
      return Scalar(static_cast<double>(v->series[0].values.size()));
    }
    if (n.name == "FIRST" || n.name == "LAST") {
      auto v = Eval(*n.args[0]);
      if (!v.ok()) return v;
      if (v->kind != VKind::kArray || v->series.empty()) {
        return EvalError(
            n, absl::StrCat(n.name, " needs a non-empty array of series"));
      }
      return OneSeries(n.name == "FIRST" ? v->series.front()
                                         : v->series.back());
    }
    return EvalError(n, absl::StrCat(n.name, " is not implemented yet"));
  }

  // METRICS(): every input; METRICS('text'): those whose label (or id, for
  // an input without a label) contains text, case-sensitively.
  absl::StatusOr<MathValue> Metrics(const MathNode& n) {
    MathValue m;
    m.kind = VKind::kArray;
    const std::vector<MathSeries>& pool =
        ctx_.metrics != nullptr ? *ctx_.metrics : inputs_;
    if (n.args.empty()) {
      m.series = pool;
      return m;
    }
    const MathNode& filter = *n.args[0];
    if (filter.kind != Kind::kString) {
      return EvalError(n, "METRICS' filter must be a string such as 'cpu'");
    }
    for (const MathSeries& s : pool) {
      if (absl::StrContains(s.label.empty() ? s.id : s.label, filter.name)) {
        m.series.push_back(s);
      }
    }
    return m;
  }

  // FILL(series or array, number | series | REPEAT | LINEAR), per series on
  // its own period (else the query's).
  absl::StatusOr<MathValue> Fill(const MathNode& n) {
    auto v = Eval(*n.args[0]);
    if (!v.ok()) return v;
    if (v->kind == VKind::kScalar) {
      return EvalError(n, "FILL needs a series or an array");
    }
    const MathNode& how = *n.args[1];
    std::optional<MathValue> by;  // the number or series to fill with
    if (how.kind != Kind::kKeyword) {
      auto b = Eval(how);
      if (!b.ok()) return b;
      if (b->kind == VKind::kArray) {
        return EvalError(n,
                         "FILL's second argument must be a number, a single "
                         "series, REPEAT or LINEAR");
      }
      by = std::move(*b);
    }
    for (MathSeries& s : v->series) {
      const int64_t period = s.period_ms > 0 ? s.period_ms : ctx_.period_ms;
      auto grid = Grid(n, ctx_, period);
      if (!grid.ok()) return grid.status();
      s = FillSeries(s, *grid, how, by);
      s.period_ms = period;
    }
    return v;
  }

  // PERIOD(series or array): the (first) series' period in seconds.
  absl::StatusOr<MathValue> Period(const MathNode& n) {
    auto v = Eval(*n.args[0]);
    if (!v.ok()) return v;
    if (v->kind == VKind::kScalar) {
      return EvalError(n, "PERIOD needs a series or an array, not a number");
    }
    if (v->series.empty()) return EvalError(n, "PERIOD of an empty array");
    const int64_t period = v->series[0].period_ms;
    if (period <= 0) {
      return EvalError(n, "PERIOD: the series' period is unknown");
    }
    return Scalar(static_cast<double>(period) / 1000);
  }

  // TIME_SERIES(number): the number at every period of the query's grid.
  absl::StatusOr<MathValue> TimeSeries(const MathNode& n) {
    auto v = Eval(*n.args[0]);
    if (!v.ok()) return v;
    if (v->kind != VKind::kScalar) {
      return EvalError(n, "TIME_SERIES needs a number");
    }
    auto grid = Grid(n, ctx_, ctx_.period_ms);
    if (!grid.ok()) return grid.status();
    MathSeries out;
    out.values.assign(grid->size(), v->scalar);
    out.timestamps_ms = std::move(*grid);
    out.period_ms = ctx_.period_ms;
    return OneSeries(std::move(out));
  }

  const std::vector<MathSeries>& inputs_;
  const MathContext& ctx_;
};

}  // namespace

absl::StatusOr<MathValue> EvaluateMetricMath(
    const MathNode& expr, const std::vector<MathSeries>& inputs,
    const MathContext& ctx) {
  return Evaluator(inputs, ctx).Eval(expr);
}

absl::StatusOr<MathValue> EvaluateMetricMath(
    const MathNode& expr, const std::vector<MathSeries>& inputs) {
  return EvaluateMetricMath(expr, inputs, MathContext{});
}

}  // namespace nimbus::engine
