// Composite alarm rules: the grammar of alarms/composite_rule.h, its
// limits, errors that point at the column, evaluation over children's
// states, and cycles between composite alarms.
#include "alarms/composite_rule.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace nimbus::alarms {
namespace {

using S = AlarmState;

bool Eval(const std::string& text, const std::map<std::string, S>& states) {
  absl::StatusOr<CompositeRule> rule = CompositeRule::Parse(text);
  EXPECT_TRUE(rule.ok()) << text << ": " << rule.status();
  if (!rule.ok()) return false;
  absl::StatusOr<bool> v =
      rule->Evaluate([&](absl::string_view name) -> std::optional<S> {
        auto it = states.find(std::string(name));
        if (it == states.end()) return std::nullopt;
        return it->second;
      });
  EXPECT_TRUE(v.ok()) << text << ": " << v.status();
  return v.ok() && *v;
}

std::string ParseError(const std::string& text) {
  absl::StatusOr<CompositeRule> rule = CompositeRule::Parse(text);
  EXPECT_FALSE(rule.ok()) << text;
  if (rule.ok()) return "";
  EXPECT_EQ(rule.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(rule.status().message());
}

TEST(CompositeRule, StateFunctionsTestTheChildsState) {
  const std::map<std::string, S> st = {
      {"cpu", S::kAlarm}, {"disk", S::kOk}, {"new", S::kInsufficientData}};
  EXPECT_TRUE(Eval("ALARM(cpu)", st));
  EXPECT_FALSE(Eval("OK(cpu)", st));
  EXPECT_TRUE(Eval("OK(disk)", st));
  EXPECT_TRUE(Eval("INSUFFICIENT_DATA(new)", st));
  EXPECT_FALSE(Eval("INSUFFICIENT_DATA(disk)", st));
  EXPECT_TRUE(Eval("TRUE", st));
  EXPECT_FALSE(Eval("FALSE", st));
}

TEST(CompositeRule, NotBindsTighterThanAndThanOr) {
  const std::map<std::string, S> st = {
      {"a", S::kAlarm}, {"b", S::kOk}, {"c", S::kAlarm}};
  // OR of (FALSE AND ...) and TRUE, not (FALSE) AND (... OR TRUE).
  EXPECT_TRUE(Eval("FALSE AND ALARM(a) OR TRUE", st));
  EXPECT_FALSE(Eval("FALSE AND (ALARM(a) OR TRUE)", st));
  EXPECT_TRUE(Eval("NOT ALARM(b) AND ALARM(c)", st));
  EXPECT_FALSE(Eval("NOT (ALARM(a) AND ALARM(c))", st));
  EXPECT_TRUE(Eval("NOT NOT ALARM(a)", st));
  EXPECT_TRUE(Eval("ALARM(a) AND NOT ALARM(b) AND (OK(b) OR FALSE)", st));
  EXPECT_TRUE(Eval("  ( ( ALARM(a) ) )  ", st));
  EXPECT_TRUE(Eval("ALARM(a)AND(ALARM(c))", st));
}

TEST(CompositeRule, NamesMayBeQuotedAndAreListedOnce) {
  const std::map<std::string, S> st = {
      {"web tier cpu", S::kAlarm}, {"a\"b", S::kOk}, {"x(1)", S::kAlarm}};
  EXPECT_TRUE(Eval("ALARM(\"web tier cpu\")", st));
  EXPECT_TRUE(Eval("ALARM( web tier cpu )", st));
  EXPECT_TRUE(Eval("OK(\"a\\\"b\")", st));
  EXPECT_TRUE(Eval("ALARM(\"x(1)\")", st));
  auto rule = CompositeRule::Parse(
      "ALARM(b) OR OK(a) OR ALARM(\"b\") OR INSUFFICIENT_DATA(c)");
  ASSERT_TRUE(rule.ok()) << rule.status();
  EXPECT_EQ(rule->children(), (std::vector<std::string>{"b", "a", "c"}));
}

TEST(CompositeRule, ErrorsNameTheFieldAndTheColumn) {
  EXPECT_EQ(ParseError(""), "alarm_rule: must not be empty");
  EXPECT_EQ(ParseError("   "), "alarm_rule: must not be empty");
  EXPECT_EQ(ParseError("ALARM(a) AND"),
            "alarm_rule: column 13: expected ALARM(name), OK(name), "
            "INSUFFICIENT_DATA(name), TRUE, FALSE, NOT or '(', found the end");
  EXPECT_EQ(ParseError("ALARM(a) XOR OK(b)"),
            "alarm_rule: column 10: expected AND, OR or the end, found 'XOR "
            "OK(b)'");
  EXPECT_EQ(ParseError("alarm(a)"),
            "alarm_rule: column 1: expected ALARM(name), OK(name), "
            "INSUFFICIENT_DATA(name), TRUE, FALSE, NOT or '(', found "
            "'alarm(a)'");
  EXPECT_EQ(ParseError("ALARM a"),
            "alarm_rule: column 7: expected '(' and an alarm name, found 'a'");
  EXPECT_EQ(ParseError("ALARM()"),
            "alarm_rule: column 7: expected an alarm name, found ')'");
  EXPECT_EQ(ParseError("ALARM(\"a)"),
            "alarm_rule: column 10: expected the closing '\"', found the end");
  EXPECT_EQ(ParseError("ALARM(a"),
            "alarm_rule: column 8: expected ')' after the alarm name, found "
            "the end");
  EXPECT_EQ(ParseError("(ALARM(a)"),
            "alarm_rule: column 10: expected ')', found the end");
  EXPECT_EQ(ParseError("ALARM(a(b))"),
            "alarm_rule: column 8: expected ')' after the alarm name, found "
            "'(b))'");
  EXPECT_EQ(ParseError("NOTALARM(a)"),
            "alarm_rule: column 1: expected ALARM(name), OK(name), "
            "INSUFFICIENT_DATA(name), TRUE, FALSE, NOT or '(', found "
            "'NOTALARM(a)'");
}

TEST(CompositeRule, LimitsOnLengthChildrenAndNesting) {
  std::string many;
  for (int i = 0; i < 100; ++i) {
    if (i > 0) many += " OR ";
    many += "ALARM(a" + std::to_string(i) + ")";
  }
  ASSERT_TRUE(CompositeRule::Parse(many).ok());
  EXPECT_EQ(ParseError(many + " OR ALARM(a100)"),
            "alarm_rule: more than 100 alarms named");
  // The same child again is no new child.
  EXPECT_TRUE(CompositeRule::Parse(many + " OR OK(a7)").ok());

  std::string longest = "TRUE";
  while (longest.size() + 8 <= kMaxRuleChars) longest += " OR TRUE";
  longest += std::string(kMaxRuleChars - longest.size(), ' ');
  EXPECT_TRUE(CompositeRule::Parse(longest).ok());
  EXPECT_EQ(ParseError(longest + " "),
            "alarm_rule: 10241 characters, at most 10240");

  const std::string deep =
      std::string(100, '(') + "TRUE" + std::string(100, ')');
  EXPECT_TRUE(CompositeRule::Parse(deep).ok());
  EXPECT_EQ(ParseError("(" + deep + ")"),
            "alarm_rule: column 102: nesting deeper than 100 levels, found "
            "'TRUE))))))))'");
  std::string nots;
  for (int i = 0; i < 100; ++i) nots += "NOT ";
  EXPECT_TRUE(CompositeRule::Parse(nots + "TRUE").ok());
  EXPECT_EQ(ParseError("NOT " + nots + "TRUE"),
            "alarm_rule: column 405: nesting deeper than 100 levels, found "
            "'TRUE'");
}

TEST(CompositeRule, AMissingChildIsNotFoundNamingIt) {
  auto rule = CompositeRule::Parse("ALARM(a) OR ALARM(gone)");
  ASSERT_TRUE(rule.ok());
  absl::StatusOr<bool> v =
      rule->Evaluate([](absl::string_view name) -> std::optional<S> {
        if (name == "a") return S::kOk;
        return std::nullopt;
      });
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(v.status().message(),
            "alarm_rule: names the alarm 'gone', which does not exist");
}

TEST(CompositeRule, CyclesAreFoundWithTheirPath) {
  const std::map<std::string, std::vector<std::string>> composites = {
      {"top", {"mid", "cpu"}},
      {"mid", {"disk", "loop1"}},
      {"loop1", {"loop2"}},
      {"loop2", {"mid"}},
      {"self", {"self"}},
      {"fine", {"cpu", "disk"}},
      {"diamond", {"fine", "fine2"}},
      {"fine2", {"fine"}},
  };
  auto children_of =
      [&](absl::string_view name) -> const std::vector<std::string>* {
    auto it = composites.find(std::string(name));
    return it == composites.end() ? nullptr : &it->second;
  };
  EXPECT_EQ(FindRuleCycle("top", children_of),
            (std::vector<std::string>{"mid", "loop1", "loop2", "mid"}));
  EXPECT_EQ(FindRuleCycle("self", children_of),
            (std::vector<std::string>{"self", "self"}));
  EXPECT_EQ(FindRuleCycle("fine", children_of), std::nullopt);
  // A child reached twice is no cycle.
  EXPECT_EQ(FindRuleCycle("diamond", children_of), std::nullopt);
  EXPECT_EQ(FindRuleCycle("cpu", children_of), std::nullopt);
}

}  // namespace
}  // namespace nimbus::alarms
