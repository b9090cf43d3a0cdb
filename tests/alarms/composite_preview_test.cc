// PreviewCompositeRule (alarms/composite_preview.h): a composite rule over
// its children's previewed timelines, with the live alarm's reasons.
#include "alarms/composite_preview.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nimbus::alarms {
namespace {

using ::testing::HasSubstr;
using S = AlarmState;

constexpr int64_t kT0 = 1796119200000;  // 2026-12-01 10:00:00 UTC
constexpr int64_t kMinute = 60'000;

TEST(CompositePreview, EvaluatesTheRuleAtEveryChildTick) {
  absl::StatusOr<CompositeRule> rule =
      CompositeRule::Parse("ALARM(a) AND NOT OK(\"b c\")");
  ASSERT_TRUE(rule.ok()) << rule.status();
  absl::flat_hash_map<std::string, std::vector<TimelineStep>> children;
  children["a"] = {{kT0, S::kOk},
                   {kT0 + kMinute, S::kAlarm},
                   {kT0 + 2 * kMinute, S::kAlarm},
                   {kT0 + 3 * kMinute, S::kOk}};
  // Another interval: evaluated every 10 s from 10:01:30.
  children["b c"] = {{kT0 + 90'000, S::kAlarm}, {kT0 + 100'000, S::kAlarm}};
  absl::StatusOr<std::vector<CompositePreviewStep>> steps =
      PreviewCompositeRule(*rule, children, S::kInsufficientData);
  ASSERT_TRUE(steps.ok()) << steps.status();
  // Ticks 10:00, 10:01, 10:01:30, 10:01:40, 10:02, 10:03.
  ASSERT_EQ(steps->size(), 6u);
  const std::vector<S> states = {S::kOk,    S::kAlarm, S::kAlarm,
                                 S::kAlarm, S::kAlarm, S::kOk};
  const std::vector<bool> changed = {true, true, false, false, false, true};
  for (size_t i = 0; i < steps->size(); ++i) {
    EXPECT_EQ((*steps)[i].state, states[i]) << i;
    EXPECT_EQ((*steps)[i].changed, changed[i]) << i;
    EXPECT_EQ((*steps)[i].reason.empty(), !changed[i]) << i;
  }
  // First from INSUFFICIENT_DATA: a changed, and names it.
  EXPECT_EQ((*steps)[0].reason,
            "a transitioned to OK at 2026-12-01T10:00:00.000+0000");
  EXPECT_EQ((*steps)[1].reason,
            "a transitioned to ALARM at 2026-12-01T10:01:00.000+0000");
  EXPECT_THAT((*steps)[1].reason_data, HasSubstr("\"name\":\"b c\""));
  EXPECT_THAT((*steps)[1].reason_data,
              HasSubstr("\"value\":\"INSUFFICIENT_DATA\""));
  EXPECT_EQ((*steps)[5].reason,
            "a transitioned to OK at 2026-12-01T10:03:00.000+0000");
}

TEST(CompositePreview, TheFirstTickWithoutAChangeSaysWhatTheRuleGave) {
  absl::StatusOr<CompositeRule> rule = CompositeRule::Parse("ALARM(a) OR TRUE");
  ASSERT_TRUE(rule.ok());
  absl::flat_hash_map<std::string, std::vector<TimelineStep>> children;
  children["a"] = {{kT0, S::kInsufficientData}};
  auto steps = PreviewCompositeRule(*rule, children, S::kInsufficientData);
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_EQ((*steps)[0].state, S::kAlarm);
  EXPECT_EQ((*steps)[0].reason,
            "alarm_rule evaluated to TRUE at 2026-12-01T10:00:00.000+0000");
}

TEST(CompositePreview, AChildWithoutAPreviewIsNamed) {
  absl::StatusOr<CompositeRule> rule =
      CompositeRule::Parse("ALARM(a) OR OK(b)");
  ASSERT_TRUE(rule.ok());
  absl::flat_hash_map<std::string, std::vector<TimelineStep>> children;
  children["a"] = {{kT0, S::kOk}};
  auto steps = PreviewCompositeRule(*rule, children, S::kOk);
  EXPECT_EQ(steps.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(steps.status().message(), HasSubstr("'b'"));
}

TEST(CompositePreview, NoChildTicksNoSteps) {
  absl::StatusOr<CompositeRule> rule = CompositeRule::Parse("ALARM(a)");
  ASSERT_TRUE(rule.ok());
  absl::flat_hash_map<std::string, std::vector<TimelineStep>> children;
  children["a"] = {};
  auto steps = PreviewCompositeRule(*rule, children, S::kOk);
  ASSERT_TRUE(steps.ok());
  EXPECT_TRUE(steps->empty());
}

}  // namespace
}  // namespace nimbus::alarms
