// Alarm transitions survive kill -9: two nimbusd processes on fake clocks
// (--testing_clock_file) get the same points and the same 1,000 metric
// alarms (100 square-wave series with gaps, 10 alarms each of different
// statistics, operators, N/M and treat_missing_data, period 10 s), and
// their clocks are moved together 10 s at a time, 50 steps, each step
// waiting (GetAlarmStats) until both have evaluated every alarm's tick. A,
// the reference, runs throughout; B is killed with SIGKILL at random steps
// (seeded; the seed is printed, NIMBUS_ALARM_CRASH_SEED repeats a run's
// plan): moments after its clock moved (in the middle of the tick's
// evaluation and its commit), between steps, or moments after a restart
// (during the catch-up of the missed ticks), and restarted on the same
// data directory after 0 to 3 ticks of fake downtime. At the end every
// alarm's state, state reason and reason data, and its whole history, must
// be the same on both: the same transitions (summary, evaluated tick, new
// reason, history data) in the same order, none lost, none extra, none
// duplicated. Item timestamps are not compared: a transition is stamped
// with the clock's time when it is applied, which after a restart is the
// time of the catch-up (failures show them, as "written at step N").
//
// Both servers get exactly the same points before the same ticks:
//  - points are written kLeadPeriods ahead of the clocks, so that the points
//    of every tick B evaluates late (after a downtime) were written before
//    the kill (a point B never received would be a legitimate difference);
//  - a third of the series also get late points (into the period two
//    before the new tick, already evaluated: they count from the next tick
//    on), but only at steps where B is up, so that what a tick's
//    evaluation reads is the same on both;
//  - a third start late, so that some alarms are still in their initial
//    INSUFFICIENT_DATA, never transitioned, when B goes down.
// A failure lists the alarms that differ by kind of series and alarm, and
// for the first of each kind where the histories part and why (a tick B
// missed while down, or one it evaluated again at a restart).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nimbus/v1/alarms.grpc.pb.h"
#include "nimbus/v1/metrics.grpc.pb.h"
#include "tests/rpc/nimbusd_process.h"
#include "tools/shapes.h"

namespace nimbus {
namespace {

namespace v1 = ::nimbus::v1;
using google::protobuf::util::TimeUtil;
using nimbus::testing::NimbusdProcess;
using nimbus::testing::WaitUntil;

constexpr int kSeries = 100;
constexpr int kAlarmsPerSeries = 10;
constexpr int kAlarms = kSeries * kAlarmsPerSeries;
constexpr int64_t kPeriodMs = 10'000;  // the alarms' period and tick
// 2026-12-01T10:00:00Z: the fake time both servers start at.
constexpr int64_t kT0 = int64_t{1'796'119'200} * 1000;
// Periods of data before kT0, so that most alarms have data when created.
constexpr int kHistoryPeriods = 12;
// Points are written this many periods ahead of the clocks.
constexpr int kLeadPeriods = 6;
constexpr int kSteps = 50;
constexpr int kKills = 5;        // planned; restarts may add more
constexpr int kMaxDowntime = 3;  // ticks of fake time B misses, at most

const char kNamespace[] = "AlarmCrash";
const char kMetric[] = "Wave";

std::string SeriesName(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "s%03d", i);
  return buf;
}

std::string AlarmName(int i, int j) {
  return absl::StrCat(SeriesName(i), "-a", j);
}

int64_t FloorDiv(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

// The series come in three kinds, by i % 3, with a square wave of their own
// width and phase:
//  0 (regular): data from kHistoryPeriods before kT0 on, every alarm has
//    data when it is created;
//  1 (late points): the same, and while B is up each step also writes one
//    late point into the period two before the new tick (already
//    evaluated by both servers), which counts from the next tick on;
//  2 (late start): no data before a period of their own in the run, so
//    that alarms with treat_missing_data missing or ignore stay in
//    INSUFFICIENT_DATA, never transitioned, until then.
enum class SeriesKind { kRegular, kLatePoints, kLateStart };
SeriesKind KindOf(int i) { return static_cast<SeriesKind>(i % 3); }
const char* KindName(SeriesKind k) {
  switch (k) {
    case SeriesKind::kRegular:
      return "regular";
    case SeriesKind::kLatePoints:
      return "late points";
    case SeriesKind::kLateStart:
      return "late start";
  }
  return "?";
}

struct Point {
  int series;
  int64_t ts_ms;
  double value;
};

// The points of series i in period p (p = 0 starts at kT0): none, or 1 to 3
// values around a low or a high level of the square wave. A fifth of the
// series have runs of 6 missing periods, the others a missing period now
// and then.
void PointsOf(int i, int64_t p, std::vector<Point>* out) {
  const int64_t first =
      KindOf(i) == SeriesKind::kLateStart ? 1 + (i * 7) % 40 : -kHistoryPeriods;
  if (p < first) return;
  if (i % 5 == 1) {
    if (FloorDiv(p + i, 6) % 4 == 3) return;
  } else if ((p * 13 + i) % 11 == 0) {
    return;
  }
  const int64_t half = 2 + i % 4;
  const bool high = FloorDiv(p + 100 + i % 7, half) % 2 == 0;
  const double level = (high ? 70.0 : 20.0) + i % 10;
  const int n = 1 + static_cast<int>((p + 100 + i) % 3);
  for (int k = 0; k < n; ++k) {
    out->push_back({i, kT0 + p * kPeriodMs + 1000 + k * 2000, level + 3.0 * k});
  }
}

// The late point of series i (of the late-points kind) into period p: the
// opposite extreme of the wave, so that it can turn the period's statistic
// across the thresholds.
void LatePointOf(int i, int64_t p, std::vector<Point>* out) {
  if (KindOf(i) != SeriesKind::kLatePoints) return;
  const int64_t half = 2 + i % 4;
  const bool high = FloorDiv(p + 100 + i % 7, half) % 2 == 0;
  out->push_back({i, kT0 + p * kPeriodMs + 9000, high ? 0.0 : 150.0});
}

std::vector<Point> Periods(int64_t first, int64_t last) {
  std::vector<Point> out;
  for (int64_t p = first; p <= last; ++p) {
    for (int i = 0; i < kSeries; ++i) PointsOf(i, p, &out);
  }
  return out;
}

std::vector<Point> LatePoints(int64_t p) {
  std::vector<Point> out;
  for (int i = 0; i < kSeries; ++i) LatePointOf(i, p, &out);
  return out;
}

// Alarm j of series i.
v1::PutMetricAlarmRequest AlarmOf(int i, int j) {
  struct Kind {
    const char* statistic;
    const char* extended;
    const char* op;
    double threshold;
    int n, m;
    const char* missing;
  };
  static const Kind kKinds[kAlarmsPerSeries] = {
      {"Average", "", "GreaterThanThreshold", 50, 1, 1, "missing"},
      {"Average", "", "GreaterThanOrEqualToThreshold", 45, 3, 2, "ignore"},
      {"Maximum", "", "GreaterThanThreshold", 60, 2, 2, "breaching"},
      {"Minimum", "", "LessThanThreshold", 40, 3, 1, "notBreaching"},
      {"Sum", "", "GreaterThanOrEqualToThreshold", 150, 2, 1, "missing"},
      {"SampleCount", "", "GreaterThanThreshold", 2, 1, 1, "notBreaching"},
      {"Average", "", "LessThanOrEqualToThreshold", 30, 5, 3, "missing"},
      {"", "p90", "GreaterThanThreshold", 55, 2, 2, "ignore"},
      {"Average", "", "GreaterThanThreshold", 50, 4, 4, "breaching"},
      {"Maximum", "", "LessThanOrEqualToThreshold", 35, 3, 3, "ignore"},
  };
  const Kind& k = kKinds[j];
  v1::PutMetricAlarmRequest r;
  r.set_alarm_name(AlarmName(i, j));
  r.set_namespace_(kNamespace);
  r.set_metric_name(kMetric);
  v1::Dimension* d = r.add_dimensions();
  d->set_name("Series");
  d->set_value(SeriesName(i));
  if (*k.extended != '\0') {
    r.set_extended_statistic(k.extended);
  } else {
    r.set_statistic(k.statistic);
  }
  r.set_period(static_cast<int32_t>(kPeriodMs / 1000));
  r.set_evaluation_periods(k.n);
  r.set_datapoints_to_alarm(k.m);
  r.set_threshold(k.threshold);
  r.set_comparison_operator(k.op);
  r.set_treat_missing_data(k.missing);
  return r;
}

std::chrono::system_clock::time_point Deadline() {
  return std::chrono::system_clock::now() + std::chrono::seconds(20);
}

// One nimbusd on a clock of its own, and its stubs.
struct Server {
  std::string name;
  NimbusdProcess process;
  std::unique_ptr<v1::AlarmService::Stub> alarms;
  std::unique_ptr<v1::MetricsService::Stub> metrics;
  int64_t now_ms = 0;

  std::string clock_file() const { return process.data_dir() + "/clock"; }

  // Written whole (a rename), so that the server never reads half of it.
  void SetClock(int64_t ms) {
    now_ms = ms;
    const std::string tmp = clock_file() + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << ms << "\n";
    }
    std::rename(tmp.c_str(), clock_file().c_str());
  }

  absl::Status Start() {
    absl::Status s = process.Start({"--testing_clock_file=" + clock_file()});
    if (!s.ok()) return s;
    const std::shared_ptr<grpc::Channel> channel = process.Channel();
    alarms = v1::AlarmService::NewStub(channel);
    metrics = v1::MetricsService::NewStub(channel);
    return absl::OkStatus();
  }

  absl::Status Stats(v1::GetAlarmStatsResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    const grpc::Status s =
        alarms->GetAlarmStats(&ctx, v1::GetAlarmStatsRequest(), resp);
    if (!s.ok()) {
      return absl::UnavailableError(
          absl::StrCat(name, ": GetAlarmStats: ", s.error_message()));
    }
    return absl::OkStatus();
  }

  // Waits until the evaluator has done at least `evaluations` ticks since
  // the server started, reading the clock as now_ms; returns its stats.
  absl::Status WaitEvaluations(int64_t evaluations,
                               v1::GetAlarmStatsResponse* out) {
    absl::Status last;
    const absl::Status waited = WaitUntil(
        [&] {
          last = Stats(out);
          return last.ok() && out->evaluations() >= evaluations &&
                 TimeUtil::TimestampToMilliseconds(out->now()) == now_ms;
        },
        absl::StrCat(name, " evaluating ", evaluations, " ticks at ", now_ms));
    if (!waited.ok()) {
      return absl::DeadlineExceededError(
          absl::StrCat(waited.message(), "; last stats: ",
                       last.ok() ? out->ShortDebugString() : last.ToString()));
    }
    return absl::OkStatus();
  }

  absl::Status Put(const std::vector<Point>& points) {
    v1::PutMetricDataRequest req;
    auto flush = [&]() -> absl::Status {
      if (req.metric_data_size() == 0) return absl::OkStatus();
      v1::PutMetricDataResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(Deadline());
      const grpc::Status s = metrics->PutMetricData(&ctx, req, &resp);
      if (!s.ok()) {
        return absl::UnavailableError(
            absl::StrCat(name, ": PutMetricData: ", s.error_message()));
      }
      if (resp.rejected_points() != 0) {
        return absl::InternalError(absl::StrCat(
            name, ": PutMetricData rejected ", resp.rejected_points(),
            " points: ", resp.ShortDebugString()));
      }
      req.clear_metric_data();
      return absl::OkStatus();
    };
    req.set_namespace_(kNamespace);
    for (const Point& pt : points) {
      v1::MetricDatum* d = req.add_metric_data();
      d->set_metric_name(kMetric);
      v1::Dimension* dim = d->add_dimensions();
      dim->set_name("Series");
      dim->set_value(SeriesName(pt.series));
      *d->mutable_timestamp() = TimeUtil::MillisecondsToTimestamp(pt.ts_ms);
      d->set_value(pt.value);
      d->set_storage_resolution(1);
      if (req.metric_data_size() == 1000) {
        if (absl::Status s = flush(); !s.ok()) return s;
      }
    }
    return flush();
  }
};

// One history item, as compared: everything but its timestamp.
struct Item {
  std::string type;
  std::string summary;
  std::string tick;        // StateUpdate: evidence.tick
  std::string new_reason;  // StateUpdate: newState.stateReason
  std::string data;        // the whole history data
  int64_t time_ms = 0;     // not compared: when it was applied

  std::string Key() const {
    return absl::StrCat(type, " | ", summary, " | tick ", tick, " | ",
                        new_reason);
  }
};

std::string FieldString(const google::protobuf::Struct& s,
                        const std::string& name) {
  auto it = s.fields().find(name);
  if (it == s.fields().end()) return "";
  return it->second.string_value();
}

const google::protobuf::Struct* FieldStruct(const google::protobuf::Struct& s,
                                            const std::string& name) {
  auto it = s.fields().find(name);
  if (it == s.fields().end() || !it->second.has_struct_value()) return nullptr;
  return &it->second.struct_value();
}

absl::Status History(Server& server, const std::string& alarm,
                     std::vector<Item>* out) {
  std::string token;
  do {
    v1::DescribeAlarmHistoryRequest req;
    req.set_alarm_name(alarm);
    req.set_scan_by("TimestampAscending");
    req.set_max_records(100);
    req.set_next_token(token);
    v1::DescribeAlarmHistoryResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    const grpc::Status s =
        server.alarms->DescribeAlarmHistory(&ctx, req, &resp);
    if (!s.ok()) {
      return absl::UnavailableError(absl::StrCat(
          server.name, ": DescribeAlarmHistory: ", s.error_message()));
    }
    for (const v1::AlarmHistoryItem& h : resp.alarm_history_items()) {
      Item item;
      item.type = h.history_item_type();
      item.summary = h.history_summary();
      item.data = h.history_data();
      item.time_ms = TimeUtil::TimestampToMilliseconds(h.timestamp());
      if (item.type == "StateUpdate") {
        google::protobuf::Struct data;
        const auto parsed = google::protobuf::util::JsonStringToMessage(
            h.history_data(), &data);
        if (!parsed.ok()) {
          return absl::InternalError(absl::StrCat(
              server.name, ": history data of ", alarm,
              " is not JSON: ", parsed.ToString(), ": ", h.history_data()));
        }
        if (const auto* evidence = FieldStruct(data, "evidence")) {
          item.tick = FieldString(*evidence, "tick");
        }
        if (const auto* next = FieldStruct(data, "newState")) {
          item.new_reason = FieldString(*next, "stateReason");
        }
      }
      out->push_back(std::move(item));
    }
    token = resp.next_token();
  } while (!token.empty());
  return absl::OkStatus();
}

struct State {
  std::string value, reason, reason_data;
};

absl::Status States(Server& server, std::map<std::string, State>* out) {
  std::string token;
  do {
    v1::DescribeAlarmsRequest req;
    req.add_alarm_types("MetricAlarm");
    req.add_alarm_types("CompositeAlarm");
    req.set_max_records(100);
    req.set_next_token(token);
    v1::DescribeAlarmsResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    const grpc::Status s = server.alarms->DescribeAlarms(&ctx, req, &resp);
    if (!s.ok()) {
      return absl::UnavailableError(
          absl::StrCat(server.name, ": DescribeAlarms: ", s.error_message()));
    }
    for (const auto& a : resp.metric_alarms()) {
      (*out)[a.alarm_name()] = {a.state_value(), a.state_reason(),
                                a.state_reason_data()};
    }
    for (const auto& a : resp.composite_alarms()) {
      (*out)[a.alarm_name()] = {a.state_value(), a.state_reason(),
                                a.state_reason_data()};
    }
    token = resp.next_token();
  } while (!token.empty());
  return absl::OkStatus();
}

// Items from `from` on (and the one before it, for context).
std::string Show(const std::vector<Item>& items, size_t from) {
  std::ostringstream os;
  for (size_t k = from > 0 ? from - 1 : 0; k < items.size(); ++k) {
    os << "\n      " << k << " (written at step "
       << (items[k].time_ms - kT0) / kPeriodMs << "): " << items[k].Key();
  }
  if (from >= items.size()) os << "\n      (no more)";
  return os.str();
}

// The time of an evidence tick (yyyy-MM-ddTHH:mm:ss.SSS+0000, on the day of
// kT0), or -1.
int64_t TickMs(const std::string& tick) {
  int h, m, sec;
  if (tick.size() < 19 ||
      std::sscanf(tick.c_str() + 11, "%d:%d:%d", &h, &m, &sec) != 3) {
    return -1;
  }
  return kT0 / 86'400'000 * 86'400'000 + ((h * 60 + m) * 60 + sec) * 1000;
}

void Log(const std::string& line) {
  // Flushed: a child forked later must not inherit it unwritten.
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

// How B is killed at a step.
enum class KillMode {
  kAfterClock,    // moments after its clock moved: mid-evaluation
  kBetweenSteps,  // once it has evaluated the step's tick
};

struct Kill {
  int step;
  KillMode mode;
  int delay_ms;  // kAfterClock: after the clock moved
  // Ticks B misses: it is restarted at step + downtime + 1, once its
  // clock has moved.
  int downtime;
  // Killed again this long after the restart (during its catch-up), or -1;
  // then restarted at the next step.
  int rekill_ms;
  int restart_step() const { return step + downtime + 1; }
};

uint64_t Seed() {
  if (const char* s = std::getenv("NIMBUS_ALARM_CRASH_SEED")) {
    return std::strtoull(s, nullptr, 10);
  }
  return static_cast<uint64_t>(
             std::chrono::steady_clock::now().time_since_epoch().count()) ^
         static_cast<uint64_t>(::getpid());
}

// A restart resumes every alarm at the tick after the last it evaluated
// (the evaluation checkpoints and the records' next ticks,
// storage/FORMAT.md "Alarm record"). Without them a restart would evaluate
// ticks again over the late points that arrived since (extra transitions),
// or skip the ticks an alarm that never transitioned missed while down.
TEST(AlarmCrash, TransitionsSurviveKillNine) {
  const auto started = std::chrono::steady_clock::now();
  const uint64_t seed = Seed();
  Log(absl::StrCat("seed ", seed, " (NIMBUS_ALARM_CRASH_SEED=", seed,
                   " repeats this run's plan)"));
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  tools::Rng rng(seed);

  // The kills: kKills of them, each restarted after its downtime, the next
  // one after that.
  std::vector<Kill> kills;
  for (int64_t step = rng.Uniform(2, 5);
       static_cast<int>(kills.size()) < kKills;) {
    Kill k;
    k.step = static_cast<int>(step);
    k.mode = rng.Uniform(0, 2) == 0 ? KillMode::kBetweenSteps
                                    : KillMode::kAfterClock;
    k.delay_ms = static_cast<int>(rng.Uniform(0, 25));
    k.downtime = static_cast<int>(rng.Uniform(0, kMaxDowntime));
    k.rekill_ms =
        rng.Uniform(0, 2) == 0 ? static_cast<int>(rng.Uniform(0, 40)) : -1;
    const int last_restart = k.restart_step() + (k.rekill_ms >= 0 ? 1 : 0);
    ASSERT_LE(last_restart, kSteps);
    kills.push_back(k);
    step = last_restart + 1 + rng.Uniform(0, 4);
  }
  for (const Kill& k : kills) {
    Log(absl::StrCat("plan: kill B at step ", k.step, " ",
                     k.mode == KillMode::kAfterClock
                         ? absl::StrCat(k.delay_ms, " ms after its clock moved")
                         : "once it has evaluated the step",
                     ", restart it at step ", k.step + k.downtime + 1,
                     k.rekill_ms < 0
                         ? ""
                         : absl::StrCat(", kill it again ", k.rekill_ms,
                                        " ms after that restart")));
  }

  Server a, b;
  a.name = "A";
  b.name = "B";
  for (Server* s : {&a, &b}) {
    s->SetClock(kT0);
    const absl::Status st = s->Start();
    ASSERT_TRUE(st.ok()) << s->name << ": " << st;
    const absl::Status put = s->Put(Periods(-kHistoryPeriods, kLeadPeriods));
    ASSERT_TRUE(put.ok()) << put;
  }
  for (Server* s : {&a, &b}) {
    for (int i = 0; i < kSeries; ++i) {
      for (int j = 0; j < kAlarmsPerSeries; ++j) {
        v1::PutMetricAlarmResponse resp;
        grpc::ClientContext ctx;
        ctx.set_deadline(Deadline());
        const grpc::Status st =
            s->alarms->PutMetricAlarm(&ctx, AlarmOf(i, j), &resp);
        ASSERT_TRUE(st.ok()) << s->name << ": PutMetricAlarm "
                             << AlarmName(i, j) << ": " << st.error_message();
      }
    }
  }
  const auto created = std::chrono::steady_clock::now();

  // A: the ticks from kT0 on, each alarm's, exactly. B: since its last
  // start, at least those after the last tick it was seen to have done.
  v1::GetAlarmStatsResponse stats;
  {
    const absl::Status st = a.WaitEvaluations(kAlarms, &stats);
    ASSERT_TRUE(st.ok()) << st;
    ASSERT_EQ(stats.evaluations(), kAlarms) << stats.ShortDebugString();
  }
  int64_t b_done_tick = kT0;  // B has evaluated every alarm's ticks to this
  int64_t b_evaluations = 0;  // ... and its counter then
  {
    const absl::Status st = b.WaitEvaluations(kAlarms, &stats);
    ASSERT_TRUE(st.ok()) << st;
    b_evaluations = stats.evaluations();
  }

  int kills_done = 0;
  int64_t late_points = 0;
  int64_t catch_up_evaluations = 0;  // by B after its restarts
  // The ticks B evaluated late, after a restart: [first, last].
  std::vector<std::pair<int64_t, int64_t>> catch_ups;
  int64_t b_down_since_period = -1;  // the first period B has not received
  // The latest time B's clock showed while it ran, and before its start.
  int64_t b_seen_ms = kT0, b_seen_before_start = kT0;
  // Waits until B (running) has evaluated every tick to its clock. After
  // a restart, the ticks after the clock it last saw are due at least (it
  // may have done those up to it before the kill), and a catch-up is one
  // pass of the evaluator: once the counter shows them, it has done all.
  auto wait_b = [&](bool restarted) -> absl::Status {
    const int64_t due =
        (b.now_ms - (restarted ? b_seen_before_start : b_done_tick)) /
        kPeriodMs * kAlarms;
    v1::GetAlarmStatsResponse st;
    if (absl::Status s =
            b.WaitEvaluations((restarted ? 0 : b_evaluations) + due, &st);
        !s.ok()) {
      return s;
    }
    if (restarted) {
      catch_up_evaluations += st.evaluations();
      catch_ups.push_back({b_done_tick + kPeriodMs, b.now_ms});
      Log(absl::StrCat(
          "  B restarted at step ", (b.now_ms - kT0) / kPeriodMs,
          ": caught up ticks ", (b_done_tick + kPeriodMs - kT0) / kPeriodMs,
          " to ", (b.now_ms - kT0) / kPeriodMs, " with ", st.evaluations(),
          " evaluations (at least ", due, " due), ", st.transitions(),
          " transitions, ", st.evaluation_failures(), " failures"));
    }
    b_evaluations = st.evaluations();
    b_done_tick = b.now_ms;
    return absl::OkStatus();
  };
  auto kill_b = [&](const std::string& when) -> absl::Status {
    ++kills_done;
    Log(absl::StrCat("  kill ", kills_done, " of B ", when));
    return b.process.Stop(SIGKILL);
  };
  std::optional<Kill> down;  // the kill B is down from
  // Restarts B, sends it the points it missed, waits for its catch-up; or
  // kills it again moments after the start, to be restarted at the next
  // step.
  auto restart_b = [&](int64_t lead_period) -> absl::Status {
    const Kill k = *down;
    b_seen_before_start = b_seen_ms;
    if (absl::Status s = b.Start(); !s.ok()) return s;
    b_seen_ms = b.now_ms;
    if (k.rekill_ms >= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(k.rekill_ms));
      down = Kill{k.restart_step(), KillMode::kAfterClock, k.rekill_ms, 0, -1};
      return kill_b("moments after its restart");
    }
    down.reset();
    if (b_down_since_period >= 0 && b_down_since_period <= lead_period) {
      if (absl::Status s = b.Put(Periods(b_down_since_period, lead_period));
          !s.ok()) {
        return s;
      }
    }
    b_down_since_period = -1;
    return wait_b(true);
  };

  size_t next_kill = 0;
  for (int step = 1; step <= kSteps; ++step) {
    const int64_t now = kT0 + step * kPeriodMs;
    const int64_t lead_period = step + kLeadPeriods;
    // The points of a period to come, and while B is up (so that both get
    // them before the same ticks) the late points; then the clocks.
    std::vector<Point> points = Periods(lead_period, lead_period);
    if (b.process.running()) {
      const std::vector<Point> late = LatePoints(step - 2);
      points.insert(points.end(), late.begin(), late.end());
      late_points += static_cast<int64_t>(late.size());
      const absl::Status put = b.Put(points);
      ASSERT_TRUE(put.ok()) << put;
    } else if (b_down_since_period < 0) {
      b_down_since_period = lead_period;
    }
    {
      const absl::Status put = a.Put(points);
      ASSERT_TRUE(put.ok()) << put;
    }
    a.SetClock(now);
    b.SetClock(now);
    if (b.process.running()) b_seen_ms = now;
    // B restarts with its clock moved: at least this step's tick is due.
    bool restarted = false;
    if (down && step == down->restart_step()) {
      const absl::Status st = restart_b(lead_period);
      ASSERT_TRUE(st.ok()) << st;
      restarted = b.process.running();
    }
    const Kill* kill = next_kill < kills.size() && kills[next_kill].step == step
                           ? &kills[next_kill++]
                           : nullptr;
    if (kill != nullptr && kill->mode == KillMode::kAfterClock) {
      std::this_thread::sleep_for(std::chrono::milliseconds(kill->delay_ms));
      const absl::Status st = kill_b(absl::StrCat(
          "at step ", step, ", ", kill->delay_ms, " ms after its clock moved"));
      ASSERT_TRUE(st.ok()) << st;
      down = *kill;
    }
    {
      const absl::Status st =
          a.WaitEvaluations(int64_t{kAlarms} * (step + 1), &stats);
      ASSERT_TRUE(st.ok()) << st;
      ASSERT_EQ(stats.evaluations(), int64_t{kAlarms} * (step + 1))
          << "A at step " << step << ": " << stats.ShortDebugString();
      // One round evaluated the step's tick of every alarm.
      EXPECT_EQ(stats.last_round().jobs(), kAlarms) << stats.ShortDebugString();
    }
    if (b.process.running() && !restarted) {
      const absl::Status st = wait_b(false);
      ASSERT_TRUE(st.ok()) << st;
    }
    if (kill != nullptr && kill->mode == KillMode::kBetweenSteps) {
      const absl::Status st =
          kill_b(absl::StrCat("after step ", step, " was evaluated"));
      ASSERT_TRUE(st.ok()) << st;
      down = *kill;
    }
  }
  ASSERT_TRUE(b.process.running());
  const auto stepped = std::chrono::steady_clock::now();

  // Compare.
  std::map<std::string, State> states_a, states_b;
  {
    absl::Status st = States(a, &states_a);
    ASSERT_TRUE(st.ok()) << st;
    st = States(b, &states_b);
    ASSERT_TRUE(st.ok()) << st;
  }
  ASSERT_EQ(states_a.size(), static_cast<size_t>(kAlarms));
  ASSERT_EQ(states_b.size(), static_cast<size_t>(kAlarms));
  int64_t transitions = 0;
  int differing = 0, state_diffs = 0, history_diffs = 0, data_diffs = 0,
      duplicates = 0;
  // Alarms that differ, by series kind and alarm j; and how many of them
  // differ first at a tick B evaluated in a catch-up.
  std::map<std::string, int> by_kind;
  int parted_missed = 0, parted_reevaluated = 0, parted_other = 0,
      parted_at_first_transition = 0;
  std::ostringstream report;
  constexpr int kReportedPerKind = 4;
  int reported[3] = {0, 0, 0};  // by series kind
  for (int i = 0; i < kSeries; ++i) {
    for (int j = 0; j < kAlarmsPerSeries; ++j) {
      const std::string name = AlarmName(i, j);
      const State& sa = states_a[name];
      const State& sb = states_b[name];
      std::ostringstream why;
      if (sa.value != sb.value || sa.reason != sb.reason ||
          sa.reason_data != sb.reason_data) {
        ++state_diffs;
        why << "\n  state: A " << sa.value << " (" << sa.reason << ")\n"
            << "         B " << sb.value << " (" << sb.reason << ")";
        if (sa.reason_data != sb.reason_data) {
          why << "\n  reason data: A " << sa.reason_data << "\n"
              << "               B " << sb.reason_data;
        }
      }
      std::vector<Item> ha, hb;
      absl::Status st = History(a, name, &ha);
      ASSERT_TRUE(st.ok()) << st;
      st = History(b, name, &hb);
      ASSERT_TRUE(st.ok()) << st;
      for (const Item& item : ha) transitions += item.type == "StateUpdate";
      std::set<std::string> seen;
      for (const Item& item : hb) {
        if (item.type != "StateUpdate") continue;
        if (!seen.insert(item.tick + "|" + item.summary).second) {
          ++duplicates;
          why << "\n  B has this transition twice: " << item.Key();
        }
      }
      size_t k = 0;
      while (k < ha.size() && k < hb.size() && ha[k].Key() == hb[k].Key()) ++k;
      if (k < ha.size() || k < hb.size()) {
        ++history_diffs;
        // Where they part: the earlier of the two ticks at item k.
        int64_t tick_ms = INT64_MAX;
        if (k < ha.size() && TickMs(ha[k].tick) >= 0) {
          tick_ms = TickMs(ha[k].tick);
        }
        if (k < hb.size() && TickMs(hb[k].tick) >= 0) {
          tick_ms = std::min(tick_ms, TickMs(hb[k].tick));
        }
        const int64_t tick_step = (tick_ms - kT0) / kPeriodMs;
        // When B first evaluated the tick: live, or in the catch-up of a
        // restart (step of the restart), if it had missed it.
        int64_t first_eval_ms = tick_ms;
        bool missed = false;
        for (const auto& [from, to] : catch_ups) {
          if (tick_ms >= from && tick_ms <= to) {
            first_eval_ms = to;
            missed = true;
          }
        }
        const bool b_made_it = k < hb.size() && TickMs(hb[k].tick) == tick_ms;
        std::string where;
        if (tick_ms == INT64_MAX) {
          where = "not at a tick";
          ++parted_other;
        } else if (b_made_it && hb[k].time_ms > first_eval_ms) {
          where = absl::StrCat(
              "tick ", tick_step, ": B first evaluated it at step ",
              (first_eval_ms - kT0) / kPeriodMs,
              ", and again at its restart at step ",
              (hb[k].time_ms - kT0) / kPeriodMs, ", which made item ", k);
          ++parted_reevaluated;
        } else if (missed) {
          where = absl::StrCat("tick ", tick_step,
                               ": B missed it while down and evaluated it in "
                               "the catch-up of its restart at step ",
                               (first_eval_ms - kT0) / kPeriodMs);
          ++parted_missed;
        } else {
          where = absl::StrCat("tick ", tick_step, ", which B evaluated live");
          ++parted_other;
        }
        parted_at_first_transition += k == 1;
        why << "\n  history: A has " << ha.size() << " items, B " << hb.size()
            << "; the first " << k << " agree; they part at item " << k << " ("
            << where << "):\n    A:" << Show(ha, k)
            << "\n    B:" << Show(hb, k);
      } else {
        for (size_t n = 0; n < ha.size(); ++n) {
          if (ha[n].data == hb[n].data) continue;
          ++data_diffs;
          why << "\n  history item " << n << " has other data:\n    A "
              << ha[n].data << "\n    B " << hb[n].data;
          break;
        }
      }
      if (why.str().empty()) continue;
      ++by_kind[absl::StrCat(KindName(KindOf(i)), " series, alarm a", j)];
      ++differing;
      if (++reported[static_cast<int>(KindOf(i))] <= kReportedPerKind) {
        report << "\n"
               << name << " (" << KindName(KindOf(i))
               << " series):" << why.str();
      }
    }
  }
  const auto compared = std::chrono::steady_clock::now();
  auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
  Log(absl::StrCat(
      kills_done, " kills; ", transitions, " transitions on A; ", late_points,
      " late points; B caught up with ", catch_up_evaluations,
      " evaluations\ntime: setup ", secs(created - started), " s, steps ",
      secs(stepped - created), " s, comparison ", secs(compared - stepped),
      " s, total ", secs(compared - started), " s"));
  EXPECT_GE(kills_done, 3);
  EXPECT_GT(transitions, 1000);
  if (differing > 0) {
    std::ostringstream kinds;
    for (const auto& [kind, count] : by_kind) {
      kinds << "\n  " << kind << ": " << count;
    }
    ADD_FAILURE() << differing << " of " << kAlarms
                  << " alarms differ between B (killed) and A (never killed): "
                  << state_diffs << " in their state, " << history_diffs
                  << " in their transitions (parting at a tick B evaluated "
                     "again at a later restart, which made a transition the "
                     "first evaluation had not: "
                  << parted_reevaluated
                  << "; at a tick B missed while down and evaluated in a "
                     "catch-up: "
                  << parted_missed << "; elsewhere: " << parted_other
                  << "; at the alarm's first transition: "
                  << parted_at_first_transition << "), " << data_diffs
                  << " only in history data; " << duplicates
                  << " duplicated transitions on B. By kind:" << kinds.str()
                  << "\nThe first of each kind of series:" << report.str();
  }
}

}  // namespace
}  // namespace nimbus
