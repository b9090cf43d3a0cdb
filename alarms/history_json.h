// The JSON of alarm history items (docs/semantics.md, "Alarm history"):
// configurations before and after a change, the old and new state of a
// transition with its evidence, a composite's triggering alarms. Every
// function keeps its result within kMaxHistoryDataChars, leaving out
// detail (marked "truncated") when the whole would not fit.
#ifndef NIMBUS_ALARMS_HISTORY_JSON_H_
#define NIMBUS_ALARMS_HISTORY_JSON_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "alarms/alarm_record.h"
#include "alarms/preview.h"

namespace nimbus::alarms {

// {"version":"1.0","type":"Create","createdAlarm":{...}} for a new alarm
// (old null), {"version":"1.0","type":"Update","updatedAlarm":{...},
// "previousAlarm":{...}} for an update.
std::string ConfigurationUpdateData(const AlarmRecord* old,
                                    const AlarmRecord& now);
// {"version":"1.0","type":"Delete","deletedAlarm":{...}}.
std::string ConfigurationDeleteData(const AlarmRecord& r);

// {"version":"1.0","oldState":{"stateValue":...,"stateReason":...},
//  "newState":{"stateValue":...,"stateReason":...,"stateReasonData":{...}},
//  "configurationVersion":N,"evidence":{...}}: `evidence` a JSON object or
// empty.
std::string StateUpdateData(AlarmState previous,
                            const std::string& previous_reason,
                            AlarmState state, const std::string& reason,
                            const std::string& reason_data,
                            uint64_t config_version,
                            const std::string& evidence);
// The same for the transition to record `next`.
std::string StateUpdateData(AlarmState previous,
                            const std::string& previous_reason,
                            const AlarmRecord& next,
                            const std::string& evidence);

// What an evaluation saw: the tick, the rule, and every period of the
// range newest first, with its value (if any), whether it was evaluated,
// filled (and how) or breaching. At most `max_chars`: the oldest periods
// are left out first ("periodsOmitted").
std::string EvidenceJson(const Evidence& e, uint64_t config_version,
                         size_t max_chars = 2600);

// The state reason (at most kMaxStateReasonChars) and reason data of the
// transition `e` records, as EvaluateAtTick writes a preview's
// (alarms/reason.h).
std::string EvidenceReason(const Evidence& e);
std::string EvidenceReasonData(const Evidence& e);
// Writes r's state reason and reason data from its evidence, if it keeps
// one (AlarmRecord::state_evidence, then cleared). DataLoss naming the
// alarm if the evidence is damaged.
absl::Status RenderReason(AlarmRecord* r);
// A state change's history data, as StateUpdateData writes it; DataLoss
// for damaged evidence.
absl::StatusOr<std::string> StateChangeData(const StateChange& c);

// What a composite reads of one of its alarms.
struct ChildState {
  AlarmState state;
  int64_t transitioned_ms;
  std::optional<int64_t> left_alarm_ms;
};

// {"triggeringAlarms":[{"name":...,"state":{"value":...,"timestamp":...}},
// ...]}: a composite's children (none: deleted) and their states.
std::string CompositeReasonData(
    const std::vector<std::pair<std::string, std::optional<ChildState>>>&
        children);

// Why a composite's actions are suppressed, or empty.
std::string SuppressedReason(SuppressedBy by, const std::string& suppressor);

// OK if `s` is one JSON object (RFC 8259), else InvalidArgument saying
// where it is not.
absl::Status CheckJsonObject(absl::string_view s);

}  // namespace nimbus::alarms

#endif  // NIMBUS_ALARMS_HISTORY_JSON_H_
