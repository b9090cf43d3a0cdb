// Rollups survive kill -9 in the middle of rollup passes. Concurrent clients
// write late points (all in the previous complete hour: once the first passes
// have run, every point is below the rollup watermark and marks its hour to
// be rolled up again) through a real nimbusd that runs a pass every 50 ms;
// nimbusd is killed with SIGKILL at random moments and restarted on the same
// data directory, many times. At the end, once GetServerStats shows that the
// watermark covers the hour and that a pass has started and finished after
// the last write (so no late hour is left to be read from raw points), the
// 60 s statistics (served from rollup_60 records), the 300 s and 3600 s ones
// (rollup_300, rollup_3600) and the 30 s ones (always from raw points) must
// agree, and equal what was acknowledged. Run with each durability mode
// (--sync=process and --sync=power).
//
// Each cycle writes its own metric for a while, then only the "Shared"
// metric until the kill: the passes that roll up the own metric's last
// points run around the kill, and as the metric is never written again, a
// pass cut short that lost track of its work leaves it wrong for good. The
// shared metric, written in every cycle, has its hour rolled up again and
// again across restarts.
//
// A kill lands in the middle of the decisive pass in only some cycles (the
// moment is random; passes are not observable from outside), hence many
// cycles: a pass that persists its watermark or deletes its dirty marks
// before writing its records fails this test in most runs.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "tests/rpc/nimbusd_process.h"
#include "tools/shapes.h"

namespace nimbus {
namespace {

namespace v1 = ::nimbus::v1;
using google::protobuf::util::TimeUtil;
using nimbus::testing::kWaitBound;
using nimbus::testing::NimbusdProcess;

constexpr int kThreads = 4;
constexpr int kOwnSeriesPerThread = 6;     // per cycle, metric "Cycle<n>"
constexpr int kSharedSeriesPerThread = 3;  // metric "Shared", every cycle
constexpr int kPointsPerRequest = 50;      // per series
// Points acknowledged per cycle before the own series stop: at least this
// many...
constexpr int64_t kOwnPointsMin = 200'000;
// ... and at most this many.
constexpr int64_t kOwnPointsMax = 600'000;
// The kill comes once up to this many more points of the shared series have
// been acknowledged after the own series' last: acknowledged points are the
// clock that picks the moment.
constexpr int64_t kKillSpan = 100'000;
constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kHourMs = 3'600'000;
// The k-th point of a series is at base + (k * kStrideMs) % kHourMs: spread
// over the whole hour, out of order, and distinct for k < kHourMs (the
// stride is prime to kHourMs).
constexpr int64_t kStrideMs = 7919;

double ValueAt(int64_t k) { return static_cast<double>((k * 37) % 1001); }

// A count and sum of points of one series.
struct Batch {
  int64_t count = 0;
  double sum = 0;
};

struct Series {
  std::string metric;
  std::string host;
  int64_t next_k = 0;  // offset of the next point to send
  Batch acked;         // everything stored, as far as the client knows
  Batch in_flight;     // sent, not yet answered
};

Series NewSeries(std::string metric, int thread, int index) {
  Series s;
  s.metric = std::move(metric);
  s.host = "t" + std::to_string(thread) + "s" + std::to_string(index);
  return s;
}

// The statistics of one period.
struct Stat {
  double count = 0;
  double sum = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();

  void Merge(const Stat& o) {
    count += o.count;
    sum += o.sum;
    min = std::min(min, o.min);
    max = std::max(max, o.max);
  }
  bool operator==(const Stat& o) const {
    return count == o.count && sum == o.sum && min == o.min && max == o.max;
  }
};

// Exactly: the figures are integers, and large sums must not be rounded.
std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::ostream& operator<<(std::ostream& os, const Stat& s) {
  return os << "{count " << Num(s.count) << ", sum " << Num(s.sum) << ", min "
            << Num(s.min) << ", max " << Num(s.max) << "}";
}

// Datapoints by period start, ms since the epoch.
using Stats = std::map<int64_t, Stat>;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The statistics of a series over [base, base + 1 h), one datapoint per
// `period` seconds.
std::optional<Stats> Query(v1::MetricsService::Stub& stub, const Series& s,
                           int64_t base, int period, std::string* error) {
  v1::GetMetricStatisticsRequest q;
  q.set_namespace_("RollupCrash");
  q.set_metric_name(s.metric);
  auto* d = q.add_dimensions();
  d->set_name("Host");
  d->set_value(s.host);
  *q.mutable_start_time() = TimeUtil::MillisecondsToTimestamp(base);
  *q.mutable_end_time() = TimeUtil::MillisecondsToTimestamp(base + kHourMs);
  q.set_period(period);
  for (const char* st : {"SampleCount", "Sum", "Minimum", "Maximum"}) {
    q.add_statistics(st);
  }
  v1::GetMetricStatisticsResponse r;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  const grpc::Status status = stub.GetMetricStatistics(&ctx, q, &r);
  if (!status.ok()) {
    *error = "GetMetricStatistics period " + std::to_string(period) + ": " +
             status.error_message();
    return std::nullopt;
  }
  Stats out;
  for (const v1::Datapoint& p : r.datapoints()) {
    Stat& st = out[TimeUtil::TimestampToMilliseconds(p.timestamp())];
    st.count = p.sample_count();
    st.sum = p.sum();
    st.min = p.minimum();
    st.max = p.maximum();
  }
  return out;
}

// Finer statistics merged into periods of `period_ms` starting at `base`.
Stats Coarsen(const Stats& fine, int64_t base, int64_t period_ms) {
  Stats out;
  for (const auto& [start, st] : fine) {
    out[base + (start - base) / period_ms * period_ms].Merge(st);
  }
  return out;
}

// Describes how `rollup` (served from rollup records) differs from `raw`
// (computed from raw points), or returns "" if they are the same.
std::string Diff(const char* what, const Stats& rollup, const Stats& raw) {
  std::ostringstream os;
  auto r = rollup.begin();
  auto w = raw.begin();
  int shown = 0;
  while ((r != rollup.end() || w != raw.end()) && shown < 5) {
    if (w == raw.end() || (r != rollup.end() && r->first < w->first)) {
      os << "\n    " << what << " at " << r->first << ": rollups " << r->second
         << ", raw points nothing";
      ++r;
      ++shown;
    } else if (r == rollup.end() || w->first < r->first) {
      os << "\n    " << what << " at " << w->first
         << ": rollups nothing, raw points " << w->second;
      ++w;
      ++shown;
    } else {
      if (!(r->second == w->second)) {
        os << "\n    " << what << " at " << r->first << ": rollups "
           << r->second << ", raw points " << w->second;
        ++shown;
      }
      ++r;
      ++w;
    }
  }
  return os.str();
}

// Compares the series' rollup-served statistics with its raw points; returns
// the differences, or "" if there are none. The raw points' hour total is
// put in `*raw_total`.
std::string CompareTiers(v1::MetricsService::Stub& stub, const Series& s,
                         int64_t base, Stat* raw_total) {
  std::string error;
  const auto raw = Query(stub, s, base, 30, &error);
  const auto by_minute = Query(stub, s, base, 60, &error);
  const auto by_5_minutes = Query(stub, s, base, 300, &error);
  const auto by_hour = Query(stub, s, base, 3600, &error);
  if (!raw || !by_minute || !by_5_minutes || !by_hour) return error;
  const Stats raw_hour = Coarsen(*raw, base, kHourMs);
  *raw_total = raw_hour.empty() ? Stat() : raw_hour.begin()->second;
  return Diff("period 60", *by_minute, Coarsen(*raw, base, kMinuteMs)) +
         Diff("period 300", *by_5_minutes, Coarsen(*raw, base, 5 * kMinuteMs)) +
         Diff("period 3600", *by_hour, raw_hour);
}

// The series' count and sum over the hour, from raw points.
std::optional<Stat> RawTotal(v1::MetricsService::Stub& stub, const Series& s,
                             int64_t base, std::string* error) {
  const auto raw = Query(stub, s, base, 30, error);
  if (!raw) return std::nullopt;
  Stat total;
  for (const auto& [start, st] : *raw) total.Merge(st);
  return total;
}

// The parameter: the value of nimbusd's --sync flag, and how many cycles
// end with kill -9.
struct SyncCase {
  std::string sync;
  int kills;
};

void PrintTo(const SyncCase& c, std::ostream* os) {
  *os << "--sync=" << c.sync << ", " << c.kills << " kills";
}

class RollupCrash : public ::testing::TestWithParam<SyncCase> {
 protected:
  std::vector<std::string> Flags() const {
    // Late hours are redone as soon as a pass sees them (no quiet time).
    return {"--rollup_interval=50ms", "--rollup_quiet=0s",
            "--sync=" + GetParam().sync};
  }
};

// The server's rollup figures, for failure messages.
std::string Describe(const v1::GetServerStatsResponse& st) {
  std::ostringstream os;
  os << "watermark " << TimeUtil::TimestampToMilliseconds(st.rollup_watermark())
     << " ms, " << st.rollup_passes() << " passes, " << st.rollup_hours_redone()
     << " hours redone, " << st.rollup_dirty_hours_pending()
     << " late hours pending, " << st.rollup_failures() << " passes failed, "
     << st.rollup_series_failed() << " series failed, "
     << st.rollup_points_read() << " raw points read";
  return os.str();
}

TEST_P(RollupCrash, RollupsSurviveKillNineDuringPasses) {
  const int kills = GetParam().kills;
  NimbusdProcess server;
  // The previous complete hour that ended at least 10 minutes ago: every
  // point is older than the settle time (2 minutes), so rollups serve its
  // minutes, 5 minutes and hour once the watermark has caught up (a few
  // passes after the first start), and it is within the 3 hours where
  // 30-second periods are served from raw points.
  const int64_t base = (NowMs() - 10 * kMinuteMs) / kHourMs * kHourMs - kHourMs;
  tools::Rng rng(static_cast<uint64_t>(::getpid()));

  // series[t]: thread t's series; the first kSharedSeriesPerThread are
  // "Shared", then kOwnSeriesPerThread per cycle.
  std::vector<std::vector<Series>> series(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    for (int s = 0; s < kSharedSeriesPerThread; ++s) {
      series[t].push_back(NewSeries("Shared", t, s));
    }
    for (int c = 0; c <= kills; ++c) {
      for (int s = 0; s < kOwnSeriesPerThread; ++s) {
        series[t].push_back(NewSeries("Cycle" + std::to_string(c), t, s));
      }
    }
  }

  // Cycles 0 .. kills - 1 end with kill -9; the last one stops the writers
  // and leaves nimbusd running for the checks.
  for (int cycle = 0; cycle <= kills; ++cycle) {
    const bool kill = cycle < kills;
    {
      const absl::Status started = server.Start(Flags());
      ASSERT_TRUE(started.ok()) << "cycle " << cycle << ": " << started;
    }
    // Every acknowledged point survived the kill, and the request in flight
    // then is there whole or not at all (one ingest-log record): settle
    // which, so that the final figures are exact.
    {
      auto stub = server.Stub();
      for (auto& per_thread : series) {
        for (Series& s : per_thread) {
          if (s.in_flight.count == 0) continue;
          std::string error;
          const auto got = RawTotal(*stub, s, base, &error);
          ASSERT_TRUE(got.has_value()) << error;
          const bool without =
              got->count == s.acked.count && got->sum == s.acked.sum;
          const bool with = got->count == s.acked.count + s.in_flight.count &&
                            got->sum == s.acked.sum + s.in_flight.sum;
          ASSERT_TRUE(without || with)
              << s.metric << " Host=" << s.host << " after kill " << cycle
              << ": raw points " << *got << "; acknowledged " << s.acked.count
              << " points, sum " << Num(s.acked.sum) << "; in flight "
              << s.in_flight.count << " points, sum " << Num(s.in_flight.sum);
          if (with) {
            s.acked.count += s.in_flight.count;
            s.acked.sum += s.in_flight.sum;
          }
          s.in_flight = Batch();
        }
      }
    }
    std::atomic<int64_t> acked_points{0};
    std::atomic<int> writers_running{kThreads};
    std::atomic<int> writers_past_own{0};
    std::atomic<bool> stop{false};
    std::atomic<bool> killing{false};  // writes fail from then on
    std::mutex mu;
    std::condition_variable cv;
    std::string first_error;  // of a write, guarded by mu
    auto notify = [&] {
      std::lock_guard<std::mutex> l(mu);
      cv.notify_one();
    };
    // First every thread writes its own series of this cycle and its shared
    // ones, until `own_target` points have been acknowledged; then only the
    // shared ones, until the kill.
    const int64_t own_target = rng.Uniform(kOwnPointsMin, kOwnPointsMax);
    std::vector<std::thread> clients;
    for (int t = 0; t < kThreads; ++t) {
      clients.emplace_back([&, t] {
        std::vector<Series*> mine;
        for (int s = 0; s < kSharedSeriesPerThread; ++s) {
          mine.push_back(&series[t][s]);
        }
        for (int s = 0; s < kOwnSeriesPerThread; ++s) {
          mine.push_back(&series[t][kSharedSeriesPerThread +
                                    cycle * kOwnSeriesPerThread + s]);
        }
        auto stub = server.Stub();
        while (!stop.load()) {
          v1::PutMetricSeriesRequest req;
          for (Series* s : mine) {
            auto* sp = req.add_series();
            sp->set_namespace_("RollupCrash");
            sp->set_metric_name(s->metric);
            auto* d = sp->add_dimensions();
            d->set_name("Host");
            d->set_value(s->host);
            s->in_flight = Batch();
            for (int i = 0; i < kPointsPerRequest; ++i) {
              const int64_t k = s->next_k++;
              sp->add_timestamps_ms(base + (k * kStrideMs) % kHourMs);
              sp->add_values(ValueAt(k));
              ++s->in_flight.count;
              s->in_flight.sum += ValueAt(k);
            }
          }
          v1::PutMetricDataResponse resp;
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(10));
          const grpc::Status status = stub->PutMetricSeries(&ctx, req, &resp);
          if (!status.ok()) {  // killed, or the server failed
            std::lock_guard<std::mutex> l(mu);
            if (first_error.empty() && !killing.load()) {
              first_error = "PutMetricSeries: " + status.error_message();
            }
            break;
          }
          EXPECT_EQ(resp.accepted_points(),
                    static_cast<int64_t>(mine.size()) * kPointsPerRequest);
          for (Series* s : mine) {
            s->acked.count += s->in_flight.count;
            s->acked.sum += s->in_flight.sum;
            s->in_flight = Batch();
          }
          acked_points += static_cast<int64_t>(mine.size()) * kPointsPerRequest;
          if (mine.size() > size_t{kSharedSeriesPerThread} &&
              acked_points.load() >= own_target) {
            mine.resize(kSharedSeriesPerThread);
            ++writers_past_own;
          }
          notify();
        }
        if (mine.size() > size_t{kSharedSeriesPerThread}) ++writers_past_own;
        --writers_running;
        notify();
      });
    }
    // Both waits end early if every writer has stopped (the server died or
    // failed a write), and within kWaitBound if the server hangs.
    bool in_time = false;
    int64_t kill_at = 0;
    int running_at_wait = 0;
    {
      std::unique_lock<std::mutex> l(mu);
      in_time = cv.wait_for(l, kWaitBound, [&] {
        return writers_past_own.load() == kThreads ||
               writers_running.load() == 0;
      });
      // The passes that roll up the last points of the own series run while
      // the shared ones are written: kill at a random moment among them,
      // measured in acknowledged points.
      kill_at = acked_points.load() + rng.Uniform(0, kKillSpan);
      in_time = in_time && cv.wait_for(l, kWaitBound, [&] {
        return acked_points.load() >= kill_at || writers_running.load() == 0;
      });
      running_at_wait = writers_running.load();
    }
    killing = kill;
    const absl::Status stopped = kill ? server.Stop(SIGKILL) : absl::OkStatus();
    stop = true;
    for (auto& c : clients) c.join();
    const std::string write_error = [&] {
      std::lock_guard<std::mutex> l(mu);
      return first_error;
    }();
    ASSERT_TRUE(in_time) << "cycle " << cycle << ": nimbusd acknowledged only "
                         << acked_points.load() << " points within "
                         << kWaitBound.count()
                         << " s (writers still running: " << running_at_wait
                         << ")";
    ASSERT_GE(acked_points.load(), kill_at)
        << "cycle " << cycle << ": the writers stopped early: " << write_error;
    ASSERT_TRUE(write_error.empty())
        << "cycle " << cycle << ", before the kill: " << write_error;
    ASSERT_TRUE(stopped.ok()) << "cycle " << cycle << ": " << stopped;
    for (auto& per_thread : series) {
      for (const Series& s : per_thread) {
        ASSERT_LT(s.next_k, kHourMs) << "timestamps would repeat";
        if (!kill) {
          ASSERT_EQ(s.in_flight.count, 0);
        }
      }
    }
  }

  // The 60, 300 and 3600 s statistics must come from rollup records, not
  // from raw points: a query reads an hour raw while a late point's mark on
  // it is pending, and then the comparison below would be raw against raw.
  // So wait until the watermark covers the hour, no late hour is pending,
  // and a pass has started and finished since the last write (passes go one
  // at a time: the second pass to finish after `writes_done` began after
  // it), none of it failing.
  const auto writes_done = server.ServerStats();
  ASSERT_TRUE(writes_done.ok()) << writes_done.status();
  v1::GetServerStatsResponse rolled = *writes_done;
  {
    const absl::Status caught_up = testing::WaitUntil(
        [&] {
          const auto st = server.ServerStats();
          if (st.ok()) rolled = *st;
          return st.ok() &&
                 TimeUtil::TimestampToMilliseconds(rolled.rollup_watermark()) >=
                     base + kHourMs &&
                 rolled.rollup_dirty_hours_pending() == 0 &&
                 rolled.rollup_passes() >= writes_done->rollup_passes() + 2;
        },
        "the watermark past the hour, no late hour pending, and two rollup "
        "passes after the last write");
    ASSERT_TRUE(caught_up.ok())
        << caught_up << "; at the last write " << Describe(*writes_done)
        << "; now " << Describe(rolled);
  }
  EXPECT_EQ(rolled.rollup_series_failed(), 0) << Describe(rolled);
  EXPECT_EQ(rolled.rollup_failures(), 0) << Describe(rolled);
  // The last cycle's points were late: their hour was rolled up again.
  EXPECT_GT(rolled.rollup_hours_redone(), 0) << Describe(rolled);

  // One comparison, no retries: counting twice or missing an hour never
  // agrees.
  auto stub = server.Stub();
  std::map<std::string, Stat> raw_totals;
  std::string diff;
  int differing = 0;
  for (auto& per_thread : series) {
    for (const Series& s : per_thread) {
      Stat total;
      const std::string d = CompareTiers(*stub, s, base, &total);
      raw_totals[s.metric + "/" + s.host] = total;
      if (!d.empty() && ++differing <= 4) {
        diff += "\n  " + s.metric + " Host=" + s.host + ":" + d;
      }
    }
  }
  EXPECT_EQ(differing, 0) << "rollups differ from raw points in " << differing
                          << " of "
                          << kThreads * (kSharedSeriesPerThread +
                                         (kills + 1) * kOwnSeriesPerThread)
                          << " series (the first 4 shown), with "
                          << Describe(rolled) << ":" << diff;

  // The raw points are what was acknowledged (the request in flight at
  // each kill was counted in or out after the restart).
  int64_t total_points = 0;
  for (auto& per_thread : series) {
    for (const Series& s : per_thread) {
      const Stat& got = raw_totals[s.metric + "/" + s.host];
      total_points += static_cast<int64_t>(got.count);
      EXPECT_TRUE(got.count == s.acked.count && got.sum == s.acked.sum)
          << s.metric << " Host=" << s.host << ": raw points " << got
          << "; acknowledged " << s.acked.count << " points, sum "
          << Num(s.acked.sum);
    }
  }
  EXPECT_GT(total_points, 0);
}

// Twenty kills with --sync=process; fewer with --sync=power, whose fsyncs
// make each cycle slower, to keep the run time modest.
INSTANTIATE_TEST_SUITE_P(SyncModes, RollupCrash,
                         ::testing::Values(SyncCase{"process", 20},
                                           SyncCase{"power", 8}),
                         [](const ::testing::TestParamInfo<SyncCase>& info) {
                           return info.param.sync;
                         });

}  // namespace
}  // namespace nimbus
