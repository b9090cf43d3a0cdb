#include "alarms/suppressor.h"

namespace nimbus::alarms {

SuppressedBy ActionsSuppressed(const SuppressorState& suppressor,
                               int64_t entered_alarm_ms, int64_t now_ms,
                               int64_t wait_s, int64_t extension_s) {
  if (suppressor.state == AlarmState::kAlarm) return SuppressedBy::kAlarm;
  if (suppressor.left_alarm_ms &&
      now_ms < *suppressor.left_alarm_ms + extension_s * 1000 &&
      now_ms >= *suppressor.left_alarm_ms) {
    return SuppressedBy::kExtensionPeriod;
  }
  // The wait is for the suppressor to follow the composite into ALARM:
  // once it has been in ALARM since (and left), only its extension holds.
  const bool followed =
      suppressor.left_alarm_ms && *suppressor.left_alarm_ms >= entered_alarm_ms;
  if (!followed && now_ms >= entered_alarm_ms &&
      now_ms < entered_alarm_ms + wait_s * 1000) {
    return SuppressedBy::kWaitPeriod;
  }
  return SuppressedBy::kNone;
}

}  // namespace nimbus::alarms
