// A composite alarm's rule run over its children's previewed timelines
// (PreviewAlarm with a composite): what the live alarm would have done had
// its children gone through those states.
#ifndef NIMBUS_ALARMS_COMPOSITE_PREVIEW_H_
#define NIMBUS_ALARMS_COMPOSITE_PREVIEW_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "alarms/composite_rule.h"
#include "alarms/evaluator.h"

namespace nimbus::alarms {

// One evaluation of a previewed alarm: its state after the tick.
struct TimelineStep {
  int64_t tick_ms;
  AlarmState state;
};

struct CompositePreviewStep {
  int64_t tick_ms;
  AlarmState state;  // after the evaluation
  bool changed;
  // Of the transition, when `changed`, as the live alarm writes them.
  std::string reason;
  std::string reason_data;
};

// Evaluates `rule` at every tick at which one of its children was
// evaluated (a live composite is evaluated when a child changes; a preview
// also shows the ticks between), each child in `initial` before its first
// step, the composite too. Children are timelines in tick order; the
// reason names the first child, in the rule's order, that changed at the
// tick, or says what the rule evaluated to at the first one. NotFound
// naming a child the rule names and `children` lacks.
absl::StatusOr<std::vector<CompositePreviewStep>> PreviewCompositeRule(
    const CompositeRule& rule,
    const absl::flat_hash_map<std::string, std::vector<TimelineStep>>& children,
    AlarmState initial);

}  // namespace nimbus::alarms

#endif  // NIMBUS_ALARMS_COMPOSITE_PREVIEW_H_
