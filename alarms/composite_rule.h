// A composite alarm's rule (docs/semantics.md, "Beside the state"): a
// boolean expression over other alarms' states,
//
//   rule    := or
//   or      := and ( "OR" and )*
//   and     := unary ( "AND" unary )*
//   unary   := "NOT" unary | primary
//   primary := "(" or ")" | "TRUE" | "FALSE"
//            | ( "ALARM" | "OK" | "INSUFFICIENT_DATA" ) "(" name ")"
//   name    := a double-quoted string (\" and \\ escape) or the bare text up
//              to ")", without "(" or '"', trimmed of spaces
//
// NOT binds tighter than AND, AND tighter than OR; keywords are upper case.
// At most 10,240 characters, 100 distinct alarms and 100 levels of nesting.
#ifndef NIMBUS_ALARMS_COMPOSITE_RULE_H_
#define NIMBUS_ALARMS_COMPOSITE_RULE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "alarms/evaluator.h"

namespace nimbus::alarms {

inline constexpr size_t kMaxRuleChars = 10240;
inline constexpr size_t kMaxRuleChildren = 100;
inline constexpr size_t kMaxRuleDepth = 100;

// Immutable; thread-compatible.
class CompositeRule {
 public:
  // InvalidArgument naming `alarm_rule`, for text that is not a rule (with
  // the 1-based column and what was expected there) or breaks a limit.
  // Lengths and columns count bytes.
  static absl::StatusOr<CompositeRule> Parse(absl::string_view text);

  // The alarms the rule names, each once, in order of first mention.
  const std::vector<std::string>& children() const { return children_; }

  // The rule's value, given each child's state (nullopt: no such alarm,
  // which is NotFound naming it).
  absl::StatusOr<bool> Evaluate(
      absl::FunctionRef<std::optional<AlarmState>(absl::string_view)> state_of)
      const;

  struct Node {
    enum class Kind { kTrue, kFalse, kState, kNot, kAnd, kOr };
    explicit Node(Kind k, AlarmState s = AlarmState::kOk) : kind(k), state(s) {}
    Kind kind;
    AlarmState state;              // kState: the state tested
    size_t child = 0;              // kState: index into children()
    std::vector<size_t> operands;  // kNot (one), kAnd, kOr: nodes
  };

 private:
  CompositeRule() = default;
  friend class RuleParser;

  std::vector<Node> nodes_;  // the root last
  std::vector<std::string> children_;
};

// The first cycle reached from `start` through composite alarms' children
// (`children_of`: the children of a composite alarm, nullptr for a metric
// alarm or an unknown name), as the path a, ..., a of the alarm `a` where it
// closes (which need not be `start`); nullopt if none.
std::optional<std::vector<std::string>> FindRuleCycle(
    absl::string_view start,
    absl::FunctionRef<const std::vector<std::string>*(absl::string_view)>
        children_of);

}  // namespace nimbus::alarms

#endif  // NIMBUS_ALARMS_COMPOSITE_RULE_H_
