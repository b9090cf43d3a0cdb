// Integration tests: a real nimbusd on a loopback port, spoken to over gRPC.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "tests/rpc/nimbusd_process.h"
#include "tools/shapes.h"

namespace nimbus {
namespace {

using nimbus::testing::NimbusdProcess;
using ::testing::HasSubstr;
namespace v1 = ::nimbus::v1;
using google::protobuf::util::TimeUtil;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A nimbusd that runs no rollup passes (--norollups): its watermark stays
// at the hour it first opened in, and every point from then on is read raw.
// The tests put their points in that hour, from its start: the raw path
// whatever the time of day (the hour is at most one hour ahead of now, and
// the server accepts points up to two hours ahead).
class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const int64_t before = NowMs();
    const absl::Status started = server_.Start({"--norollups"});
    ASSERT_TRUE(started.ok()) << started;
    const int64_t after = NowMs();
    stub_ = server_.Stub();
    const auto stats = server_.ServerStats();
    ASSERT_TRUE(stats.ok()) << stats.status();
    base_ms_ = TimeUtil::TimestampToMilliseconds(stats->rollup_watermark());
    // A fresh store starts rolling up at the hour it opened in.
    ASSERT_EQ(base_ms_ % 3600'000, 0);
    ASSERT_GE(base_ms_, before / 3600'000 * 3600'000);
    ASSERT_LE(base_ms_, after / 3600'000 * 3600'000);
  }

  // The server still answers from raw points only: no pass ran, and the
  // watermark has not moved.
  void ExpectNoRollups() {
    const auto stats = server_.ServerStats();
    ASSERT_TRUE(stats.ok()) << stats.status();
    EXPECT_EQ(stats->rollup_passes(), 0);
    EXPECT_EQ(TimeUtil::TimestampToMilliseconds(stats->rollup_watermark()),
              base_ms_);
    EXPECT_EQ(stats->rollup_dirty_hours_pending(), 0) << "no point was late";
  }

  v1::GetMetricStatisticsResponse Stats(const std::string& metric,
                                        const std::string& host,
                                        std::vector<std::string> stats,
                                        std::vector<std::string> pct = {},
                                        int period = 3600) {
    v1::GetMetricStatisticsRequest req;
    req.set_namespace_("App");
    req.set_metric_name(metric);
    auto* d = req.add_dimensions();
    d->set_name("Host");
    d->set_value(host);
    // The hour of base_ms_.
    *req.mutable_start_time() = TimeUtil::MillisecondsToTimestamp(base_ms_);
    *req.mutable_end_time() =
        TimeUtil::MillisecondsToTimestamp(base_ms_ + 3600'000);
    req.set_period(period);
    for (auto& s : stats) req.add_statistics(s);
    for (auto& p : pct) req.add_extended_statistics(p);
    v1::GetMetricStatisticsResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->GetMetricStatistics(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  static v1::MetricDatum* AddDatum(v1::PutMetricDataRequest* req,
                                   const std::string& metric,
                                   const std::string& host) {
    auto* d = req->add_metric_data();
    d->set_metric_name(metric);
    auto* dim = d->add_dimensions();
    dim->set_name("Host");
    dim->set_value(host);
    return d;
  }

  NimbusdProcess server_;
  std::unique_ptr<v1::MetricsService::Stub> stub_;
  int64_t base_ms_ = 0;
};

TEST_F(ServerTest, PutMetricDataThenExactStatistics) {
  v1::PutMetricDataRequest req;
  req.set_namespace_("App");
  for (int i = 0; i < 10; ++i) {
    auto* d = AddDatum(&req, "Latency", "web-1");
    d->set_value(i + 1);
    d->set_unit("Milliseconds");
    *d->mutable_timestamp() =
        TimeUtil::MillisecondsToTimestamp(base_ms_ + i * 1000);
  }
  auto* set = AddDatum(&req, "Latency", "web-1");  // a statistic set
  set->set_unit("Milliseconds");
  set->mutable_statistic_values()->set_sample_count(4);
  set->mutable_statistic_values()->set_sum(20);
  set->mutable_statistic_values()->set_minimum(0.5);
  set->mutable_statistic_values()->set_maximum(9.5);
  *set->mutable_timestamp() = TimeUtil::MillisecondsToTimestamp(base_ms_);
  auto* many = AddDatum(&req, "Latency", "web-1");
  many->set_unit("Milliseconds");
  for (double v : {100.0, 200.0}) many->add_values(v);
  *many->mutable_timestamp() = TimeUtil::MillisecondsToTimestamp(base_ms_);
  v1::PutMetricDataResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->PutMetricData(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.accepted_points(), 13);  // 10 values, 2 of values[], 1 set
  EXPECT_EQ(resp.rejected_size(), 0);

  auto st = Stats("Latency", "web-1",
                  {"SampleCount", "Sum", "Average", "Minimum", "Maximum"});
  ASSERT_EQ(st.datapoints_size(), 1);
  const auto& dp = st.datapoints(0);
  EXPECT_EQ(dp.sample_count(), 12 + 4);
  EXPECT_EQ(dp.sum(), 55 + 300 + 20);
  EXPECT_DOUBLE_EQ(dp.average(), 375.0 / 16);
  EXPECT_EQ(dp.minimum(), 0.5);
  EXPECT_EQ(dp.maximum(), 200);
  EXPECT_EQ(dp.unit(), "Milliseconds");
  // The inexact statistic set (0.5..9.5) leaves the period without
  // percentiles, as in CloudWatch.
  auto pct = Stats("Latency", "web-1", {}, {"p50", "p99", "p100"});
  ASSERT_EQ(pct.datapoints_size(), 1);
  EXPECT_TRUE(pct.datapoints(0).extended_statistics().empty());
  EXPECT_FALSE(pct.datapoints(0).has_sum());

  // Raw points alone: exact percentiles by nearest rank.
  v1::PutMetricDataRequest raw;
  raw.set_namespace_("App");
  for (int i = 1; i <= 100; ++i) {
    auto* d = AddDatum(&raw, "Latency", "web-2");
    d->set_value(i);
    *d->mutable_timestamp() = TimeUtil::MillisecondsToTimestamp(base_ms_);
  }
  grpc::ClientContext c2;
  ASSERT_TRUE(stub_->PutMetricData(&c2, raw, &resp).ok());
  auto p2 = Stats("Latency", "web-2", {}, {"p50", "p99", "p100", "p0"});
  ASSERT_EQ(p2.datapoints_size(), 1);
  EXPECT_EQ(p2.datapoints(0).extended_statistics().at("p50"), 50);
  EXPECT_EQ(p2.datapoints(0).extended_statistics().at("p99"), 99);
  EXPECT_EQ(p2.datapoints(0).extended_statistics().at("p100"), 100);
  EXPECT_EQ(p2.datapoints(0).extended_statistics().at("p0"), 1);
  // The trimmed family, exact over raw points.
  auto p3 = Stats("Latency", "web-2", {},
                  {"tm99", "IQM", "PR(:50)", "TC(:10)", "wm99"});
  ASSERT_EQ(p3.datapoints_size(), 1);
  const auto& ext = p3.datapoints(0).extended_statistics();
  EXPECT_DOUBLE_EQ(ext.at("tm99"), 50);
  EXPECT_DOUBLE_EQ(ext.at("IQM"), 50.5);
  EXPECT_DOUBLE_EQ(ext.at("PR(:50)"), 50);
  EXPECT_DOUBLE_EQ(ext.at("TC(:10)"), 10);
  EXPECT_DOUBLE_EQ(ext.at("wm99"), 50.49);
  ExpectNoRollups();
}

TEST_F(ServerTest, RejectsBadDatumsOneByOneAndStoresTheRest) {
  v1::PutMetricDataRequest req;
  req.set_namespace_("App");
  AddDatum(&req, "Good", "h")->set_value(1);             // 0
  AddDatum(&req, "Good", "h")->set_value(std::nan(""));  // 1
  auto* old = AddDatum(&req, "Good", "h");               // 2
  old->set_value(1);
  *old->mutable_timestamp() =
      TimeUtil::MillisecondsToTimestamp(NowMs() - 15LL * 24 * 3600 * 1000);
  auto* future = AddDatum(&req, "Good", "h");  // 3
  future->set_value(1);
  *future->mutable_timestamp() =
      TimeUtil::MillisecondsToTimestamp(NowMs() + 3 * 3600 * 1000);
  AddDatum(&req, "", "h")->set_value(1);     // 4
  auto* unit = AddDatum(&req, "Good", "h");  // 5
  unit->set_value(1);
  unit->set_unit("Furlongs");
  auto* mismatch = AddDatum(&req, "Good", "h");  // 6
  mismatch->add_values(1);
  mismatch->add_values(2);
  mismatch->add_counts(1);
  AddDatum(&req, "Good", "h");               // 7: no value
  auto* both = AddDatum(&req, "Good", "h");  // 8
  both->set_value(1);
  both->add_values(2);
  auto* dims = AddDatum(&req, "Good", "h");  // 9
  dims->set_value(1);
  for (int i = 0; i < 30; ++i) {
    auto* x = dims->add_dimensions();
    x->set_name("D" + std::to_string(i));
    x->set_value("v");
  }
  auto* dup = AddDatum(&req, "Good", "h");  // 10
  dup->set_value(1);
  auto* x = dup->add_dimensions();
  x->set_name("Host");
  x->set_value("again");
  auto* res = AddDatum(&req, "Good", "h");  // 11
  res->set_value(1);
  res->set_storage_resolution(5);
  AddDatum(&req, "Good", "h")->set_value(2);  // 12

  v1::PutMetricDataResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->PutMetricData(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.accepted_points(), 2);
  std::map<int, std::string> reasons;
  for (const auto& r : resp.rejected()) {
    reasons[r.index()] = r.reason();
    EXPECT_FALSE(r.message().empty());
  }
  EXPECT_EQ(reasons,
            (std::map<int, std::string>{{1, "ValueNotFinite"},
                                        {2, "TimestampTooOld"},
                                        {3, "TimestampTooFarInFuture"},
                                        {4, "InvalidMetricName"},
                                        {5, "InvalidUnit"},
                                        {6, "ValuesCountsMismatch"},
                                        {7, "NoValue"},
                                        {8, "ConflictingValues"},
                                        {9, "TooManyDimensions"},
                                        {10, "DuplicateDimension"},
                                        {11, "InvalidStorageResolution"}}));

  v1::GetServerStatsResponse stats;
  grpc::ClientContext c2;
  ASSERT_TRUE(
      stub_->GetServerStats(&c2, v1::GetServerStatsRequest(), &stats).ok());
  EXPECT_EQ(stats.points_accepted(), 2);
  EXPECT_EQ(stats.points_rejected(), 11);
  EXPECT_EQ(stats.rejected_by_reason().at("InvalidUnit"), 1);
  EXPECT_EQ(stats.series_count(), 1);
  // No pass ran (--norollups): the watermark is where the fresh store put
  // it, the hour it opened in (checked by SetUp).
  EXPECT_EQ(stats.rollup_passes(), 0);
  EXPECT_EQ(TimeUtil::TimestampToMilliseconds(stats.rollup_watermark()),
            base_ms_);
}

TEST_F(ServerTest, WholeRequestErrorsAreInvalidArgumentNamingTheField) {
  struct Case {
    v1::PutMetricDataRequest req;
    std::string field;
  };
  std::vector<Case> cases(4);
  AddDatum(&cases[0].req, "M", "h")->set_value(1);  // no namespace
  cases[0].field = "namespace";
  cases[1].req.set_namespace_("App");
  for (int i = 0; i < 1001; ++i)
    AddDatum(&cases[1].req, "M", "h")->set_value(i);
  cases[1].field = "metric_data";
  cases[2].req.set_namespace_("App");
  cases[2].field = "metric_data";  // empty
  cases[3].req.set_namespace_("App");
  for (int i = 0; i < 300; ++i) {
    auto* d =
        AddDatum(&cases[3].req, std::string(255, 'm'), std::string(1024, 'v'));
    d->set_value(i);
    auto* more = d->add_dimensions();
    more->set_name(std::string(255, 'n'));
    more->set_value(std::string(1024, 'w'));
    auto* more2 = d->add_dimensions();
    more2->set_name(std::string(254, 'n'));
    more2->set_value(std::string(1024, 'w'));
  }
  cases[3].field = "request";  // over 1 MB
  for (const Case& c : cases) {
    v1::PutMetricDataResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->PutMetricData(&ctx, c.req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_THAT(s.error_message(), HasSubstr(c.field));
  }
  v1::GetServerStatsResponse stats;
  grpc::ClientContext c2;
  ASSERT_TRUE(
      stub_->GetServerStats(&c2, v1::GetServerStatsRequest(), &stats).ok());
  EXPECT_EQ(stats.points_accepted(), 0);
}

TEST_F(ServerTest, PutMetricSeriesAndTheStreamStoreEveryPoint) {
  v1::PutMetricSeriesRequest req;
  auto* s = req.add_series();
  s->set_namespace_("App");
  s->set_metric_name("Cpu");
  auto* d = s->add_dimensions();
  d->set_name("Host");
  d->set_value("a");
  s->set_unit("Percent");
  for (int i = 0; i < 360; ++i) {
    s->add_timestamps_ms(base_ms_ + i * 10);
    s->add_values(i % 100);
  }
  s->add_timestamps_ms(NowMs() + 10LL * 3600 * 1000);  // too far ahead
  s->add_values(1);
  auto* bad = req.add_series();  // lengths differ
  *bad = *s;
  bad->add_values(5);
  v1::PutMetricDataResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->PutMetricSeries(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.accepted_points(), 360);
  ASSERT_EQ(resp.rejected_size(), 2);
  EXPECT_EQ(resp.rejected(0).index(), 0);
  EXPECT_EQ(resp.rejected(0).point_index(), 360);
  EXPECT_EQ(resp.rejected(0).reason(), "TimestampTooFarInFuture");
  EXPECT_EQ(resp.rejected(1).index(), 1);
  EXPECT_EQ(resp.rejected(1).point_index(), -1);
  EXPECT_EQ(resp.rejected(1).reason(), "TimestampsValuesMismatch");

  // The stream: three messages, three acknowledgements, in order.
  grpc::ClientContext sctx;
  auto stream = stub_->StreamMetricSeries(&sctx);
  for (int m = 0; m < 3; ++m) {
    v1::PutMetricSeriesRequest r;
    auto* x = r.add_series();
    *x = *s;
    x->clear_timestamps_ms();
    x->clear_values();
    x->mutable_dimensions(0)->set_value("b");
    for (int i = 0; i < 100; ++i) {
      x->add_timestamps_ms(base_ms_ + m * 1000 + i);
      x->add_values(m);
    }
    ASSERT_TRUE(stream->Write(r));
    v1::PutMetricDataResponse ack;
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.accepted_points(), 100);
  }
  stream->WritesDone();
  ASSERT_TRUE(stream->Finish().ok());

  auto a = Stats("Cpu", "a", {"SampleCount", "Sum"});
  ASSERT_EQ(a.datapoints_size(), 1);
  EXPECT_EQ(a.datapoints(0).sample_count(), 360);
  double expect = 0;
  for (int i = 0; i < 360; ++i) expect += i % 100;
  EXPECT_EQ(a.datapoints(0).sum(), expect);
  auto b = Stats("Cpu", "b", {"SampleCount", "Sum"});
  ASSERT_EQ(b.datapoints_size(), 1);
  EXPECT_EQ(b.datapoints(0).sample_count(), 300);
  EXPECT_EQ(b.datapoints(0).sum(), 0 + 100 + 200);
  ExpectNoRollups();
}

TEST_F(ServerTest, ListsAtMostAThousandRejectionsAndCountsThemAll) {
  v1::PutMetricSeriesRequest req;
  auto* s = req.add_series();
  s->set_namespace_("App");
  s->set_metric_name("Old");
  for (int i = 0; i < 5000; ++i) {
    s->add_timestamps_ms(NowMs() - 20LL * 24 * 3600 * 1000 + i);
    s->add_values(i);
  }
  v1::PutMetricDataResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->PutMetricSeries(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.accepted_points(), 0);
  EXPECT_EQ(resp.rejected_size(), 1000);
  EXPECT_EQ(resp.rejected_points(), 5000);
  EXPECT_EQ(resp.rejected(999).point_index(), 999);
}

TEST_F(ServerTest, RejectsACountThatOverflowsTheSum) {
  v1::PutMetricDataRequest req;
  req.set_namespace_("App");
  auto* d = AddDatum(&req, "M", "h");
  d->add_values(1e100);  // within +-2^360, but not times 1e300
  d->add_counts(1e300);
  v1::PutMetricDataResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->PutMetricData(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.rejected_size(), 1);
  EXPECT_EQ(resp.rejected(0).reason(), "InvalidCount");
  EXPECT_THAT(resp.rejected(0).message(), HasSubstr("values[0] x counts[0]"));
}

TEST_F(ServerTest, RoundsTheStartTimeDownToTheMinute) {
  v1::PutMetricDataRequest req;
  req.set_namespace_("App");
  auto* d = AddDatum(&req, "M", "h");
  d->set_value(7);
  *d->mutable_timestamp() =
      TimeUtil::MillisecondsToTimestamp(base_ms_ + 10'000);
  v1::PutMetricDataResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->PutMetricData(&ctx, req, &resp).ok());
  v1::GetMetricStatisticsRequest q;
  q.set_namespace_("App");
  q.set_metric_name("M");
  auto* dim = q.add_dimensions();
  dim->set_name("Host");
  dim->set_value("h");
  // 30 s past the minute: CloudWatch starts at the minute.
  *q.mutable_start_time() =
      TimeUtil::MillisecondsToTimestamp(base_ms_ + 30'000);
  *q.mutable_end_time() = TimeUtil::MillisecondsToTimestamp(base_ms_ + 120'000);
  q.set_period(60);
  q.add_statistics("Sum");
  v1::GetMetricStatisticsResponse r;
  grpc::ClientContext c2;
  ASSERT_TRUE(stub_->GetMetricStatistics(&c2, q, &r).ok());
  ASSERT_EQ(r.datapoints_size(), 1);
  EXPECT_EQ(TimeUtil::TimestampToMilliseconds(r.datapoints(0).timestamp()),
            base_ms_);
  EXPECT_EQ(r.datapoints(0).sum(), 7);
  ExpectNoRollups();
}

TEST_F(ServerTest, GetMetricDataCombinesQueriesAndNamesBadFields) {
  v1::PutMetricDataRequest req;
  req.set_namespace_("App");
  for (int i = 0; i < 3; ++i) {
    for (const char* host : {"web-1", "web-2"}) {
      auto* d = AddDatum(&req, "Requests", host);
      d->set_value(host[4] == '1' ? 1 : 10);
      *d->mutable_timestamp() =
          TimeUtil::MillisecondsToTimestamp(base_ms_ + i * 60'000 + 5'000);
    }
  }
  v1::PutMetricDataResponse put;
  grpc::ClientContext pc;
  ASSERT_TRUE(stub_->PutMetricData(&pc, req, &put).ok());

  v1::GetMetricDataRequest q;
  *q.mutable_start_time() = TimeUtil::MillisecondsToTimestamp(base_ms_);
  *q.mutable_end_time() =
      TimeUtil::MillisecondsToTimestamp(base_ms_ + 3 * 60'000);
  for (const char* host : {"web-1", "web-2"}) {
    auto* m = q.add_metric_data_queries();
    m->set_id(host[4] == '1' ? "a" : "b");
    m->set_return_data(false);
    auto* ms = m->mutable_metric_stat();
    ms->mutable_metric()->set_namespace_("App");
    ms->mutable_metric()->set_metric_name("Requests");
    auto* dim = ms->mutable_metric()->add_dimensions();
    dim->set_name("Host");
    dim->set_value(host);
    ms->set_period(60);
    ms->set_stat("Sum");
  }
  auto* e = q.add_metric_data_queries();
  e->set_id("total");
  e->set_expression("SUM(METRICS())");
  e->set_label("All hosts");
  v1::GetMetricDataResponse r;
  {
    grpc::ClientContext c;
    grpc::Status s = stub_->GetMetricData(&c, q, &r);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ASSERT_EQ(r.metric_data_results_size(), 1);
  const auto& total = r.metric_data_results(0);
  EXPECT_EQ(total.id(), "total");
  EXPECT_EQ(total.label(), "All hosts");
  EXPECT_EQ(total.status_code(), "Complete");
  ASSERT_EQ(total.values_size(), 3);
  EXPECT_EQ(total.values(0), 11);
  // Newest first.
  EXPECT_EQ(TimeUtil::TimestampToMilliseconds(total.timestamps(0)),
            base_ms_ + 2 * 60'000);
  EXPECT_TRUE(r.next_token().empty());
  ExpectNoRollups();

  // Errors map to INVALID_ARGUMENT naming the query and field.
  auto expect_invalid = [&](const v1::GetMetricDataRequest& bad,
                            const std::string& text) {
    v1::GetMetricDataResponse out;
    grpc::ClientContext c;
    grpc::Status s = stub_->GetMetricData(&c, bad, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << text;
    EXPECT_THAT(s.error_message(), HasSubstr(text));
  };
  v1::GetMetricDataRequest bad = q;
  bad.mutable_metric_data_queries(2)->set_expression("SUM(METRICS()");
  expect_invalid(bad, "metric_data_queries[2].expression: column 14");
  bad = q;
  bad.mutable_metric_data_queries(0)
      ->mutable_metric_stat()
      ->mutable_metric()
      ->set_namespace_(":bad");
  expect_invalid(bad, "metric_data_queries[0].metric_stat.metric.namespace");
  bad = q;
  bad.mutable_metric_data_queries(1)->mutable_metric_stat()->set_period(0);
  expect_invalid(bad, "metric_data_queries[1].metric_stat.period");
  bad = q;
  bad.set_scan_by("Sideways");
  expect_invalid(bad, "scan_by");
  bad = q;
  bad.clear_end_time();
  expect_invalid(bad, "end_time");
}

TEST_F(ServerTest, ListMetricsFiltersAndPages) {
  v1::PutMetricSeriesRequest req;
  for (int i = 0; i < 620; ++i) {
    auto* s = req.add_series();
    s->set_namespace_(i < 600 ? "App" : "Other");
    s->set_metric_name(i % 2 ? "Odd" : "Even");
    auto* d = s->add_dimensions();
    d->set_name("Host");
    d->set_value("h" + std::to_string(i));
    if (i % 3 == 0) {
      auto* z = s->add_dimensions();
      z->set_name("Zone");
      z->set_value(i % 2 ? "z1" : "z2");
    }
    s->add_timestamps_ms(base_ms_);
    s->add_values(1);
  }
  v1::PutMetricDataResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->PutMetricSeries(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.accepted_points(), 620);

  auto list = [&](v1::ListMetricsRequest r) {
    std::vector<v1::Metric> all;
    int pages = 0;
    while (true) {
      v1::ListMetricsResponse page;
      grpc::ClientContext c;
      EXPECT_TRUE(stub_->ListMetrics(&c, r, &page).ok());
      EXPECT_LE(page.metrics_size(), 500);
      all.insert(all.end(), page.metrics().begin(), page.metrics().end());
      ++pages;
      if (page.next_token().empty() || pages > 10) break;
      r.set_next_token(page.next_token());
    }
    return std::make_pair(all, pages);
  };
  v1::ListMetricsRequest r;
  r.set_namespace_("App");
  auto [all, pages] = list(r);
  EXPECT_EQ(all.size(), 600u);
  EXPECT_EQ(pages, 2);
  r.set_metric_name("Odd");
  EXPECT_EQ(list(r).first.size(), 300u);
  auto* f = r.add_dimensions();
  f->set_name("Zone");
  EXPECT_EQ(list(r).first.size(), 100u);  // odd multiples of 3 below 600
  f->set_value("z2");
  EXPECT_EQ(list(r).first.size(), 0u);
  v1::ListMetricsRequest active;
  active.set_recently_active("PT3H");
  EXPECT_EQ(list(active).first.size(), 620u);
  active.set_recently_active("PT1H");
  v1::ListMetricsResponse page;
  grpc::ClientContext c;
  grpc::Status s = stub_->ListMetrics(&c, active, &page);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("recently_active"));
}

TEST_F(ServerTest, GetMetricStatisticsValidatesItsArguments) {
  auto call = [&](auto mutate) {
    v1::GetMetricStatisticsRequest req;
    req.set_namespace_("App");
    req.set_metric_name("M");
    *req.mutable_start_time() = TimeUtil::MillisecondsToTimestamp(base_ms_);
    *req.mutable_end_time() =
        TimeUtil::MillisecondsToTimestamp(base_ms_ + 3600'000);
    req.set_period(60);
    req.add_statistics("Average");
    mutate(req);
    v1::GetMetricStatisticsResponse resp;
    grpc::ClientContext ctx;
    return stub_->GetMetricStatistics(&ctx, req, &resp);
  };
  EXPECT_TRUE(call([](auto&) {}).ok());
  struct Case {
    std::function<void(v1::GetMetricStatisticsRequest&)> mutate;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](auto& r) { r.set_period(45); }, "period"},
      {[](auto& r) { r.set_period(1); }, "at most 1440"},
      {[](auto& r) { r.add_extended_statistics("p99"); }, "exactly one"},
      {[](auto& r) { r.clear_statistics(); }, "exactly one"},
      {[](auto& r) { r.set_statistics(0, "Median"); }, "statistics[0]"},
      {[](auto& r) {
         r.clear_statistics();
         r.add_extended_statistics("p101");
       },
       "extended_statistics[0]"},
      {[](auto& r) {
         r.clear_statistics();
         r.add_extended_statistics("p99.999");
       },
       "extended_statistics[0]"},
      {[](auto& r) { *r.mutable_end_time() = r.start_time(); }, "end_time"},
      {[](auto& r) { r.clear_start_time(); }, "start_time"},
      {[](auto& r) { r.set_namespace_(":bad"); }, "namespace"},
      {[](auto& r) { r.set_unit("Parsecs"); }, "unit"},
  };
  for (const Case& c : cases) {
    grpc::Status s = call(c.mutate);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_THAT(s.error_message(), HasSubstr(c.field));
  }
}

TEST_F(ServerTest, RestartKeepsEverything) {
  v1::PutMetricSeriesRequest req;
  for (int h = 0; h < 50; ++h) {
    auto* s = req.add_series();
    s->set_namespace_("App");
    s->set_metric_name("Cpu");
    auto* d = s->add_dimensions();
    d->set_name("Host");
    d->set_value("h" + std::to_string(h));
    for (int i = 0; i < 100; ++i) {  // some heads seal, some stay in the log
      s->add_timestamps_ms(base_ms_ + i * 1000);
      s->add_values(h);
    }
  }
  v1::PutMetricDataResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->PutMetricSeries(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.accepted_points(), 5000);

  const absl::Status stopped = server_.Stop(SIGTERM);
  ASSERT_TRUE(stopped.ok()) << stopped;  // a clean shutdown, exit status 0
  const absl::Status restarted = server_.Start({"--norollups"});
  ASSERT_TRUE(restarted.ok()) << restarted;
  stub_ = server_.Stub();
  for (int h = 0; h < 50; h += 7) {
    auto st = Stats("Cpu", "h" + std::to_string(h), {"SampleCount", "Sum"});
    ASSERT_EQ(st.datapoints_size(), 1);
    EXPECT_EQ(st.datapoints(0).sample_count(), 100);
    EXPECT_EQ(st.datapoints(0).sum(), 100.0 * h);
  }
  v1::GetServerStatsResponse stats;
  grpc::ClientContext c2;
  ASSERT_TRUE(
      stub_->GetServerStats(&c2, v1::GetServerStatsRequest(), &stats).ok());
  EXPECT_EQ(stats.series_count(), 50);
  ExpectNoRollups();
}

TEST_F(ServerTest, ServesReflectionAndHealth) {
  auto health = grpc::health::v1::Health::NewStub(server_.Channel());
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(health->Check(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

// Garbage on the socket and undecodable protobuf get errors; the server
// keeps serving.
TEST_F(ServerTest, SurvivesGarbageBytesAndFuzzedProtobuf) {
  tools::Rng rng(2026);
  for (int c = 0; c < 50; ++c) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server_.port()));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    std::string junk(static_cast<size_t>(rng.Uniform(1, 4096)), '\0');
    for (char& ch : junk) ch = static_cast<char>(rng.Next());
    if (c % 5 == 0)
      junk = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + junk;  // past the preface
    (void)!write(fd, junk.data(), junk.size());
    close(fd);
  }
  const char* methods[] = {"/nimbus.v1.MetricsService/PutMetricData",
                           "/nimbus.v1.MetricsService/PutMetricSeries",
                           "/nimbus.v1.MetricsService/GetMetricStatistics",
                           "/nimbus.v1.MetricsService/ListMetrics"};
  // A valid request to mutate.
  v1::PutMetricDataRequest valid;
  valid.set_namespace_("App");
  AddDatum(&valid, "M", "h")->set_value(1);
  const std::string valid_bytes = valid.SerializeAsString();
  int errors = 0;
  for (int i = 0; i < 400; ++i) {
    std::string body = valid_bytes;
    if (i % 2 == 0) {
      body.assign(static_cast<size_t>(rng.Uniform(0, 300)), '\0');
      for (char& ch : body) ch = static_cast<char>(rng.Next());
    } else {
      for (int e = 0; e < 3; ++e) {
        body[static_cast<size_t>(rng.Uniform(0, body.size() - 1))] =
            static_cast<char>(rng.Next());
      }
    }
    const grpc::Status status =
        testing::CallRaw(server_.Channel(), methods[i % 4], body);
    errors += !status.ok();
    EXPECT_NE(status.error_code(), grpc::StatusCode::UNAVAILABLE)
        << "server down at " << i;
  }
  EXPECT_GT(errors, 100);
  // Still serving, still correct.
  v1::PutMetricDataResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->PutMetricData(&ctx, valid, &resp).ok());
  EXPECT_EQ(resp.accepted_points(), 1);
}

}  // namespace
}  // namespace nimbus

namespace nimbus {
namespace {

// The rollup path, on purpose: a nimbusd that runs a pass every 50 ms gets
// points for the hour before the one it opened in. They are below its
// watermark, so they mark that hour, and the next pass rolls it up again;
// once GetServerStats shows that, the 60, 300 and 3600 s statistics of the
// hour come from rollup records, whatever the time of day.
TEST(ServerRollups, ServeALateHourFromRollupRecordsOnceAPassRedidIt) {
  NimbusdProcess server;
  // Late hours are redone as soon as a pass sees them (no quiet time).
  const absl::Status started =
      server.Start({"--rollup_interval=50ms", "--rollup_quiet=0s"});
  ASSERT_TRUE(started.ok()) << started;
  auto stub = server.Stub();
  const auto opened = server.ServerStats();
  ASSERT_TRUE(opened.ok()) << opened.status();
  const int64_t watermark =
      TimeUtil::TimestampToMilliseconds(opened->rollup_watermark());
  ASSERT_EQ(watermark % 3600'000, 0);
  const int64_t hour = watermark - 3600'000;

  // 120 points, one every 30 s, valued 1.25 .. 120.25 (exact in binary, so
  // sums compare exactly): each minute holds two of them.
  v1::PutMetricSeriesRequest req;
  auto* series = req.add_series();
  series->set_namespace_("App");
  series->set_metric_name("Late");
  auto* dim = series->add_dimensions();
  dim->set_name("Host");
  dim->set_value("h");
  for (int i = 0; i < 120; ++i) {
    series->add_timestamps_ms(hour + i * 30'000);
    series->add_values(i + 1.25);
  }
  {
    v1::PutMetricDataResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->PutMetricSeries(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.accepted_points(), 120);
  }
  // Passes run one at a time: the second to finish after the write began
  // after it, and redid the marked hour.
  const auto written = server.ServerStats();
  ASSERT_TRUE(written.ok()) << written.status();
  v1::GetServerStatsResponse now = *written;
  const absl::Status redone = testing::WaitUntil(
      [&] {
        const auto st = server.ServerStats();
        if (st.ok()) now = *st;
        return st.ok() && now.rollup_dirty_hours_pending() == 0 &&
               now.rollup_passes() >= written->rollup_passes() + 2;
      },
      "no late hour pending, and two rollup passes after the write");
  ASSERT_TRUE(redone.ok()) << redone << " (" << now.rollup_passes()
                           << " passes, " << now.rollup_dirty_hours_pending()
                           << " late hours pending)";
  EXPECT_GE(now.rollup_hours_redone(), 1);
  // One record listed the late hour; nothing was put off (--rollup_quiet=0s).
  EXPECT_GE(now.rollup_dirty_records_written(), 1);
  EXPECT_GE(now.rollup_dirty_pairs_written(), 1);
  EXPECT_EQ(now.rollup_hours_deferred(), 0);
  EXPECT_GE(now.rollup_points_read(), 120);
  EXPECT_EQ(now.rollup_series_failed(), 0);
  ASSERT_GE(TimeUtil::TimestampToMilliseconds(now.rollup_watermark()),
            hour + 3600'000);

  auto query = [&](int period) {
    v1::GetMetricStatisticsRequest q;
    q.set_namespace_("App");
    q.set_metric_name("Late");
    auto* d = q.add_dimensions();
    d->set_name("Host");
    d->set_value("h");
    *q.mutable_start_time() = TimeUtil::MillisecondsToTimestamp(hour);
    *q.mutable_end_time() = TimeUtil::MillisecondsToTimestamp(hour + 3600'000);
    q.set_period(period);
    for (const char* st : {"SampleCount", "Sum", "Minimum", "Maximum"}) {
      q.add_statistics(st);
    }
    v1::GetMetricStatisticsResponse r;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    const grpc::Status status = stub->GetMetricStatistics(&ctx, q, &r);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return r;
  };
  const auto minutes = query(60);  // rollup_60
  ASSERT_EQ(minutes.datapoints_size(), 60);
  for (int m = 0; m < 60; ++m) {
    const auto& dp = minutes.datapoints(m);
    EXPECT_EQ(TimeUtil::TimestampToMilliseconds(dp.timestamp()),
              hour + m * 60'000);
    EXPECT_EQ(dp.sample_count(), 2) << "minute " << m;
    EXPECT_EQ(dp.sum(), (2 * m + 1.25) + (2 * m + 2.25)) << "minute " << m;
    EXPECT_EQ(dp.minimum(), 2 * m + 1.25) << "minute " << m;
    EXPECT_EQ(dp.maximum(), 2 * m + 2.25) << "minute " << m;
  }
  const auto fives = query(300);  // rollup_300
  ASSERT_EQ(fives.datapoints_size(), 12);
  EXPECT_EQ(fives.datapoints(1).sample_count(), 10);
  EXPECT_EQ(fives.datapoints(1).sum(), 11.25 + 12.25 + 13.25 + 14.25 + 15.25 +
                                           16.25 + 17.25 + 18.25 + 19.25 +
                                           20.25);
  EXPECT_EQ(fives.datapoints(1).minimum(), 11.25);
  EXPECT_EQ(fives.datapoints(1).maximum(), 20.25);
  const auto whole = query(3600);  // rollup_3600
  ASSERT_EQ(whole.datapoints_size(), 1);
  EXPECT_EQ(whole.datapoints(0).sample_count(), 120);
  EXPECT_EQ(whole.datapoints(0).sum(), 120 * 121 / 2 + 120 * 0.25);
  EXPECT_EQ(whole.datapoints(0).minimum(), 1.25);
  EXPECT_EQ(whole.datapoints(0).maximum(), 120.25);
}

TEST(ServerStart, RefusesANonLoopbackAddressWithoutInsecure) {
  nimbus::testing::NimbusdProcess server;
  const absl::Status s = server.Start({"--listen=0.0.0.0:0"});
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("exited early"));
}

TEST(ServerStart, BindsANonLoopbackAddressWithInsecure) {
  nimbus::testing::NimbusdProcess server;
  const absl::Status started =
      server.Start({"--listen=0.0.0.0:0", "--insecure"});
  ASSERT_TRUE(started.ok()) << started;
  auto stub = server.Stub();  // still reachable on 127.0.0.1
  nimbus::v1::GetServerStatsResponse resp;
  grpc::ClientContext ctx;
  EXPECT_TRUE(stub->GetServerStats(&ctx, {}, &resp).ok());
}

}  // namespace
}  // namespace nimbus
