#include "alarms/alarm_engine.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "alarms/composite_rule.h"
#include "alarms/history_json.h"
#include "alarms/preview.h"
#include "alarms/reason.h"
#include "alarms/schedule.h"
#include "engine/log.h"
#include "engine/validation.h"
#include "storage/keys.h"
#include "storage/store.h"

namespace nimbus::alarms {
namespace {

using storage::Column;

constexpr char kInitialReason[] = "Unchecked: Initial alarm creation";
// Composite evaluations one change may cause (children changing parents,
// and so on); a bound against rules that reach the same alarms many ways.
constexpr size_t kMaxPropagation = 10000;
// Alarms whose recent window would hold more buckets than this read the
// store instead (they are evaluated hourly, or have days-long ranges).
constexpr int64_t kMaxWindowBuckets = 4096;

// One alarm in memory: its record encoded, without its state reason and
// reason data (most of a record's bytes; they are read from the store when
// needed), and decoded what evaluations, composites and filters read.
//
// An entry's name, type and shape (rule, period, statistic, interval,
// window) are set before it is installed and never change: a put installs
// a new entry. An evaluation reads them without the lock; everything else
// is read and written under it. Hot fields first: a round reads them for
// every alarm.
struct Entry {
  // Changes with every put, forced state and evaluation: an evaluation
  // computed from an older one is dropped.
  uint64_t generation = 0;
  int64_t next_tick_ms = 0;  // metric alarms: the next to evaluate
  int64_t interval_ms = 0;   // metric alarms
  int64_t stored_next_tick_ms = 0;
  // The engine's recent window of the alarm's series (0: none; the alarm
  // reads GetStatistics).
  uint64_t watch = 0;
  int64_t period_s = 0;  // metric alarms
  AlarmRule rule;        // metric alarms
  AlarmType type = AlarmType::kMetric;
  AlarmState state = AlarmState::kInsufficientData;
  EvaluationState evaluation_state = EvaluationState::kNone;
  uint8_t statistic = 0;  // metric alarms: kStatistics[]
  // The record's behind flag and next tick (ResumeTick).
  bool behind_checkpoint = false;
  // Put and not evaluated yet: its first tick is evaluated however old
  // (an hourly alarm put late in the hour).
  bool fresh = false;
  // Loaded with a configuration the server now refuses: never evaluated.
  bool unevaluable = false;
  // Uninstalled while a round held a pointer to it (Impl::retired).
  bool retired = false;
  bool has_left_alarm = false;
  int64_t transitioned_ms = 0;
  int64_t left_alarm_ms = 0;          // if has_left_alarm
  std::string name;                   // the key of Impl::alarms views this
  std::string stored;                 // EncodeAlarmRecord, the reasons empty
  std::vector<std::string> children;  // composite alarms: the rule's alarms

  std::optional<int64_t> left_alarm() const {
    return has_left_alarm ? std::optional<int64_t>(left_alarm_ms)
                          : std::nullopt;
  }
};

// What a job's evaluation found beyond its ticks: made only for jobs that
// transition, fail or read the store.
struct JobResult {
  std::unique_ptr<MetricAlarmConfig> config;  // decoded when needed
  // The transitions, in order: each one's history item, from the record
  // at its config_version (its new evidence is the record's reason).
  std::vector<StateChange> changes;
  // If any: the record as the store had it, and its bytes without the
  // reasons. The apply step starts from it if memory has those very bytes
  // (it has not changed since), saving a decode under the lock.
  AlarmRecord record;
  std::string record_base;
  absl::Status status;  // Aborted: the alarm changed meanwhile
};

// The due ticks of one metric alarm: taken from its entry under the lock,
// evaluated outside it (the entry's immutable fields read there), applied
// under it. Also, with no ticks and not `due`, an alarm of a round's
// interval that is not due: the apply step keeps its record's resume tick.
struct EvaluationJob {
  Entry* entry = nullptr;  // kept alive for the round (Impl::retired)
  uint64_t generation = 0;
  int64_t first_tick_ms = 0;
  int64_t skipped = 0;  // ticks skipped before first_tick_ms
  uint32_t ticks = 0;
  uint32_t evaluated = 0;  // ticks, in order; filled outside the lock
  AlarmState state = AlarmState::kInsufficientData;
  bool due = false;
  // In EVALUATION_ERROR before: an evaluation that works ends it.
  bool recovering = false;
  std::unique_ptr<JobResult> result;

  int64_t last_tick_ms() const {  // the last evaluated
    return first_tick_ms +
           (static_cast<int64_t>(evaluated) - 1) * entry->interval_ms;
  }
  absl::Status status() const {
    return result ? result->status : absl::OkStatus();
  }
  JobResult& mutable_result() {
    if (result == nullptr) result = std::make_unique<JobResult>();
    return *result;
  }
  bool changed() const { return result && !result->changes.empty(); }
};

struct EvaluationCounts {
  int64_t window_reads = 0;
  int64_t store_reads = 0;
};

// A window job's first due tick, read ahead with its chunk of jobs.
struct FirstRead {
  const engine::WindowRead* read = nullptr;  // none: read when evaluated
  bool answered = false;                     // false: from the store
  absl::Span<const engine::WindowStats> stats;
};

// What an evaluation thread reuses from job to job.
struct JobScratch {
  std::vector<engine::WindowStats> window_stats;
  std::vector<Period> periods;  // of the tick evaluated
  // What a window alarm's evaluation reads of its configuration (period,
  // N, statistic), one per shape.
  absl::flat_hash_map<std::tuple<int64_t, size_t, uint8_t>,
                      std::unique_ptr<MetricAlarmConfig>>
      shapes;
};

// Jobs a round hands each evaluation thread at least.
constexpr size_t kJobsPerThread = 4096;
// How far ahead a pass over the alarms fetches their entries.
constexpr size_t kPrefetchAhead = 8;

// Changes of one store write, applied to memory once it succeeded.
struct Txn {
  absl::btree_map<std::string, AlarmRecord> changed;
  absl::btree_set<std::string> deleted;
  std::vector<HistoryItem> history;
  // Evaluation interval -> its new checkpoint.
  absl::btree_map<int64_t, int64_t> checkpoints;
  // Whole records read for it (Current), unchanged.
  absl::btree_map<std::string, AlarmRecord> read;
  // The first read that failed: the txn is not written.
  absl::Status status;
};

// The statistics an Entry names by index; 0: none (an extended statistic,
// or metric math).
constexpr const char* kStatistics[] = {"",    "SampleCount", "Average",
                                       "Sum", "Minimum",     "Maximum"};
uint8_t StatisticIndex(const std::string& statistic) {
  for (uint8_t i = 1; i < std::size(kStatistics); ++i) {
    if (statistic == kStatistics[i]) return i;
  }
  return 0;
}

// Record bytes `encoded` with their reasons (from `reasons_at`,
// EncodeAlarmRecord) empty, in a string of that size.
std::string WithoutReasons(absl::string_view encoded, size_t reasons_at) {
  std::string out;
  out.reserve(reasons_at + 3);
  out.append(encoded.data(), reasons_at);
  out.append(3, '\0');
  return out;
}

// Sets e's record (of e's alarm and configuration), `without_reasons` its
// encoding with the reasons empty, and what is kept of it decoded.
void SetRecord(Entry& e, const AlarmRecord& r, std::string without_reasons) {
  e.state = r.state;
  e.evaluation_state = r.evaluation_state;
  e.behind_checkpoint = r.behind_checkpoint;
  e.stored_next_tick_ms = r.next_tick_ms;
  e.transitioned_ms = r.state_transitioned_ms;
  e.has_left_alarm = r.left_alarm_ms.has_value();
  e.left_alarm_ms = r.left_alarm_ms.value_or(0);
  e.stored = std::move(without_reasons);
}

void SetRecord(Entry& e, const AlarmRecord& r) {
  size_t reasons_at = 0;
  const std::string encoded = EncodeAlarmRecord(r, &reasons_at);
  SetRecord(e, r, WithoutReasons(encoded, reasons_at));
}

// A new entry for record r: its name and shape (a metric alarm's from its
// validated rule, a composite's children), and its record.
std::unique_ptr<Entry> NewEntry(AlarmRecord r, const AlarmRule& rule) {
  auto e = std::make_unique<Entry>();
  e->name = r.name();
  e->type = AlarmType::kMetric;
  e->rule = rule;
  e->period_s = r.metric.period_s;
  e->statistic = StatisticIndex(r.metric.statistic);
  e->interval_ms =
      EvaluationIntervalMs(r.metric.period_s, r.metric.evaluation_periods);
  SetRecord(*e, std::move(r));
  return e;
}
std::unique_ptr<Entry> NewEntry(AlarmRecord r,
                                std::vector<std::string> children) {
  auto e = std::make_unique<Entry>();
  e->name = r.name();
  e->type = AlarmType::kComposite;
  e->children = std::move(children);
  SetRecord(*e, std::move(r));
  return e;
}

// The record of `e` as memory has it: without its reasons.
AlarmRecord Decoded(const std::string& name, const Entry& e) {
  absl::StatusOr<AlarmRecord> r = DecodeAlarmRecord(name, e.stored);
  if (!r.ok()) {
    // Bytes this process encoded: only a bug gets here.
    Log(LogLevel::kError, "alarms",
        absl::StrCat("in-memory record not decodable: ",
                     r.status().ToString()));
    std::abort();
  }
  return *std::move(r);
}

std::string CheckpointKey(int64_t interval_ms) {
  std::string key = storage::kMetaAlarmCheckpointPrefix;
  storage::PutBigEndian64(&key, static_cast<uint64_t>(interval_ms));
  return key;
}

// Where a metric alarm whose record has `next_tick_ms` and `behind`
// resumes on open, given its interval's checkpoint (none yet: the record's
// next tick; 0 there means not known).
int64_t ResumeTick(int64_t next_tick_ms, bool behind, int64_t interval_ms,
                   std::optional<int64_t> checkpoint) {
  if (behind || !checkpoint.has_value()) return next_tick_ms;
  return std::max(next_tick_ms, *checkpoint + interval_ms);
}

// Makes `r` resume at `next_tick_ms`.
void SetResumeTick(AlarmRecord& r, int64_t interval_ms, int64_t next_tick_ms,
                   std::optional<int64_t> checkpoint) {
  r.next_tick_ms = next_tick_ms;
  r.behind_checkpoint =
      checkpoint.has_value() && next_tick_ms < *checkpoint + interval_ms;
}

// The record a put starts from: the existing alarm's, one configuration
// version on, its state kept; or a new alarm's, unchecked.
AlarmRecord Reconfigured(const AlarmRecord* old, int64_t now) {
  AlarmRecord r;
  if (old != nullptr) {
    r = *old;
    r.config_version = old->config_version + 1;
    return r;
  }
  r.state = AlarmState::kInsufficientData;
  r.state_reason = kInitialReason;
  r.state_updated_ms = now;
  r.state_transitioned_ms = now;
  return r;
}

}  // namespace

struct AlarmEngine::Impl {
  Impl(engine::Engine& e, engine::Clock& c, AlarmEngineOptions o)
      : engine(e), store(e.store()), clock(c), options(std::move(o)) {}
  // The engine may outlive this (also an Open that failed): its windows of
  // these alarms go.
  ~Impl() {
    absl::MutexLock l(&mu);
    for (const auto& [name, e] : alarms) {
      if (e->watch != 0) engine.UnwatchSeries(e->watch);
    }
  }

  engine::Engine& engine;
  storage::Store& store;
  engine::Clock& clock;
  const AlarmEngineOptions options;

  absl::Mutex mu;
  // Alarm name (the entry's own) -> entry.
  absl::btree_map<absl::string_view, std::unique_ptr<Entry>> alarms
      ABSL_GUARDED_BY(mu);
  // Rounds between their look at the alarms and their apply step: their
  // jobs point at entries, so entries uninstalled meanwhile are kept here
  // (marked retired) until none is, and entries installed meanwhile are
  // listed for the apply step (their records' resume ticks).
  int rounds_in_flight ABSL_GUARDED_BY(mu) = 0;
  std::vector<std::unique_ptr<Entry>> retired ABSL_GUARDED_BY(mu);
  std::vector<Entry*> installed_in_round ABSL_GUARDED_BY(mu);
  // Full rounds one at a time; their jobs, kept from round to round (at
  // 100,000 alarms, allocating them anew each round faulted in megabytes).
  absl::Mutex round_mu ABSL_ACQUIRED_BEFORE(mu);
  std::vector<EvaluationJob> round_jobs ABSL_GUARDED_BY(round_mu);
  // Alarm name -> the composites whose rule names it.
  absl::flat_hash_map<std::string, absl::btree_set<std::string>> parents
      ABSL_GUARDED_BY(mu);
  uint64_t history_seq ABSL_GUARDED_BY(mu) = 0;
  uint64_t generation ABSL_GUARDED_BY(mu) = 0;
  AlarmEngineStats stats ABSL_GUARDED_BY(mu);
  // Metric alarms whose last evaluations failed: how many in a row (at most
  // 31), and not tried again before when. Few, so kept beside the entries.
  struct Backoff {
    uint8_t failures;
    int64_t retry_after_ms;
  };
  absl::flat_hash_map<const Entry*, Backoff> backoff ABSL_GUARDED_BY(mu);
  // Evaluation interval -> checkpoint: the newest tick every metric alarm
  // of that interval has evaluated, except those whose record says it is
  // behind. Advanced by each evaluation round, in the round's write, so that
  // an open resumes every alarm exactly where it stopped: invariant, for
  // every metric alarm that can be evaluated, ResumeTick(its record, its
  // interval's checkpoint) == its next_tick_ms.
  absl::flat_hash_map<int64_t, int64_t> checkpoints ABSL_GUARDED_BY(mu);
  // No metric alarm comes due before this time (a lower bound): a round
  // before it has nothing to evaluate and does not look at every alarm
  // (which, at 100,000 alarms and a wake-up at every put, made putting
  // them take minutes). Set by each round's look at every alarm; lowered
  // by whatever may make an alarm due sooner: a put's evaluation, and an
  // evaluation that failed, raced a change or was not written.
  int64_t due_from_ms ABSL_GUARDED_BY(mu) = INT64_MIN;

  // The evaluation thread.
  absl::Mutex thread_mu;
  bool stopping ABSL_GUARDED_BY(thread_mu) = false;
  bool wake ABSL_GUARDED_BY(thread_mu) = false;
  std::thread thread;

  absl::Status Load();
  // The checkpoint of `interval_ms` once txn is written.
  std::optional<int64_t> CheckpointAfter(const Txn& txn, int64_t interval_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (auto it = txn.checkpoints.find(interval_ms);
        it != txn.checkpoints.end()) {
      return it->second;
    }
    if (auto it = checkpoints.find(interval_ms); it != checkpoints.end()) {
      return it->second;
    }
    return std::nullopt;
  }
  // Adds to txn what keeps the invariant of `checkpoints` for `e` once its
  // next tick is `next_tick_ms` and its interval's checkpoint `checkpoint`
  // (CheckpointAfter): nothing, or its record (`in_txn`, if txn has it
  // already). False if the record had to be written and could not be read
  // (logged); the caller then holds the interval's checkpoint back.
  bool PersistNextTick(Txn& txn, const Entry& e, int64_t next_tick_ms,
                       std::optional<int64_t> checkpoint, AlarmRecord* in_txn)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Installs `e` (NewEntry) as alarm e->name, replacing any, and watches
  // the series of metric alarm `m`'s record in the engine's recent window.
  void Install(std::unique_ptr<Entry> e, const MetricAlarmConfig* m)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Watches the series of metric alarm `m` in the engine's recent window,
  // if its statistic and range allow. A failed build is logged; the alarm
  // then reads the store.
  void WatchSeries(const MetricAlarmConfig& m, Entry& e);
  void Uninstall(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // The record of `name` as the store has it; NotFound if none.
  // With `without_reasons`, also its bytes with the reasons empty (as
  // Entry::stored), or empty for a record of an older version.
  absl::StatusOr<AlarmRecord> StoredRecord(
      const std::string& name, std::string* without_reasons = nullptr) {
    absl::StatusOr<std::optional<std::string>> v =
        store.Get(Column::kAlarms, name);
    if (!v.ok()) return v.status();
    if (!v->has_value()) return absl::NotFoundError(name);
    size_t reasons_at = 0;
    absl::StatusOr<AlarmRecord> r = DecodeAlarmRecord(name, **v, &reasons_at);
    if (r.ok() && without_reasons != nullptr) {
      *without_reasons =
          reasons_at == 0 ? std::string() : WithoutReasons(**v, reasons_at);
    }
    return r;
  }
  // The whole record of `name` as memory has it, its reasons read from the
  // store.
  absl::StatusOr<AlarmRecord> Whole(const std::string& name, const Entry& e)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // The whole record as `txn` leaves it, or nullptr (deleted, or none, or
  // it could not be read: txn.status says so).
  const AlarmRecord* Current(Txn& txn, const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // What a composite reads of `name` as `txn` leaves it; none if deleted.
  std::optional<ChildState> StateOf(const Txn& txn, const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Evaluates the composites that name `changed` alarms, and theirs in turn.
  void Propagate(
      Txn& txn, std::vector<std::string> changed, int64_t now,
      const absl::flat_hash_map<std::string, std::vector<std::string>>&
          new_children) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Evaluates composite `name` into txn; whether its state changed.
  bool EvaluateComposite(
      Txn& txn, const std::string& name, const std::string& trigger,
      int64_t now,
      const absl::flat_hash_map<std::string, std::vector<std::string>>&
          new_children) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // 1 to kMaxDeleteAlarms names of alarms that exist (InvalidArgument, or
  // NotFound naming the first missing).
  absl::Status CheckNames(const std::vector<std::string>& names)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (names.empty() || names.size() > kMaxDeleteAlarms) {
      return absl::InvalidArgumentError(
          absl::StrCat("alarm_names: must name 1 to ", kMaxDeleteAlarms,
                       " alarms, got ", names.size()));
    }
    for (const std::string& n : names) {
      if (!alarms.contains(n)) {
        return absl::NotFoundError(
            absl::StrCat("alarm_names: alarm '", n, "' does not exist"));
      }
    }
    return absl::OkStatus();
  }
  // Sets the alarm's evaluation state to EVALUATION_ERROR with `error` as
  // its reason; the state stays.
  void MarkEvaluationError(Txn& txn, const std::string& name,
                           const std::string& error, int64_t now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Evaluates again the composites that could not be (after a change that
  // may have fixed them: a rule changed, an alarm created).
  void RetryEvaluationErrors(
      Txn& txn, int64_t now,
      const absl::flat_hash_map<std::string, std::vector<std::string>>&
          new_children,
      std::vector<std::string>* changed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void AddHistory(Txn& txn, const AlarmRecord& r, HistoryItemType type,
                  std::string summary, std::string data, int64_t now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Writes txn; on success applies it to memory (every changed record's
  // entry must exist, or be installed by the caller first).
  absl::Status Commit(Txn& txn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Evaluates the due ticks of the metric alarms `only` names (all if
  // empty). Returns the first error and sets *next_due to the earliest time
  // an alarm comes due.
  absl::Status EvaluateDue(const std::string* only, int64_t* next_due)
      ABSL_LOCKS_EXCLUDED(mu, round_mu);
  // EvaluateDue with `jobs` (empty; left holding the round's jobs).
  absl::Status EvaluateDueJobs(const std::string* only, int64_t* next_due,
                               std::vector<EvaluationJob>& jobs)
      ABSL_LOCKS_EXCLUDED(mu);
  // Evaluates the jobs (phase 2 of EvaluateDue), `due_jobs` of them due,
  // on up to options.evaluation_threads threads.
  EvaluationCounts EvaluateJobs(std::vector<EvaluationJob>& jobs,
                                size_t due_jobs) ABSL_LOCKS_EXCLUDED(mu);
  void EvaluateJobRange(EvaluationJob* begin, EvaluationJob* end,
                        EvaluationCounts* counts) ABSL_LOCKS_EXCLUDED(mu);
  // Evaluates the job's ticks, its first from `first` if that answered.
  void EvaluateJob(EvaluationJob& job, const FirstRead& first,
                   JobScratch& scratch, EvaluationCounts* counts)
      ABSL_LOCKS_EXCLUDED(mu);
  // The reasons the job's transitions replace, and the configuration
  // version, from its stored record.
  void ReasonsReplaced(EvaluationJob& job) ABSL_LOCKS_EXCLUDED(mu);
  void ThreadLoop();
  void Wake() {
    absl::MutexLock l(&thread_mu);
    wake = true;
  }
};

absl::Status AlarmEngine::Impl::Load() {
  absl::MutexLock l(&mu);
  absl::StatusOr<std::optional<std::string>> seq =
      store.Get(Column::kMeta, storage::kMetaAlarmHistorySequence);
  if (!seq.ok()) return seq.status();
  if (seq->has_value()) {
    if ((*seq)->size() != 8) {
      return absl::DataLossError("meta alarm_history_sequence: not 8 bytes");
    }
    history_seq = storage::GetBigEndian64((*seq)->data());
  }
  {
    const absl::string_view prefix = storage::kMetaAlarmCheckpointPrefix;
    std::unique_ptr<storage::StoreIterator> it =
        store.NewIterator(Column::kMeta);
    for (it->Seek(prefix); it->Valid() && absl::StartsWith(it->key(), prefix);
         it->Next()) {
      if (it->key().size() != prefix.size() + 8 || it->value().size() != 8) {
        return absl::DataLossError(
            "meta alarm_checkpoint: not an 8-byte interval and tick");
      }
      checkpoints[static_cast<int64_t>(
          storage::GetBigEndian64(it->key().data() + prefix.size()))] =
          storage::SignedFromOrdered(
              storage::GetBigEndian64(it->value().data()));
    }
    if (!it->status().ok()) return it->status();
  }
  const int64_t now = clock.NowMs();
  std::unique_ptr<storage::StoreIterator> it =
      store.NewIterator(Column::kAlarms);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    absl::StatusOr<AlarmRecord> r = DecodeAlarmRecord(it->key(), it->value());
    if (!r.ok()) return r.status();
    std::unique_ptr<Entry> e;
    if (r->type == AlarmType::kMetric) {
      MetricAlarmConfig config = r->metric;
      absl::StatusOr<ValidatedMetricAlarm> v =
          ValidateMetricAlarm(&config, options.high_resolution_reach_ms);
      bool unevaluable = false;
      if (!v.ok()) {
        // Accepted once, refused now (a smaller --high_resolution_reach):
        // loaded, but it cannot be evaluated. Validate again without the
        // reach check so that it still has a rule.
        config = r->metric;
        v = ValidateMetricAlarm(&config, INT64_MAX / 4);
        if (!v.ok()) return v.status();
        r->evaluation_state = EvaluationState::kEvaluationError;
        unevaluable = true;
      }
      e = NewEntry(*r, v->rule);
      e->unevaluable = unevaluable;
      const auto c = checkpoints.find(e->interval_ms);
      const int64_t resume = ResumeTick(
          r->next_tick_ms, r->behind_checkpoint, e->interval_ms,
          c == checkpoints.end() ? std::nullopt : std::optional(c->second));
      // 0: never evaluated, before any checkpoint (a version 1 record).
      e->next_tick_ms = resume != 0
                            ? resume
                            : engine::FloorTo(now - options.evaluation_delay_ms,
                                              e->interval_ms);
    } else {
      absl::StatusOr<CompositeRule> rule =
          CompositeRule::Parse(r->composite.alarm_rule);
      if (!rule.ok()) return rule.status();
      e = NewEntry(*r, rule->children());
    }
    // An alarm that is never evaluated needs no window.
    const MetricAlarmConfig* m =
        r->type == AlarmType::kMetric && !e->unevaluable ? &r->metric : nullptr;
    Install(std::move(e), m);
  }
  return it->status();
}

void AlarmEngine::Impl::WatchSeries(const MetricAlarmConfig& m, Entry& e) {
  if (m.statistic.empty()) return;
  const int64_t period_ms = m.period_s * 1000;
  const int64_t bucket_ms = std::min<int64_t>(period_ms, 60'000);
  // The range; how far a tick can be past the end of the range it reads
  // (ticks are multiples of the interval, ranges end at multiples of the
  // alignment: schedule.h); and the evaluation delay. The window keeps
  // two buckets more (recent_window.h): an evaluation up to a bucket late
  // still reads it; one later reads the store.
  const int64_t align_ms = std::min<int64_t>(period_ms, 60'000);
  const int64_t past_end_ms = align_ms - std::gcd(align_ms, e.interval_ms);
  const int64_t span_ms =
      period_ms * static_cast<int64_t>(EvaluationRange(m.evaluation_periods)) +
      past_end_ms + options.evaluation_delay_ms;
  if (span_ms / bucket_ms > kMaxWindowBuckets) return;
  absl::StatusOr<uint64_t> h = engine.WatchSeries(m.metric, bucket_ms, span_ms);
  if (!h.ok()) {
    Log(LogLevel::kWarning, "alarms",
        absl::StrCat(
            "alarm '", m.name,
            "': no recent window, reading the store: ", h.status().ToString()));
    return;
  }
  e.watch = *h;
}

void AlarmEngine::Impl::Install(std::unique_ptr<Entry> e,
                                const MetricAlarmConfig* m) {
  // Watched before the old entry lets go, so that an update of the same
  // series shares the window rather than building it again.
  if (e->watch == 0 && m != nullptr) WatchSeries(*m, *e);
  Uninstall(e->name);
  e->generation = ++generation;
  for (const std::string& child : e->children) parents[child].insert(e->name);
  if (rounds_in_flight > 0) installed_in_round.push_back(e.get());
  const absl::string_view key = e->name;
  alarms.emplace(key, std::move(e));
}

void AlarmEngine::Impl::Uninstall(const std::string& name) {
  auto it = alarms.find(name);
  if (it == alarms.end()) return;
  std::unique_ptr<Entry> e = std::move(it->second);
  alarms.erase(it);
  backoff.erase(e.get());
  if (e->watch != 0) engine.UnwatchSeries(e->watch);
  for (const std::string& child : e->children) {
    auto p = parents.find(child);
    if (p == parents.end()) continue;
    p->second.erase(name);
    if (p->second.empty()) parents.erase(p);
  }
  // A round's job may point at it: its evaluation sees the generation
  // move, its apply step the mark.
  e->generation = ++generation;
  e->retired = true;
  if (rounds_in_flight > 0) retired.push_back(std::move(e));
}

absl::StatusOr<AlarmRecord> AlarmEngine::Impl::Whole(const std::string& name,
                                                     const Entry& e) {
  AlarmRecord r = Decoded(name, e);
  absl::StatusOr<AlarmRecord> stored = StoredRecord(name);
  if (absl::IsNotFound(stored.status())) {
    return absl::DataLossError(
        absl::StrCat("alarm '", name, "': in memory, not in the store"));
  }
  if (!stored.ok()) return stored.status();
  r.state_reason = std::move(stored->state_reason);
  r.state_reason_data = std::move(stored->state_reason_data);
  r.state_evidence = std::move(stored->state_evidence);
  return r;
}

const AlarmRecord* AlarmEngine::Impl::Current(Txn& txn,
                                              const std::string& name) {
  if (auto it = txn.changed.find(name); it != txn.changed.end()) {
    return &it->second;
  }
  if (txn.deleted.contains(name)) return nullptr;
  if (auto it = txn.read.find(name); it != txn.read.end()) return &it->second;
  auto it = alarms.find(name);
  if (it == alarms.end()) return nullptr;
  absl::StatusOr<AlarmRecord> r = Whole(name, *it->second);
  if (!r.ok()) {
    if (txn.status.ok()) txn.status = r.status();
    return nullptr;
  }
  return &txn.read.emplace(name, *std::move(r)).first->second;
}

std::optional<ChildState> AlarmEngine::Impl::StateOf(const Txn& txn,
                                                     const std::string& name) {
  if (auto it = txn.changed.find(name); it != txn.changed.end()) {
    const AlarmRecord& r = it->second;
    return ChildState{r.state, r.state_transitioned_ms, r.left_alarm_ms};
  }
  if (txn.deleted.contains(name)) return std::nullopt;
  auto it = alarms.find(name);
  if (it == alarms.end()) return std::nullopt;
  const Entry& e = *it->second;
  return ChildState{e.state, e.transitioned_ms, e.left_alarm()};
}

void AlarmEngine::Impl::AddHistory(Txn& txn, const AlarmRecord& r,
                                   HistoryItemType type, std::string summary,
                                   std::string data, int64_t now) {
  HistoryItem item;
  item.alarm_name = r.name();
  item.alarm_type = r.type;
  item.time_ms = now;
  item.seq = ++history_seq;
  item.type = type;
  item.summary = Truncate(std::move(summary), kMaxHistorySummaryChars);
  item.data = std::move(data);
  txn.history.push_back(std::move(item));
}

absl::Status AlarmEngine::Impl::Commit(Txn& txn) {
  if (!txn.status.ok()) return txn.status;
  storage::WriteBatch batch;
  // Each changed record as memory keeps it, once written.
  std::vector<std::string> kept;
  kept.reserve(txn.changed.size());
  for (const auto& [name, r] : txn.changed) {
    size_t reasons_at = 0;
    std::string encoded = EncodeAlarmRecord(r, &reasons_at);
    kept.push_back(WithoutReasons(encoded, reasons_at));
    batch.Put(Column::kAlarms, name, std::move(encoded));
  }
  for (const std::string& name : txn.deleted) {
    if (!txn.changed.contains(name)) batch.Delete(Column::kAlarms, name);
  }
  for (const HistoryItem& item : txn.history) {
    batch.Put(
        Column::kAlarmHistory,
        storage::EncodeAlarmHistoryKey(item.alarm_name, item.time_ms, item.seq),
        EncodeHistoryValue(item));
  }
  for (const auto& [interval, tick] : txn.checkpoints) {
    std::string value;
    storage::PutBigEndian64(&value, storage::OrderedFromSigned(tick));
    batch.Put(Column::kMeta, CheckpointKey(interval), value);
  }
  if (!txn.history.empty()) {
    std::string seq;
    storage::PutBigEndian64(&seq, history_seq);
    batch.Put(Column::kMeta, storage::kMetaAlarmHistorySequence, seq);
  }
  if (batch.Count() == 0) return absl::OkStatus();
  if (absl::Status s = store.Write(batch); !s.ok()) return s;
  for (const auto& [interval, tick] : txn.checkpoints) {
    checkpoints[interval] = tick;
  }
  for (const std::string& name : txn.deleted) {
    if (!txn.changed.contains(name)) Uninstall(name);
  }
  size_t i = 0;
  for (const auto& [name, r] : txn.changed) {
    auto it = alarms.find(name);
    if (it != alarms.end()) SetRecord(*it->second, r, std::move(kept[i]));
    ++i;
  }
  return absl::OkStatus();
}

bool AlarmEngine::Impl::PersistNextTick(Txn& txn, const Entry& e,
                                        int64_t next_tick_ms,
                                        std::optional<int64_t> checkpoint,
                                        AlarmRecord* in_txn) {
  if (in_txn == nullptr) {
    if (ResumeTick(e.stored_next_tick_ms, e.behind_checkpoint, e.interval_ms,
                   checkpoint) == next_tick_ms) {
      return true;
    }
    absl::StatusOr<AlarmRecord> r = Whole(e.name, e);
    if (!r.ok()) {
      Log(LogLevel::kError, "alarms",
          absl::StrCat("alarm '", e.name, "': next tick not written (",
                       r.status().ToString(),
                       "); its interval's checkpoint is held back"));
      return false;
    }
    in_txn = &txn.changed.insert_or_assign(e.name, *std::move(r)).first->second;
  }
  SetResumeTick(*in_txn, e.interval_ms, next_tick_ms, checkpoint);
  return true;
}

bool AlarmEngine::Impl::EvaluateComposite(
    Txn& txn, const std::string& name, const std::string& trigger, int64_t now,
    const absl::flat_hash_map<std::string, std::vector<std::string>>&
        new_children) {
  const AlarmRecord* cur = Current(txn, name);
  if (cur == nullptr || cur->type != AlarmType::kComposite) return false;
  AlarmRecord next = *cur;
  absl::StatusOr<CompositeRule> rule =
      CompositeRule::Parse(next.composite.alarm_rule);
  auto children_of =
      [&](absl::string_view n) -> const std::vector<std::string>* {
    mu.AssertHeld();  // called by FindRuleCycle, within this function
    const std::string key(n);
    if (auto it = new_children.find(key); it != new_children.end()) {
      return &it->second;
    }
    if (txn.deleted.contains(key)) return nullptr;
    auto it = alarms.find(key);
    if (it == alarms.end() || it->second->type != AlarmType::kComposite) {
      return nullptr;
    }
    return &it->second->children;
  };
  std::string error;
  absl::StatusOr<bool> value = false;
  if (!rule.ok()) {
    error = std::string(rule.status().message());
  } else if (std::optional<std::vector<std::string>> cycle =
                 FindRuleCycle(name, children_of)) {
    // From its smallest name, so that every member reports the same cycle.
    cycle->pop_back();  // the start, repeated
    std::rotate(cycle->begin(), std::min_element(cycle->begin(), cycle->end()),
                cycle->end());
    cycle->push_back(cycle->front());
    error = absl::StrCat("alarm_rule: the alarms form a cycle (",
                         absl::StrJoin(*cycle, " -> "),
                         "); evaluation stopped until the cycle is broken");
    // Every composite of the cycle stops.
    for (const std::string& member : *cycle) {
      if (member != name) MarkEvaluationError(txn, member, error, now);
    }
  } else {
    value = rule->Evaluate(
        [&](absl::string_view child) -> std::optional<AlarmState> {
          mu.AssertHeld();  // called by Evaluate, within this function
          std::optional<ChildState> c = StateOf(txn, std::string(child));
          if (!c.has_value()) return std::nullopt;
          return c->state;
        });
    if (!value.ok()) error = std::string(value.status().message());
  }
  if (!error.empty()) {
    MarkEvaluationError(txn, name, error, now);
    return false;
  }
  const AlarmState state = *value ? AlarmState::kAlarm : AlarmState::kOk;
  const bool was_error =
      next.evaluation_state == EvaluationState::kEvaluationError;
  if (state == next.state && !was_error) return false;
  const AlarmState previous = next.state;
  const std::string previous_reason = next.state_reason;
  next.evaluation_state = EvaluationState::kNone;
  next.state_updated_ms = now;
  if (trigger.empty()) {
    next.state_reason =
        absl::StrCat("alarm_rule evaluated to ", *value ? "TRUE" : "FALSE",
                     " at ", JsonTime(now));
  } else {
    const std::optional<ChildState> t = StateOf(txn, trigger);
    next.state_reason = absl::StrCat(
        trigger, " transitioned to ",
        t.has_value() ? AlarmStateName(t->state) : "(deleted)", " at ",
        JsonTime(t.has_value() ? t->transitioned_ms : now));
  }
  std::vector<std::pair<std::string, std::optional<ChildState>>> kids;
  for (const std::string& c : rule->children()) {
    kids.push_back({c, StateOf(txn, c)});
  }
  next.state_reason_data = CompositeReasonData(kids);
  if (state == previous) {
    // Out of an evaluation error, the state as it was: reason only.
    txn.changed[name] = std::move(next);
    return false;
  }
  next.state = state;
  next.state_transitioned_ms = now;
  if (previous == AlarmState::kAlarm) next.left_alarm_ms = now;
  next.actions_suppressed_by = SuppressedBy::kNone;
  next.actions_suppressed_reason.clear();
  if (state == AlarmState::kAlarm &&
      !next.composite.actions_suppressor.empty()) {
    const std::optional<ChildState> sup =
        StateOf(txn, next.composite.actions_suppressor);
    if (sup.has_value()) {
      next.actions_suppressed_by = ActionsSuppressed(
          SuppressorState{sup->state, sup->left_alarm_ms}, now, now,
          next.composite.actions_suppressor_wait_period_s,
          next.composite.actions_suppressor_extension_period_s);
      next.actions_suppressed_reason = SuppressedReason(
          next.actions_suppressed_by, next.composite.actions_suppressor);
    }
  }
  AddHistory(txn, next, HistoryItemType::kStateUpdate,
             absl::StrCat("Alarm updated from ", AlarmStateName(previous),
                          " to ", AlarmStateName(state)),
             StateUpdateData(previous, previous_reason, next, ""), now);
  txn.changed[name] = std::move(next);
  return true;
}

void AlarmEngine::Impl::MarkEvaluationError(Txn& txn, const std::string& name,
                                            const std::string& error,
                                            int64_t now) {
  const AlarmRecord* cur = Current(txn, name);
  if (cur == nullptr) return;
  const std::string reason = Truncate(error, kMaxStateReasonChars);
  if (cur->evaluation_state == EvaluationState::kEvaluationError &&
      cur->state_reason == reason) {
    return;
  }
  AlarmRecord next = *cur;
  next.evaluation_state = EvaluationState::kEvaluationError;
  next.state_reason = reason;
  next.state_evidence.clear();
  next.state_updated_ms = now;
  txn.changed[name] = std::move(next);
}

void AlarmEngine::Impl::RetryEvaluationErrors(
    Txn& txn, int64_t now,
    const absl::flat_hash_map<std::string, std::vector<std::string>>&
        new_children,
    std::vector<std::string>* changed) {
  std::vector<std::string> failed;
  for (const auto& [name, e] : alarms) {
    if (txn.deleted.contains(name)) continue;
    auto c = txn.changed.find(name);
    const bool failing =
        c != txn.changed.end()
            ? c->second.type == AlarmType::kComposite &&
                  c->second.evaluation_state ==
                      EvaluationState::kEvaluationError
            : e->type == AlarmType::kComposite &&
                  e->evaluation_state == EvaluationState::kEvaluationError;
    if (failing) failed.push_back(e->name);
  }
  for (const std::string& name : failed) {
    if (EvaluateComposite(txn, name, "", now, new_children)) {
      changed->push_back(name);
    }
  }
}

void AlarmEngine::Impl::Propagate(
    Txn& txn, std::vector<std::string> changed, int64_t now,
    const absl::flat_hash_map<std::string, std::vector<std::string>>&
        new_children) {
  size_t budget = kMaxPropagation;
  for (size_t i = 0; i < changed.size() && budget > 0; ++i) {
    const std::string child = changed[i];
    // Parents as installed, and composites this txn gives new children.
    absl::btree_set<std::string> ps;
    if (auto it = parents.find(child); it != parents.end()) ps = it->second;
    for (const auto& [p, kids] : new_children) {
      if (std::find(kids.begin(), kids.end(), child) != kids.end()) {
        ps.insert(p);
      }
    }
    for (const std::string& p : ps) {
      if (budget-- == 0) break;
      if (EvaluateComposite(txn, p, child, now, new_children)) {
        changed.push_back(p);
      }
    }
  }
}

absl::StatusOr<std::unique_ptr<AlarmEngine>> AlarmEngine::Open(
    engine::Engine& engine, engine::Clock& clock, AlarmEngineOptions options) {
  auto impl = std::make_unique<Impl>(engine, clock, std::move(options));
  if (absl::Status s = impl->Load(); !s.ok()) return s;
  std::unique_ptr<AlarmEngine> out(new AlarmEngine(std::move(impl)));
  if (out->impl_->options.evaluation_thread) {
    Impl* i = out->impl_.get();
    i->thread = std::thread([i] { i->ThreadLoop(); });
  }
  return out;
}

AlarmEngine::AlarmEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AlarmEngine::~AlarmEngine() {
  {
    absl::MutexLock l(&impl_->thread_mu);
    impl_->stopping = true;
  }
  if (impl_->thread.joinable()) impl_->thread.join();
}

void AlarmEngine::Impl::ThreadLoop() {
  for (;;) {
    int64_t next_due = INT64_MAX;
    // Failures are logged and counted where they happen.
    (void)EvaluateDue(nullptr, &next_due);
    // Sleep until the next alarm comes due, at most a second (a put wakes
    // the thread sooner; so does a clock that jumps).
    const int64_t now = clock.NowMs();
    const int64_t most = options.max_sleep_ms;
    const int64_t wait_ms = std::clamp<int64_t>(
        next_due == INT64_MAX ? most : next_due - now, 0, most);
    absl::MutexLock l(&thread_mu);
    const auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(thread_mu) {
      return stopping || wake;
    };
    thread_mu.AwaitWithTimeout(absl::Condition(&ready),
                               absl::Milliseconds(wait_ms));
    if (stopping) return;
    wake = false;
  }
}

EvaluationCounts AlarmEngine::Impl::EvaluateJobs(
    std::vector<EvaluationJob>& jobs, size_t due_jobs) {
  const size_t threads = std::clamp<size_t>(
      due_jobs / kJobsPerThread, 1,
      static_cast<size_t>(std::max(1, options.evaluation_threads)));
  std::vector<EvaluationCounts> counts(threads);
  std::vector<std::thread> helpers;
  const size_t per = (jobs.size() + threads - 1) / threads;
  for (size_t t = 1; t < threads; ++t) {
    EvaluationJob* begin = jobs.data() + std::min(jobs.size(), t * per);
    EvaluationJob* end = jobs.data() + std::min(jobs.size(), (t + 1) * per);
    helpers.emplace_back([this, begin, end, c = &counts[t]] {
      EvaluateJobRange(begin, end, c);
    });
  }
  EvaluateJobRange(jobs.data(), jobs.data() + std::min(jobs.size(), per),
                   &counts[0]);
  for (std::thread& h : helpers) h.join();
  EvaluationCounts total;
  for (const EvaluationCounts& c : counts) {
    total.window_reads += c.window_reads;
    total.store_reads += c.store_reads;
  }
  return total;
}

void AlarmEngine::Impl::EvaluateJobRange(EvaluationJob* begin,
                                         EvaluationJob* end,
                                         EvaluationCounts* counts) {
  JobScratch scratch;
  // The first due tick's periods of each window job, read for a chunk of
  // jobs under one hold of the window's lock (shared between the threads).
  constexpr size_t kChunk = 64;
  std::vector<engine::WindowRead> reads;
  std::vector<engine::WindowStats> read_stats;
  std::vector<bool> answered;
  std::vector<FirstRead> first(kChunk);
  for (EvaluationJob* chunk = begin; chunk != end;) {
    const size_t n = std::min<size_t>(kChunk, static_cast<size_t>(end - chunk));
    // The next chunk's entries, fetched while this one is evaluated.
    for (EvaluationJob* next = chunk + n;
         next != end && next != chunk + n + kChunk; ++next) {
      __builtin_prefetch(next->entry);
    }
    reads.clear();
    for (size_t j = 0; j < n; ++j) {
      const EvaluationJob& job = chunk[j];
      if (job.ticks == 0 || job.entry->watch == 0) continue;
      const Entry& e = *job.entry;
      const EvaluationWindow w =
          WindowAt(job.first_tick_ms, e.period_s, e.rule.evaluation_periods);
      reads.push_back({e.watch, w.start_ms, w.period_ms, w.periods});
    }
    if (!reads.empty()) engine.ReadWatchedMany(reads, &read_stats, &answered);
    size_t r = 0, offset = 0;
    for (size_t j = 0; j < n; ++j) {
      first[j] = FirstRead();
      if (chunk[j].ticks == 0 || chunk[j].entry->watch == 0) continue;
      first[j] = {
          &reads[r], answered[r],
          absl::MakeConstSpan(read_stats.data() + offset, reads[r].periods)};
      offset += reads[r].periods;
      ++r;
    }
    for (size_t j = 0; j < n; ++j) {
      EvaluateJob(chunk[j], first[j], scratch, counts);
    }
    chunk += n;
  }
}

void AlarmEngine::Impl::EvaluateJob(EvaluationJob& job, const FirstRead& first,
                                    JobScratch& scratch,
                                    EvaluationCounts* counts) {
  if (job.ticks == 0) return;
  const Entry& e = *job.entry;  // its immutable fields only
  // The rule; the extended statistic once the configuration is decoded.
  ValidatedMetricAlarm validated{e.rule, std::nullopt};
  // The configuration, decoded from the record memory has.
  auto decode = [&]() -> absl::Status {
    JobResult& result = job.mutable_result();
    if (result.config != nullptr) return absl::OkStatus();
    std::string stored;
    {
      absl::MutexLock l(&mu);
      if (e.generation != job.generation) {
        return absl::AbortedError("changed while evaluated");
      }
      stored = e.stored;
    }
    absl::StatusOr<AlarmRecord> r = DecodeAlarmRecord(e.name, stored);
    if (!r.ok()) return r.status();
    auto config = std::make_unique<MetricAlarmConfig>(std::move(r->metric));
    if (!config->extended_statistic.empty()) {
      absl::StatusOr<engine::ExtendedStatistic> ext =
          engine::ParseExtendedStatistic(config->extended_statistic);
      if (!ext.ok()) return ext.status();
      validated.extended = *ext;
    }
    result.config = std::move(config);
    return absl::OkStatus();
  };
  if (e.watch == 0) {
    if (absl::Status s = decode(); !s.ok()) {
      job.mutable_result().status = s;
      return;
    }
  }
  const MetricAlarmConfig* config =
      job.result != nullptr ? job.result->config.get() : nullptr;
  if (config == nullptr) {
    std::unique_ptr<MetricAlarmConfig>& shape =
        scratch.shapes[{e.period_s, e.rule.evaluation_periods, e.statistic}];
    if (shape == nullptr) {
      shape = std::make_unique<MetricAlarmConfig>();
      shape->period_s = e.period_s;
      shape->evaluation_periods = e.rule.evaluation_periods;
      shape->statistic = kStatistics[e.statistic];
    }
    config = shape.get();
  }
  AlarmState state = job.state;
  for (uint32_t i = 0; i < job.ticks; ++i) {
    const int64_t tick =
        job.first_tick_ms + static_cast<int64_t>(i) * e.interval_ms;
    // The periods from the window (read ahead for the first tick), or else
    // from the store.
    const EvaluationWindow w =
        WindowAt(tick, e.period_s, e.rule.evaluation_periods);
    bool windowed = false;
    if (i == 0 && first.read != nullptr && first.read->start_ms == w.start_ms &&
        first.read->periods == w.periods) {
      if (first.answered) {
        PeriodsFromWindow(*config, first.stats, &scratch.periods);
        windowed = true;
      }
    } else if (e.watch != 0 &&
               engine.ReadWatched(e.watch, w.start_ms, w.period_ms, w.periods,
                                  &scratch.window_stats)) {
      PeriodsFromWindow(*config, scratch.window_stats, &scratch.periods);
      windowed = true;
    }
    if (windowed) {
      ++counts->window_reads;
      // Most ticks change nothing, and the evaluation alone says so: the
      // step EvaluateAtTick builds (the same evaluation, its reasons) is
      // for the ticks that change the state.
      const Evaluation quiet = Evaluate(validated.rule, scratch.periods, state);
      if (quiet.kept || quiet.state == state) {
        state = quiet.state;
        ++job.evaluated;
        continue;
      }
    }
    auto periods = [&](const EvaluationWindow& window)
        -> absl::StatusOr<std::vector<Period>> {
      if (windowed) return scratch.periods;
      ++counts->store_reads;
      if (absl::Status s = decode(); !s.ok()) return s;
      return FetchAlarmPeriods(engine, clock, *job.result->config, validated,
                               window);
    };
    absl::StatusOr<PreviewStep> step = EvaluateAtTick(
        *config, validated, tick, state, periods, /*with_reasons=*/false);
    if (!step.ok()) {
      job.mutable_result().status = step.status();
      break;
    }
    const AlarmState previous = state;
    state = step->state;
    ++job.evaluated;
    if (step->changed) {
      StateChange& c = job.mutable_result().changes.emplace_back();
      c.old_state = previous;
      c.new_state = state;
      c.new_evidence = EncodeEvidence(
          EvidenceOf(*config, validated, previous, *std::move(step)));
    }
  }
  if (job.changed()) ReasonsReplaced(job);
}

void AlarmEngine::Impl::ReasonsReplaced(EvaluationJob& job) {
  JobResult& result = *job.result;
  // The reason the first transition replaces: in the store only. A failed
  // read drops the job's ticks (evaluated again).
  absl::StatusOr<AlarmRecord> r =
      StoredRecord(job.entry->name, &result.record_base);
  if (absl::IsNotFound(r.status())) r = absl::AbortedError("deleted");
  if (!r.ok()) {
    result.status = r.status();
    job.evaluated = 0;
    result.changes.clear();
    return;
  }
  // The apply step checks the version is still this one.
  std::string reason = std::move(r->state_reason);
  std::string evidence = std::move(r->state_evidence);
  for (StateChange& c : result.changes) {
    c.old_reason = std::exchange(reason, {});
    c.old_evidence = std::exchange(evidence, {});
    c.config_version = r->config_version;
    evidence = c.new_evidence;
  }
  result.record = *std::move(r);
}

absl::Status AlarmEngine::Impl::EvaluateDue(const std::string* only,
                                            int64_t* next_due) {
  if (only != nullptr) {
    std::vector<EvaluationJob> jobs;
    return EvaluateDueJobs(only, next_due, jobs);
  }
  absl::MutexLock l(&round_mu);
  absl::Status s = EvaluateDueJobs(nullptr, next_due, round_jobs);
  round_jobs.clear();  // its capacity kept for the next round
  return s;
}

absl::Status AlarmEngine::Impl::EvaluateDueJobs(
    const std::string* only, int64_t* next_due,
    std::vector<EvaluationJob>& jobs) {
  // Phase timings of a full round (AlarmEngineStats::last_round).
  using Steady = std::chrono::steady_clock;
  const auto micros = [](Steady::time_point from, Steady::time_point to) {
    return static_cast<int64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(to - from)
            .count());
  };
  const Steady::time_point look_start = Steady::now();
  // The evaluation intervals of the metric alarms (a round's checkpoints).
  std::vector<int64_t> intervals;
  const int64_t now = clock.NowMs();
  const int64_t last_due = now - options.evaluation_delay_ms;
  size_t due_jobs = 0;
  // Entries installed from here to the apply step: installed_in_round[i]
  // for i >= installed_mark.
  size_t installed_mark = 0;
  {
    absl::MutexLock l(&mu);
    if (only == nullptr && now < due_from_ms) {
      *next_due = std::min(*next_due, due_from_ms);
      return absl::OkStatus();
    }
    // The earliest time an alarm looked at comes due, if its evaluation
    // goes as planned.
    int64_t due = INT64_MAX;
    // Every evaluable metric alarm gets a job: the due ones to evaluate,
    // the others for the apply step to keep their records' resume ticks.
    auto consider = [&](Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      if (e.type != AlarmType::kMetric) return;
      // Alarms of one interval come in runs: most need no search.
      if ((intervals.empty() || intervals.back() != e.interval_ms) &&
          std::find(intervals.begin(), intervals.end(), e.interval_ms) ==
              intervals.end()) {
        intervals.push_back(e.interval_ms);
      }
      if (e.unevaluable) return;
      EvaluationJob& job = jobs.emplace_back();
      job.entry = &e;
      job.generation = e.generation;
      job.state = e.state;
      if (!backoff.empty()) {
        if (auto b = backoff.find(&e);
            b != backoff.end() && now < b->second.retry_after_ms) {
          due = std::min(due, b->second.retry_after_ms);
          return;
        }
      }
      if (e.next_tick_ms > last_due) {
        due = std::min(due, e.next_tick_ms + options.evaluation_delay_ms);
        return;
      }
      // Ticks older than the catch-up are skipped, except a new alarm's
      // first (fresh until an evaluation of it is applied). Nothing here
      // changes the entry: the apply step does, once written.
      int64_t first = e.next_tick_ms;
      int64_t skipped = 0;
      const int64_t oldest = last_due - options.max_catch_up_ms;
      if (first < oldest && !e.fresh) {
        const int64_t skip = NextTickAfter(oldest - 1, e.interval_ms) - first;
        skipped = skip / e.interval_ms;
        first += skip;
      }
      job.due = true;
      ++due_jobs;
      job.recovering = e.evaluation_state == EvaluationState::kEvaluationError;
      job.first_tick_ms = first;
      job.skipped = skipped;
      // With an interval longer than the catch-up, the next tick kept may
      // still be ahead: a job that only skips.
      job.ticks =
          first > last_due
              ? 0
              : static_cast<uint32_t>((last_due - first) / e.interval_ms) + 1;
      const int64_t next =
          first + static_cast<int64_t>(job.ticks) * e.interval_ms;
      due = std::min(due, next + options.evaluation_delay_ms);
    };
    if (only != nullptr) {
      if (auto it = alarms.find(*only); it != alarms.end()) {
        consider(*it->second);
      }
    } else {
      ++stats.scans;
      jobs.reserve(alarms.size());
      // An entry is a cache miss: those ahead are fetched meanwhile.
      auto ahead = alarms.begin();
      for (size_t i = 0; i < kPrefetchAhead && ahead != alarms.end(); ++i) {
        ++ahead;
      }
      for (auto& [name, e] : alarms) {
        if (ahead != alarms.end()) {
          __builtin_prefetch(ahead->second.get());
          ++ahead;
        }
        consider(*e);
      }
    }
    due_from_ms = only == nullptr ? due : std::min(due_from_ms, due);
    *next_due = std::min(*next_due, due);
    if (due_jobs == 0) return absl::OkStatus();
    ++rounds_in_flight;
    installed_mark = installed_in_round.size();
  }
  const Steady::time_point evaluate_start = Steady::now();
  EvaluationCounts counts = EvaluateJobs(jobs, due_jobs);
  if (only == nullptr && options.round_evaluated_for_testing) {
    options.round_evaluated_for_testing();
  }
  absl::MutexLock l(&mu);
  const Steady::time_point apply_start = Steady::now();
  // Entries retired while the round ran go once no round points at them.
  auto leave = absl::MakeCleanup([this] {
    mu.AssertHeld();
    if (--rounds_in_flight == 0) {
      retired.clear();
      installed_in_round.clear();
    }
  });
  // Transitions are stamped when they are applied, after any put that the
  // evaluation raced.
  const int64_t applied_ms = clock.NowMs();
  stats.window_reads += counts.window_reads;
  stats.store_reads += counts.store_reads;
  absl::Status first_error;
  for (const EvaluationJob& job : jobs) {
    if (job.result == nullptr) continue;
    const absl::Status& status = job.result->status;
    if (status.ok() || absl::IsAborted(status)) continue;
    ++stats.evaluation_failures;
    Log(LogLevel::kWarning, "alarms",
        absl::StrCat("evaluation of '", job.entry->name,
                     "' failed: ", status.ToString()));
    if (first_error.ok()) first_error = status;
  }
  Txn txn;
  // A round moves its intervals' checkpoints to the newest tick it was due
  // to evaluate (what a restart resumes from).
  if (only == nullptr) {
    for (int64_t interval : intervals) {
      const int64_t tick = engine::FloorTo(last_due, interval);
      auto c = checkpoints.find(interval);
      if (c == checkpoints.end() || c->second < tick) {
        txn.checkpoints[interval] = tick;
      }
    }
  }
  std::vector<std::string> changed;
  // Applied as the jobs are, undone if the write fails.
  struct Advance {
    Entry* entry;
    int64_t old_next_tick;
    bool old_fresh;
  };
  std::vector<Advance> advances;
  advances.reserve(due_jobs);
  // Each evaluated alarm's failures in a row and when to try it again,
  // applied once the round is written.
  struct Retry {
    Entry* entry;
    uint8_t failures;
    int64_t after_ms;
  };
  std::vector<Retry> retries;
  // Counted once the round is written.
  AlarmEngineStats round;
  // An alarm this round leaves due (changed meanwhile, or not evaluated):
  // evaluated again by the next round, whatever the clock does meanwhile.
  auto still_due = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    due_from_ms = INT64_MIN;
  };
  auto advance = [&](Entry& e, int64_t next_tick)
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
                       advances.push_back({&e, e.next_tick_ms, e.fresh});
                       e.next_tick_ms = next_tick;
                       e.fresh = false;
                       e.generation = ++generation;
                     };
  // Applies due `job` to its alarm: its transitions into txn; the tick it
  // advances to, unless the alarm changed meanwhile (evaluated again from
  // its new state). Returns the record it put in txn, if it did.
  auto apply = [&](EvaluationJob& job)
                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) -> AlarmRecord* {
    Entry& e = *job.entry;
    const std::string& name = e.name;
    if (e.generation != job.generation) {
      still_due();
      return nullptr;
    }
    if (job.ticks == 0) {  // only skips
      round.ticks_skipped += job.skipped;
      advance(e, job.first_tick_ms);
      return nullptr;
    }
    const absl::Status status = job.status();
    const bool failed = !status.ok() && !absl::IsAborted(status);
    AlarmRecord* in_txn = nullptr;
    if (job.evaluated > 0) {
      AlarmRecord next;
      if (job.changed()) {
        JobResult& result = *job.result;
        next = !result.record_base.empty() && result.record_base == e.stored
                   ? std::move(result.record)
                   : Decoded(name, e);
        // Enabling or disabling actions changes the version and not the
        // generation: the history data would name the old one.
        if (next.config_version != result.changes.front().config_version) {
          still_due();
          return nullptr;
        }
        for (StateChange& c : result.changes) {
          next.state = c.new_state;
          next.state_reason.clear();
          next.state_reason_data.clear();
          next.state_evidence = c.new_evidence;
          next.state_updated_ms = applied_ms;
          next.state_transitioned_ms = applied_ms;
          if (c.old_state == AlarmState::kAlarm) {
            next.left_alarm_ms = applied_ms;
          }
          ++round.transitions;
          AddHistory(
              txn, next, HistoryItemType::kStateUpdate,
              absl::StrCat("Alarm updated from ", AlarmStateName(c.old_state),
                           " to ", AlarmStateName(c.new_state)),
              "", applied_ms);
          txn.history.back().change = std::move(c);
        }
        if (!failed) next.evaluation_state = EvaluationState::kNone;
        in_txn =
            &txn.changed.insert_or_assign(name, std::move(next)).first->second;
        changed.push_back(name);
      } else if (job.recovering && !failed) {
        // Evaluated again after an error, the state as it was.
        next = Decoded(name, e);
        next.evaluation_state = EvaluationState::kNone;
        next.state_reason =
            absl::StrCat("Evaluated again at ", JsonTime(job.last_tick_ms()),
                         " after an evaluation error: the state stays ",
                         AlarmStateName(next.state));
        next.state_reason_data.clear();
        next.state_updated_ms = applied_ms;
        in_txn =
            &txn.changed.insert_or_assign(name, std::move(next)).first->second;
      }
      round.evaluations += static_cast<int64_t>(job.evaluated);
      round.ticks_skipped += job.skipped;
      advance(e, job.last_tick_ms() + e.interval_ms);
    } else if (!failed) {
      still_due();  // aborted: it changed while evaluated
    }
    if (!failed) {
      if (backoff.contains(&e)) retries.push_back({&e, 0, 0});
      return in_txn;
    }
    // Tried again after 1 s, doubling with each failure in a row up to the
    // interval, not at every wake-up; the alarm says why it is not
    // evaluated (its state stays).
    auto b = backoff.find(&e);
    const uint8_t failures = static_cast<uint8_t>(
        std::min(b == backoff.end() ? 1 : b->second.failures + 1, 31));
    retries.push_back(
        {&e, failures,
         applied_ms + std::min<int64_t>(e.interval_ms,
                                        int64_t{1000} << (failures - 1))});
    // Already in error, unless this job wrote a transition meanwhile.
    if (e.evaluation_state == EvaluationState::kEvaluationError &&
        in_txn == nullptr) {
      return nullptr;
    }
    if (in_txn == nullptr) {
      absl::StatusOr<AlarmRecord> r = Whole(name, e);
      if (!r.ok()) return nullptr;  // the failure is logged and counted
      in_txn = &txn.changed.insert_or_assign(name, *std::move(r)).first->second;
    }
    AlarmRecord& r = *in_txn;
    r.evaluation_state = EvaluationState::kEvaluationError;
    r.state_reason = Truncate(
        absl::StrCat("Unable to evaluate the alarm: ", status.message()),
        kMaxStateReasonChars);
    r.state_reason_data.clear();
    r.state_evidence.clear();
    r.state_updated_ms = applied_ms;
    return in_txn;
  };
  // Intervals whose checkpoint a record that could not be read holds back:
  // a restart may then evaluate again their ticks since the old one.
  absl::flat_hash_set<int64_t> held_back;
  // The checkpoint of the last interval asked for (alarms of one interval
  // come in runs).
  int64_t checkpoint_interval = 0;
  std::optional<int64_t> checkpoint;
  auto persist = [&](const Entry& e, int64_t next_tick_ms,
                     AlarmRecord* in_txn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (e.interval_ms != checkpoint_interval) {
      checkpoint_interval = e.interval_ms;
      checkpoint = CheckpointAfter(txn, e.interval_ms);
    }
    if (!PersistNextTick(txn, e, next_tick_ms, checkpoint, in_txn)) {
      held_back.insert(e.interval_ms);
    }
  };
  // Jobs are in name order, as the alarms; an alarm deleted or replaced
  // meanwhile is left (a replacement is among the entries installed).
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (i + kPrefetchAhead < jobs.size()) {
      __builtin_prefetch(jobs[i + kPrefetchAhead].entry);
    }
    EvaluationJob& job = jobs[i];
    Entry& e = *job.entry;
    if (e.retired) {
      if (job.due) still_due();
      continue;
    }
    AlarmRecord* in_txn = job.due ? apply(job) : nullptr;
    persist(e, e.next_tick_ms, in_txn);
  }
  for (size_t i = installed_mark; i < installed_in_round.size(); ++i) {
    const Entry& e = *installed_in_round[i];
    if (e.retired || e.type != AlarmType::kMetric || e.unevaluable) continue;
    auto it = txn.changed.find(e.name);
    persist(e, e.next_tick_ms, it == txn.changed.end() ? nullptr : &it->second);
  }
  for (int64_t interval : held_back) txn.checkpoints.erase(interval);
  if (!held_back.empty() && first_error.ok()) {
    first_error = absl::UnavailableError(
        "alarm records not read: checkpoints held back (logged)");
  }
  Propagate(txn, changed, applied_ms, {});
  const Steady::time_point write_start = Steady::now();
  const absl::Status written = Commit(txn);
  if (only == nullptr) {
    const Steady::time_point end = Steady::now();
    stats.last_round = {static_cast<int64_t>(due_jobs),
                        written.ok() ? round.transitions : 0,
                        micros(look_start, evaluate_start),
                        micros(evaluate_start, apply_start),
                        micros(apply_start, write_start),
                        micros(write_start, end)};
  }
  if (!written.ok()) {
    ++stats.evaluation_failures;
    Log(LogLevel::kError, "alarms",
        absl::StrCat("transitions not written: ", written.ToString()));
    due_from_ms = INT64_MIN;
    for (const Advance& a : advances) {  // evaluated again
      a.entry->next_tick_ms = a.old_next_tick;
      a.entry->fresh = a.old_fresh;
    }
    return written;
  }
  stats.evaluations += round.evaluations;
  stats.transitions += round.transitions;
  stats.ticks_skipped += round.ticks_skipped;
  stats.evaluation_failures += static_cast<int64_t>(held_back.size());
  for (const Retry& r : retries) {
    if (r.failures == 0) {
      backoff.erase(r.entry);
    } else {
      backoff[r.entry] = {r.failures, r.after_ms};
      due_from_ms = std::min(due_from_ms, r.after_ms);
    }
  }
  return first_error;
}

absl::Status AlarmEngine::EvaluateDue() {
  int64_t next_due = INT64_MAX;
  return impl_->EvaluateDue(nullptr, &next_due);
}

absl::Status AlarmEngine::PutMetricAlarm(MetricAlarmConfig config, Tags tags) {
  absl::StatusOr<ValidatedMetricAlarm> v =
      ValidateMetricAlarm(&config, impl_->options.high_resolution_reach_ms);
  if (!v.ok()) return v.status();
  if (absl::Status s = ValidateTags(tags); !s.ok()) return s;
  if (!config.metrics.empty()) {
    // The queries must run and return one series: tried over the range
    // the first evaluation reads.
    const int64_t now = impl_->clock.NowMs();
    const EvaluationWindow w = WindowAt(
        engine::FloorTo(now, EvaluationIntervalMs(config.period_s,
                                                  config.evaluation_periods)),
        config.period_s, config.evaluation_periods);
    absl::StatusOr<std::vector<Period>> tried =
        FetchMathPeriods(impl_->engine, impl_->clock, config, w);
    if (!tried.ok()) {
      return absl::InvalidArgumentError(tried.status().message());
    }
  }
  const std::string name = config.name;
  {
    absl::MutexLock l(&impl_->mu);
    const int64_t now = impl_->clock.NowMs();
    Txn txn;
    const AlarmRecord* old = impl_->Current(txn, name);
    if (!txn.status.ok()) return txn.status;
    if (old != nullptr && old->type != AlarmType::kMetric) {
      return absl::InvalidArgumentError(
          absl::StrCat("alarm_name: '", name, "' is a composite alarm"));
    }
    AlarmRecord r = Reconfigured(old, now);
    r.evaluation_state = EvaluationState::kNone;
    r.type = AlarmType::kMetric;
    r.metric = std::move(config);
    r.tags = std::move(tags);
    r.config_updated_ms = now;
    const int64_t interval =
        EvaluationIntervalMs(r.metric.period_s, r.metric.evaluation_periods);
    const int64_t next_tick =
        engine::FloorTo(now - impl_->options.evaluation_delay_ms, interval);
    SetResumeTick(r, interval, next_tick,
                  impl_->CheckpointAfter(txn, interval));
    impl_->AddHistory(
        txn, r, HistoryItemType::kConfigurationUpdate,
        absl::StrCat("Alarm \"", name, "\" ", old ? "updated" : "created"),
        ConfigurationUpdateData(old, r), now);
    txn.changed[name] = r;
    if (old == nullptr) {
      // Composites whose rule names it, unable to evaluate while it did not
      // exist, are evaluated again.
      std::vector<std::string> changed;
      if (auto p = impl_->parents.find(name); p != impl_->parents.end()) {
        for (const std::string& parent :
             absl::btree_set<std::string>(p->second)) {
          if (impl_->EvaluateComposite(txn, parent, name, now, {})) {
            changed.push_back(parent);
          }
        }
      }
      impl_->Propagate(txn, changed, now, {});
    }
    if (absl::Status s = impl_->Commit(txn); !s.ok()) return s;
    // Commit updated the old entry's record; the new entry replaces it.
    auto e = NewEntry(r, v->rule);
    e->next_tick_ms = next_tick;
    e->fresh = true;
    impl_->Install(std::move(e), &r.metric);
  }
  impl_->Wake();
  int64_t next_due = INT64_MAX;
  // The first evaluation; a failure is logged and counted, and the tick
  // stays due for the evaluation thread.
  (void)impl_->EvaluateDue(&name, &next_due);
  return absl::OkStatus();
}

absl::Status AlarmEngine::PutCompositeAlarm(CompositeAlarmConfig config,
                                            Tags tags) {
  if (absl::Status s = ValidateCompositeAlarm(config); !s.ok()) return s;
  if (absl::Status s = ValidateTags(tags); !s.ok()) return s;
  absl::StatusOr<CompositeRule> rule = CompositeRule::Parse(config.alarm_rule);
  if (!rule.ok()) return rule.status();
  const std::string name = config.name;
  absl::MutexLock l(&impl_->mu);
  for (const std::string& child : rule->children()) {
    if (!impl_->alarms.contains(child)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "alarm_rule: names alarm '", child, "', which does not exist"));
    }
  }
  if (!config.actions_suppressor.empty() &&
      !impl_->alarms.contains(config.actions_suppressor)) {
    return absl::InvalidArgumentError(
        absl::StrCat("actions_suppressor: alarm '", config.actions_suppressor,
                     "' does not exist"));
  }
  const int64_t now = impl_->clock.NowMs();
  Txn txn;
  const AlarmRecord* old = impl_->Current(txn, name);
  if (!txn.status.ok()) return txn.status;
  if (old != nullptr && old->type != AlarmType::kComposite) {
    return absl::InvalidArgumentError(
        absl::StrCat("alarm_name: '", name, "' is a metric alarm"));
  }
  AlarmRecord r = Reconfigured(old, now);
  r.type = AlarmType::kComposite;
  r.composite = std::move(config);
  r.tags = std::move(tags);
  r.config_updated_ms = now;
  txn.changed[name] = r;
  impl_->AddHistory(
      txn, r, HistoryItemType::kConfigurationUpdate,
      absl::StrCat("Alarm \"", name, "\" ", old ? "updated" : "created"),
      ConfigurationUpdateData(old, r), now);
  const absl::flat_hash_map<std::string, std::vector<std::string>>
      new_children = {{name, rule->children()}};
  std::vector<std::string> changed;
  if (impl_->EvaluateComposite(txn, name, "", now, new_children)) {
    changed.push_back(name);
  }
  impl_->RetryEvaluationErrors(txn, now, new_children, &changed);
  impl_->Propagate(txn, changed, now, new_children);
  // Commit writes the records; the composite's entry is installed after,
  // with its children, from what was written.
  AlarmRecord written = txn.changed[name];
  if (absl::Status s = impl_->Commit(txn); !s.ok()) return s;
  impl_->Install(NewEntry(std::move(written), rule->children()), nullptr);
  return absl::OkStatus();
}

absl::Status AlarmEngine::DeleteAlarms(const std::vector<std::string>& names) {
  absl::MutexLock l(&impl_->mu);
  if (absl::Status st = impl_->CheckNames(names); !st.ok()) return st;
  const int64_t now = impl_->clock.NowMs();
  Txn txn;
  for (const std::string& n : names) {
    if (!txn.deleted.insert(n).second) continue;
    const AlarmRecord r = Decoded(n, *impl_->alarms.find(n)->second);
    impl_->AddHistory(txn, r, HistoryItemType::kConfigurationUpdate,
                      absl::StrCat("Alarm \"", n, "\" deleted"),
                      ConfigurationDeleteData(r), now);
  }
  // Composites naming a deleted alarm report it (EVALUATION_ERROR).
  std::vector<std::string> deleted(txn.deleted.begin(), txn.deleted.end());
  for (const std::string& n : deleted) {
    auto p = impl_->parents.find(n);
    if (p == impl_->parents.end()) continue;
    for (const std::string& parent : absl::btree_set<std::string>(p->second)) {
      if (!txn.deleted.contains(parent)) {
        impl_->EvaluateComposite(txn, parent, n, now, {});
      }
    }
  }
  return impl_->Commit(txn);
}

std::optional<AlarmRecord> AlarmEngine::Get(const std::string& name) {
  absl::MutexLock l(&impl_->mu);
  auto it = impl_->alarms.find(name);
  if (it == impl_->alarms.end()) return std::nullopt;
  absl::StatusOr<AlarmRecord> r = impl_->Whole(name, *it->second);
  if (r.ok()) {
    if (absl::Status s = RenderReason(&*r); !s.ok()) r = s;
  }
  if (!r.ok()) {
    Log(LogLevel::kError, "alarms",
        absl::StrCat("alarm '", name,
                     "': reasons not read: ", r.status().ToString()));
    return Decoded(name, *it->second);
  }
  return *std::move(r);
}

absl::StatusOr<DescribeAlarmsResult> AlarmEngine::DescribeAlarms(
    const DescribeAlarmsQuery& q) {
  if (q.max_records < 1 || q.max_records > kMaxDescribeRecords) {
    return absl::InvalidArgumentError(absl::StrCat("max_records: must be 1 to ",
                                                   kMaxDescribeRecords,
                                                   ", got ", q.max_records));
  }
  const int selectors = !q.alarm_names.empty() + !q.alarm_name_prefix.empty() +
                        !q.children_of_alarm_name.empty() +
                        !q.parents_of_alarm_name.empty();
  if (selectors > 1) {
    return absl::InvalidArgumentError(
        "alarm_names: give at most one of alarm_names, alarm_name_prefix, "
        "children_of_alarm_name and parents_of_alarm_name");
  }
  if (q.alarm_names.size() > kMaxDescribeRecords) {
    return absl::InvalidArgumentError(
        absl::StrCat("alarm_names: at most ", kMaxDescribeRecords,
                     " names, got ", q.alarm_names.size()));
  }
  absl::MutexLock l(&impl_->mu);
  absl::btree_set<std::string> only;
  bool restricted = false;
  if (!q.alarm_names.empty()) {
    only.insert(q.alarm_names.begin(), q.alarm_names.end());
    restricted = true;
  } else if (!q.children_of_alarm_name.empty()) {
    restricted = true;
    auto it = impl_->alarms.find(q.children_of_alarm_name);
    if (it != impl_->alarms.end()) {
      only.insert(it->second->children.begin(), it->second->children.end());
    }
  } else if (!q.parents_of_alarm_name.empty()) {
    restricted = true;
    auto it = impl_->parents.find(q.parents_of_alarm_name);
    if (it != impl_->parents.end()) only = it->second;
  }
  // The filters beside the selector (a prefix bounds the walk below).
  auto wanted = [&](const std::string& name, const Entry& e) {
    if (!q.alarm_types.empty() &&
        std::find(q.alarm_types.begin(), q.alarm_types.end(), e.type) ==
            q.alarm_types.end()) {
      return false;
    }
    if (q.state_value && e.state != *q.state_value) return false;
    if (!q.action_prefix.empty()) {
      const AlarmRecord r = Decoded(name, e);
      bool any = false;
      for (AlarmState s : {AlarmState::kOk, AlarmState::kAlarm,
                           AlarmState::kInsufficientData}) {
        for (const std::string& a : r.actions(s)) {
          any = any || absl::StartsWith(a, q.action_prefix);
        }
      }
      if (!any) return false;
    }
    return true;
  };
  DescribeAlarmsResult out;
  // Adds alarm `name` if wanted; false once the page is full.
  auto add =
      [&](const std::string& name, const Entry& e)
          ABSL_EXCLUSIVE_LOCKS_REQUIRED(impl_->mu) -> absl::StatusOr<bool> {
    if (!wanted(name, e)) return true;
    if (out.alarms.size() == q.max_records) {
      out.next_token = out.alarms.back().name();
      return false;
    }
    absl::StatusOr<AlarmRecord> r = impl_->Whole(name, e);
    if (!r.ok()) return r.status();
    if (absl::Status s = RenderReason(&*r); !s.ok()) return s;
    out.alarms.push_back(*std::move(r));
    return true;
  };
  // Names, children and parents are looked up, a prefix is sought: a page
  // costs what it holds, not the number of alarms (a client polling a few
  // alarms by name among 100,000 made each call a scan of them all).
  if (restricted) {
    auto n =
        q.next_token.empty() ? only.begin() : only.upper_bound(q.next_token);
    for (; n != only.end(); ++n) {
      auto it = impl_->alarms.find(*n);
      if (it == impl_->alarms.end()) continue;
      absl::StatusOr<bool> more = add(it->second->name, *it->second);
      if (!more.ok()) return more.status();
      if (!*more) break;
    }
    return out;
  }
  auto it = q.next_token.empty() ? impl_->alarms.begin()
                                 : impl_->alarms.upper_bound(q.next_token);
  if (!q.alarm_name_prefix.empty() &&
      (q.next_token.empty() || q.next_token < q.alarm_name_prefix)) {
    it = impl_->alarms.lower_bound(q.alarm_name_prefix);
  }
  for (; it != impl_->alarms.end(); ++it) {
    if (!absl::StartsWith(it->first, q.alarm_name_prefix)) break;
    absl::StatusOr<bool> more = add(it->second->name, *it->second);
    if (!more.ok()) return more.status();
    if (!*more) break;
  }
  return out;
}

absl::StatusOr<std::vector<AlarmRecord>> AlarmEngine::DescribeAlarmsForMetric(
    const engine::SeriesKey& metric, const std::string& statistic,
    const std::string& extended_statistic, int64_t period_s) {
  absl::MutexLock l(&impl_->mu);
  std::vector<AlarmRecord> out;
  for (const auto& [key, e] : impl_->alarms) {
    if (e->type != AlarmType::kMetric) continue;
    const std::string& name = e->name;
    AlarmRecord r = Decoded(name, *e);
    const engine::SeriesKey& k = r.metric.metric;
    if (k.namespace_name != metric.namespace_name ||
        k.metric_name != metric.metric_name ||
        k.dimensions != metric.dimensions) {
      continue;
    }
    if (!metric.unit.empty() && !k.unit.empty() && k.unit != metric.unit) {
      continue;
    }
    if (!statistic.empty() && r.metric.statistic != statistic) continue;
    if (!extended_statistic.empty() &&
        r.metric.extended_statistic != extended_statistic) {
      continue;
    }
    if (period_s != 0 && r.metric.period_s != period_s) continue;
    absl::StatusOr<AlarmRecord> whole = impl_->Whole(name, *e);
    if (!whole.ok()) return whole.status();
    if (absl::Status s = RenderReason(&*whole); !s.ok()) return s;
    out.push_back(*std::move(whole));
  }
  return out;
}

absl::Status AlarmEngine::SetAlarmState(const std::string& name,
                                        AlarmState state,
                                        const std::string& reason,
                                        const std::string& reason_data) {
  if (engine::CharacterCount(reason) > kMaxStateReasonChars) {
    return absl::InvalidArgumentError(
        absl::StrCat("state_reason: at most ", kMaxStateReasonChars,
                     " characters, got ", engine::CharacterCount(reason)));
  }
  if (engine::CharacterCount(reason_data) > kMaxStateReasonDataChars) {
    return absl::InvalidArgumentError(
        absl::StrCat("state_reason_data: at most ", kMaxStateReasonDataChars,
                     " characters, got ", engine::CharacterCount(reason_data)));
  }
  if (!reason_data.empty()) {
    if (absl::Status s = CheckJsonObject(reason_data); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("state_reason_data: ", s.message()));
    }
  }
  absl::MutexLock l(&impl_->mu);
  auto it = impl_->alarms.find(name);
  if (it == impl_->alarms.end()) {
    return absl::NotFoundError(
        absl::StrCat("alarm_name: alarm '", name, "' does not exist"));
  }
  const int64_t now = impl_->clock.NowMs();
  Entry& e = *it->second;
  absl::StatusOr<AlarmRecord> whole = impl_->Whole(name, e);
  if (!whole.ok()) return whole.status();
  AlarmRecord next = *std::move(whole);
  const AlarmState previous = next.state;
  if (absl::Status s = RenderReason(&next); !s.ok()) return s;
  const std::string previous_reason = next.state_reason;
  next.state = state;
  next.state_reason = reason;
  next.state_reason_data = reason_data;
  next.state_updated_ms = now;
  Txn txn;
  std::vector<std::string> changed;
  if (state != previous) {
    next.state_transitioned_ms = now;
    if (previous == AlarmState::kAlarm) next.left_alarm_ms = now;
    changed.push_back(name);
  }
  impl_->AddHistory(
      txn, next, HistoryItemType::kStateUpdate,
      absl::StrCat("Alarm updated from ", AlarmStateName(previous), " to ",
                   AlarmStateName(state)),
      StateUpdateData(previous, previous_reason, next,
                      "{\"setBy\":\"SetAlarmState\"}"),
      now);
  txn.changed[name] = std::move(next);
  impl_->Propagate(txn, changed, now, {});
  if (absl::Status s = impl_->Commit(txn); !s.ok()) return s;
  // Evaluations computed from the state before this one are dropped.
  e.generation = ++impl_->generation;
  return absl::OkStatus();
}

absl::Status AlarmEngine::SetActionsEnabled(
    const std::vector<std::string>& names, bool enabled) {
  absl::MutexLock l(&impl_->mu);
  if (absl::Status st = impl_->CheckNames(names); !st.ok()) return st;
  const int64_t now = impl_->clock.NowMs();
  Txn txn;
  for (const std::string& n : names) {
    if (txn.changed.contains(n)) continue;
    const AlarmRecord* current = impl_->Current(txn, n);
    if (current == nullptr) return txn.status;
    const AlarmRecord old = *current;
    if (old.actions_enabled() == enabled) continue;
    AlarmRecord r = old;
    r.set_actions_enabled(enabled);
    r.config_version = old.config_version + 1;
    r.config_updated_ms = now;
    impl_->AddHistory(txn, r, HistoryItemType::kConfigurationUpdate,
                      absl::StrCat("Alarm \"", n, "\" updated"),
                      ConfigurationUpdateData(&old, r), now);
    txn.changed[n] = std::move(r);
  }
  return impl_->Commit(txn);
}

absl::StatusOr<HistoryResult> AlarmEngine::DescribeAlarmHistory(
    const HistoryQuery& q) {
  if (q.max_records < 1 || q.max_records > kMaxDescribeRecords) {
    return absl::InvalidArgumentError(absl::StrCat("max_records: must be 1 to ",
                                                   kMaxDescribeRecords,
                                                   ", got ", q.max_records));
  }
  if (q.end_ms <= q.start_ms) {
    return absl::InvalidArgumentError("end_date: must be after start_date");
  }
  // The token: the time and sequence of the last item returned.
  bool after_token = false;
  int64_t token_time = 0;
  uint64_t token_seq = 0;
  if (!q.next_token.empty()) {
    std::pair<absl::string_view, absl::string_view> parts =
        absl::StrSplit(q.next_token, absl::MaxSplits('.', 1));
    if (!absl::SimpleAtoi(parts.first, &token_time) ||
        !absl::SimpleAtoi(parts.second, &token_seq)) {
      return absl::InvalidArgumentError(
          "next_token: not a token this server gave out");
    }
    after_token = true;
  }
  std::vector<HistoryItem> items;
  std::unique_ptr<storage::StoreIterator> it =
      impl_->store.NewIterator(Column::kAlarmHistory);
  const std::string prefix = q.alarm_name.empty()
                                 ? std::string()
                                 : storage::AlarmHistoryKeyPrefix(q.alarm_name);
  // Decodes the item at `it` into `items` if the query wants it. False
  // for a damaged key (DataLoss in *status) or value.
  absl::Status status;
  bool past_range = false;
  auto take = [&]() -> bool {
    HistoryItem item;
    absl::string_view name;
    if (!storage::DecodeAlarmHistoryKey(it->key(), &name, &item.time_ms,
                                        &item.seq)) {
      status = absl::DataLossError("alarm_history: a key of the wrong layout");
      return false;
    }
    if (item.time_ms < q.start_ms || item.time_ms >= q.end_ms) {
      // One alarm's items, read in time order, leave the range for good.
      if (!q.alarm_name.empty() &&
          (q.oldest_first ? item.time_ms >= q.end_ms
                          : item.time_ms < q.start_ms)) {
        past_range = true;
      }
      return true;
    }
    if (after_token) {
      const auto at = std::tie(item.time_ms, item.seq);
      const auto token = std::tie(token_time, token_seq);
      if (q.oldest_first ? !(at > token) : !(at < token)) return true;
    }
    status = DecodeHistoryValue(it->value(), &item);
    if (!status.ok()) return false;
    if (q.item_type && item.type != *q.item_type) return true;
    if (!q.alarm_types.empty() &&
        std::find(q.alarm_types.begin(), q.alarm_types.end(),
                  item.alarm_type) == q.alarm_types.end()) {
      return true;
    }
    // An evaluated transition's data is written from what it kept.
    if (item.change) {
      absl::StatusOr<std::string> data = StateChangeData(*item.change);
      if (!data.ok()) {
        status = absl::DataLossError(absl::StrCat(
            "alarm history item of '", name, "': ", data.status().message()));
        return false;
      }
      item.data = *std::move(data);
      item.change.reset();
    }
    item.alarm_name = std::string(name);
    items.push_back(std::move(item));
    return true;
  };
  if (!q.alarm_name.empty()) {
    // One alarm's items are contiguous and in time order: read from the
    // page's first position, one more than a page.
    if (q.oldest_first) {
      const std::string from =
          after_token
              ? storage::EncodeAlarmHistoryKey(q.alarm_name, token_time,
                                               token_seq)
              : storage::EncodeAlarmHistoryKey(q.alarm_name, q.start_ms, 0);
      for (it->Seek(from); it->Valid() && absl::StartsWith(it->key(), prefix) &&
                           items.size() <= q.max_records && !past_range;
           it->Next()) {
        if (!take()) return status;
      }
    } else {
      const std::string from =
          after_token ? storage::EncodeAlarmHistoryKey(q.alarm_name, token_time,
                                                       token_seq)
                      : storage::EncodeAlarmHistoryKey(
                            q.alarm_name, q.end_ms - 1, UINT64_MAX);
      for (it->SeekForPrev(from);
           it->Valid() && absl::StartsWith(it->key(), prefix) &&
           items.size() <= q.max_records && !past_range;
           it->Prev()) {
        if (!take()) return status;
      }
    }
  } else {
    // Every alarm's: the whole family, sorted by time. (A time index
    // would make a page cost less than the whole history.)
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (!take()) return status;
    }
    auto before = [](const HistoryItem& a, const HistoryItem& b) {
      return std::tie(a.time_ms, a.seq) < std::tie(b.time_ms, b.seq);
    };
    std::sort(items.begin(), items.end(), before);
    if (!q.oldest_first) std::reverse(items.begin(), items.end());
  }
  if (absl::Status s = it->status(); !s.ok()) return s;
  HistoryResult out;
  for (HistoryItem& item : items) {
    if (out.items.size() == q.max_records) {
      const HistoryItem& last = out.items.back();
      out.next_token = absl::StrCat(last.time_ms, ".", last.seq);
      break;
    }
    out.items.push_back(std::move(item));
  }
  return out;
}

AlarmEngineStats AlarmEngine::Stats() {
  absl::MutexLock l(&impl_->mu);
  AlarmEngineStats s = impl_->stats;
  s.alarms = static_cast<int64_t>(impl_->alarms.size());
  return s;
}

}  // namespace nimbus::alarms
