#include "alarms/composite_preview.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "alarms/history_json.h"
#include "alarms/reason.h"

namespace nimbus::alarms {

absl::StatusOr<std::vector<CompositePreviewStep>> PreviewCompositeRule(
    const CompositeRule& rule,
    const absl::flat_hash_map<std::string, std::vector<TimelineStep>>& children,
    AlarmState initial) {
  struct Child {
    const std::string* name;
    const std::vector<TimelineStep>* steps;
    size_t next = 0;  // the first step not applied yet
    AlarmState state;
    int64_t changed_ms = 0;  // when it last changed (the first tick: never)
  };
  std::vector<Child> kids;
  std::vector<int64_t> ticks;
  for (const std::string& name : rule.children()) {
    auto it = children.find(name);
    if (it == children.end()) {
      return absl::NotFoundError(absl::StrCat("alarm_rule: names alarm '", name,
                                              "', which has no preview"));
    }
    kids.push_back({&name, &it->second, 0, initial, 0});
    for (const TimelineStep& s : it->second) ticks.push_back(s.tick_ms);
  }
  std::sort(ticks.begin(), ticks.end());
  ticks.erase(std::unique(ticks.begin(), ticks.end()), ticks.end());
  // A child that never changes has been in its state since the start.
  if (!ticks.empty()) {
    for (Child& k : kids) k.changed_ms = ticks.front();
  }

  std::vector<CompositePreviewStep> out;
  out.reserve(ticks.size());
  AlarmState state = initial;
  for (const int64_t tick : ticks) {
    const Child* trigger = nullptr;
    for (Child& k : kids) {
      while (k.next < k.steps->size() && (*k.steps)[k.next].tick_ms <= tick) {
        const AlarmState s = (*k.steps)[k.next++].state;
        if (s != k.state) {
          k.state = s;
          k.changed_ms = tick;
          if (trigger == nullptr) trigger = &k;
        }
      }
    }
    absl::StatusOr<bool> value =
        rule.Evaluate([&](absl::string_view name) -> std::optional<AlarmState> {
          for (const Child& k : kids) {
            if (*k.name == name) return k.state;
          }
          return std::nullopt;
        });
    if (!value.ok()) return value.status();
    CompositePreviewStep step;
    step.tick_ms = tick;
    step.state = *value ? AlarmState::kAlarm : AlarmState::kOk;
    step.changed = step.state != state;
    if (step.changed) {
      step.reason =
          trigger != nullptr
              ? absl::StrCat(*trigger->name, " transitioned to ",
                             AlarmStateName(trigger->state), " at ",
                             JsonTime(tick))
              : absl::StrCat("alarm_rule evaluated to ",
                             *value ? "TRUE" : "FALSE", " at ", JsonTime(tick));
      std::vector<std::pair<std::string, std::optional<ChildState>>> states;
      for (const Child& k : kids) {
        states.push_back(
            {*k.name, ChildState{k.state, k.changed_ms, std::nullopt}});
      }
      step.reason_data = CompositeReasonData(states);
    }
    state = step.state;
    out.push_back(std::move(step));
  }
  return out;
}

}  // namespace nimbus::alarms
