#include "tools/alarm_latency.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "nimbus/v1/alarms.grpc.pb.h"
#include "nimbus/v1/metrics.grpc.pb.h"

namespace nimbus::tools {
namespace {

namespace v1 = ::nimbus::v1;
using google::protobuf::util::TimeUtil;

constexpr int64_t kPeriodMs = 10'000;
constexpr double kHot = 95, kNormal = 40, kThreshold = 80;
constexpr int kDatumsPerRequest = 1000;
constexpr int64_t kPollMs = 5;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void SleepUntilMs(int64_t t) {
  const int64_t d = t - NowMs();
  if (d > 0) std::this_thread::sleep_for(std::chrono::milliseconds(d));
}

// Names unique to the run: a put over an alarm of an earlier run would keep
// its state, and the run would see transitions that never happened.
std::string& RunPrefix() {
  static std::string prefix;
  return prefix;
}
std::string AlarmName(int i) { return absl::StrCat(RunPrefix(), i); }
// The series too: alarms of an earlier run on them would transition with
// this run's points, and a new alarm over their data would start OK.
std::string Host(int i) { return absl::StrCat(RunPrefix(), "host-", i); }

std::shared_ptr<grpc::Channel> Channel(const std::string& target, int n) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(64 << 20);
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetInt("nimbus.loadgen.channel", n);  // distinct connections
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

bool Fail(const std::string& what) {
  std::fprintf(stderr, "nimbus-loadgen: %s\n", what.c_str());
  return false;
}

// Puts alarm i of every series, on `concurrency` channels.
bool PutAlarms(const AlarmLatencyOptions& o) {
  std::vector<std::thread> threads;
  std::vector<std::string> errors(static_cast<size_t>(o.concurrency));
  for (int t = 0; t < o.concurrency; ++t) {
    threads.emplace_back([&, t] {
      auto stub = v1::AlarmService::NewStub(Channel(o.target, t));
      for (int i = t; i < o.alarms; i += o.concurrency) {
        v1::PutMetricAlarmRequest req;
        req.set_alarm_name(AlarmName(i));
        req.set_namespace_(o.namespace_name);
        req.set_metric_name("CPU");
        v1::Dimension* d = req.add_dimensions();
        d->set_name("Host");
        d->set_value(Host(i));
        req.set_statistic("Average");
        req.set_period(static_cast<int>(kPeriodMs / 1000));
        req.set_evaluation_periods(1);
        req.set_datapoints_to_alarm(1);
        req.set_threshold(kThreshold);
        req.set_comparison_operator("GreaterThanThreshold");
        // Periods without a point (between rounds) keep the state.
        req.set_treat_missing_data("ignore");
        v1::PutMetricAlarmResponse resp;
        grpc::ClientContext ctx;
        grpc::Status s = stub->PutMetricAlarm(&ctx, req, &resp);
        if (!s.ok()) {
          errors[static_cast<size_t>(t)] = absl::StrCat(
              "PutMetricAlarm ", AlarmName(i), ": ", s.error_message());
          return;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const std::string& e : errors) {
    if (!e.empty()) return Fail(e);
  }
  return true;
}

// Sends one point at `ts` for every series, the hot ones first (value kHot
// if `breach`); sets (*ack_ms)[i] to when the request carrying series i's
// point was acknowledged.
bool SendRound(
    const AlarmLatencyOptions& o,
    const std::vector<std::unique_ptr<v1::MetricsService::Stub>>& stubs,
    const std::vector<int>& order, const std::vector<bool>& hot, bool breach,
    int64_t ts, std::vector<int64_t>* ack_ms) {
  const int requests = static_cast<int>((order.size() + kDatumsPerRequest - 1) /
                                        kDatumsPerRequest);
  std::vector<std::string> errors(stubs.size());
  std::vector<std::thread> threads;
  for (size_t t = 0; t < stubs.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int r = static_cast<int>(t); r < requests;
           r += static_cast<int>(stubs.size())) {
        const size_t from = static_cast<size_t>(r) * kDatumsPerRequest;
        const size_t to = std::min(
            order.size(), from + static_cast<size_t>(kDatumsPerRequest));
        v1::PutMetricDataRequest req;
        req.set_namespace_(o.namespace_name);
        for (size_t k = from; k < to; ++k) {
          const int i = order[k];
          v1::MetricDatum* d = req.add_metric_data();
          d->set_metric_name("CPU");
          v1::Dimension* dim = d->add_dimensions();
          dim->set_name("Host");
          dim->set_value(Host(i));
          *d->mutable_timestamp() = TimeUtil::MillisecondsToTimestamp(ts);
          d->set_value(breach && hot[static_cast<size_t>(i)] ? kHot : kNormal);
          d->set_storage_resolution(1);
        }
        v1::PutMetricDataResponse resp;
        grpc::ClientContext ctx;
        grpc::Status s = stubs[t]->PutMetricData(&ctx, req, &resp);
        const int64_t acked = NowMs();
        if (!s.ok() || resp.rejected_size() > 0) {
          errors[t] =
              s.ok() ? absl::StrCat("PutMetricData: ", resp.rejected_size(),
                                    " points rejected, the first: ",
                                    resp.rejected(0).reason())
                     : absl::StrCat("PutMetricData: ", s.error_message());
          return;
        }
        for (size_t k = from; k < to; ++k) {
          (*ack_ms)[static_cast<size_t>(order[k])] = acked;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const std::string& e : errors) {
    if (!e.empty()) return Fail(e);
  }
  return true;
}

// Polls the probes until each shows `want` or `deadline_ms` passes;
// (*seen_ms)[k] is when probe k was first seen so (0: never).
bool Poll(v1::AlarmService::Stub& stub, const std::vector<int>& probes,
          const std::string& want, int64_t deadline_ms,
          std::vector<int64_t>* seen_ms) {
  seen_ms->assign(probes.size(), 0);
  size_t left = probes.size();
  while (left > 0 && NowMs() < deadline_ms) {
    v1::DescribeAlarmsRequest req;
    for (size_t k = 0; k < probes.size(); ++k) {
      if ((*seen_ms)[k] == 0) req.add_alarm_names(AlarmName(probes[k]));
    }
    req.set_max_records(100);
    v1::DescribeAlarmsResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = stub.DescribeAlarms(&ctx, req, &resp);
    const int64_t at = NowMs();
    if (!s.ok())
      return Fail(absl::StrCat("DescribeAlarms: ", s.error_message()));
    for (const v1::MetricAlarm& a : resp.metric_alarms()) {
      if (a.state_value() != want) continue;
      for (size_t k = 0; k < probes.size(); ++k) {
        if ((*seen_ms)[k] == 0 && a.alarm_name() == AlarmName(probes[k])) {
          (*seen_ms)[k] = at;
          --left;
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
  }
  return left == 0;
}

// The server's alarm statistics; none if it did not answer.
std::optional<v1::GetAlarmStatsResponse> ServerStats(
    v1::AlarmService::Stub& stub) {
  v1::GetAlarmStatsResponse resp;
  grpc::ClientContext ctx;
  if (!stub.GetAlarmStats(&ctx, {}, &resp).ok()) return std::nullopt;
  return resp;
}

struct Spread {
  int64_t p50 = 0, max = 0;
};
Spread SpreadOf(std::vector<int64_t> v) {
  Spread s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.p50 = v[v.size() / 2];
  s.max = v.back();
  return s;
}

struct Round {
  std::string kind;  // initial, breach, recovery
  int64_t offset_ms = 0;
  int64_t expected = 0;  // transitions the round should make
  int64_t server_transitions = 0;
  // The server's last full round when the round is over: its phases.
  v1::GetAlarmStatsResponse::Round server_round;
  int64_t send_ms = 0;
  Spread latency, after_tick;
  bool seen = false;
  bool late = false;  // the round's points were not all sent by the tick
  // A probe showed its new state before the tick: not a transition of this
  // round's points (the run is not measuring what it says).
  bool early = false;
};

std::string Json(const AlarmLatencyOptions& o, size_t hot,
                 const std::vector<Round>& rounds) {
  std::ostringstream out;
  out << "{\n  \"mode\": \"alarms\",\n  \"alarms\": " << o.alarms
      << ",\n  \"breaching_alarms\": " << hot << ",\n  \"probes\": " << o.probes
      << ",\n  \"rounds\": [";
  for (size_t i = 0; i < rounds.size(); ++i) {
    const Round& r = rounds[i];
    out << (i ? "," : "") << "\n    {\"kind\": \"" << r.kind
        << "\", \"offset_ms\": " << r.offset_ms
        << ", \"expected_transitions\": " << r.expected
        << ", \"server_transitions\": " << r.server_transitions
        << ", \"send_ms\": " << r.send_ms
        << ", \"sent_after_tick\": " << (r.late ? "true" : "false")
        << ", \"all_seen\": " << (r.seen ? "true" : "false")
        << ", \"latency_ms\": {\"p50\": " << r.latency.p50
        << ", \"max\": " << r.latency.max
        << "}, \"after_tick_ms\": {\"p50\": " << r.after_tick.p50
        << ", \"max\": " << r.after_tick.max
        << "}, \"server_round\": {\"jobs\": " << r.server_round.jobs()
        << ", \"transitions\": " << r.server_round.transitions()
        << ", \"look_us\": " << r.server_round.look_us()
        << ", \"evaluate_us\": " << r.server_round.evaluate_us()
        << ", \"apply_us\": " << r.server_round.apply_us()
        << ", \"write_us\": " << r.server_round.write_us() << "}}";
  }
  out << "\n  ]\n}\n";
  return out.str();
}

}  // namespace

int RunAlarmLatency(const AlarmLatencyOptions& o) {
  if (o.alarms < 1 || o.concurrency < 1 || o.rounds < 1 || o.probes < 1 ||
      o.probes > 100 || !(o.breach_share > 0 && o.breach_share <= 1)) {
    Fail(
        "--mode=alarms needs --series >= 1, --concurrency >= 1, "
        "--alarm_rounds >= 1, --alarm_probes 1 to 100 and "
        "--alarm_breach_share in (0, 1]");
    return 2;
  }
  // Every stride-th host is hot; the probes spread over the hot ones.
  const int stride = std::max(1, static_cast<int>(1 / o.breach_share + 0.5));
  std::vector<bool> hot(static_cast<size_t>(o.alarms), false);
  std::vector<int> order, hot_hosts;
  for (int i = 0; i < o.alarms; i += stride) {
    hot[static_cast<size_t>(i)] = true;
    hot_hosts.push_back(i);
    order.push_back(i);
  }
  for (int i = 0; i < o.alarms; ++i) {
    if (!hot[static_cast<size_t>(i)]) order.push_back(i);
  }
  std::vector<int> probes;
  const size_t n_probes =
      std::min(hot_hosts.size(), static_cast<size_t>(o.probes));
  for (size_t k = 0; k < n_probes; ++k) {
    probes.push_back(hot_hosts[k * hot_hosts.size() / n_probes]);
  }

  RunPrefix() = absl::StrCat("loadgen-", NowMs() / 1000, "-");
  const auto t0 = std::chrono::steady_clock::now();
  if (!PutAlarms(o)) return 1;
  std::fprintf(
      stderr, "alarms: %d put (%s0 to %s%d, %zu breaching) in %.1f s\n",
      o.alarms, RunPrefix().c_str(), RunPrefix().c_str(), o.alarms - 1,
      hot_hosts.size(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count());
  std::vector<std::unique_ptr<v1::MetricsService::Stub>> stubs;
  for (int t = 0; t < o.concurrency; ++t) {
    stubs.push_back(v1::MetricsService::NewStub(Channel(o.target, 100 + t)));
  }
  auto alarms = v1::AlarmService::NewStub(Channel(o.target, 99));

  // Arrival offsets into the period, so that the wait for the tick varies.
  constexpr int64_t kOffsets[] = {1000, 4000, 7000, 9000};
  std::vector<Round> rounds;
  std::vector<int64_t> ack(static_cast<size_t>(o.alarms), 0), seen;
  bool ok = true;
  const int total = 1 + 2 * o.rounds;
  for (int r = 0; r < total && ok; ++r) {
    Round round;
    round.kind = r == 0 ? "initial" : (r % 2 == 1 ? "breach" : "recovery");
    round.offset_ms = kOffsets[static_cast<size_t>(r) % std::size(kOffsets)];
    // From INSUFFICIENT_DATA every alarm goes OK; then the hot ones move.
    round.expected = r == 0 ? o.alarms : static_cast<int64_t>(hot_hosts.size());
    const std::string want = round.kind == "breach" ? "ALARM" : "OK";
    const int64_t period =
        (NowMs() / kPeriodMs + 1) * kPeriodMs;  // the next period's start
    SleepUntilMs(period + round.offset_ms);
    const std::optional<v1::GetAlarmStatsResponse> before =
        ServerStats(*alarms);
    if (!before) return Fail("GetAlarmStats: no answer"), 1;
    const int64_t ts = NowMs();
    const int64_t tick = (ts / kPeriodMs + 1) * kPeriodMs;
    // Polled while the round is sent: a transition is seen when it is
    // there, not once the last series' point is acknowledged.
    bool polled = false;
    std::thread poller([&] {
      auto stub = v1::AlarmService::NewStub(Channel(o.target, 98));
      polled = Poll(*stub, probes, want, tick + 3 * kPeriodMs, &seen);
    });
    const bool sent =
        SendRound(o, stubs, order, hot, round.kind == "breach", ts, &ack);
    round.send_ms = NowMs() - ts;
    round.late = ts + round.send_ms > tick;
    poller.join();
    if (!sent) return 1;
    round.seen = polled;
    std::vector<int64_t> latency, after_tick;
    for (size_t k = 0; k < probes.size(); ++k) {
      if (seen[k] == 0) continue;
      latency.push_back(seen[k] - ack[static_cast<size_t>(probes[k])]);
      after_tick.push_back(seen[k] - tick);
      round.early = round.early || seen[k] < tick;
    }
    round.latency = SpreadOf(latency);
    round.after_tick = SpreadOf(after_tick);
    // The transitions the server made from before the round's points to
    // 5 s after their tick (a point that missed its tick transitions at the
    // next one, after this).
    SleepUntilMs(tick + kPeriodMs / 2);
    const std::optional<v1::GetAlarmStatsResponse> after = ServerStats(*alarms);
    if (!after) return Fail("GetAlarmStats: no answer"), 1;
    round.server_transitions = after->transitions() - before->transitions();
    round.server_round = after->last_round();
    const auto ms = [](int64_t us) { return us / 1000.0; };
    std::fprintf(
        stderr,
        "%-8s offset=%.1fs expected=%lld server_transitions=%lld "
        "send_ms=%lld latency_ms p50=%lld max=%lld after_tick_ms "
        "p50=%lld max=%lld server_round_ms look=%.1f evaluate=%.1f "
        "apply=%.1f write=%.1f%s%s\n",
        round.kind.c_str(), round.offset_ms / 1000.0,
        static_cast<long long>(round.expected),
        static_cast<long long>(round.server_transitions),
        static_cast<long long>(round.send_ms),
        static_cast<long long>(round.latency.p50),
        static_cast<long long>(round.latency.max),
        static_cast<long long>(round.after_tick.p50),
        static_cast<long long>(round.after_tick.max),
        ms(round.server_round.look_us()), ms(round.server_round.evaluate_us()),
        ms(round.server_round.apply_us()), ms(round.server_round.write_us()),
        round.late ? " (sent after the tick)" : "",
        round.seen ? "" : " (a probe was not seen to transition)");
    if (round.early) {
      Fail("a probe showed its new state before its tick");
    }
    ok = round.seen && !round.early;
    rounds.push_back(round);
  }
  if (!o.json.empty()) {
    const std::string out = Json(o, hot_hosts.size(), rounds);
    if (o.json == "-") {
      std::fputs(out.c_str(), stdout);
    } else {
      std::ofstream(o.json) << out;
    }
  }
  return ok ? 0 : 1;
}

}  // namespace nimbus::tools
