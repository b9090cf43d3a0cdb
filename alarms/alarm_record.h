// An alarm as the server keeps it (configuration and state), a history item,
// and their encodings in the `alarms` and `alarm_history` column families
// (storage/FORMAT.md, "Alarm record" and "Alarm history item").
#ifndef NIMBUS_ALARMS_ALARM_RECORD_H_
#define NIMBUS_ALARMS_ALARM_RECORD_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "alarms/evaluator.h"
#include "alarms/metric_alarm.h"
#include "alarms/suppressor.h"

namespace nimbus::alarms {

inline constexpr size_t kMaxTags = 50;
inline constexpr size_t kMaxStateReasonChars = 1023;
inline constexpr size_t kMaxStateReasonDataChars = 4000;
inline constexpr size_t kMaxTagKeyChars = 128;
inline constexpr size_t kMaxTagValueChars = 256;

// A composite alarm's configuration (PutCompositeAlarm).
struct CompositeAlarmConfig {
  std::string name;
  std::string description;
  bool actions_enabled = true;
  std::vector<std::string> ok_actions;
  std::vector<std::string> alarm_actions;
  std::vector<std::string> insufficient_data_actions;
  std::string alarm_rule;
  // An alarm whose ALARM state suppresses this one's actions; or empty.
  std::string actions_suppressor;
  int64_t actions_suppressor_wait_period_s = 0;
  int64_t actions_suppressor_extension_period_s = 0;
};

// Checks every field rule (not that the rule's alarms exist).
// InvalidArgument naming the field and the rule broken.
absl::Status ValidateCompositeAlarm(const CompositeAlarmConfig& config);

using Tags = std::vector<std::pair<std::string, std::string>>;
// At most kMaxTags, keys 1-128 characters and unique, values at most 256.
absl::Status ValidateTags(const Tags& tags);

enum class AlarmType : uint8_t { kMetric = 1, kComposite = 2 };
// Beside the state: whether the last evaluation could be done.
enum class EvaluationState : uint8_t {
  kNone = 0,
  kPartialData = 1,      // a query was cut by a limit
  kEvaluationError = 2,  // it could not be evaluated; the reason says why
};

// What one evaluation of a metric alarm saw and decided: the periods of
// its range, how each took part, and the rule. A transition keeps its
// reason as this, encoded (storage/FORMAT.md, "Evaluation evidence"); its
// state reason, reason data and history evidence are written from it when
// read (alarms/history_json.h), by the functions that write a preview's.
struct Evidence {
  int64_t tick_ms = 0;         // the evaluation's (and the reason's query) time
  int64_t range_start_ms = 0;  // the oldest period's start
  int64_t period_ms = 0;
  AlarmState previous = AlarmState::kInsufficientData;  // evaluated from
  AlarmRule rule;
  std::string statistic;      // "Average", "p99", ...
  std::vector<Period> range;  // oldest first
  Evaluation evaluation;
};

std::string EncodeEvidence(const Evidence& e);
// DataLoss for bytes EncodeEvidence does not write.
absl::StatusOr<Evidence> DecodeEvidence(absl::string_view bytes);

struct AlarmRecord {
  AlarmType type = AlarmType::kMetric;
  MetricAlarmConfig metric;        // kMetric (metric.name is the name)
  CompositeAlarmConfig composite;  // kComposite (composite.name the name)
  Tags tags;
  // 1 when created, one more with each update.
  uint64_t config_version = 1;
  int64_t config_updated_ms = 0;

  AlarmState state = AlarmState::kInsufficientData;
  std::string state_reason;
  std::string state_reason_data;  // JSON, or empty
  // A metric alarm's evaluation keeps its reason as its evidence
  // (EncodeEvidence): state_reason and state_reason_data are then empty
  // until RenderReason (history_json.h) writes them. Any other reason is
  // kept as text, and this empty.
  std::string state_evidence;
  int64_t state_updated_ms = 0;       // last change of state or reason
  int64_t state_transitioned_ms = 0;  // last change of state
  EvaluationState evaluation_state = EvaluationState::kNone;
  // Metric alarms: a next evaluation tick (0: not known), and whether it is
  // behind the evaluation checkpoint of the alarm's interval. On open the
  // alarm resumes there if behind, and otherwise at the later of it and the
  // tick after the checkpoint (AlarmEngine; storage/FORMAT.md, "Alarm
  // record"). Only that rule's result is the alarm's next tick: a record
  // keeping up with its checkpoint keeps an older next tick.
  int64_t next_tick_ms = 0;
  bool behind_checkpoint = false;
  // When the alarm last left ALARM (for composites it suppresses).
  std::optional<int64_t> left_alarm_ms;
  // Composite alarms: whether and why their actions are suppressed.
  SuppressedBy actions_suppressed_by = SuppressedBy::kNone;
  std::string actions_suppressed_reason;

  const std::string& name() const {
    return type == AlarmType::kMetric ? metric.name : composite.name;
  }
  const std::string& description() const {
    return type == AlarmType::kMetric ? metric.description
                                      : composite.description;
  }
  bool actions_enabled() const {
    return type == AlarmType::kMetric ? metric.actions_enabled
                                      : composite.actions_enabled;
  }
  void set_actions_enabled(bool enabled) {
    (type == AlarmType::kMetric ? metric.actions_enabled
                                : composite.actions_enabled) = enabled;
  }
  // The actions of `state`.
  const std::vector<std::string>& actions(AlarmState state) const;
};

// The value of an alarm's `alarms` record (its key is the name). Its last
// fields are the reasons (state_reason, state_reason_data, state_evidence):
// with `reasons_at`, set to where they start, so that the bytes before it
// and three 0 bytes are the record with its reasons empty.
std::string EncodeAlarmRecord(const AlarmRecord& record,
                              size_t* reasons_at = nullptr);
// DataLoss for bytes EncodeAlarmRecord does not write (an unknown version,
// truncation, trailing bytes, an unknown enum value). With `reasons_at`,
// set to where the reasons start, as EncodeAlarmRecord's; 0 for an older
// version's record (whose reasons are not last) or a damaged one.
absl::StatusOr<AlarmRecord> DecodeAlarmRecord(absl::string_view name,
                                              absl::string_view value,
                                              size_t* reasons_at = nullptr);

enum class HistoryItemType : uint8_t {
  kConfigurationUpdate = 1,
  kStateUpdate = 2,
  kAction = 3,
};
inline constexpr size_t kMaxHistorySummaryChars = 255;
inline constexpr size_t kMaxHistoryDataChars = 4095;

// A metric alarm's evaluated transition, as its history item keeps it:
// its data is written from this when read (StateChangeData).
struct StateChange {
  AlarmState old_state = AlarmState::kInsufficientData;
  // The reason replaced: its text, or (non-empty) its evidence.
  std::string old_reason;
  std::string old_evidence;
  AlarmState new_state = AlarmState::kInsufficientData;
  std::string new_evidence;  // EncodeEvidence
  uint64_t config_version = 0;
};

struct HistoryItem {
  std::string alarm_name;
  AlarmType alarm_type = AlarmType::kMetric;
  int64_t time_ms = 0;
  uint64_t seq = 0;  // orders items of one alarm and millisecond
  HistoryItemType type = HistoryItemType::kStateUpdate;
  std::string summary;  // at most kMaxHistorySummaryChars
  std::string data;     // JSON, at most kMaxHistoryDataChars
  // Kept in place of `data` (then empty) by an evaluated transition.
  std::optional<StateChange> change;
};

// The value of an `alarm_history` record (the key holds name, time, seq).
std::string EncodeHistoryValue(const HistoryItem& item);
// DataLoss as DecodeAlarmRecord. Fills every field but the key's.
absl::Status DecodeHistoryValue(absl::string_view value, HistoryItem* item);

// At most n bytes of s, not cutting a UTF-8 sequence.
std::string Truncate(std::string s, size_t n);

const char* AlarmTypeName(AlarmType type);           // "MetricAlarm", ...
const char* HistoryItemTypeName(HistoryItemType t);  // "StateUpdate", ...
const char* EvaluationStateName(EvaluationState s);  // "", "PARTIAL_DATA"
const char* SuppressedByName(SuppressedBy s);  // "", "Alarm", "WaitPeriod"
std::optional<AlarmState> ParseAlarmState(absl::string_view name);
std::optional<AlarmType> ParseAlarmType(absl::string_view name);
std::optional<HistoryItemType> ParseHistoryItemType(absl::string_view name);

}  // namespace nimbus::alarms

#endif  // NIMBUS_ALARMS_ALARM_RECORD_H_
