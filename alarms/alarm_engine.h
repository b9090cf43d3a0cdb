// The alarms of a server: their configurations and states, kept in memory
// and in the store (`alarms`, `alarm_history`), evaluated on schedule
// (alarms/schedule.h) with the evaluator of alarms/evaluator.h, and their
// history. Every change of an alarm (a configuration, a transition, a
// forced state) and its history item are one store write, made before the
// change is visible, so a restart continues from what was written.
//
// Metric alarms are evaluated at each tick of their interval once the
// clock has passed tick + evaluation_delay; a tick missed while the server
// was down or the evaluator lagged is evaluated late, each tick in order,
// back to max_catch_up_ms. Composite alarms are evaluated when one of
// their children changes state, and when they are created or updated.
#ifndef NIMBUS_ALARMS_ALARM_ENGINE_H_
#define NIMBUS_ALARMS_ALARM_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "alarms/alarm_record.h"
#include "engine/clock.h"
#include "engine/engine.h"

namespace nimbus::alarms {

inline constexpr size_t kMaxDeleteAlarms = 100;
inline constexpr size_t kMaxDescribeRecords = 100;

struct AlarmEngineOptions {
  // How long after a tick its evaluation runs, so that points sent just
  // before it have arrived. Default 0: a transition as soon as the tick
  // passes; a point that arrives later counts from the next tick on.
  int64_t evaluation_delay_ms = 0;
  // Ticks missed (server down, evaluator behind) are evaluated late back to
  // this far before now; older ones are skipped. Default 10 minutes.
  int64_t max_catch_up_ms = 10 * 60 * 1000;
  // How far back periods under a minute are answered
  // (ValidateMetricAlarm). Default: the engine's default reach.
  int64_t high_resolution_reach_ms = engine::TierReach{}.high_resolution_ms;
  // Run a thread that evaluates alarms as their ticks come due. false:
  // the caller runs EvaluateDue() (tests, with a manual clock).
  bool evaluation_thread = true;
  // The longest the thread sleeps between looks at the clock. Default 1 s;
  // tests of a server on a clock they move set it lower.
  int64_t max_sleep_ms = 1000;
  // Threads a round of evaluations runs on, at most (a round gives each at
  // least 4,096 alarms). Default 2.
  int evaluation_threads = 2;
  // Called in every full round after its evaluations, before its apply
  // step, without the engine's lock: tests race puts and deletes with a
  // round.
  std::function<void()> round_evaluated_for_testing;
};

struct AlarmEngineStats {
  int64_t alarms = 0;
  int64_t evaluations = 0;    // metric-alarm ticks evaluated since open
  int64_t transitions = 0;    // state changes by evaluations since open
  int64_t ticks_skipped = 0;  // ticks older than max_catch_up_ms, skipped
  // Evaluation ranges read from the engine's recent window, and from the
  // store (extended statistics, ranges the window does not cover: late
  // ticks, alarms created moments ago whose window is still building).
  int64_t window_reads = 0;
  int64_t store_reads = 0;
  // Evaluations that failed (their data could not be read, their write
  // failed), each logged; the tick is evaluated again.
  int64_t evaluation_failures = 0;
  // Rounds that looked at every alarm for the due ones: not those before
  // the earliest an alarm can come due.
  int64_t scans = 0;
  // The last round that looked at every alarm and found some due, phase by
  // phase (wall time, microseconds): finding the due alarms, evaluating
  // them (outside the lock), applying the results, writing them. Where a
  // round's latency goes.
  struct Round {
    int64_t jobs = 0;  // the due alarms evaluated
    int64_t transitions = 0;
    int64_t look_us = 0;
    int64_t evaluate_us = 0;
    int64_t apply_us = 0;
    int64_t write_us = 0;
  };
  Round last_round;
};

struct DescribeAlarmsQuery {
  std::vector<std::string> alarm_names;  // or
  std::string alarm_name_prefix;
  // Empty: both types. Otherwise the types listed.
  std::vector<AlarmType> alarm_types;
  std::optional<AlarmState> state_value;
  std::string children_of_alarm_name;  // the children of this composite
  std::string parents_of_alarm_name;   // the composites naming this alarm
  std::string action_prefix;
  size_t max_records = 50;  // 1 to 100
  std::string next_token;
};

struct DescribeAlarmsResult {
  std::vector<AlarmRecord> alarms;  // by name
  std::string next_token;           // empty after the last page
};

struct HistoryQuery {
  std::string alarm_name;  // empty: every alarm
  std::vector<AlarmType> alarm_types;
  std::optional<HistoryItemType> item_type;
  int64_t start_ms = INT64_MIN;  // inclusive
  int64_t end_ms = INT64_MAX;    // exclusive
  size_t max_records = 100;      // 1 to 100
  std::string next_token;
  bool oldest_first = false;  // scan_by TimestampAscending
};

struct HistoryResult {
  std::vector<HistoryItem> items;
  std::string next_token;
};

// Thread-safe.
class AlarmEngine {
 public:
  // Loads every alarm from the store. DataLoss if a record is damaged.
  static absl::StatusOr<std::unique_ptr<AlarmEngine>> Open(
      engine::Engine& engine, engine::Clock& clock, AlarmEngineOptions options);
  ~AlarmEngine();
  AlarmEngine(const AlarmEngine&) = delete;
  AlarmEngine& operator=(const AlarmEngine&) = delete;

  // Creates the alarm (INSUFFICIENT_DATA, "Unchecked: Initial alarm
  // creation") or replaces the configuration of the metric alarm of that
  // name, keeping its state; then evaluates it at once. InvalidArgument
  // naming the field for a rule broken, or if a composite alarm has the
  // name. The store's error if the write failed (nothing changed).
  absl::Status PutMetricAlarm(MetricAlarmConfig config, Tags tags);
  // The same for a composite alarm. Every alarm its rule names, and its
  // actions suppressor, must exist.
  absl::Status PutCompositeAlarm(CompositeAlarmConfig config, Tags tags);
  // Deletes the alarms named, all or none: NotFound naming the first that
  // does not exist. Their history stays. A composite alarm whose rule
  // names a deleted alarm cannot be evaluated until it is updated or the
  // alarm is created again (EVALUATION_ERROR).
  absl::Status DeleteAlarms(const std::vector<std::string>& names);
  absl::StatusOr<DescribeAlarmsResult> DescribeAlarms(
      const DescribeAlarmsQuery& query);
  // The metric alarms on `metric` (an empty unit: whatever their unit),
  // narrowed by the statistic, extended statistic and period if given.
  absl::StatusOr<std::vector<AlarmRecord>> DescribeAlarmsForMetric(
      const engine::SeriesKey& metric, const std::string& statistic,
      const std::string& extended_statistic, int64_t period_s);
  // Sets the state until the next evaluation (a composite's: until a child
  // changes). InvalidArgument for a reason over 1023 characters or reason
  // data over 4000 that is not a JSON object; NotFound.
  absl::Status SetAlarmState(const std::string& name, AlarmState state,
                             const std::string& reason,
                             const std::string& reason_data);
  // NotFound naming the first alarm that does not exist (nothing changed).
  absl::Status SetActionsEnabled(const std::vector<std::string>& names,
                                 bool enabled);
  absl::StatusOr<HistoryResult> DescribeAlarmHistory(const HistoryQuery& query);

  // Evaluates every metric-alarm tick that is due by now. Returns the
  // first error (the other alarms are still evaluated).
  absl::Status EvaluateDue();

  // The alarm's record, if it exists. Its reasons are read from the store;
  // if that fails the record comes without them, the error logged.
  std::optional<AlarmRecord> Get(const std::string& name);
  AlarmEngineStats Stats();

 private:
  struct Impl;
  explicit AlarmEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nimbus::alarms

#endif  // NIMBUS_ALARMS_ALARM_ENGINE_H_
