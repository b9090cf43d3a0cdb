// A composite alarm's actions suppressor (docs/semantics.md, "Beside the
// state"): while the suppressor alarm is in ALARM the composite's actions
// are held back; after the composite enters ALARM it waits up to
// actions_suppressor_wait_period for the suppressor to follow; and it keeps
// holding them for actions_suppressor_extension_period after the
// suppressor leaves ALARM. Pure: the caller keeps the times.
#ifndef NIMBUS_ALARMS_SUPPRESSOR_H_
#define NIMBUS_ALARMS_SUPPRESSOR_H_

#include <cstdint>
#include <optional>

#include "alarms/evaluator.h"

namespace nimbus::alarms {

// What holds a composite's actions back (CloudWatch's
// actions_suppressed_by), or kNone.
enum class SuppressedBy { kNone, kAlarm, kWaitPeriod, kExtensionPeriod };

struct SuppressorState {
  AlarmState state;  // the suppressor alarm's state now
  // When it last left ALARM, if it ever did.
  std::optional<int64_t> left_alarm_ms;
};

// Whether, at now_ms, the actions of a composite that entered ALARM at
// entered_alarm_ms are held back, and by what. The suppressor in ALARM
// holds them; else a recent exit from ALARM (within the extension period);
// else the wait after the composite entered ALARM, unless the suppressor
// has been in ALARM since (it followed, and left). wait_s and extension_s
// are at least 0.
SuppressedBy ActionsSuppressed(const SuppressorState& suppressor,
                               int64_t entered_alarm_ms, int64_t now_ms,
                               int64_t wait_s, int64_t extension_s);

}  // namespace nimbus::alarms

#endif  // NIMBUS_ALARMS_SUPPRESSOR_H_
