#include "engine/metric_math.h"

#include <cctype>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace nimbus::engine {
namespace {

struct Function {
  absl::string_view name;
  size_t min_args, max_args;
};

// SEMANTICS.md's first functions, and the ones issue 5 names.
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
    if (c == '"') {
      const size_t end = s_.find('"', pos_ + 1);
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
        NodeOr arg = ParseOr();
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
