// Acknowledged points survive kill -9: concurrent clients write through a
// real nimbusd, which is killed with SIGKILL at a random moment, restarted,
// and checked to hold every acknowledged point (count and values). Three kill
// cycles on the same data directory, each writing its own metric; once with
// each durability mode (--sync=process, and --sync=power, whose fsync'ed
// group commits must acknowledge exactly what they made durable). A kill -9
// cannot take the operating system's page cache with it, so this shows no
// more of --sync=power than that its acknowledgements are as good as those
// of --sync=process.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
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
constexpr int kSeriesPerThread = 25;
constexpr int kPointsPerRequest = 40;  // per series

// What one series has been sent in one cycle.
struct SeriesState {
  int64_t next_k = 0;        // offset of the next point: base + k ms
  double acked_sum = 0;      // over offsets [0, next_k)
  double in_flight_sum = 0;  // of the request unanswered at the kill
  int64_t in_flight = 0;     // its point count (0 if none)
};

double ValueAt(int64_t k) { return static_cast<double>(k % 1000); }

std::string Host(int thread, int s) {
  return "t" + std::to_string(thread) + "s" + std::to_string(s);
}

// The parameter: the value of nimbusd's --sync flag.
class Crash : public ::testing::TestWithParam<std::string> {
 protected:
  std::vector<std::string> Flags() const { return {"--sync=" + GetParam()}; }
};

TEST_P(Crash, AcknowledgedPointsSurviveKillNine) {
  NimbusdProcess server;
  const int64_t base = (std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count() /
                        3'600'000) *
                           3'600'000 -
                       3'600'000;  // the start of the previous hour
  tools::Rng rng(static_cast<uint64_t>(::getpid()));

  for (int cycle = 0; cycle < 3; ++cycle) {
    const std::string metric = "Points" + std::to_string(cycle);
    std::vector<std::vector<SeriesState>> state(
        kThreads, std::vector<SeriesState>(kSeriesPerThread));
    {
      const absl::Status started = server.Start(Flags());
      ASSERT_TRUE(started.ok()) << "cycle " << cycle << ": " << started;
    }
    std::atomic<int64_t> acked_points{0};
    std::atomic<int> writers_running{kThreads};
    std::atomic<bool> stop{false};
    std::atomic<bool> killing{false};  // writes fail from then on
    std::mutex mu;
    std::condition_variable cv;
    std::string first_error;  // guarded by mu
    std::vector<std::thread> clients;
    for (int t = 0; t < kThreads; ++t) {
      clients.emplace_back([&, t] {
        auto stub = server.Stub();
        while (!stop.load()) {
          v1::PutMetricSeriesRequest req;
          for (int s = 0; s < kSeriesPerThread; ++s) {
            auto* sp = req.add_series();
            sp->set_namespace_("Crash");
            sp->set_metric_name(metric);
            auto* d = sp->add_dimensions();
            d->set_name("Host");
            d->set_value(Host(t, s));
            SeriesState& st = state[t][s];
            st.in_flight = kPointsPerRequest;
            st.in_flight_sum = 0;
            for (int i = 0; i < kPointsPerRequest; ++i) {
              const int64_t k = st.next_k + i;
              sp->add_timestamps_ms(base + k);
              sp->add_values(ValueAt(k));
              st.in_flight_sum += ValueAt(k);
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
                    kSeriesPerThread * kPointsPerRequest);
          for (int s = 0; s < kSeriesPerThread; ++s) {
            SeriesState& st = state[t][s];
            st.next_k += kPointsPerRequest;
            st.acked_sum += st.in_flight_sum;
            st.in_flight = 0;
            st.in_flight_sum = 0;
          }
          acked_points += kSeriesPerThread * kPointsPerRequest;
          std::lock_guard<std::mutex> l(mu);
          cv.notify_one();
        }
        --writers_running;
        std::lock_guard<std::mutex> l(mu);
        cv.notify_one();
      });
    }
    // Kill once a random number of points has been acknowledged; a server
    // that stops acknowledging (dead or stuck) ends the wait.
    const int64_t kill_after = rng.Uniform(20'000, 300'000);
    bool reached = false;
    bool writers_stopped = false;
    std::string writer_error;
    {
      std::unique_lock<std::mutex> l(mu);
      reached = cv.wait_for(l, kWaitBound, [&] {
        return acked_points.load() >= kill_after || writers_running.load() == 0;
      });
      reached = reached && acked_points.load() >= kill_after;
      writers_stopped = writers_running.load() == 0;
      writer_error = first_error;
    }
    killing = true;
    const absl::Status killed = server.Stop(SIGKILL);
    stop = true;
    for (auto& c : clients) c.join();
    ASSERT_TRUE(reached) << "cycle " << cycle << ": nimbusd acknowledged only "
                         << acked_points.load() << " of the " << kill_after
                         << " points to be acknowledged before the kill; "
                         << (writers_stopped
                                 ? "every writer stopped, the first on " +
                                       writer_error
                                 : "still short after " +
                                       std::to_string(kWaitBound.count()) +
                                       " s");
    ASSERT_TRUE(killed.ok()) << "cycle " << cycle << ": " << killed;

    {
      const absl::Status restarted = server.Start(Flags());
      ASSERT_TRUE(restarted.ok())
          << "restart after kill " << cycle << ": " << restarted;
    }
    auto stub = server.Stub();
    for (int t = 0; t < kThreads; ++t) {
      for (int s = 0; s < kSeriesPerThread; ++s) {
        const SeriesState& st = state[t][s];
        v1::GetMetricStatisticsRequest q;
        q.set_namespace_("Crash");
        q.set_metric_name(metric);
        auto* d = q.add_dimensions();
        d->set_name("Host");
        d->set_value(Host(t, s));
        *q.mutable_start_time() = TimeUtil::MillisecondsToTimestamp(base);
        *q.mutable_end_time() =
            TimeUtil::MillisecondsToTimestamp(base + 3'600'000);
        q.set_period(3600);
        q.add_statistics("SampleCount");
        q.add_statistics("Sum");
        v1::GetMetricStatisticsResponse r;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
        const grpc::Status status = stub->GetMetricStatistics(&ctx, q, &r);
        ASSERT_TRUE(status.ok()) << "GetMetricStatistics after kill " << cycle
                                 << ": " << status.error_message();
        ASSERT_EQ(r.datapoints_size(), 1) << Host(t, s) << " cycle " << cycle;
        const double count = r.datapoints(0).sample_count();
        const double sum = r.datapoints(0).sum();
        // Every acknowledged point is there; the request in flight at the
        // kill was sent but not acknowledged, so it is there whole or not
        // at all (one ingest-log record).
        const bool without = count == st.next_k && sum == st.acked_sum;
        const bool with = count == st.next_k + st.in_flight &&
                          sum == st.acked_sum + st.in_flight_sum;
        EXPECT_TRUE(without || with)
            << Host(t, s) << " cycle " << cycle << ": " << count
            << " points, sum " << sum << "; acknowledged " << st.next_k
            << " (sum " << st.acked_sum << "), in flight " << st.in_flight;
      }
    }
    const absl::Status stopped = server.Stop(SIGKILL);
    ASSERT_TRUE(stopped.ok())
        << "after the checks of cycle " << cycle << ": " << stopped;
  }
}

INSTANTIATE_TEST_SUITE_P(SyncModes, Crash,
                         ::testing::Values("process", "power"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace nimbus
