#include "alarms/composite_rule.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace nimbus::alarms {

class RuleParser {
 public:
  explicit RuleParser(absl::string_view text) : text_(text) {}

  absl::StatusOr<CompositeRule> Run() {
    if (text_.size() > kMaxRuleChars) {
      return absl::InvalidArgumentError(
          absl::StrCat("alarm_rule: ", text_.size(), " characters, at most ",
                       kMaxRuleChars));
    }
    SkipSpace();
    if (pos_ == text_.size()) {
      return absl::InvalidArgumentError("alarm_rule: must not be empty");
    }
    absl::StatusOr<size_t> root = Or(0);
    if (!root.ok()) return root.status();
    SkipSpace();
    if (pos_ != text_.size()) return Error("expected AND, OR or the end");
    return std::move(rule_);
  }

 private:
  using Node = CompositeRule::Node;

  absl::Status Error(absl::string_view expected) const {
    return absl::InvalidArgumentError(absl::StrCat(
        "alarm_rule: column ", pos_ + 1, ": ", expected,
        pos_ < text_.size()
            ? absl::StrCat(", found '", text_.substr(pos_, 12), "'")
            : std::string(", found the end")));
  }

  void SkipSpace() {
    while (pos_ < text_.size() && absl::ascii_isspace(text_[pos_])) ++pos_;
  }

  static bool IsWordChar(char c) { return absl::ascii_isalnum(c) || c == '_'; }

  // The word at pos_ (letters, digits, '_'), without consuming it.
  absl::string_view PeekWord() const {
    size_t end = pos_;
    while (end < text_.size() && IsWordChar(text_[end])) ++end;
    return text_.substr(pos_, end - pos_);
  }

  bool Accept(absl::string_view word) {
    SkipSpace();
    if (PeekWord() != word) return false;
    pos_ += word.size();
    return true;
  }

  size_t Add(Node n) {
    rule_.nodes_.push_back(std::move(n));
    return rule_.nodes_.size() - 1;
  }

  absl::StatusOr<size_t> Binary(size_t depth, Node::Kind kind,
                                absl::string_view op) {
    absl::StatusOr<size_t> first = kind == Node::Kind::kOr
                                       ? Binary(depth, Node::Kind::kAnd, "AND")
                                       : Unary(depth);
    if (!first.ok()) return first;
    std::vector<size_t> operands = {*first};
    while (Accept(op)) {
      absl::StatusOr<size_t> next = kind == Node::Kind::kOr
                                        ? Binary(depth, Node::Kind::kAnd, "AND")
                                        : Unary(depth);
      if (!next.ok()) return next;
      operands.push_back(*next);
    }
    if (operands.size() == 1) return operands[0];
    Node n{kind};
    n.operands = std::move(operands);
    return Add(std::move(n));
  }

  absl::StatusOr<size_t> Or(size_t depth) {
    return Binary(depth, Node::Kind::kOr, "OR");
  }

  absl::StatusOr<size_t> Unary(size_t depth) {
    if (depth > kMaxRuleDepth) {
      SkipSpace();
      return Error(
          absl::StrCat("nesting deeper than ", kMaxRuleDepth, " levels"));
    }
    if (Accept("NOT")) {
      absl::StatusOr<size_t> operand = Unary(depth + 1);
      if (!operand.ok()) return operand;
      Node n{Node::Kind::kNot};
      n.operands = {*operand};
      return Add(std::move(n));
    }
    return Primary(depth);
  }

  absl::StatusOr<size_t> Primary(size_t depth) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '(') {
      ++pos_;
      absl::StatusOr<size_t> inner = Or(depth + 1);
      if (!inner.ok()) return inner;
      SkipSpace();
      if (pos_ == text_.size() || text_[pos_] != ')') {
        return Error("expected ')'");
      }
      ++pos_;
      return inner;
    }
    if (Accept("TRUE")) return Add(Node{Node::Kind::kTrue});
    if (Accept("FALSE")) return Add(Node{Node::Kind::kFalse});
    AlarmState state;
    if (Accept("ALARM")) {
      state = AlarmState::kAlarm;
    } else if (Accept("OK")) {
      state = AlarmState::kOk;
    } else if (Accept("INSUFFICIENT_DATA")) {
      state = AlarmState::kInsufficientData;
    } else {
      return Error(
          "expected ALARM(name), OK(name), INSUFFICIENT_DATA(name), TRUE, "
          "FALSE, NOT or '('");
    }
    SkipSpace();
    if (pos_ == text_.size() || text_[pos_] != '(') {
      return Error("expected '(' and an alarm name");
    }
    ++pos_;
    absl::StatusOr<std::string> name = Name();
    if (!name.ok()) return name.status();
    SkipSpace();
    if (pos_ == text_.size() || text_[pos_] != ')') {
      return Error("expected ')' after the alarm name");
    }
    ++pos_;
    Node n{Node::Kind::kState, state};
    auto [it, added] = child_index_.try_emplace(*name, rule_.children_.size());
    if (added) {
      if (rule_.children_.size() == kMaxRuleChildren) {
        return absl::InvalidArgumentError(absl::StrCat(
            "alarm_rule: more than ", kMaxRuleChildren, " alarms named"));
      }
      rule_.children_.push_back(*name);
    }
    n.child = it->second;
    return Add(std::move(n));
  }

  absl::StatusOr<std::string> Name() {
    SkipSpace();
    std::string name;
    if (pos_ < text_.size() && text_[pos_] == '"') {
      ++pos_;
      while (true) {
        if (pos_ == text_.size()) return Error("expected the closing '\"'");
        const char c = text_[pos_++];
        if (c == '"') break;
        if (c == '\\' && pos_ < text_.size() &&
            (text_[pos_] == '"' || text_[pos_] == '\\')) {
          name.push_back(text_[pos_++]);
          continue;
        }
        name.push_back(c);
      }
    } else {
      const size_t begin = pos_;
      while (pos_ < text_.size() && text_[pos_] != ')' && text_[pos_] != '(' &&
             text_[pos_] != '"') {
        ++pos_;
      }
      name = std::string(absl::StripTrailingAsciiWhitespace(
          text_.substr(begin, pos_ - begin)));
      if (pos_ < text_.size() && text_[pos_] != ')') {
        return Error("expected ')' after the alarm name");
      }
    }
    if (name.empty()) {
      return Error("expected an alarm name");
    }
    return name;
  }

  absl::string_view text_;
  size_t pos_ = 0;
  CompositeRule rule_;
  absl::flat_hash_map<std::string, size_t> child_index_;
};

absl::StatusOr<CompositeRule> CompositeRule::Parse(absl::string_view text) {
  return RuleParser(text).Run();
}

absl::StatusOr<bool> CompositeRule::Evaluate(
    absl::FunctionRef<std::optional<AlarmState>(absl::string_view)> state_of)
    const {
  std::vector<std::optional<AlarmState>> states(children_.size());
  for (size_t i = 0; i < children_.size(); ++i) {
    states[i] = state_of(children_[i]);
    if (!states[i]) {
      return absl::NotFoundError(absl::StrCat("alarm_rule: names the alarm '",
                                              children_[i],
                                              "', which does not exist"));
    }
  }
  // Operands come before their node: one pass in order.
  std::vector<char> value(nodes_.size());
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    switch (n.kind) {
      case Node::Kind::kTrue:
        value[i] = true;
        break;
      case Node::Kind::kFalse:
        value[i] = false;
        break;
      case Node::Kind::kState:
        value[i] = *states[n.child] == n.state;
        break;
      case Node::Kind::kNot:
        value[i] = !value[n.operands[0]];
        break;
      case Node::Kind::kAnd:
        value[i] = std::all_of(n.operands.begin(), n.operands.end(),
                               [&](size_t o) { return value[o] != 0; });
        break;
      case Node::Kind::kOr:
        value[i] = std::any_of(n.operands.begin(), n.operands.end(),
                               [&](size_t o) { return value[o] != 0; });
        break;
    }
  }
  return value.back() != 0;
}

std::optional<std::vector<std::string>> FindRuleCycle(
    absl::string_view start,
    absl::FunctionRef<const std::vector<std::string>*(absl::string_view)>
        children_of) {
  // Depth-first, iterative: the path from start, and the names finished
  // (every path from them explored).
  struct Frame {
    std::string name;
    const std::vector<std::string>* children;
    size_t next = 0;
  };
  std::vector<Frame> path;
  absl::flat_hash_set<std::string> on_path, done;
  path.push_back({std::string(start), children_of(start)});
  on_path.insert(std::string(start));
  while (!path.empty()) {
    Frame& f = path.back();
    if (f.children == nullptr || f.next == f.children->size()) {
      on_path.erase(f.name);
      done.insert(f.name);
      path.pop_back();
      continue;
    }
    const std::string& child = (*f.children)[f.next++];
    if (on_path.contains(child)) {
      std::vector<std::string> cycle;
      size_t k = 0;
      while (path[k].name != child) ++k;
      for (; k < path.size(); ++k) cycle.push_back(path[k].name);
      cycle.push_back(child);
      return cycle;
    }
    if (done.contains(child)) continue;
    path.push_back({child, children_of(child)});
    on_path.insert(child);
  }
  return std::nullopt;
}

}  // namespace nimbus::alarms
