// A composite alarm's actions suppressor (alarms/suppressor.h): the
// suppressor in ALARM, the wait after the composite enters ALARM, and the
// extension after the suppressor leaves it.
#include "alarms/suppressor.h"

#include "gtest/gtest.h"

namespace nimbus::alarms {
namespace {

constexpr int64_t kT = 1'796'119'200'000;         // the composite enters ALARM
constexpr int64_t kWait = 120, kExtension = 300;  // seconds

SuppressedBy At(SuppressorState s, int64_t now) {
  return ActionsSuppressed(s, kT, now, kWait, kExtension);
}

TEST(Suppressor, TheSuppressorInAlarmHoldsTheActions) {
  EXPECT_EQ(At({AlarmState::kAlarm, std::nullopt}, kT), SuppressedBy::kAlarm);
  EXPECT_EQ(At({AlarmState::kAlarm, kT - 1}, kT + 3'600'000),
            SuppressedBy::kAlarm);
}

TEST(Suppressor, TheCompositeWaitsForTheSuppressorThenActs) {
  const SuppressorState ok{AlarmState::kOk, std::nullopt};
  EXPECT_EQ(At(ok, kT), SuppressedBy::kWaitPeriod);
  EXPECT_EQ(At(ok, kT + kWait * 1000 - 1), SuppressedBy::kWaitPeriod);
  EXPECT_EQ(At(ok, kT + kWait * 1000), SuppressedBy::kNone);
  // Not before the composite entered ALARM.
  EXPECT_EQ(At(ok, kT - 1), SuppressedBy::kNone);
  // No wait period: the actions run at once.
  EXPECT_EQ(ActionsSuppressed(ok, kT, kT, 0, kExtension), SuppressedBy::kNone);
  // INSUFFICIENT_DATA is not ALARM.
  EXPECT_EQ(
      At({AlarmState::kInsufficientData, std::nullopt}, kT + kWait * 1000),
      SuppressedBy::kNone);
}

TEST(Suppressor, LeavingAlarmKeepsSuppressingForTheExtension) {
  const int64_t left = kT + 600'000;  // long after the wait
  const SuppressorState s{AlarmState::kOk, left};
  EXPECT_EQ(At(s, left), SuppressedBy::kExtensionPeriod);
  EXPECT_EQ(At(s, left + kExtension * 1000 - 1),
            SuppressedBy::kExtensionPeriod);
  EXPECT_EQ(At(s, left + kExtension * 1000), SuppressedBy::kNone);
  // The extension outranks the wait when both apply.
  const SuppressorState early{AlarmState::kOk, kT};
  EXPECT_EQ(At(early, kT + 1000), SuppressedBy::kExtensionPeriod);
  // A suppressor that followed into ALARM and left ends the wait: only its
  // extension holds, and after it the actions run.
  const SuppressorState followed{AlarmState::kOk, kT + 40'000};
  EXPECT_EQ(ActionsSuppressed(followed, kT, kT + 44'000, kWait, 5),
            SuppressedBy::kExtensionPeriod);
  EXPECT_EQ(ActionsSuppressed(followed, kT, kT + 50'000, kWait, 5),
            SuppressedBy::kNone);
  EXPECT_EQ(ActionsSuppressed(early, kT, kT + 1000, kWait, 0),
            SuppressedBy::kNone);
  // One that left before the composite entered: its extension still
  // holds, then the wait (it has not followed).
  const SuppressorState before{AlarmState::kOk, kT - 10'000};
  EXPECT_EQ(At(before, kT), SuppressedBy::kExtensionPeriod);
  EXPECT_EQ(ActionsSuppressed(before, kT, kT + 1000, kWait, 5),
            SuppressedBy::kWaitPeriod);
  // A leaving time in the future (a clock step) does not extend.
  const SuppressorState future{AlarmState::kOk, kT + 3'600'000};
  EXPECT_EQ(At(future, kT + kWait * 1000), SuppressedBy::kNone);
}

}  // namespace
}  // namespace nimbus::alarms
