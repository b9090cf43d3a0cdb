// nimbus.v1.AlarmService against a real nimbusd, as a client sees it: points
// put with PutMetricData, alarms created, evaluated at once and described
// (state, CloudWatch-form reasons and reason data, versions), PreviewAlarm
// over the stored points (the worked table of docs/semantics.md, every
// comparison operator), forced states, actions enabled and disabled,
// deletes, history (filters, order, paging), composites, alarms by metric,
// every field rule refused with INVALID_ARGUMENT naming the field, and
// restarts (clean and SIGKILL) that keep alarms, states and history.
//
// The server runs on the system clock. The tests never wait for time to
// pass: points are put in the minutes just before now, and tick-level
// semantics are read through PreviewAlarm at a tick they choose. Alarms
// whose state a test forces watch a series without data with
// treat_missing_data "ignore", so that no evaluation (one falls due each
// minute) changes the state under the test.
#include <signal.h>
#include <time.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nimbus/v1/alarms.grpc.pb.h"
#include "nimbus/v1/metrics.grpc.pb.h"
#include "tests/rpc/nimbusd_process.h"

namespace nimbus {
namespace {

namespace v1 = ::nimbus::v1;
using google::protobuf::util::MessageDifferencer;
using google::protobuf::util::TimeUtil;
using nimbus::testing::NimbusdProcess;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using Stub = v1::AlarmService::Stub;
using Dims = std::vector<std::pair<std::string, std::string>>;

constexpr int64_t kMinute = 60'000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t FloorMinute(int64_t ms) { return ms / kMinute * kMinute; }

std::string FormatUtc(int64_t ms, const char* format) {
  const time_t s = static_cast<time_t>(ms / 1000);
  struct tm tm;
  gmtime_r(&s, &tm);
  char buf[64];
  strftime(buf, sizeof(buf), format, &tm);
  return buf;
}

// As reasons print a period's start: dd/MM/yy HH:mm:ss, UTC.
std::string ReasonTime(int64_t ms) {
  return FormatUtc(ms, "%d/%m/%y %H:%M:%S");
}

// As reason data and history print times: yyyy-MM-ddTHH:mm:ss.SSS+0000.
std::string JsonTime(int64_t ms) {
  return absl::StrCat(FormatUtc(ms, "%Y-%m-%dT%H:%M:%S."),
                      absl::StrCat(1000 + ms % 1000).substr(1), "+0000");
}

int64_t Ms(const google::protobuf::Timestamp& t) {
  return TimeUtil::TimestampToMilliseconds(t);
}

google::protobuf::Timestamp Ts(int64_t ms) {
  return TimeUtil::MillisecondsToTimestamp(ms);
}

std::string Show(const grpc::Status& s) {
  return absl::StrCat("code ", s.error_code(), ": ", s.error_message());
}

void AddDimensions(const Dims& dims,
                   google::protobuf::RepeatedPtrField<v1::Dimension>* out) {
  for (const auto& [name, value] : dims) {
    v1::Dimension* d = out->Add();
    d->set_name(name);
    d->set_value(value);
  }
}

// A valid alarm: the Average of App/CPU{Host=a} above 80 for 3 of 3
// one-minute periods.
v1::PutMetricAlarmRequest CpuAlarm(const std::string& name) {
  v1::PutMetricAlarmRequest r;
  r.set_alarm_name(name);
  r.set_namespace_("App");
  r.set_metric_name("CPU");
  AddDimensions({{"Host", "a"}}, r.mutable_dimensions());
  r.set_statistic("Average");
  r.set_period(60);
  r.set_evaluation_periods(3);
  r.set_threshold(80);
  r.set_comparison_operator("GreaterThanThreshold");
  return r;
}

// An alarm on a series that never has data, with treat_missing_data
// "ignore": evaluations keep whatever state it has, so a forced state
// stays until the test changes it.
v1::PutMetricAlarmRequest QuietAlarm(const std::string& name) {
  v1::PutMetricAlarmRequest r = CpuAlarm(name);
  r.set_metric_name("NoData-" + name);
  r.set_treat_missing_data("ignore");
  return r;
}

class AlarmServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(); }

  void StartServer() {
    const absl::Status s = server_.Start();
    ASSERT_TRUE(s.ok()) << s;
    const std::shared_ptr<grpc::Channel> channel = server_.Channel();
    alarms_ = v1::AlarmService::NewStub(channel);
    metrics_ = v1::MetricsService::NewStub(channel);
  }

  template <typename Req, typename Resp>
  grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                 const Req&, Resp*),
                    const Req& req, Resp* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + testing::kWaitBound);
    return ((*alarms_).*method)(&ctx, req, resp);
  }

  grpc::Status Put(const v1::PutMetricAlarmRequest& req) {
    v1::PutMetricAlarmResponse resp;
    return Call(&Stub::PutMetricAlarm, req, &resp);
  }
  grpc::Status PutComposite(const v1::PutCompositeAlarmRequest& req) {
    v1::PutCompositeAlarmResponse resp;
    return Call(&Stub::PutCompositeAlarm, req, &resp);
  }
  grpc::Status PutComposite(const std::string& name, const std::string& rule) {
    v1::PutCompositeAlarmRequest req;
    req.set_alarm_name(name);
    req.set_alarm_rule(rule);
    return PutComposite(req);
  }
  grpc::Status SetState(const std::string& name, const std::string& state,
                        const std::string& reason,
                        const std::string& reason_data = "") {
    v1::SetAlarmStateRequest req;
    req.set_alarm_name(name);
    req.set_state_value(state);
    req.set_state_reason(reason);
    req.set_state_reason_data(reason_data);
    v1::SetAlarmStateResponse resp;
    return Call(&Stub::SetAlarmState, req, &resp);
  }
  grpc::Status Delete(const std::vector<std::string>& names) {
    v1::DeleteAlarmsRequest req;
    for (const auto& n : names) req.add_alarm_names(n);
    v1::DeleteAlarmsResponse resp;
    return Call(&Stub::DeleteAlarms, req, &resp);
  }

  grpc::Status Describe(const v1::DescribeAlarmsRequest& req,
                        v1::DescribeAlarmsResponse* resp) {
    return Call(&Stub::DescribeAlarms, req, resp);
  }
  v1::DescribeAlarmsResponse Describe(const v1::DescribeAlarmsRequest& req) {
    v1::DescribeAlarmsResponse resp;
    const grpc::Status s = Describe(req, &resp);
    EXPECT_TRUE(s.ok()) << Show(s);
    return resp;
  }
  // The names DescribeAlarms answers, metric alarms then composites.
  std::vector<std::string> Names(const v1::DescribeAlarmsRequest& req) {
    std::vector<std::string> out;
    const v1::DescribeAlarmsResponse r = Describe(req);
    for (const auto& a : r.metric_alarms()) out.push_back(a.alarm_name());
    for (const auto& a : r.composite_alarms()) out.push_back(a.alarm_name());
    return out;
  }
  v1::MetricAlarm Metric(const std::string& name) {
    v1::DescribeAlarmsRequest req;
    req.add_alarm_names(name);
    const v1::DescribeAlarmsResponse r = Describe(req);
    EXPECT_EQ(r.metric_alarms_size(), 1) << name;
    EXPECT_EQ(r.composite_alarms_size(), 0) << name;
    return r.metric_alarms_size() == 1 ? r.metric_alarms(0) : v1::MetricAlarm();
  }
  v1::CompositeAlarm Composite(const std::string& name) {
    v1::DescribeAlarmsRequest req;
    req.add_alarm_names(name);
    req.add_alarm_types("CompositeAlarm");
    const v1::DescribeAlarmsResponse r = Describe(req);
    EXPECT_EQ(r.composite_alarms_size(), 1) << name;
    return r.composite_alarms_size() == 1 ? r.composite_alarms(0)
                                          : v1::CompositeAlarm();
  }

  grpc::Status History(const v1::DescribeAlarmHistoryRequest& req,
                       v1::DescribeAlarmHistoryResponse* resp) {
    return Call(&Stub::DescribeAlarmHistory, req, resp);
  }
  // Every item (of one alarm, or all), oldest first unless `descending`,
  // page by page.
  std::vector<v1::AlarmHistoryItem> History(const std::string& name,
                                            const std::string& type = "",
                                            bool descending = false) {
    v1::DescribeAlarmHistoryRequest req;
    req.set_alarm_name(name);
    req.set_history_item_type(type);
    if (!descending) req.set_scan_by("TimestampAscending");
    std::vector<v1::AlarmHistoryItem> out;
    for (int pages = 0; pages < 100; ++pages) {
      v1::DescribeAlarmHistoryResponse resp;
      const grpc::Status s = History(req, &resp);
      EXPECT_TRUE(s.ok()) << Show(s);
      if (!s.ok()) break;
      out.insert(out.end(), resp.alarm_history_items().begin(),
                 resp.alarm_history_items().end());
      if (resp.next_token().empty()) break;
      req.set_next_token(resp.next_token());
    }
    return out;
  }
  std::vector<std::string> Summaries(const std::string& name,
                                     const std::string& type = "") {
    std::vector<std::string> out;
    for (const auto& h : History(name, type)) {
      out.push_back(h.history_summary());
    }
    return out;
  }

  grpc::Status Preview(const v1::PreviewAlarmRequest& req,
                       v1::PreviewAlarmResponse* resp) {
    return Call(&Stub::PreviewAlarm, req, resp);
  }
  // The alarm's one evaluation at `tick` (a whole minute), from `initial`.
  v1::PreviewStep PreviewTick(const v1::PutMetricAlarmRequest& alarm,
                              int64_t tick, const std::string& initial) {
    v1::PreviewAlarmRequest req;
    *req.mutable_alarm() = alarm;
    *req.mutable_start_time() = Ts(tick);
    *req.mutable_end_time() = Ts(tick + 1000);
    req.set_initial_state(initial);
    v1::PreviewAlarmResponse resp;
    const grpc::Status s = Preview(req, &resp);
    EXPECT_TRUE(s.ok()) << Show(s);
    EXPECT_EQ(resp.steps_size(), 1);
    if (resp.steps_size() != 1) return v1::PreviewStep();
    EXPECT_EQ(Ms(resp.steps(0).timestamp()), tick);
    return resp.steps(0);
  }

  // Puts (time, value) points into App/`metric`{dims}; all must be taken.
  void PutPoints(const std::string& metric, const Dims& dims,
                 const std::vector<std::pair<int64_t, double>>& points) {
    v1::PutMetricDataRequest req;
    req.set_namespace_("App");
    for (const auto& [ts, value] : points) {
      v1::MetricDatum* d = req.add_metric_data();
      d->set_metric_name(metric);
      AddDimensions(dims, d->mutable_dimensions());
      *d->mutable_timestamp() = Ts(ts);
      d->set_value(value);
    }
    v1::PutMetricDataResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + testing::kWaitBound);
    const grpc::Status s = metrics_->PutMetricData(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << Show(s);
    ASSERT_EQ(resp.accepted_points(), static_cast<int64_t>(points.size()))
        << (resp.rejected_size() > 0 ? resp.rejected(0).message() : "");
  }

  // Puts points of App/Steps breaching from 6 to 3 minutes before `tick`,
  // nothing since; returns alarm "steps" on them (not put), missing data
  // not breaching.
  v1::PutMetricAlarmRequest StepsAlarm(int64_t tick) {
    PutPoints("Steps", {},
              {{tick - 6 * kMinute + 1000, 90},
               {tick - 5 * kMinute + 1000, 90},
               {tick - 4 * kMinute + 1000, 90}});
    v1::PutMetricAlarmRequest alarm = CpuAlarm("steps");
    alarm.set_metric_name("Steps");
    alarm.clear_dimensions();
    alarm.set_treat_missing_data("notBreaching");
    return alarm;
  }

  NimbusdProcess server_;
  std::unique_ptr<Stub> alarms_;
  std::unique_ptr<v1::MetricsService::Stub> metrics_;
};

// ---------------------------------------------------------------------------
// 1. PutMetricAlarm over stored points: evaluated at once, described in
// CloudWatch's form; an update keeps the state and bumps the version.

TEST_F(AlarmServiceTest, ANewAlarmIsEvaluatedAtOnceAndAnUpdateKeepsItsState) {
  // Three minutes of data before this minute, all above 80.
  const int64_t t = FloorMinute(NowMs());
  PutPoints("CPU", {{"Host", "a"}},
            {{t - 3 * kMinute + 30'000, 85.5},
             {t - 2 * kMinute + 30'000, 90.0},
             {t - 1 * kMinute + 30'000, 91.25}});

  v1::PutMetricAlarmRequest req = CpuAlarm("cpu-high");
  req.set_alarm_description("CPU above 80");
  req.add_alarm_actions("webhook:https://example.com/alarm");
  v1::Tag* tag = req.add_tags();
  tag->set_key("team");
  tag->set_value("infra");
  const int64_t before = NowMs();
  const grpc::Status put = Put(req);
  const int64_t after = NowMs();
  ASSERT_TRUE(put.ok()) << Show(put);

  // No waiting: the call evaluated the alarm before it returned.
  const v1::MetricAlarm a = Metric("cpu-high");
  EXPECT_EQ(a.state_value(), "ALARM");
  EXPECT_EQ(a.evaluation_state(), "");
  const std::string reason = absl::StrCat(
      "Threshold Crossed: 3 out of the last 3 datapoints [91.25 (",
      ReasonTime(t - 1 * kMinute), "), 90.0 (", ReasonTime(t - 2 * kMinute),
      "), 85.5 (", ReasonTime(t - 3 * kMinute),
      ")] were greater than the threshold (80.0) (minimum 3 datapoints for "
      "INSUFFICIENT_DATA -> ALARM transition).");
  EXPECT_EQ(a.state_reason(), reason);
  // The query date is the tick evaluated: the minute the call ran in.
  std::vector<std::string> reason_data;
  for (int64_t tick = FloorMinute(before); tick <= FloorMinute(after);
       tick += kMinute) {
    reason_data.push_back(absl::StrCat(
        R"({"version":"1.0","queryDate":")", JsonTime(tick),
        R"(","startDate":")", JsonTime(t - 3 * kMinute),
        R"(","statistic":"Average","period":60,)",
        R"("recentDatapoints":[85.5,90.0,91.25],"threshold":80.0,)",
        R"("evaluatedDatapoints":[{"timestamp":")", JsonTime(t - kMinute),
        R"(","value":91.25},{"timestamp":")", JsonTime(t - 2 * kMinute),
        R"(","value":90.0},{"timestamp":")", JsonTime(t - 3 * kMinute),
        R"(","value":85.5}]})"));
  }
  EXPECT_THAT(a.state_reason_data(), ::testing::AnyOfArray(reason_data));
  EXPECT_EQ(a.configuration_version(), 1);
  // The configuration as given, with its defaults filled in.
  EXPECT_EQ(a.alarm_description(), "CPU above 80");
  EXPECT_TRUE(a.actions_enabled());
  EXPECT_THAT(a.alarm_actions(),
              ElementsAre("webhook:https://example.com/alarm"));
  EXPECT_EQ(a.namespace_(), "App");
  EXPECT_EQ(a.metric_name(), "CPU");
  ASSERT_EQ(a.dimensions_size(), 1);
  EXPECT_EQ(a.dimensions(0).name(), "Host");
  EXPECT_EQ(a.dimensions(0).value(), "a");
  EXPECT_EQ(a.statistic(), "Average");
  EXPECT_EQ(a.period(), 60);
  EXPECT_EQ(a.evaluation_periods(), 3);
  EXPECT_EQ(a.datapoints_to_alarm(), 3);
  EXPECT_EQ(a.threshold(), 80);
  EXPECT_EQ(a.comparison_operator(), "GreaterThanThreshold");
  EXPECT_EQ(a.treat_missing_data(), "missing");
  EXPECT_EQ(a.evaluate_low_sample_count_percentile(), "evaluate");
  ASSERT_EQ(a.tags_size(), 1);
  EXPECT_EQ(a.tags(0).key(), "team");
  EXPECT_EQ(a.tags(0).value(), "infra");
  const int64_t configured = Ms(a.alarm_configuration_updated_timestamp());
  const int64_t transitioned = Ms(a.state_transitioned_timestamp());
  EXPECT_GE(configured, before);
  EXPECT_LE(configured, transitioned);
  EXPECT_LE(transitioned, after);
  EXPECT_EQ(Ms(a.state_updated_timestamp()), transitioned);

  std::vector<v1::AlarmHistoryItem> h = History("cpu-high");
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].history_item_type(), "ConfigurationUpdate");
  EXPECT_EQ(h[0].history_summary(), "Alarm \"cpu-high\" created");
  EXPECT_EQ(h[0].alarm_type(), "MetricAlarm");
  EXPECT_THAT(h[0].history_data(), HasSubstr("\"type\":\"Create\""));
  EXPECT_EQ(h[1].history_item_type(), "StateUpdate");
  EXPECT_EQ(h[1].history_summary(),
            "Alarm updated from INSUFFICIENT_DATA to ALARM");
  EXPECT_EQ(h[1].alarm_name(), "cpu-high");
  EXPECT_EQ(Ms(h[1].timestamp()), transitioned);
  EXPECT_THAT(
      h[1].history_data(),
      HasSubstr("\"stateReason\":\"Unchecked: Initial alarm creation\""));
  EXPECT_THAT(h[1].history_data(), HasSubstr("\"stateValue\":\"ALARM\""));

  // An update replaces the configuration and keeps the state: 85.5, 90
  // and 91.25 are all above 85 too, so no transition and the same reason.
  req.set_alarm_description("CPU above 85");
  req.set_threshold(85);
  ASSERT_TRUE(Put(req).ok());
  const v1::MetricAlarm b = Metric("cpu-high");
  EXPECT_EQ(b.state_value(), "ALARM");
  EXPECT_EQ(b.configuration_version(), 2);
  EXPECT_EQ(b.threshold(), 85);
  EXPECT_EQ(b.alarm_description(), "CPU above 85");
  EXPECT_EQ(b.state_reason(), reason);
  EXPECT_EQ(b.state_reason_data(), a.state_reason_data());
  EXPECT_EQ(Ms(b.state_transitioned_timestamp()), transitioned);
  EXPECT_GE(Ms(b.alarm_configuration_updated_timestamp()), configured);
  h = History("cpu-high");
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[2].history_summary(), "Alarm \"cpu-high\" updated");
  EXPECT_THAT(h[2].history_data(), HasSubstr("\"previousAlarm\":{"));
  EXPECT_THAT(h[2].history_data(), HasSubstr("\"threshold\":85.0"));

  // A threshold the points do not cross: the update's evaluation says OK.
  req.set_threshold(95);
  ASSERT_TRUE(Put(req).ok());
  const v1::MetricAlarm c = Metric("cpu-high");
  EXPECT_EQ(c.state_value(), "OK");
  EXPECT_EQ(c.configuration_version(), 3);
  EXPECT_EQ(
      c.state_reason(),
      absl::StrCat("Threshold Crossed: 3 out of the last 3 datapoints [91.25 (",
                   ReasonTime(t - 1 * kMinute), "), 90.0 (",
                   ReasonTime(t - 2 * kMinute), "), 85.5 (",
                   ReasonTime(t - 3 * kMinute),
                   ")] were not greater than the threshold (95.0) (minimum 1 "
                   "datapoint for ALARM -> OK transition)."));
  EXPECT_EQ(
      Summaries("cpu-high", "StateUpdate"),
      (std::vector<std::string>{"Alarm updated from INSUFFICIENT_DATA to ALARM",
                                "Alarm updated from ALARM to OK"}));
}

// ---------------------------------------------------------------------------
// 2. PreviewAlarm: the worked example of docs/semantics.md, M = 3, N = 3,
// R = 5, over stored points.

constexpr char kWorkedRows[][10] = {"0 - X - X", "0 - - - -", "- - - - -",
                                    "0 X X - X", "- - X - -"};

// A preview of the worked example's alarm on row `row`'s series.
v1::PutMetricAlarmRequest WorkedAlarm(int row, const std::string& treatment) {
  v1::PutMetricAlarmRequest r;
  r.set_alarm_name("worked");
  r.set_namespace_("App");
  r.set_metric_name("Worked");
  AddDimensions({{"Row", std::to_string(row)}}, r.mutable_dimensions());
  r.set_statistic("Maximum");
  r.set_period(60);
  r.set_evaluation_periods(3);
  r.set_datapoints_to_alarm(3);
  r.set_threshold(50);
  r.set_comparison_operator("GreaterThanThreshold");
  r.set_treat_missing_data(treatment);
  return r;
}

TEST_F(AlarmServiceTest, PreviewReproducesTheWorkedTable) {
  // The tick: this minute. Its window is the five minutes before it.
  const int64_t tick = FloorMinute(NowMs());
  const int64_t start = tick - 5 * kMinute;
  for (int row = 0; row < 5; ++row) {
    std::vector<std::pair<int64_t, double>> points;
    int period = 0;
    for (const char c : std::string(kWorkedRows[row])) {
      if (c == ' ') continue;
      if (c == 'X') points.push_back({start + period * kMinute + 20'000, 90});
      if (c == '0') points.push_back({start + period * kMinute + 20'000, 10});
      ++period;
    }
    ASSERT_EQ(period, 5);
    // Row 2 has no data at all: its series is never written.
    if (!points.empty()) {
      PutPoints("Worked", {{"Row", std::to_string(row)}}, points);
    }
  }

  // The table: "" is "unchanged" (the state before the tick).
  const char* kTreatments[] = {"missing", "ignore", "breaching",
                               "notBreaching"};
  const char* kTable[5][4] = {
      {"OK", "OK", "OK", "OK"},
      {"OK", "OK", "OK", "OK"},
      {"INSUFFICIENT_DATA", "", "ALARM", "OK"},
      {"ALARM", "ALARM", "ALARM", "ALARM"},
      {"ALARM", "", "ALARM", "OK"},
  };
  for (int row = 0; row < 5; ++row) {
    for (int t = 0; t < 4; ++t) {
      for (const char* initial : {"OK", "ALARM", "INSUFFICIENT_DATA"}) {
        SCOPED_TRACE(absl::StrCat(kWorkedRows[row], " ", kTreatments[t],
                                  " from ", initial));
        const v1::PreviewStep s =
            PreviewTick(WorkedAlarm(row, kTreatments[t]), tick, initial);
        const std::string want =
            *kTable[row][t] == '\0' ? initial : kTable[row][t];
        EXPECT_EQ(s.state_value(), want);
        EXPECT_EQ(s.changed(), want != initial);
        EXPECT_EQ(s.state_reason().empty(), !s.changed()) << s.state_reason();
        // The range: the five periods, oldest first, with their points.
        ASSERT_EQ(s.datapoints_size(), 5);
        int period = 0;
        for (const char c : std::string(kWorkedRows[row])) {
          if (c == ' ') continue;
          const v1::PreviewDatapoint& d = s.datapoints(period);
          EXPECT_EQ(Ms(d.timestamp()), start + period * kMinute);
          EXPECT_EQ(d.has_value(), c != '-') << period;
          if (d.has_value()) {
            EXPECT_EQ(d.value(), c == 'X' ? 90 : 10);
          }
          ++period;
        }
      }
    }
  }

  // Some transitions' reasons, in CloudWatch's form.
  v1::PreviewStep s = PreviewTick(WorkedAlarm(0, "missing"), tick, "ALARM");
  EXPECT_EQ(s.state_reason(),
            absl::StrCat("Threshold Crossed: 1 out of the last 3 datapoints "
                         "[10.0 (",
                         ReasonTime(start),
                         ")] was not greater than the threshold (50.0) "
                         "(minimum 1 datapoint for ALARM -> OK transition)."));
  s = PreviewTick(WorkedAlarm(2, "missing"), tick, "OK");
  EXPECT_EQ(s.state_reason(), "Insufficient Data: 3 datapoints were unknown.");
  s = PreviewTick(WorkedAlarm(2, "breaching"), tick, "OK");
  EXPECT_EQ(s.state_reason(),
            "Threshold Crossed: no datapoints were received for 3 periods and "
            "3 missing datapoints were treated as [Breaching].");
  // The early alarm: one breach, three periods old, nothing after it.
  s = PreviewTick(WorkedAlarm(4, "missing"), tick, "OK");
  EXPECT_EQ(s.state_reason(),
            absl::StrCat("Threshold Crossed: 1 out of the last 3 datapoints "
                         "[90.0 (",
                         ReasonTime(start + 2 * kMinute),
                         ")] was greater than the threshold (50.0) (minimum 3 "
                         "datapoints for OK -> ALARM transition)."));

  // A filled case, period by period: "0 - - - -" with breaching evaluates
  // the 0 and the two newest missing periods, filled as breaching.
  s = PreviewTick(WorkedAlarm(1, "breaching"), tick, "ALARM");
  EXPECT_EQ(s.state_value(), "OK");
  ASSERT_EQ(s.datapoints_size(), 5);
  struct Want {
    bool evaluated;
    const char* filled;
    bool breaching;
  };
  const Want want[5] = {{true, "", false},
                        {false, "", false},
                        {false, "", false},
                        {true, "Breaching", true},
                        {true, "Breaching", true}};
  for (int k = 0; k < 5; ++k) {
    SCOPED_TRACE(k);
    EXPECT_EQ(s.datapoints(k).evaluated(), want[k].evaluated);
    EXPECT_EQ(s.datapoints(k).filled(), want[k].filled);
    EXPECT_EQ(s.datapoints(k).breaching(), want[k].breaching);
    EXPECT_FALSE(s.datapoints(k).low_sample_count());
  }
  EXPECT_EQ(s.state_reason(),
            absl::StrCat("Threshold Crossed: 1 out of the last 1 datapoints "
                         "[10.0 (",
                         ReasonTime(start),
                         ")] was not greater than the threshold (50.0) and 2 "
                         "missing datapoints were treated as [Breaching] "
                         "(minimum 1 datapoint for ALARM -> OK transition)."));
  EXPECT_EQ(s.state_reason_data(),
            absl::StrCat(R"({"version":"1.0","queryDate":")", JsonTime(tick),
                         R"(","startDate":")", JsonTime(start),
                         R"(","statistic":"Maximum","period":60,)",
                         R"("recentDatapoints":[10.0],"threshold":50.0,)",
                         R"("evaluatedDatapoints":[{"timestamp":")",
                         JsonTime(tick - kMinute), R"("},{"timestamp":")",
                         JsonTime(tick - 2 * kMinute), R"("},{"timestamp":")",
                         JsonTime(start), R"(","value":10.0}]})"));
  // The same with notBreaching: filled, not breaching.
  s = PreviewTick(WorkedAlarm(1, "notBreaching"), tick, "OK");
  EXPECT_EQ(s.datapoints(4).filled(), "NonBreaching");
  EXPECT_TRUE(s.datapoints(4).evaluated());
  EXPECT_FALSE(s.datapoints(4).breaching());
  EXPECT_FALSE(s.changed());
}

// A preview over several ticks follows its own state from tick to tick.
TEST_F(AlarmServiceTest, PreviewCarriesTheStateFromTickToTick) {
  const int64_t tick = FloorMinute(NowMs());
  const v1::PutMetricAlarmRequest alarm = StepsAlarm(tick);
  v1::PreviewAlarmRequest req;
  *req.mutable_alarm() = alarm;
  *req.mutable_start_time() = Ts(tick - 4 * kMinute - 30'000);
  *req.mutable_end_time() = Ts(tick);
  v1::PreviewAlarmResponse resp;
  const grpc::Status st = Preview(req, &resp);
  ASSERT_TRUE(st.ok()) << Show(st);
  // Ticks at -4, -3, -2, -1 and 0 minutes; the default initial state.
  ASSERT_EQ(resp.steps_size(), 5);
  std::vector<std::string> states;
  for (const auto& s : resp.steps()) {
    states.push_back(absl::StrCat((Ms(s.timestamp()) - tick) / kMinute, " ",
                                  s.state_value(),
                                  s.changed() ? " changed" : ""));
  }
  // At -4 the window (-9 to -4) holds two 90s and one period is filled
  // as not breaching: OK. From -3 to -1 it holds all three 90s (rule 1
  // skips the periods without data): ALARM. At 0 one has left the window.
  EXPECT_THAT(states, ElementsAre("-4 OK changed", "-3 ALARM changed",
                                  "-2 ALARM", "-1 ALARM", "0 OK changed"));
}

// A composite previewed over a child given in the request and one the
// server has: the rule at each child tick, with the live reasons.
TEST_F(AlarmServiceTest, PreviewACompositeOverPreviewedChildren) {
  const int64_t tick = FloorMinute(NowMs());
  const v1::PutMetricAlarmRequest steps = StepsAlarm(tick);
  ASSERT_TRUE(Put(QuietAlarm("quiet")).ok());  // INSUFFICIENT_DATA throughout
  v1::PreviewAlarmRequest req;
  req.mutable_composite()->set_alarm_rule("ALARM(steps) AND NOT ALARM(quiet)");
  *req.add_children() = steps;
  *req.mutable_start_time() = Ts(tick - 4 * kMinute - 30'000);
  *req.mutable_end_time() = Ts(tick);
  v1::PreviewAlarmResponse resp;
  grpc::Status st = Preview(req, &resp);
  ASSERT_TRUE(st.ok()) << Show(st);
  std::vector<std::string> states;
  for (const auto& s : resp.steps()) {
    states.push_back(absl::StrCat((Ms(s.timestamp()) - tick) / kMinute, " ",
                                  s.state_value(),
                                  s.changed() ? " changed" : ""));
    EXPECT_EQ(s.datapoints_size(), 0);
  }
  // As the metric alarm's own preview (PreviewCarriesTheStateFromTickToTick).
  EXPECT_THAT(states, ElementsAre("-4 OK changed", "-3 ALARM changed",
                                  "-2 ALARM", "-1 ALARM", "0 OK changed"));
  EXPECT_EQ(resp.steps(1).state_reason(),
            absl::StrCat("steps transitioned to ALARM at ",
                         JsonTime(tick - 3 * kMinute)));
  EXPECT_THAT(resp.steps(1).state_reason_data(),
              HasSubstr("{\"name\":\"quiet\",\"state\":{\"value\":"
                        "\"INSUFFICIENT_DATA\""));
  ASSERT_EQ(resp.children_size(), 2);
  EXPECT_EQ(resp.children(0).alarm_name(), "steps");
  EXPECT_EQ(resp.children(0).steps_size(), 5);
  EXPECT_EQ(resp.children(0).steps(1).state_value(), "ALARM");
  EXPECT_GT(resp.children(0).steps(1).datapoints_size(), 0);
  EXPECT_EQ(resp.children(1).alarm_name(), "quiet");
  // Nothing saved: "steps" does not exist.
  v1::DescribeAlarmsRequest by_name;
  by_name.add_alarm_names("steps");
  EXPECT_THAT(Names(by_name), IsEmpty());

  // A server composite as a child is previewed over its own children.
  v1::PutCompositeAlarmRequest inner;
  inner.set_alarm_name("inner");
  inner.set_alarm_rule("NOT ALARM(quiet)");
  ASSERT_TRUE(PutComposite(inner).ok());
  req.mutable_composite()->set_alarm_rule("ALARM(inner) AND ALARM(steps)");
  resp.Clear();
  st = Preview(req, &resp);
  ASSERT_TRUE(st.ok()) << Show(st);
  ASSERT_EQ(resp.steps_size(), 5);
  EXPECT_EQ(resp.steps(1).state_value(), "ALARM");
  ASSERT_EQ(resp.children_size(), 3);
  EXPECT_EQ(resp.children(0).alarm_name(), "quiet");
  EXPECT_EQ(resp.children(1).alarm_name(), "inner");
  EXPECT_EQ(resp.children(1).steps(0).state_value(), "ALARM");

  // Bad input names the field.
  auto invalid = [&](const v1::PreviewAlarmRequest& r, const std::string& has) {
    v1::PreviewAlarmResponse out;
    const grpc::Status s = Preview(r, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Show(s);
    EXPECT_THAT(s.error_message(), HasSubstr(has));
  };
  v1::PreviewAlarmRequest bad = req;
  bad.mutable_composite()->set_alarm_rule("ALARM(steps) AND ALARM(nobody)");
  invalid(bad,
          "alarm_rule: names alarm 'nobody', which neither children nor "
          "the server has");
  bad = req;
  bad.mutable_composite()->set_alarm_rule("ALARM(steps) AND");
  invalid(bad, "alarm_rule:");
  bad = req;
  *bad.add_children() = steps;
  invalid(bad, "children: alarm 'steps' given twice");
  bad = req;
  *bad.add_children() = QuietAlarm("other");
  invalid(bad, "children: alarm 'other' is not reached by alarm_rule");
  bad = req;
  bad.mutable_children(0)->clear_threshold();
  invalid(bad, "children: threshold: required");
  bad = req;
  *bad.mutable_alarm() = steps;
  invalid(bad, "alarm: give alarm or composite, not both");
  bad = req;
  bad.clear_composite();
  *bad.mutable_alarm() = steps;
  invalid(bad, "children: only with composite");
  // Composites on the server that reach themselves.
  v1::PutCompositeAlarmRequest c1;
  c1.set_alarm_name("c1");
  c1.set_alarm_rule("ALARM(quiet)");
  ASSERT_TRUE(PutComposite(c1).ok());
  v1::PutCompositeAlarmRequest c2;
  c2.set_alarm_name("c2");
  c2.set_alarm_rule("ALARM(c1)");
  ASSERT_TRUE(PutComposite(c2).ok());
  c1.set_alarm_rule("ALARM(c2)");
  ASSERT_TRUE(PutComposite(c1).ok());
  bad = req;
  bad.mutable_composite()->set_alarm_rule("ALARM(steps) OR ALARM(c1)");
  invalid(bad, "alarm_rule: reaches alarm 'c1' through itself (a cycle)");
  // The composite previewed stands for the server's of its name.
  v1::PutCompositeAlarmRequest c3;
  c3.set_alarm_name("c3");
  c3.set_alarm_rule("ALARM(quiet)");
  ASSERT_TRUE(PutComposite(c3).ok());
  v1::PutCompositeAlarmRequest c4;
  c4.set_alarm_name("c4");
  c4.set_alarm_rule("ALARM(c3)");
  ASSERT_TRUE(PutComposite(c4).ok());
  bad = req;
  bad.mutable_composite()->set_alarm_name("c3");
  bad.mutable_composite()->set_alarm_rule("ALARM(steps) OR ALARM(c4)");
  invalid(bad, "alarm_rule: reaches alarm 'c3' through itself (a cycle)");
  // Two children of a week of minutes at N = 50 (66 periods a tick): more
  // than 1,000,000 periods in all, refused before the second is read.
  bad = req;
  bad.clear_children();
  bad.mutable_composite()->set_alarm_rule("ALARM(x) OR ALARM(y)");
  for (const char* n : {"x", "y"}) {
    v1::PutMetricAlarmRequest c = QuietAlarm(n);
    c.set_evaluation_periods(50);
    *bad.add_children() = c;
  }
  *bad.mutable_start_time() = Ts(tick - 10079 * kMinute);
  *bad.mutable_end_time() = Ts(tick);
  invalid(bad,
          "end_time: the children's previews would hold more than 1000000 "
          "periods in all");
}

// Live alarms read their own statistic of the same points.
TEST_F(AlarmServiceTest, LiveAlarmsReadEachStatistic) {
  const int64_t t = FloorMinute(NowMs());
  std::vector<std::pair<int64_t, double>> points;
  for (int m = 1; m <= 3; ++m) {
    for (const double v : {10.0, 20.0, 60.0}) {
      points.push_back({t - m * kMinute + static_cast<int64_t>(v) * 500, v});
    }
  }
  PutPoints("Stats", {}, points);
  const std::pair<const char*, double> stats[] = {{"SampleCount", 3},
                                                  {"Sum", 90},
                                                  {"Minimum", 10},
                                                  {"Maximum", 60},
                                                  {"Average", 30}};
  for (const auto& [stat, value] : stats) {
    SCOPED_TRACE(stat);
    v1::PutMetricAlarmRequest a = CpuAlarm(absl::StrCat("stat-", stat));
    a.set_metric_name("Stats");
    a.clear_dimensions();
    a.set_statistic(stat);
    a.set_threshold(value);
    a.set_comparison_operator("GreaterThanOrEqualToThreshold");
    ASSERT_TRUE(Put(a).ok());
    const v1::MetricAlarm m = Metric(a.alarm_name());
    EXPECT_EQ(m.state_value(), "ALARM");
    const std::string v = absl::StrCat(value, ".0");
    EXPECT_EQ(
        m.state_reason(),
        absl::StrCat("Threshold Crossed: 3 out of the last 3 datapoints [", v,
                     " (", ReasonTime(t - kMinute), "), ", v, " (",
                     ReasonTime(t - 2 * kMinute), "), ", v, " (",
                     ReasonTime(t - 3 * kMinute),
                     ")] were greater than or equal to the threshold (", v,
                     ") (minimum 3 datapoints for INSUFFICIENT_DATA -> "
                     "ALARM transition)."));
    EXPECT_THAT(m.state_reason_data(),
                HasSubstr(absl::StrCat("\"statistic\":\"", stat, "\"")));
  }
}

// A percentile from fewer samples than it needs is marked, and with
// evaluate_low_sample_count_percentile "ignore" keeps the state.
TEST_F(AlarmServiceTest, PreviewMarksLowSampleCountPercentiles) {
  const int64_t tick = FloorMinute(NowMs());
  std::vector<std::pair<int64_t, double>> points;
  for (int m = 1; m <= 5; ++m) {
    for (int i = 0; i < 5; ++i) {
      points.push_back({tick - m * kMinute + i * 1000, 90.0 + i});
    }
  }
  PutPoints("Latency", {}, points);
  v1::PutMetricAlarmRequest a = CpuAlarm("p99");
  a.set_metric_name("Latency");
  a.clear_dimensions();
  a.clear_statistic();
  a.set_extended_statistic("p99");
  a.set_evaluate_low_sample_count_percentile("ignore");
  v1::PreviewStep s = PreviewTick(a, tick, "OK");
  EXPECT_EQ(s.state_value(), "OK");  // kept: 5 samples, p99 needs 1000
  EXPECT_FALSE(s.changed());
  ASSERT_EQ(s.datapoints_size(), 5);
  for (const auto& d : s.datapoints()) {
    EXPECT_TRUE(d.low_sample_count());
    EXPECT_TRUE(d.has_value());
  }
  a.set_evaluate_low_sample_count_percentile("evaluate");
  s = PreviewTick(a, tick, "OK");
  EXPECT_EQ(s.state_value(), "ALARM");
  EXPECT_TRUE(s.changed());
  EXPECT_THAT(s.state_reason_data(), HasSubstr("\"statistic\":\"p99\""));
  // p0 is never low-sample.
  a.set_extended_statistic("p0");
  a.set_evaluate_low_sample_count_percentile("ignore");
  s = PreviewTick(a, tick, "OK");
  EXPECT_EQ(s.state_value(), "ALARM");
  ASSERT_EQ(s.datapoints_size(), 5);
  EXPECT_FALSE(s.datapoints(4).low_sample_count());
  EXPECT_EQ(s.datapoints(4).value(), 90);
}

// Sub-minute periods tick every 10 s on windows aligned to the period;
// alarms whose range passes a day tick hourly.
TEST_F(AlarmServiceTest, PreviewTicksAtEachAlarmsCadence) {
  const int64_t base = FloorMinute(NowMs()) - 2 * kMinute;
  std::vector<std::pair<int64_t, double>> points;
  for (int i = 1; i <= 50; ++i) points.push_back({base - i * 1000, 90});
  v1::PutMetricDataRequest req;
  req.set_namespace_("App");
  for (const auto& [ts, v] : points) {
    v1::MetricDatum* d = req.add_metric_data();
    d->set_metric_name("Fast");
    *d->mutable_timestamp() = Ts(ts);
    d->set_value(v);
    d->set_storage_resolution(1);
  }
  v1::PutMetricDataResponse put;
  grpc::ClientContext ctx;
  ASSERT_TRUE(metrics_->PutMetricData(&ctx, req, &put).ok());
  ASSERT_EQ(put.accepted_points(), 50);

  v1::PutMetricAlarmRequest fast = CpuAlarm("fast");
  fast.set_metric_name("Fast");
  fast.clear_dimensions();
  fast.set_period(10);
  v1::PreviewAlarmRequest preview;
  *preview.mutable_alarm() = fast;
  *preview.mutable_start_time() = Ts(base - 5000);
  *preview.mutable_end_time() = Ts(base + 25'000);
  v1::PreviewAlarmResponse resp;
  grpc::Status st = Preview(preview, &resp);
  ASSERT_TRUE(st.ok()) << Show(st);
  ASSERT_EQ(resp.steps_size(), 3);  // base, +10 s, +20 s
  for (int k = 0; k < 3; ++k) {
    SCOPED_TRACE(k);
    const v1::PreviewStep& s = resp.steps(k);
    const int64_t tick = base + k * 10'000;
    EXPECT_EQ(Ms(s.timestamp()), tick);
    EXPECT_EQ(s.state_value(), "ALARM");
    EXPECT_EQ(s.changed(), k == 0);
    ASSERT_EQ(s.datapoints_size(), 5);
    for (int p = 0; p < 5; ++p) {
      // Periods of 10 s, the newest ending at the tick.
      EXPECT_EQ(Ms(s.datapoints(p).timestamp()), tick - (5 - p) * 10'000);
      EXPECT_EQ(s.datapoints(p).has_value(), tick - (5 - p) * 10'000 < base);
    }
  }
  EXPECT_THAT(resp.steps(0).state_reason_data(), HasSubstr("\"period\":10,"));

  // Period x N beyond a day: one tick an hour, on the hour.
  v1::PutMetricAlarmRequest slow = CpuAlarm("slow");
  slow.set_period(3600);
  slow.set_evaluation_periods(25);
  *preview.mutable_alarm() = slow;
  const int64_t hour = 3'600'000;
  const int64_t h0 = NowMs() / hour * hour - 6 * hour;
  *preview.mutable_start_time() = Ts(h0 - 1);
  *preview.mutable_end_time() = Ts(h0 + 2 * hour + 59 * kMinute);
  st = Preview(preview, &resp);
  ASSERT_TRUE(st.ok()) << Show(st);
  ASSERT_EQ(resp.steps_size(), 3);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(Ms(resp.steps(k).timestamp()), h0 + k * hour);
    EXPECT_EQ(resp.steps(k).datapoints_size(), 33);  // R = 25 + 8
  }
}

// ---------------------------------------------------------------------------
// 3. Every comparison operator: values below, on and above the threshold.

TEST_F(AlarmServiceTest, PreviewComparesWithEveryOperator) {
  const int64_t tick = FloorMinute(NowMs());
  for (const double v : {49.0, 50.0, 51.0}) {
    PutPoints("Cmp", {{"Value", absl::StrCat(v)}},
              {{tick - kMinute + 5000, v}});
  }
  struct Op {
    const char* name;
    const char* phrase;
    bool breaches[3];  // 49, 50, 51 against 50
  };
  const Op ops[] = {
      {"GreaterThanOrEqualToThreshold",
       "greater than or equal to",
       {false, true, true}},
      {"GreaterThanThreshold", "greater than", {false, false, true}},
      {"LessThanThreshold", "less than", {true, false, false}},
      {"LessThanOrEqualToThreshold",
       "less than or equal to",
       {true, true, false}},
  };
  for (const Op& op : ops) {
    int i = 0;
    for (const double v : {49.0, 50.0, 51.0}) {
      SCOPED_TRACE(absl::StrCat(op.name, " ", v));
      v1::PutMetricAlarmRequest a = CpuAlarm("cmp");
      a.set_metric_name("Cmp");
      a.clear_dimensions();
      AddDimensions({{"Value", absl::StrCat(v)}}, a.mutable_dimensions());
      a.set_evaluation_periods(1);
      a.set_threshold(50);
      a.set_comparison_operator(op.name);
      const v1::PreviewStep s = PreviewTick(a, tick, "INSUFFICIENT_DATA");
      const bool breach = op.breaches[i++];
      EXPECT_EQ(s.state_value(), breach ? "ALARM" : "OK");
      EXPECT_TRUE(s.changed());
      EXPECT_EQ(
          s.state_reason(),
          absl::StrCat("Threshold Crossed: 1 out of the last 1 "
                       "datapoints [",
                       absl::StrCat(v), ".0 (", ReasonTime(tick - kMinute),
                       ")] was ", breach ? "" : "not ", op.phrase,
                       " the threshold (50.0) (minimum 1 datapoint for "
                       "INSUFFICIENT_DATA -> ",
                       breach ? "ALARM" : "OK", " transition)."));
      ASSERT_EQ(s.datapoints_size(), 3);  // R = 3 for N = 1
      EXPECT_EQ(s.datapoints(2).breaching(), breach);
      EXPECT_TRUE(s.datapoints(2).evaluated());
    }
  }
}

// ---------------------------------------------------------------------------
// 4. Forced states, actions, deletes and history.

TEST_F(AlarmServiceTest, SetAlarmStateForcesAStateThatHistoryRecords) {
  ASSERT_TRUE(Put(QuietAlarm("quiet")).ok());
  v1::MetricAlarm a = Metric("quiet");
  EXPECT_EQ(a.state_value(), "INSUFFICIENT_DATA");
  EXPECT_EQ(a.state_reason(), "Unchecked: Initial alarm creation");
  const int64_t created = Ms(a.state_transitioned_timestamp());

  const int64_t before = NowMs();
  ASSERT_TRUE(
      SetState("quiet", "ALARM", "testing the pager", R"({"ticket":42})").ok());
  a = Metric("quiet");
  EXPECT_EQ(a.state_value(), "ALARM");
  EXPECT_EQ(a.state_reason(), "testing the pager");
  EXPECT_EQ(a.state_reason_data(), R"({"ticket":42})");
  EXPECT_GE(Ms(a.state_transitioned_timestamp()), before);
  EXPECT_GE(Ms(a.state_transitioned_timestamp()), created);
  EXPECT_EQ(a.configuration_version(), 1);  // a state is no configuration

  // The same state again: the reason changes, the transition time stays.
  const int64_t transitioned = Ms(a.state_transitioned_timestamp());
  ASSERT_TRUE(SetState("quiet", "ALARM", "still testing").ok());
  a = Metric("quiet");
  EXPECT_EQ(a.state_reason(), "still testing");
  EXPECT_EQ(a.state_reason_data(), "");
  EXPECT_EQ(Ms(a.state_transitioned_timestamp()), transitioned);
  EXPECT_GE(Ms(a.state_updated_timestamp()), transitioned);

  const std::vector<v1::AlarmHistoryItem> h = History("quiet", "StateUpdate");
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].history_summary(),
            "Alarm updated from INSUFFICIENT_DATA to ALARM");
  EXPECT_THAT(h[0].history_data(), HasSubstr("\"setBy\":\"SetAlarmState\""));
  EXPECT_THAT(h[0].history_data(),
              HasSubstr("\"stateReason\":\"testing the pager\""));
  EXPECT_EQ(h[1].history_summary(), "Alarm updated from ALARM to ALARM");

  const grpc::Status missing = SetState("ghost", "OK", "r");
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(missing.error_message(), HasSubstr("'ghost'"));
}

TEST_F(AlarmServiceTest, ActionsAreDisabledAndEnabled) {
  ASSERT_TRUE(Put(QuietAlarm("q1")).ok());
  ASSERT_TRUE(Put(QuietAlarm("q2")).ok());
  v1::DisableAlarmActionsRequest off;
  off.add_alarm_names("q1");
  off.add_alarm_names("q2");
  v1::DisableAlarmActionsResponse off_resp;
  ASSERT_TRUE(Call(&Stub::DisableAlarmActions, off, &off_resp).ok());
  EXPECT_FALSE(Metric("q1").actions_enabled());
  EXPECT_FALSE(Metric("q2").actions_enabled());
  EXPECT_EQ(Metric("q1").configuration_version(), 2);

  // All or none: one unknown name changes nothing.
  v1::EnableAlarmActionsRequest on;
  on.add_alarm_names("q1");
  on.add_alarm_names("ghost");
  v1::EnableAlarmActionsResponse on_resp;
  const grpc::Status s = Call(&Stub::EnableAlarmActions, on, &on_resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("'ghost'"));
  EXPECT_FALSE(Metric("q1").actions_enabled());

  on.clear_alarm_names();
  on.add_alarm_names("q1");
  ASSERT_TRUE(Call(&Stub::EnableAlarmActions, on, &on_resp).ok());
  EXPECT_TRUE(Metric("q1").actions_enabled());
  EXPECT_FALSE(Metric("q2").actions_enabled());
  EXPECT_EQ(Metric("q1").configuration_version(), 3);
  EXPECT_EQ(
      Summaries("q1", "ConfigurationUpdate"),
      (std::vector<std::string>{"Alarm \"q1\" created", "Alarm \"q1\" updated",
                                "Alarm \"q1\" updated"}));
  // An empty list is refused.
  on.clear_alarm_names();
  EXPECT_EQ(Call(&Stub::EnableAlarmActions, on, &on_resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(AlarmServiceTest, DeleteIsAllOrNoneAndHistoryStays) {
  ASSERT_TRUE(Put(QuietAlarm("d1")).ok());
  ASSERT_TRUE(Put(QuietAlarm("d2")).ok());
  ASSERT_TRUE(SetState("d1", "OK", "forced").ok());
  const std::vector<v1::AlarmHistoryItem> before = History("d1");
  ASSERT_EQ(before.size(), 2u);

  const grpc::Status s = Delete({"d1", "ghost", "d2"});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("'ghost'"));
  v1::DescribeAlarmsRequest all;
  EXPECT_THAT(Names(all), ElementsAre("d1", "d2"));  // nothing deleted
  EXPECT_EQ(History("d1").size(), 2u);

  ASSERT_TRUE(Delete({"d1"}).ok());
  EXPECT_THAT(Names(all), ElementsAre("d2"));
  v1::DescribeAlarmsRequest by_name;
  by_name.add_alarm_names("d1");
  EXPECT_THAT(Names(by_name), IsEmpty());
  // Its history stays, with its deletion last.
  const std::vector<v1::AlarmHistoryItem> after = History("d1");
  ASSERT_EQ(after.size(), 3u);
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(after[i], before[i])) << i;
  }
  EXPECT_EQ(after[2].history_item_type(), "ConfigurationUpdate");
  EXPECT_EQ(after[2].history_summary(), "Alarm \"d1\" deleted");
  EXPECT_THAT(after[2].history_data(), HasSubstr("\"type\":\"Delete\""));
  // Deleted, it is not found any more; the name can be used again.
  EXPECT_EQ(Delete({"d1"}).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(SetState("d1", "OK", "r").error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Delete({}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // A name given twice is deleted once.
  ASSERT_TRUE(Delete({"d2", "d2"}).ok());
  EXPECT_THAT(Names(all), IsEmpty());
  EXPECT_THAT(Summaries("d2", "ConfigurationUpdate"),
              ElementsAre("Alarm \"d2\" created", "Alarm \"d2\" deleted"));
  ASSERT_TRUE(Put(QuietAlarm("d1")).ok());
  EXPECT_EQ(Metric("d1").configuration_version(), 1);
  EXPECT_EQ(History("d1").size(), 4u);
}

TEST_F(AlarmServiceTest, HistoryFiltersOrdersAndPages) {
  ASSERT_TRUE(Put(QuietAlarm("h1")).ok());
  ASSERT_TRUE(Put(QuietAlarm("h2")).ok());
  ASSERT_TRUE(SetState("h1", "ALARM", "one").ok());
  ASSERT_TRUE(SetState("h2", "OK", "two").ok());
  ASSERT_TRUE(SetState("h1", "OK", "three").ok());
  ASSERT_TRUE(Delete({"h2"}).ok());

  // Every alarm's, oldest first: in the order of the calls.
  const std::vector<v1::AlarmHistoryItem> asc = History("");
  std::vector<std::string> seen;
  for (const auto& h : asc) {
    seen.push_back(absl::StrCat(h.alarm_name(), " ", h.history_summary()));
  }
  EXPECT_THAT(seen,
              ElementsAre("h1 Alarm \"h1\" created", "h2 Alarm \"h2\" created",
                          "h1 Alarm updated from INSUFFICIENT_DATA to "
                          "ALARM",
                          "h2 Alarm updated from INSUFFICIENT_DATA to OK",
                          "h1 Alarm updated from ALARM to OK",
                          "h2 Alarm \"h2\" deleted"));
  for (size_t i = 1; i < asc.size(); ++i) {
    EXPECT_LE(Ms(asc[i - 1].timestamp()), Ms(asc[i].timestamp()));
  }

  // The default order is newest first.
  std::vector<v1::AlarmHistoryItem> desc = History("", "", true);
  ASSERT_EQ(desc.size(), asc.size());
  for (size_t i = 0; i < asc.size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(desc[asc.size() - 1 - i], asc[i]))
        << i;
  }

  // One a page: every item once, in order, the last page without a token.
  for (const bool ascending : {true, false}) {
    SCOPED_TRACE(ascending ? "ascending" : "descending");
    v1::DescribeAlarmHistoryRequest req;
    req.set_max_records(1);
    if (ascending) req.set_scan_by("TimestampAscending");
    std::vector<v1::AlarmHistoryItem> paged;
    for (int page = 0; page < 20; ++page) {
      v1::DescribeAlarmHistoryResponse resp;
      const grpc::Status s = History(req, &resp);
      ASSERT_TRUE(s.ok()) << Show(s);
      ASSERT_EQ(resp.alarm_history_items_size(), 1);
      paged.push_back(resp.alarm_history_items(0));
      if (resp.next_token().empty()) break;
      req.set_next_token(resp.next_token());
    }
    const std::vector<v1::AlarmHistoryItem>& want = ascending ? asc : desc;
    ASSERT_EQ(paged.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_TRUE(MessageDifferencer::Equals(paged[i], want[i])) << i;
    }
  }

  // By type, and by alarm: the deleted alarm's items are still there.
  EXPECT_EQ(History("", "StateUpdate").size(), 3u);
  EXPECT_EQ(History("", "ConfigurationUpdate").size(), 3u);
  EXPECT_THAT(History("", "Action"), IsEmpty());
  EXPECT_THAT(Summaries("h2"),
              ElementsAre("Alarm \"h2\" created",
                          "Alarm updated from INSUFFICIENT_DATA to OK",
                          "Alarm \"h2\" deleted"));
  EXPECT_THAT(Summaries("h2", "StateUpdate"),
              ElementsAre("Alarm updated from INSUFFICIENT_DATA to OK"));
  EXPECT_THAT(History("h"), IsEmpty());  // a name, not a prefix

  // A time range: [start, end).
  v1::DescribeAlarmHistoryRequest range;
  range.set_scan_by("TimestampAscending");
  *range.mutable_start_date() = asc[2].timestamp();
  *range.mutable_end_date() = Ts(Ms(asc[4].timestamp()) + 1);
  v1::DescribeAlarmHistoryResponse resp;
  ASSERT_TRUE(History(range, &resp).ok());
  ASSERT_GE(resp.alarm_history_items_size(), 3);
  for (const auto& h : resp.alarm_history_items()) {
    EXPECT_GE(Ms(h.timestamp()), Ms(asc[2].timestamp()));
    EXPECT_LE(Ms(h.timestamp()), Ms(asc[4].timestamp()));
  }
  // By alarm type.
  v1::DescribeAlarmHistoryRequest composite_only;
  composite_only.add_alarm_types("CompositeAlarm");
  ASSERT_TRUE(History(composite_only, &resp).ok());
  EXPECT_EQ(resp.alarm_history_items_size(), 0);
}

// ---------------------------------------------------------------------------
// 5. Composite alarms.

TEST_F(AlarmServiceTest, ACompositeFollowsItsChildren) {
  ASSERT_TRUE(Put(QuietAlarm("a")).ok());
  ASSERT_TRUE(Put(QuietAlarm("b")).ok());
  v1::PutCompositeAlarmRequest req;
  req.set_alarm_name("both");
  req.set_alarm_description("a and b");
  req.set_alarm_rule("ALARM(a) AND ALARM(\"b\")");
  req.add_alarm_actions("webhook:https://example.com/both");
  ASSERT_TRUE(PutComposite(req).ok());
  // Evaluated at once: neither child is in ALARM.
  v1::CompositeAlarm c = Composite("both");
  EXPECT_EQ(c.state_value(), "OK");
  EXPECT_EQ(c.alarm_rule(), "ALARM(a) AND ALARM(\"b\")");
  EXPECT_EQ(c.alarm_description(), "a and b");
  EXPECT_TRUE(c.actions_enabled());
  EXPECT_EQ(c.configuration_version(), 1);
  EXPECT_THAT(c.state_reason(), StartsWith("alarm_rule evaluated to FALSE"));

  ASSERT_TRUE(SetState("a", "ALARM", "forced").ok());
  EXPECT_EQ(Composite("both").state_value(), "OK");
  ASSERT_TRUE(SetState("b", "ALARM", "forced").ok());
  c = Composite("both");
  EXPECT_EQ(c.state_value(), "ALARM");
  const v1::MetricAlarm b = Metric("b");
  EXPECT_EQ(c.state_reason(),
            absl::StrCat("b transitioned to ALARM at ",
                         JsonTime(Ms(b.state_transitioned_timestamp()))));
  EXPECT_THAT(c.state_reason_data(),
              HasSubstr("{\"triggeringAlarms\":[{\"name\":\"a\""));
  EXPECT_EQ(c.actions_suppressed_by(), "");
  ASSERT_TRUE(SetState("a", "OK", "forced").ok());
  c = Composite("both");
  EXPECT_EQ(c.state_value(), "OK");
  EXPECT_THAT(c.state_reason(), StartsWith("a transitioned to OK at "));
  EXPECT_THAT(Summaries("both", "StateUpdate"),
              ElementsAre("Alarm updated from INSUFFICIENT_DATA to OK",
                          "Alarm updated from OK to ALARM",
                          "Alarm updated from ALARM to OK"));
  for (const auto& h : History("both")) {
    EXPECT_EQ(h.alarm_type(), "CompositeAlarm");
  }

  // A composite's forced state lasts until a child changes.
  ASSERT_TRUE(SetState("both", "INSUFFICIENT_DATA", "forced").ok());
  EXPECT_EQ(Composite("both").state_value(), "INSUFFICIENT_DATA");
  EXPECT_EQ(Composite("both").state_reason(), "forced");
  ASSERT_TRUE(SetState("b", "OK", "forced").ok());
  EXPECT_EQ(Composite("both").state_value(), "OK");
  ASSERT_TRUE(SetState("b", "ALARM", "forced").ok());
  EXPECT_EQ(Composite("both").state_value(), "OK");  // a is OK
  EXPECT_THAT(Summaries("both", "StateUpdate"),
              ElementsAre("Alarm updated from INSUFFICIENT_DATA to OK",
                          "Alarm updated from OK to ALARM",
                          "Alarm updated from ALARM to OK",
                          "Alarm updated from OK to INSUFFICIENT_DATA",
                          "Alarm updated from INSUFFICIENT_DATA to OK"));

  // Types: none given is metric alarms only, as CloudWatch.
  v1::DescribeAlarmsRequest q;
  v1::DescribeAlarmsResponse r = Describe(q);
  EXPECT_EQ(r.metric_alarms_size(), 2);
  EXPECT_EQ(r.composite_alarms_size(), 0);
  q.add_alarm_types("CompositeAlarm");
  EXPECT_THAT(Names(q), ElementsAre("both"));
  q.add_alarm_types("MetricAlarm");
  EXPECT_THAT(Names(q), ElementsAre("a", "b", "both"));
  q.clear_alarm_types();
  q.add_alarm_names("both");
  EXPECT_THAT(Names(q), IsEmpty());  // a composite, and no types given

  // Relations.
  q.Clear();
  q.set_children_of_alarm_name("both");
  EXPECT_THAT(Names(q), ElementsAre("a", "b"));
  q.add_alarm_types("MetricAlarm");
  q.add_alarm_types("CompositeAlarm");
  EXPECT_THAT(Names(q), ElementsAre("a", "b"));  // not "both" itself
  q.Clear();
  q.set_parents_of_alarm_name("a");
  q.add_alarm_types("CompositeAlarm");
  EXPECT_THAT(Names(q), ElementsAre("both"));
  q.set_parents_of_alarm_name("both");
  EXPECT_THAT(Names(q), IsEmpty());

  // A composite of composites follows in the same call.
  ASSERT_TRUE(PutComposite("top", "NOT OK(both)").ok());
  EXPECT_EQ(Composite("top").state_value(), "OK");
  ASSERT_TRUE(SetState("a", "ALARM", "forced").ok());
  EXPECT_EQ(Composite("both").state_value(), "ALARM");
  EXPECT_EQ(Composite("top").state_value(), "ALARM");
  q.set_children_of_alarm_name("top");
  q.clear_parents_of_alarm_name();
  EXPECT_THAT(Names(q), ElementsAre("both"));

  // An update keeps the state and bumps the version.
  req.set_alarm_rule("ALARM(a) OR ALARM(b)");
  ASSERT_TRUE(PutComposite(req).ok());
  c = Composite("both");
  EXPECT_EQ(c.state_value(), "ALARM");
  EXPECT_EQ(c.configuration_version(), 2);
  EXPECT_EQ(c.alarm_rule(), "ALARM(a) OR ALARM(b)");

  // A metric alarm's name is not a composite's, nor back.
  const grpc::Status s = PutComposite("a", "TRUE");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("is a metric alarm"));
  const grpc::Status m = Put(CpuAlarm("both"));
  EXPECT_EQ(m.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(m.error_message(), HasSubstr("is a composite alarm"));

  // Deleting a child leaves the parent unable to evaluate.
  ASSERT_TRUE(Delete({"top"}).ok());
  ASSERT_TRUE(PutComposite("only-a", "ALARM(a)").ok());
  ASSERT_TRUE(Delete({"a"}).ok());
  c = Composite("only-a");
  EXPECT_EQ(c.evaluation_state(), "EVALUATION_ERROR");
  EXPECT_THAT(c.state_reason(), HasSubstr("'a'"));
}

// Names with spaces, parentheses and quotes, double-quoted in the rule.
TEST_F(AlarmServiceTest, ARuleNamesAnyAlarmNameQuoted) {
  const std::string odd = "web \"prod\" (eu) \\ 1";
  ASSERT_TRUE(Put(QuietAlarm(odd)).ok());
  ASSERT_TRUE(Put(QuietAlarm("plain name")).ok());
  ASSERT_TRUE(PutComposite("odd-parent",
                           "ALARM(\"web \\\"prod\\\" (eu) \\\\ 1\") OR "
                           "ALARM( plain name )")
                  .ok());
  v1::DescribeAlarmsRequest q;
  q.set_children_of_alarm_name("odd-parent");
  EXPECT_THAT(Names(q), ElementsAre("plain name", odd));
  EXPECT_EQ(Composite("odd-parent").state_value(), "OK");
  ASSERT_TRUE(SetState(odd, "ALARM", "forced").ok());
  const v1::CompositeAlarm c = Composite("odd-parent");
  EXPECT_EQ(c.state_value(), "ALARM");
  EXPECT_THAT(c.state_reason(), StartsWith(odd + " transitioned to ALARM"));
  // The reason data is JSON: the quotes and backslash escaped.
  EXPECT_THAT(c.state_reason_data(),
              HasSubstr(R"("name":"web \"prod\" (eu) \\ 1")"));
  EXPECT_EQ(History(odd).size(), 2u);
}

// CloudWatch refuses AlarmTypes beside ChildrenOfAlarmName and
// ParentsOfAlarmName ("you cannot specify any other parameters in the
// request except for MaxRecords and NextToken"), so its clients ask for
// parents and children without types, and get composites back. nimbusd
// applies its "no types: metric alarms only" default to these selectors
// too: DescribeAlarms{parents_of_alarm_name: "a"} answers nothing, and
// children_of_alarm_name leaves out composite children.
// DISABLED: a known divergence from CloudWatch that fails against the
// server as it is (rpc/alarm_service.cc applies the MetricAlarm default
// before the relation selectors); enable it once DescribeAlarms follows
// CloudWatch here.
TEST_F(AlarmServiceTest, RelationsWithoutTypesReturnCompositesAsCloudWatch) {
  ASSERT_TRUE(Put(QuietAlarm("a")).ok());
  ASSERT_TRUE(PutComposite("inner", "ALARM(a)").ok());
  ASSERT_TRUE(PutComposite("outer", "ALARM(a) OR ALARM(inner)").ok());
  v1::DescribeAlarmsRequest q;
  q.set_parents_of_alarm_name("a");
  EXPECT_THAT(Names(q), ElementsAre("inner", "outer"));
  q.Clear();
  q.set_children_of_alarm_name("outer");
  EXPECT_THAT(Names(q), ElementsAre("a", "inner"));
}

TEST_F(AlarmServiceTest, DescribeAlarmsFiltersAndPages) {
  for (int i = 0; i < 5; ++i) {
    v1::PutMetricAlarmRequest r = QuietAlarm(absl::StrCat("web-", i));
    if (i == 3) r.add_ok_actions("webhook:https://example.com/ok");
    ASSERT_TRUE(Put(r).ok());
  }
  ASSERT_TRUE(Put(QuietAlarm("db")).ok());
  ASSERT_TRUE(SetState("web-1", "ALARM", "forced").ok());
  ASSERT_TRUE(SetState("web-4", "ALARM", "forced").ok());

  v1::DescribeAlarmsRequest q;
  q.set_alarm_name_prefix("web-");
  q.set_max_records(2);
  std::vector<std::string> names;
  int pages = 0;
  for (; pages < 10; ++pages) {
    const v1::DescribeAlarmsResponse r = Describe(q);
    EXPECT_LE(r.metric_alarms_size(), 2);
    for (const auto& a : r.metric_alarms()) names.push_back(a.alarm_name());
    if (r.next_token().empty()) break;
    q.set_next_token(r.next_token());
  }
  EXPECT_EQ(pages, 2);  // 2 + 2 + 1
  EXPECT_THAT(names, ElementsAre("web-0", "web-1", "web-2", "web-3", "web-4"));
  q.Clear();
  q.set_state_value("ALARM");
  EXPECT_THAT(Names(q), ElementsAre("web-1", "web-4"));
  q.Clear();
  q.set_action_prefix("webhook:");
  EXPECT_THAT(Names(q), ElementsAre("web-3"));
  q.Clear();
  q.add_alarm_names("db");
  q.add_alarm_names("ghost");
  EXPECT_THAT(Names(q), ElementsAre("db"));
  q.Clear();
  EXPECT_EQ(Names(q).size(), 6u);
}

// ---------------------------------------------------------------------------
// 6. DescribeAlarmsForMetric.

TEST_F(AlarmServiceTest, DescribeAlarmsForMetricMatchesTheMetric) {
  ASSERT_TRUE(Put(CpuAlarm("avg")).ok());
  v1::PutMetricAlarmRequest max = CpuAlarm("max");
  max.set_statistic("Maximum");
  max.set_period(300);
  ASSERT_TRUE(Put(max).ok());
  v1::PutMetricAlarmRequest p99 = CpuAlarm("p99");
  p99.clear_statistic();
  p99.set_extended_statistic("p99");
  p99.set_unit("Percent");
  ASSERT_TRUE(Put(p99).ok());
  v1::PutMetricAlarmRequest other = CpuAlarm("other-host");
  other.clear_dimensions();
  AddDimensions({{"Host", "b"}}, other.mutable_dimensions());
  ASSERT_TRUE(Put(other).ok());
  ASSERT_TRUE(PutComposite("comp", "ALARM(avg)").ok());

  auto names =
      [&](const std::function<void(v1::DescribeAlarmsForMetricRequest*)>&
              narrow) {
        v1::DescribeAlarmsForMetricRequest req;
        req.set_namespace_("App");
        req.set_metric_name("CPU");
        AddDimensions({{"Host", "a"}}, req.mutable_dimensions());
        narrow(&req);
        v1::DescribeAlarmsForMetricResponse resp;
        const grpc::Status s = Call(&Stub::DescribeAlarmsForMetric, req, &resp);
        EXPECT_TRUE(s.ok()) << Show(s);
        std::vector<std::string> out;
        for (const auto& a : resp.metric_alarms())
          out.push_back(a.alarm_name());
        return out;
      };
  EXPECT_THAT(names([](auto*) {}), ElementsAre("avg", "max", "p99"));
  EXPECT_THAT(names([](auto* r) { r->set_statistic("Average"); }),
              ElementsAre("avg"));
  EXPECT_THAT(names([](auto* r) { r->set_extended_statistic("p99"); }),
              ElementsAre("p99"));
  EXPECT_THAT(names([](auto* r) { r->set_period(300); }), ElementsAre("max"));
  // An alarm without a unit watches every unit; one with a unit, its own.
  EXPECT_THAT(names([](auto* r) { r->set_unit("Count"); }),
              ElementsAre("avg", "max"));
  EXPECT_THAT(names([](auto* r) { r->set_unit("Percent"); }),
              ElementsAre("avg", "max", "p99"));
  EXPECT_THAT(names([](auto* r) { r->mutable_dimensions(0)->set_value("b"); }),
              ElementsAre("other-host"));
  EXPECT_THAT(names([](auto* r) { r->clear_dimensions(); }), IsEmpty());
  EXPECT_THAT(names([](auto* r) { r->set_metric_name("Memory"); }), IsEmpty());
  // The metric's fields follow PutMetricData's rules.
  v1::DescribeAlarmsForMetricRequest bad;
  bad.set_metric_name("CPU");
  v1::DescribeAlarmsForMetricResponse resp;
  grpc::Status s = Call(&Stub::DescribeAlarmsForMetric, bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), StartsWith("namespace:"));
  bad.set_namespace_("App");
  bad.set_unit("Furlongs");
  s = Call(&Stub::DescribeAlarmsForMetric, bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), StartsWith("unit:"));
}

// ---------------------------------------------------------------------------
// 7. Bad input: every rule refused, naming the field.

struct BadAlarm {
  const char* what;
  std::function<void(v1::PutMetricAlarmRequest*)> change;
  // The message starts with this (the field) and holds `rule`.
  std::string field;
  std::string rule;
  grpc::StatusCode code = grpc::StatusCode::INVALID_ARGUMENT;
  // Whether PreviewAlarm refuses it too (it reads no tags).
  bool preview = true;
};

TEST_F(AlarmServiceTest, PutMetricAlarmRefusesEveryBrokenFieldRule) {
  using R = v1::PutMetricAlarmRequest;
  const std::vector<BadAlarm> cases = {
      {"empty name", [](R* r) { r->set_alarm_name(""); },
       "alarm_name:", "must be 1 to 255 characters, got 0"},
      {"name of 256", [](R* r) { r->set_alarm_name(std::string(256, 'n')); },
       "alarm_name:", "must be 1 to 255 characters, got 256"},
      {"control character in the name",
       [](R* r) { r->set_alarm_name("cpu\nhigh"); },
       "alarm_name:", "control characters"},
      {"description of 1025",
       [](R* r) { r->set_alarm_description(std::string(1025, 'd')); },
       "alarm_description:", "at most 1024 characters, got 1025"},
      {"6 ok actions",
       [](R* r) {
         for (int i = 0; i < 6; ++i) r->add_ok_actions(absl::StrCat("a", i));
       },
       "ok_actions:", "6 given, at most 5"},
      {"6 alarm actions",
       [](R* r) {
         for (int i = 0; i < 6; ++i) {
           r->add_alarm_actions(absl::StrCat("a", i));
         }
       },
       "alarm_actions:", "6 given, at most 5"},
      {"an empty action",
       [](R* r) {
         r->add_insufficient_data_actions("x");
         r->add_insufficient_data_actions("");
       },
       "insufficient_data_actions[1]:", "must be 1 to 1024 characters, got 0"},
      {"an action of 1025",
       [](R* r) { r->add_alarm_actions(std::string(1025, 'a')); },
       "alarm_actions[0]:", "got 1025"},
      {"no namespace", [](R* r) { r->clear_namespace_(); },
       "namespace:", "must be 1 to 255 characters"},
      {"no metric name", [](R* r) { r->clear_metric_name(); },
       "metric_name:", "must be 1 to 255 characters"},
      {"statistic and extended statistic",
       [](R* r) { r->set_extended_statistic("p99"); },
       "statistic:", "exactly one of statistic and extended_statistic"},
      {"neither statistic", [](R* r) { r->clear_statistic(); },
       "statistic:", "exactly one of statistic and extended_statistic"},
      {"unknown statistic", [](R* r) { r->set_statistic("Median"); },
       "statistic:",
       "must be one of SampleCount, Average, Sum, Minimum, Maximum, got "
       "'Median'"},
      {"bad extended statistic",
       [](R* r) {
         r->clear_statistic();
         r->set_extended_statistic("p101");
       },
       "extended_statistic:", ""},
      {"bad extended statistic form",
       [](R* r) {
         r->clear_statistic();
         r->set_extended_statistic("q50");
       },
       "extended_statistic:", ""},
      {"period 0", [](R* r) { r->set_period(0); }, "period:", "required"},
      {"period 45", [](R* r) { r->set_period(45); },
       "period:", "must be 10, 20, 30 or a multiple of 60 seconds, got 45"},
      {"negative period", [](R* r) { r->set_period(-60); },
       "period:", "must not be negative, got -60"},
      {"evaluation periods 0", [](R* r) { r->set_evaluation_periods(0); },
       "evaluation_periods:", "must be at least 1, got 0"},
      {"negative evaluation periods",
       [](R* r) { r->set_evaluation_periods(-1); },
       "evaluation_periods:", "must not be negative"},
      {"datapoints to alarm above N",
       [](R* r) { r->set_datapoints_to_alarm(4); },
       "datapoints_to_alarm:", "must be 1 to evaluation_periods (3), got 4"},
      {"negative datapoints to alarm",
       [](R* r) { r->set_datapoints_to_alarm(-2); },
       "datapoints_to_alarm:", "must not be negative"},
      {"more than a day",
       [](R* r) {
         r->set_period(60);
         r->set_evaluation_periods(1441);
       },
       "evaluation_periods:", "period (60 s) x 1441 is more than one day"},
      {"more than 7 days",
       [](R* r) {
         r->set_period(3600);
         r->set_evaluation_periods(169);
       },
       "evaluation_periods:", "is more than 7 days"},
      {"no threshold", [](R* r) { r->clear_threshold(); },
       "threshold:", "required"},
      {"NaN threshold", [](R* r) { r->set_threshold(std::nan("")); },
       "threshold:", "must be a finite number"},
      {"unknown comparison",
       [](R* r) { r->set_comparison_operator("GreaterThan"); },
       "comparison_operator:", "got 'GreaterThan'"},
      {"no comparison", [](R* r) { r->clear_comparison_operator(); },
       "comparison_operator:", "got ''"},
      {"unknown treat_missing_data",
       [](R* r) { r->set_treat_missing_data("Missing"); },
       "treat_missing_data:",
       "must be one of missing, ignore, breaching, notBreaching, got "
       "'Missing'"},
      {"unknown low sample count",
       [](R* r) { r->set_evaluate_low_sample_count_percentile("sometimes"); },
       "evaluate_low_sample_count_percentile:",
       "must be evaluate or ignore, got 'sometimes'"},
      {"bad unit", [](R* r) { r->set_unit("Furlongs"); },
       "unit:", "'Furlongs' is not a CloudWatch unit"},
      {"duplicate dimension",
       [](R* r) {
         AddDimensions({{"Host", "b"}}, r->mutable_dimensions());
       },
       "dimensions:", "name 'Host' appears more than once"},
      {"empty dimension value",
       [](R* r) {
         AddDimensions({{"Zone", ""}}, r->mutable_dimensions());
       },
       "dimensions[", "value: must be 1 to 1024 characters"},
      {"duplicate tag key",
       [](R* r) {
         for (const char* v : {"x", "y"}) {
           v1::Tag* t = r->add_tags();
           t->set_key("team");
           t->set_value(v);
         }
       },
       "tags[1].key:", "'team' given twice", grpc::StatusCode::INVALID_ARGUMENT,
       false},
      {"empty tag key", [](R* r) { r->add_tags()->set_value("v"); },
       "tags[0].key:", "must be 1 to 128 characters",
       grpc::StatusCode::INVALID_ARGUMENT, false},
      {"metrics beside a single metric",
       [](R* r) { r->add_metrics()->set_id("m1"); }, "namespace:",
       "not allowed with metrics", grpc::StatusCode::INVALID_ARGUMENT},
      {"a sub-minute period beyond the high-resolution reach",
       [](R* r) {
         r->set_period(10);
         r->set_evaluation_periods(1080);  // 3 h of 10 s periods
       },
       "evaluation_periods:", "--high_resolution_reach"},
  };
  const int64_t tick = FloorMinute(NowMs());
  ASSERT_TRUE(Put(CpuAlarm("control")).ok()) << "the base request is valid";
  for (const BadAlarm& c : cases) {
    SCOPED_TRACE(c.what);
    v1::PutMetricAlarmRequest req = CpuAlarm("bad");
    c.change(&req);
    const grpc::Status s = Put(req);
    EXPECT_EQ(s.error_code(), c.code) << Show(s);
    EXPECT_THAT(s.error_message(), StartsWith(c.field));
    EXPECT_THAT(s.error_message(), HasSubstr(c.rule));
    if (!c.preview) continue;
    // PreviewAlarm checks its alarm with the same rules.
    v1::PreviewAlarmRequest preview;
    *preview.mutable_alarm() = req;
    *preview.mutable_start_time() = Ts(tick);
    *preview.mutable_end_time() = Ts(tick + kMinute);
    v1::PreviewAlarmResponse resp;
    const grpc::Status p = Preview(preview, &resp);
    EXPECT_EQ(p.error_code(), s.error_code()) << Show(p);
    EXPECT_EQ(p.error_message(), s.error_message());
  }
  // Nothing was created or changed.
  v1::DescribeAlarmsRequest all;
  all.add_alarm_types("MetricAlarm");
  all.add_alarm_types("CompositeAlarm");
  EXPECT_THAT(Names(all), ElementsAre("control"));
  EXPECT_EQ(History("").size(), History("control").size());
  EXPECT_EQ(Metric("control").configuration_version(), 1);
  // Updating the alarm with a broken rule leaves it as it was.
  v1::PutMetricAlarmRequest broken = CpuAlarm("control");
  broken.set_period(45);
  EXPECT_EQ(Put(broken).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Metric("control").configuration_version(), 1);
  EXPECT_EQ(Metric("control").period(), 60);
}

TEST_F(AlarmServiceTest, PutCompositeAlarmRefusesBadRules) {
  ASSERT_TRUE(Put(QuietAlarm("m")).ok());
  struct Bad {
    const char* what;
    std::function<void(v1::PutCompositeAlarmRequest*)> change;
    std::string field;
    std::string rule;
  };
  using R = v1::PutCompositeAlarmRequest;
  const std::vector<Bad> cases = {
      {"empty rule", [](R* r) { r->clear_alarm_rule(); },
       "alarm_rule:", "required"},
      {"blank rule", [](R* r) { r->set_alarm_rule("   "); },
       "alarm_rule:", "must not be empty"},
      {"parse error", [](R* r) { r->set_alarm_rule("ALARM(m) AND"); },
       "alarm_rule: column", ""},
      {"lower-case keyword", [](R* r) { r->set_alarm_rule("alarm(m)"); },
       "alarm_rule: column 1", ""},
      {"unclosed name", [](R* r) { r->set_alarm_rule("ALARM(\"m)"); },
       "alarm_rule: column", ""},
      {"missing alarm",
       [](R* r) { r->set_alarm_rule("ALARM(m) OR OK(ghost)"); },
       "alarm_rule:", "names alarm 'ghost', which does not exist"},
      {"itself", [](R* r) { r->set_alarm_rule("ALARM(c)"); },
       "alarm_rule:", "names the alarm itself"},
      {"wait period without suppressor",
       [](R* r) { r->set_actions_suppressor_wait_period(60); },
       "actions_suppressor:", "required with a wait or extension period"},
      {"extension period without suppressor",
       [](R* r) { r->set_actions_suppressor_extension_period(60); },
       "actions_suppressor:", "required with a wait or extension period"},
      {"missing suppressor", [](R* r) { r->set_actions_suppressor("ghost"); },
       "actions_suppressor:", "'ghost' does not exist"},
      {"negative wait period",
       [](R* r) {
         r->set_actions_suppressor("m");
         r->set_actions_suppressor_wait_period(-1);
       },
       "actions_suppressor_wait_period:", "got -1"},
      {"empty name", [](R* r) { r->clear_alarm_name(); },
       "alarm_name:", "got 0"},
      {"6 actions",
       [](R* r) {
         for (int i = 0; i < 6; ++i) r->add_ok_actions("x");
       },
       "ok_actions:", "6 given, at most 5"},
      {"duplicate tag key",
       [](R* r) {
         r->add_tags()->set_key("k");
         r->add_tags()->set_key("k");
       },
       "tags[1].key:", "given twice"},
      {"rule of 10241 characters",
       [](R* r) {
         r->set_alarm_rule("ALARM(m) OR " + std::string(10225, ' ') + "TRUE");
       },
       "alarm_rule:", "10241 characters, at most 10240"},
      {"101 alarms named",
       [](R* r) {
         std::string rule = "ALARM(m)";
         for (int i = 0; i < 100; ++i)
           absl::StrAppend(&rule, " OR OK(x", i, ")");
         r->set_alarm_rule(rule);
       },
       "alarm_rule:", "more than 100 alarms named"},
      {"nesting 101 deep",
       [](R* r) {
         std::string rule;
         for (int i = 0; i < 101; ++i) rule += "NOT ";
         r->set_alarm_rule(rule + "ALARM(m)");
       },
       "alarm_rule: column", "nesting deeper than 100 levels"},
      {"unquoted name with a quote",
       [](R* r) { r->set_alarm_rule("ALARM(a\"b)"); }, "alarm_rule: column",
       ""},
      {"empty name", [](R* r) { r->set_alarm_rule("ALARM( )"); },
       "alarm_rule: column", "expected an alarm name"},
  };
  for (const Bad& c : cases) {
    SCOPED_TRACE(c.what);
    v1::PutCompositeAlarmRequest req;
    req.set_alarm_name("c");
    req.set_alarm_rule("ALARM(m)");
    c.change(&req);
    const grpc::Status s = PutComposite(req);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Show(s);
    EXPECT_THAT(s.error_message(), StartsWith(c.field));
    EXPECT_THAT(s.error_message(), HasSubstr(c.rule));
  }
  v1::DescribeAlarmsRequest composites;
  composites.add_alarm_types("CompositeAlarm");
  EXPECT_THAT(Names(composites), IsEmpty());
  // The column is where the parser stopped.
  const grpc::Status s = PutComposite("c", "ALARM(m) AND");
  EXPECT_THAT(s.error_message(), StartsWith("alarm_rule: column 13: "));
  ASSERT_TRUE(PutComposite("c", "ALARM(m)").ok());
}

TEST_F(AlarmServiceTest, OtherCallsRefuseBadArguments) {
  ASSERT_TRUE(Put(QuietAlarm("m")).ok());
  auto expect_invalid = [](const grpc::Status& s, const std::string& field,
                           const std::string& rule) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Show(s);
    EXPECT_THAT(s.error_message(), StartsWith(field));
    EXPECT_THAT(s.error_message(), HasSubstr(rule));
  };

  // SetAlarmState.
  expect_invalid(SetState("m", "BROKEN", "r"), "state_value:",
                 "must be OK, ALARM or INSUFFICIENT_DATA, got 'BROKEN'");
  expect_invalid(SetState("m", "", "r"), "state_value:", "got ''");
  expect_invalid(SetState("m", "ALARM", std::string(1024, 'r')),
                 "state_reason:", "at most 1023 characters, got 1024");
  expect_invalid(SetState("m", "ALARM", "r", "{\"a\":"),
                 "state_reason_data:", "");
  expect_invalid(SetState("m", "ALARM", "r", "not json"),
                 "state_reason_data:", "");
  expect_invalid(SetState("m", "ALARM", "r", "[1,2]"),
                 "state_reason_data:", "");
  expect_invalid(
      SetState("m", "ALARM", "r", "{\"a\":\"" + std::string(4000, 'x') + "\"}"),
      "state_reason_data:", "at most 4000");
  EXPECT_TRUE(SetState("m", "ALARM", std::string(1023, 'r'),
                       R"({"nested":{"list":[1,2.5,"x",null,true]}})")
                  .ok());
  EXPECT_EQ(Metric("m").state_reason().size(), 1023u);
  EXPECT_EQ(Summaries("m", "StateUpdate").size(), 1u);  // only the good one

  // DescribeAlarms.
  v1::DescribeAlarmsResponse dr;
  v1::DescribeAlarmsRequest d;
  d.set_max_records(101);
  expect_invalid(Describe(d, &dr), "max_records:", "must be 1 to 100, got 101");
  d.set_max_records(-1);
  expect_invalid(Describe(d, &dr), "max_records:", "got -1");
  d.Clear();
  d.add_alarm_names("m");
  d.set_alarm_name_prefix("m");
  expect_invalid(Describe(d, &dr), "alarm_names:", "at most one of");
  d.Clear();
  d.set_children_of_alarm_name("x");
  d.set_parents_of_alarm_name("y");
  expect_invalid(Describe(d, &dr), "alarm_names:", "at most one of");
  d.Clear();
  d.add_alarm_types("MetricAlarm");
  d.add_alarm_types("Metric");
  expect_invalid(Describe(d, &dr), "alarm_types[1]:",
                 "must be MetricAlarm or CompositeAlarm, got 'Metric'");
  d.Clear();
  d.set_state_value("RED");
  expect_invalid(Describe(d, &dr), "state_value:", "got 'RED'");
  d.Clear();
  for (int i = 0; i < 101; ++i) d.add_alarm_names(absl::StrCat("n", i));
  expect_invalid(Describe(d, &dr), "alarm_names:", "at most 100");

  // DescribeAlarmHistory.
  v1::DescribeAlarmHistoryResponse hr;
  v1::DescribeAlarmHistoryRequest h;
  h.set_scan_by("Oldest");
  expect_invalid(History(h, &hr), "scan_by:",
                 "must be TimestampDescending or TimestampAscending, got "
                 "'Oldest'");
  h.Clear();
  h.set_history_item_type("State");
  expect_invalid(History(h, &hr), "history_item_type:",
                 "must be ConfigurationUpdate, StateUpdate or Action, got "
                 "'State'");
  h.Clear();
  for (const char* token : {"garbage", "12", "a.b", "1.2.3"}) {
    SCOPED_TRACE(token);
    h.set_next_token(token);
    expect_invalid(History(h, &hr),
                   "next_token:", "not a token this server gave out");
  }
  h.Clear();
  h.set_max_records(101);
  expect_invalid(History(h, &hr), "max_records:", "must be 1 to 100");
  h.Clear();
  h.add_alarm_types("Composite");
  expect_invalid(History(h, &hr), "alarm_types[0]:", "got 'Composite'");
  h.Clear();
  *h.mutable_start_date() = Ts(NowMs());
  *h.mutable_end_date() = Ts(NowMs() - kMinute);
  expect_invalid(History(h, &hr), "end_date:", "after start_date");

  // PreviewAlarm.
  const int64_t tick = FloorMinute(NowMs());
  v1::PreviewAlarmResponse pr;
  v1::PreviewAlarmRequest p;
  *p.mutable_alarm() = CpuAlarm("preview");
  *p.mutable_end_time() = Ts(tick);
  expect_invalid(Preview(p, &pr), "start_time:", "required");
  p.clear_end_time();
  *p.mutable_start_time() = Ts(tick);
  expect_invalid(Preview(p, &pr), "end_time:", "required");
  *p.mutable_end_time() = Ts(tick - kMinute);
  expect_invalid(Preview(p, &pr), "end_time:", "must be after start_time");
  *p.mutable_end_time() = Ts(tick);
  expect_invalid(Preview(p, &pr), "end_time:", "must be after start_time");
  // 10,081 one-minute ticks, one more than the most.
  *p.mutable_end_time() = Ts(tick + 10080 * kMinute);
  expect_invalid(Preview(p, &pr), "end_time:",
                 "the range holds 10081 evaluations, at most 10080");
  *p.mutable_end_time() = Ts(tick + kMinute);
  p.set_initial_state("RED");
  expect_invalid(Preview(p, &pr), "initial_state:",
                 "must be OK, ALARM or INSUFFICIENT_DATA, got 'RED'");
  p.set_initial_state("OK");
  p.mutable_start_time()->set_nanos(-1);
  expect_invalid(Preview(p, &pr), "start_time:", "not a valid timestamp");
  p.mutable_start_time()->set_nanos(0);
  p.clear_alarm();
  expect_invalid(Preview(p, &pr), "threshold:", "required");
  // A preview saves nothing.
  p.set_initial_state("");
  *p.mutable_alarm() = CpuAlarm("preview");
  ASSERT_TRUE(Preview(p, &pr).ok());
  EXPECT_EQ(pr.steps_size(), 2);
  v1::DescribeAlarmsRequest by_name;
  by_name.add_alarm_names("preview");
  EXPECT_THAT(Names(by_name), IsEmpty());
  EXPECT_THAT(History("preview"), IsEmpty());
}

// Lengths of names, descriptions, actions, tags and reasons are counted
// in characters, as CloudWatch counts them, not in UTF-8 bytes.
TEST_F(AlarmServiceTest, NameLengthsAreCountedInCharacters) {
  std::string name;
  for (int i = 0; i < 255; ++i) name += "\xC3\xA9";  // U+00E9, 2 bytes
  v1::PutMetricAlarmRequest a = QuietAlarm(name);
  a.set_metric_name("NoData-long-name");
  std::string description;
  for (int i = 0; i < 1024; ++i) description += "\xC3\xA9";
  a.set_alarm_description(description);
  // 1,114 bytes, 859 characters.
  a.add_alarm_actions(absl::StrCat("log:", std::string(600, 'x'), name));
  grpc::Status s = Put(a);
  EXPECT_TRUE(s.ok()) << Show(s);
  EXPECT_EQ(Metric(name).alarm_name(), name);
  // 1,023 characters, 1,024 bytes.
  s = SetState(name, "ALARM", std::string(1022, 'r') + "\xC3\xA9");
  EXPECT_TRUE(s.ok()) << Show(s);
  // One character more is refused, counted in characters.
  a = QuietAlarm(name + "\xC3\xA9");
  a.set_metric_name("NoData-long-name");
  s = Put(a);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(),
              HasSubstr("alarm_name: must be 1 to 255 characters, got 256"));
}

// ---------------------------------------------------------------------------
// 8. Restarts, clean and by SIGKILL, on the same data directory.

class AlarmRestartTest : public AlarmServiceTest,
                         public ::testing::WithParamInterface<int> {};

TEST_P(AlarmRestartTest, AlarmsStatesAndHistorySurvive) {
  const int64_t t = FloorMinute(NowMs());
  PutPoints("CPU", {{"Host", "a"}},
            {{t - 3 * kMinute + 1000, 95},
             {t - 2 * kMinute + 1000, 96},
             {t - 1 * kMinute + 1000, 97}});
  // A metric alarm in ALARM by its data, with every field set.
  v1::PutMetricAlarmRequest cpu = CpuAlarm("cpu");
  cpu.set_alarm_description("every field");
  cpu.set_actions_enabled(false);
  cpu.add_ok_actions("webhook:ok");
  cpu.add_alarm_actions("webhook:alarm");
  cpu.add_insufficient_data_actions("webhook:insufficient");
  cpu.set_datapoints_to_alarm(2);
  cpu.set_treat_missing_data("breaching");
  v1::Tag* tag = cpu.add_tags();
  tag->set_key("team");
  tag->set_value("infra");
  ASSERT_TRUE(Put(cpu).ok());
  ASSERT_EQ(Metric("cpu").state_value(), "ALARM");
  // A percentile alarm, a forced state, a composite, a deleted alarm.
  v1::PutMetricAlarmRequest pct = QuietAlarm("pct");
  pct.clear_statistic();
  pct.set_extended_statistic("p90");
  pct.set_evaluate_low_sample_count_percentile("ignore");
  pct.set_unit("Percent");
  ASSERT_TRUE(Put(pct).ok());
  ASSERT_TRUE(Put(QuietAlarm("forced")).ok());
  ASSERT_TRUE(SetState("forced", "ALARM", "by hand", R"({"why":"test"})").ok());
  ASSERT_TRUE(Put(QuietAlarm("gone")).ok());
  v1::PutCompositeAlarmRequest comp;
  comp.set_alarm_name("comp");
  comp.set_alarm_rule("ALARM(cpu) AND ALARM(forced)");
  comp.set_actions_suppressor("pct");
  comp.set_actions_suppressor_wait_period(120);
  comp.set_actions_suppressor_extension_period(60);
  comp.add_alarm_actions("webhook:comp");
  v1::Tag* ctag = comp.add_tags();
  ctag->set_key("tier");
  ctag->set_value("1");
  ASSERT_TRUE(PutComposite(comp).ok());
  ASSERT_EQ(Composite("comp").state_value(), "ALARM");
  ASSERT_EQ(Composite("comp").actions_suppressed_by(), "WaitPeriod");
  ASSERT_TRUE(Delete({"gone"}).ok());

  v1::DescribeAlarmsRequest all;
  all.add_alarm_types("MetricAlarm");
  all.add_alarm_types("CompositeAlarm");
  const v1::DescribeAlarmsResponse alarms_before = Describe(all);
  ASSERT_EQ(alarms_before.metric_alarms_size(), 3);
  ASSERT_EQ(alarms_before.composite_alarms_size(), 1);
  const std::vector<v1::AlarmHistoryItem> history_before = History("");
  ASSERT_FALSE(history_before.empty());

  const absl::Status stopped = server_.Stop(GetParam());
  ASSERT_TRUE(stopped.ok()) << stopped;
  StartServer();
  if (HasFatalFailure()) return;

  // Everything as it was: alarms, states, reasons, times and history.
  const v1::DescribeAlarmsResponse alarms_after = Describe(all);
  std::string diff;
  MessageDifferencer differ;
  differ.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differ.Compare(alarms_after, alarms_before)) << diff;
  // No item for the restart itself (the alarms are evaluated again on
  // start: the same data, so no transition).
  const std::vector<v1::AlarmHistoryItem> history_after = History("");
  ASSERT_EQ(history_after.size(), history_before.size());
  for (size_t i = 0; i < history_before.size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(history_after[i], history_before[i]))
        << i << ": " << history_after[i].ShortDebugString();
  }
  EXPECT_EQ(Summaries("cpu", "StateUpdate"),
            (std::vector<std::string>{
                "Alarm updated from INSUFFICIENT_DATA to ALARM"}));

  // And it goes on: a change after the restart is the newest item, and
  // paging still sees every item once.
  ASSERT_TRUE(SetState("forced", "OK", "by hand again").ok());
  EXPECT_EQ(Composite("comp").state_value(), "OK");
  const std::vector<v1::AlarmHistoryItem> desc = History("", "", true);
  ASSERT_EQ(desc.size(), history_before.size() + 2);
  EXPECT_EQ(desc[0].alarm_name(), "comp");
  EXPECT_EQ(desc[0].history_summary(), "Alarm updated from ALARM to OK");
  EXPECT_EQ(desc[1].alarm_name(), "forced");
  EXPECT_EQ(desc[1].history_summary(), "Alarm updated from ALARM to OK");
  EXPECT_TRUE(MessageDifferencer::Equals(desc[2], history_before.back()));
  v1::DescribeAlarmHistoryRequest paged;
  paged.set_max_records(1);
  for (size_t i = 0;; ++i) {
    ASSERT_LT(i, desc.size()) << "more pages than items";
    v1::DescribeAlarmHistoryResponse resp;
    ASSERT_TRUE(History(paged, &resp).ok());
    ASSERT_EQ(resp.alarm_history_items_size(), 1);
    EXPECT_TRUE(
        MessageDifferencer::Equals(resp.alarm_history_items(0), desc[i]))
        << i;
    if (resp.next_token().empty()) {
      EXPECT_EQ(i + 1, desc.size());
      break;
    }
    paged.set_next_token(resp.next_token());
  }
  // The deleted alarm is still gone, its history kept.
  EXPECT_EQ(SetState("gone", "OK", "r").error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(Summaries("gone"),
              ElementsAre("Alarm \"gone\" created", "Alarm \"gone\" deleted"));
}

INSTANTIATE_TEST_SUITE_P(Signals, AlarmRestartTest,
                         ::testing::Values(SIGTERM, SIGKILL),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(
                               info.param == SIGKILL ? "SigKill" : "SigTerm");
                         });

}  // namespace
}  // namespace nimbus
