// PutMetricData's serving path against a real nimbusd: requests decoded in
// place on gRPC's threads and queued for their group commit
// (rpc/metrics_service.h), runs of points by series.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nimbus/v1/metrics.grpc.pb.h"
#include "tests/rpc/nimbusd_process.h"

namespace nimbus {
namespace {

namespace v1 = ::nimbus::v1;
using google::protobuf::util::TimeUtil;
using nimbus::testing::NimbusdProcess;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

v1::MetricDatum* Add(v1::PutMetricDataRequest* req, const std::string& metric,
                     std::vector<std::pair<std::string, std::string>> dims,
                     int64_t ts_ms) {
  auto* d = req->add_metric_data();
  d->set_metric_name(metric);
  for (auto& [name, value] : dims) {
    auto* x = d->add_dimensions();
    x->set_name(name);
    x->set_value(value);
  }
  *d->mutable_timestamp() = TimeUtil::MillisecondsToTimestamp(ts_ms);
  return d;
}

// SampleCount and Sum of the series over the hour holding ts_ms (of every
// unit unless one is given).
std::pair<double, double> CountAndSum(
    v1::MetricsService::Stub& stub, const std::string& metric,
    std::vector<std::pair<std::string, std::string>> dims, int64_t ts_ms,
    const std::string& unit = "") {
  v1::GetMetricStatisticsRequest req;
  req.set_namespace_("App");
  req.set_unit(unit);
  req.set_metric_name(metric);
  for (auto& [name, value] : dims) {
    auto* x = req.add_dimensions();
    x->set_name(name);
    x->set_value(value);
  }
  const int64_t hour = ts_ms / 3600'000 * 3600'000;
  *req.mutable_start_time() = TimeUtil::MillisecondsToTimestamp(hour);
  *req.mutable_end_time() = TimeUtil::MillisecondsToTimestamp(hour + 3600'000);
  req.set_period(3600);
  req.add_statistics("SampleCount");
  req.add_statistics("Sum");
  v1::GetMetricStatisticsResponse resp;
  grpc::ClientContext ctx;
  const grpc::Status s = stub.GetMetricStatistics(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  if (resp.datapoints_size() != 1) return {0, 0};
  return {resp.datapoints(0).sample_count(), resp.datapoints(0).sum()};
}

// PutMetricData on raw bytes, through the generic stub.
grpc::Status CallRaw(const NimbusdProcess& server, const std::string& body) {
  return testing::CallRaw(server.Channel(),
                          "/nimbus.v1.MetricsService/PutMetricData", body);
}

TEST(PutMetricData, BytesThatAreNotARequestAreInvalidArgument) {
  NimbusdProcess server;
  ASSERT_TRUE(server.Start().ok());
  // A namespace field whose length runs past the end.
  const grpc::Status s = CallRaw(server, std::string("\x0a\x7f"
                                                     "App",
                                                     5));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "request: not a valid nimbus.v1.PutMetricDataRequest message");
}

TEST(PutMetricData, AFullIngestQueueAnswersAtOnceAndTooLargeComesFirst) {
  NimbusdProcess server;
  // Room for no request at all.
  ASSERT_TRUE(server.Start({"--ingest_queue_bytes=10"}).ok());
  v1::PutMetricDataRequest req;
  req.set_namespace_("App");
  Add(&req, "M", {{"Host", "a"}}, NowMs())->set_value(1);
  auto stub = server.Stub();
  v1::PutMetricDataResponse resp;
  grpc::ClientContext ctx;
  const grpc::Status busy = stub->PutMetricData(&ctx, req, &resp);
  EXPECT_EQ(busy.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(busy.error_message().find("server busy"), std::string::npos)
      << busy.error_message();
  // Over 1 MB: refused for its size, whatever the queue.
  std::string big = req.SerializeAsString();
  big += std::string("\x12\x00", 2);  // empty datums (field 2) as padding
  while (big.size() <= (size_t{1} << 20)) big += std::string("\x12\x00", 2);
  const grpc::Status large = CallRaw(server, big);
  EXPECT_EQ(large.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(large.error_message().find("exceeds the limit of 1048576 bytes"),
            std::string::npos)
      << large.error_message();
  auto stats = server.ServerStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->points_accepted(), 0);
}

// Concurrent requests queue for group commits, led by whichever thread
// finds the queue empty; every request is answered once, with its points.
void ManyConcurrentClients(const std::vector<std::string>& flags) {
  NimbusdProcess server;
  ASSERT_TRUE(server.Start(flags).ok());
  const int64_t ts = NowMs() - 60'000;
  constexpr int kClients = 8, kRequests = 20, kDatums = 100;
  std::vector<std::thread> clients;
  std::vector<int> failures(kClients, 0);
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto stub = server.Stub();
      for (int r = 0; r < kRequests; ++r) {
        v1::PutMetricDataRequest req;
        req.set_namespace_("App");
        for (int d = 0; d < kDatums; ++d) {
          Add(&req, "Requests",
              {{"Client", std::to_string(c)}, {"N", std::to_string(d)}}, ts)
              ->set_value(r);
        }
        v1::PutMetricDataResponse resp;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() +
                         testing::kWaitBound);
        const grpc::Status s = stub->PutMetricData(&ctx, req, &resp);
        failures[c] += !s.ok() || resp.accepted_points() != kDatums;
      }
    });
  }
  for (auto& t : clients) t.join();
  for (int c = 0; c < kClients; ++c) EXPECT_EQ(failures[c], 0) << c;
  auto stats = server.ServerStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->points_accepted(), kClients * kRequests * kDatums);
  EXPECT_EQ(stats->series_count(), kClients * kDatums);
  auto stub = server.Stub();
  // Values 0..19, one a request.
  EXPECT_EQ(CountAndSum(*stub, "Requests", {{"Client", "3"}, {"N", "42"}}, ts),
            std::make_pair(20.0, 190.0));
}

TEST(PutMetricData, ConcurrentClientsAreEachAnsweredWithTheirPoints) {
  ManyConcurrentClients({});
}

// With an fsync in every group's write, which its leader waits for.
TEST(PutMetricData, ConcurrentClientsAreEachAnsweredWithTheirPointsUnderFsync) {
  ManyConcurrentClients({"--sync=power"});
}

TEST(PutMetricData, DatumsOfOneSeriesKeepEveryPointWhateverTheirPlace) {
  NimbusdProcess server;
  ASSERT_TRUE(server.Start().ok());
  auto stub = server.Stub();
  const int64_t ts = NowMs() - 60'000;
  const std::vector<std::pair<std::string, std::string>> ab = {{"A", "1"},
                                                               {"B", "2"}};
  const std::vector<std::pair<std::string, std::string>> ba = {{"B", "2"},
                                                               {"A", "1"}};
  v1::PutMetricDataRequest req;
  req.set_namespace_("App");
  Add(&req, "M", ab, ts)->set_value(1);      // a run ...
  Add(&req, "M", ba, ts + 1)->set_value(2);  // ... the same series, unsorted
  Add(&req, "M", ab, ts + 2)->set_value(std::nan(""));  // rejected
  Add(&req, "M", ab, ts + 3)->set_value(4);  // extends the run past it
  Add(&req, "Other", ab, ts)->set_value(100);
  Add(&req, "M", ab, ts + 4)->add_values(8);  // a new run of M
  auto* sets = Add(&req, "M", ab, ts + 5);    // with a statistic set
  sets->mutable_statistic_values()->set_sample_count(2);
  sets->mutable_statistic_values()->set_sum(32);
  sets->mutable_statistic_values()->set_minimum(16);
  sets->mutable_statistic_values()->set_maximum(16);
  v1::PutMetricDataResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub->PutMetricData(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.accepted_points(), 6);
  ASSERT_EQ(resp.rejected_size(), 1);
  EXPECT_EQ(resp.rejected(0).index(), 2);
  EXPECT_EQ(resp.rejected(0).reason(), "ValueNotFinite");
  EXPECT_EQ(CountAndSum(*stub, "M", ab, ts), std::make_pair(6.0, 47.0));
  EXPECT_EQ(CountAndSum(*stub, "Other", ba, ts), std::make_pair(1.0, 100.0));
  auto stats = server.ServerStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->series_count(), 2);
}

// A series seen before is found by the bytes of its identity (no validation,
// no encoding, no key lookup); every other form of it, and everything that
// merely looks like it, is still validated and keyed as the first time.
TEST(PutMetricData, SeriesSeenBeforeAreFoundByTheirBytesAndNothingElse) {
  NimbusdProcess server;
  ASSERT_TRUE(server.Start().ok());
  auto stub = server.Stub();
  const int64_t ts = NowMs() - 60'000;
  using Dims = std::vector<std::pair<std::string, std::string>>;
  const Dims ab = {{"A", "1"}, {"B", "2"}}, ba = {{"B", "2"}, {"A", "1"}};
  auto put = [&](const std::string& ns, const v1::PutMetricDataRequest& in) {
    v1::PutMetricDataRequest req = in;
    req.set_namespace_(ns);
    v1::PutMetricDataResponse resp;
    grpc::ClientContext ctx;
    const grpc::Status s = stub->PutMetricData(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  };
  v1::PutMetricDataRequest first;
  Add(&first, "M", ab, ts)->set_value(1);
  Add(&first, "M", ba, ts + 1)->set_value(2);
  EXPECT_EQ(put("App", first).accepted_points(), 2);

  v1::PutMetricDataRequest again;
  Add(&again, "M", ab, ts + 2)->set_value(3);  // seen: found
  auto* none = Add(&again, "M", ab, ts + 3);   // "None" is the unit "" was
  none->set_unit("None");
  none->set_value(4);
  Add(&again, "M", ba, ts + 4)->set_value(5);  // other bytes, seen too
  Add(&again, "M", {{"A", "1"}, {"B", "2"}, {"A", "1"}}, ts)
      ->set_value(100);  // 3: repeated name
  Add(&again, "M", {{"A", "1"}, {"B", ""}}, ts)->set_value(100);  // 4: empty
  auto* bogus = Add(&again, "M", ab, ts);  // 5: the same bytes but a bad unit
  bogus->set_unit("Bogus");
  bogus->set_value(100);
  auto* seconds = Add(&again, "M", ab, ts + 5);  // another series
  seconds->set_unit("Seconds");
  seconds->set_value(6);
  Add(&again, "M", ab, ts + 6)->set_value(7);  // found again after a miss
  const v1::PutMetricDataResponse resp = put("App", again);
  EXPECT_EQ(resp.accepted_points(), 5);
  ASSERT_EQ(resp.rejected_size(), 3);
  EXPECT_EQ(resp.rejected(0).index(), 3);
  EXPECT_EQ(resp.rejected(0).reason(), "DuplicateDimension");
  EXPECT_EQ(resp.rejected(1).index(), 4);
  EXPECT_EQ(resp.rejected(1).reason(), "InvalidDimension");
  EXPECT_EQ(resp.rejected(2).index(), 5);
  EXPECT_EQ(resp.rejected(2).reason(), "InvalidUnit");
  // The same bytes in another namespace are another series.
  v1::PutMetricDataRequest other;
  Add(&other, "M", ab, ts)->set_value(1000);
  EXPECT_EQ(put("Other", other).accepted_points(), 1);

  EXPECT_EQ(CountAndSum(*stub, "M", ab, ts, "None"), std::make_pair(6.0, 22.0));
  EXPECT_EQ(CountAndSum(*stub, "M", ab, ts, "Seconds"),
            std::make_pair(1.0, 6.0));
  auto stats = server.ServerStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->series_count(), 3);  // App M None, App M Seconds, Other M
}

}  // namespace
}  // namespace nimbus
