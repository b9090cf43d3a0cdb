// GetMetricData over a real engine: validation with the field named, metric
// statistics and expressions together, order, labels, and paging.
#include "engine/metric_data.h"

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nimbus::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kNow = 1'795'950'000'000;  // 2026-11-29, on a minute
constexpr int64_t kMin = 60'000;

class FixedClock : public Clock {
 public:
  int64_t NowMs() const override { return kNow; }
};

class MetricDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("metric_data_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    EngineOptions o;
    o.data_dir = dir_.string();
    o.sweep_interval_ms = 0;
    o.rollup_interval_ms = 0;
    o.background_sealing = false;
    auto e = Engine::Open(o, clock_);
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
    // m "a": 1 at minutes -3, -2, -1; "b": 10 at minute -2 only.
    Put("a", {{kNow - 3 * kMin, 1}, {kNow - 2 * kMin, 1}, {kNow - kMin, 1}});
    Put("b", {{kNow - 2 * kMin + 5, 10}});
  }
  void TearDown() override {
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }

  static SeriesKey Key(const std::string& host) {
    SeriesKey k;
    k.namespace_name = "App";
    k.metric_name = "Requests";
    k.dimensions = {{"Host", host}};
    k.unit = "Count";
    return k;
  }
  void Put(const std::string& host, std::vector<Sample> s) {
    std::vector<SeriesWrite> w = {{Key(host), std::move(s), {}}};
    ASSERT_TRUE(engine_->Write(w).ok());
  }
  static MetricDataQuery Stat(const std::string& id, const std::string& host,
                              const std::string& stat = "Sum") {
    MetricDataQuery q;
    q.id = id;
    q.metric_stat = MetricStat{Key(host), kMin, stat};
    return q;
  }
  static MetricDataQuery Expr(const std::string& id, const std::string& e) {
    MetricDataQuery q;
    q.id = id;
    q.expression = e;
    return q;
  }
  MetricDataRequest Request(std::vector<MetricDataQuery> qs) {
    MetricDataRequest r;
    r.queries = std::move(qs);
    r.start_ms = kNow - 10 * kMin;
    r.end_ms = kNow;
    return r;
  }
  absl::Status Error(const MetricDataRequest& r) {
    return GetMetricData(*engine_, clock_, r).status();
  }

  std::filesystem::path dir_;
  FixedClock clock_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(MetricDataTest, MetricsAndExpressionsNewestFirst) {
  MetricDataRequest r =
      Request({Stat("m1", "a"), Stat("m2", "b"), Expr("total", "m1 + m2"),
               Expr("all", "SUM(METRICS())")});
  r.queries[1].return_data = false;
  r.queries[3].label = "Everything";
  auto out = GetMetricData(*engine_, clock_, r);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->results.size(), 3u);  // m2 only feeds the expressions
  const auto& m1 = out->results[0];
  EXPECT_EQ(m1.id, "m1");
  EXPECT_EQ(m1.label, "Requests");
  EXPECT_THAT(m1.timestamps_ms,
              ElementsAre(kNow - kMin, kNow - 2 * kMin, kNow - 3 * kMin));
  EXPECT_THAT(m1.values, ElementsAre(1, 1, 1));
  EXPECT_EQ(m1.status, MetricDataResult::StatusCode::kComplete);
  // Missing values of m2 count as 0.
  EXPECT_EQ(out->results[1].label, "total");
  EXPECT_THAT(out->results[1].values, ElementsAre(1, 11, 1));
  EXPECT_EQ(out->results[2].label, "Everything");
  EXPECT_THAT(out->results[2].values, ElementsAre(1, 11, 1));
  EXPECT_TRUE(out->next_token.empty());

  r.ascending = true;
  out = GetMetricData(*engine_, clock_, r);
  ASSERT_TRUE(out.ok());
  EXPECT_THAT(out->results[0].timestamps_ms,
              ElementsAre(kNow - 3 * kMin, kNow - 2 * kMin, kNow - kMin));
}

TEST_F(MetricDataTest, ExpressionsMayUseExpressionsInAnyOrder) {
  auto out = GetMetricData(
      *engine_, clock_,
      Request({Expr("pct", "100 * m2 / total"), Expr("total", "m1 + m2"),
               Stat("m1", "a"), Stat("m2", "b")}));
  ASSERT_TRUE(out.ok()) << out.status();
  // Division by zero drops the point; m2 is missing (0) elsewhere.
  EXPECT_THAT(out->results[0].timestamps_ms,
              ElementsAre(kNow - kMin, kNow - 2 * kMin, kNow - 3 * kMin));
  EXPECT_THAT(out->results[0].values, ElementsAre(0, 100.0 * 10 / 11, 0));
}

TEST_F(MetricDataTest, StatisticsIncludeExtendedOnes) {
  Put("a", {{kNow - kMin + 1, 5}, {kNow - kMin + 2, 9}});
  auto out = GetMetricData(
      *engine_, clock_,
      Request({Stat("mx", "a", "Maximum"), Stat("n", "a", "SampleCount"),
               Stat("avg", "a", "Average"), Stat("p", "a", "p50")}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->results[0].values[0], 9);
  EXPECT_EQ(out->results[1].values[0], 3);
  EXPECT_EQ(out->results[2].values[0], 5);
  EXPECT_EQ(out->results[3].values[0], 5);
}

TEST_F(MetricDataTest, PagesByMaxDatapointsWithATokenForThisRequestOnly) {
  MetricDataRequest r =
      Request({Stat("m1", "a"), Stat("m2", "b"), Expr("e", "m1 * 2")});
  auto whole = GetMetricData(*engine_, clock_, r);
  ASSERT_TRUE(whole.ok());
  r.max_datapoints = 2;
  std::vector<std::vector<double>> joined(3);
  int pages = 0;
  while (true) {
    auto page = GetMetricData(*engine_, clock_, r);
    ASSERT_TRUE(page.ok()) << page.status();
    ++pages;
    int64_t n = 0;
    for (size_t i = 0; i < page->results.size(); ++i) {
      const auto& x = page->results[i];
      n += static_cast<int64_t>(x.values.size());
      joined[i].insert(joined[i].end(), x.values.begin(), x.values.end());
    }
    EXPECT_LE(n, 2);
    if (page->next_token.empty()) break;
    if (pages == 1) {
      EXPECT_EQ(page->results[0].status,
                MetricDataResult::StatusCode::kPartialData);
      // The token belongs to this request.
      MetricDataRequest other = r;
      other.end_ms -= kMin;
      other.next_token = page->next_token;
      EXPECT_THAT(Error(other).message(), HasSubstr("next_token"));
    }
    r.next_token = page->next_token;
  }
  EXPECT_EQ(pages, 4);  // 3 + 1 + 3 datapoints, two a page
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(joined[i], whole->results[i].values) << i;
  }
}

TEST_F(MetricDataTest, BadRequestsNameTheQueryAndField) {
  auto expect = [&](MetricDataRequest r, const std::string& text) {
    absl::Status s = Error(r);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(s.message(), HasSubstr(text));
  };
  expect(Request({}), "metric_data_queries: 1 to 500");
  expect(Request(std::vector<MetricDataQuery>(501, Stat("m", "a"))),
         "metric_data_queries: 1 to 500 queries, got 501");
  expect(Request({Stat("M1", "a")}), "metric_data_queries[0].id: 'M1'");
  expect(Request({Stat("m-1", "a")}), "metric_data_queries[0].id");
  expect(Request({Stat("m1", "a"), Stat("m1", "b")}),
         "metric_data_queries[1].id: 'm1' is also the id of query 0");
  MetricDataQuery both = Stat("m1", "a");
  both.expression = "1";
  expect(Request({both}), "metric_data_queries[0].metric_stat/expression");
  MetricDataQuery neither;
  neither.id = "x";
  expect(Request({neither}), "exactly one");
  MetricDataQuery period = Stat("m1", "a");
  period.metric_stat->period_ms = 90'000;
  expect(Request({period}), "metric_data_queries[0].metric_stat.period");
  expect(Request({Stat("m1", "a", "Median")}),
         "metric_data_queries[0].metric_stat.stat: 'Median'");
  expect(Request({Stat("m1", "a"), Expr("e", "m1 +* 2")}),
         "metric_data_queries[1].expression: column 5");
  expect(Request({Expr("e", "m1 * 2")}), "unknown id 'm1'");
  expect(Request({Stat("m1", "a"), Expr("e1", "e2 + m1"), Expr("e2", "e1")}),
         "refers back to itself");
  expect(Request({Expr("e", "e + 1")}), "its own id");
  expect(Request({Stat("m1", "a"), Expr("e", "SUM(m1)")}),
         "gives a number, not a time series");
  MetricDataRequest hidden = Request({Stat("m1", "a")});
  hidden.queries[0].return_data = false;
  expect(hidden, "return_data");
  MetricDataRequest token = Request({Stat("m1", "a")});
  token.next_token = "not-a-token";
  expect(token, "next_token");
  MetricDataRequest negative = Request({Stat("m1", "a")});
  negative.max_datapoints = -1;
  expect(negative, "max_datapoints");
  MetricDataRequest inverted = Request({Stat("m1", "a")});
  inverted.end_ms = inverted.start_ms;
  expect(inverted, "end_time");
  MetricDataRequest many = Request({Stat("m1", "a")});
  many.max_datapoints = 100'801;
  expect(many, "max_datapoints: must be 1 to 100800");
  // 400 metric queries and 100 expressions over 14 days at a minute could
  // compute 400 x 20,160 + 100 x 401 x 20,160 datapoints.
  std::vector<MetricDataQuery> big;
  for (int i = 0; i < 400; ++i)
    big.push_back(Stat("m" + std::to_string(i), "a"));
  for (int i = 0; i < 100; ++i) {
    big.push_back(Expr("e" + std::to_string(i), "FILL(METRICS(), 0)"));
  }
  MetricDataRequest huge = Request(big);
  huge.start_ms = kNow - 14 * 24 * 3600'000LL;
  expect(huge, "at most 25000000");
  // An expression with a coarse period still fills at its inputs' periods:
  // 240 metric queries at a minute over 70 days, and FILL(METRICS(), 0).
  std::vector<MetricDataQuery> coarse;
  for (int i = 0; i < 240; ++i) {
    coarse.push_back(Stat("m" + std::to_string(i), "a"));
  }
  coarse.push_back(Expr("f", "FILL(METRICS(), 0)"));
  coarse.back().period_ms = 70 * 24 * 3600'000LL;
  MetricDataRequest filled = Request(coarse);
  filled.start_ms = kNow - 70 * 24 * 3600'000LL;
  expect(filled, "at most 25000000");
  MetricDataRequest wide = Request({Stat("m1", "a")});
  wide.queries[0].metric_stat->period_ms = 1000;
  wide.start_ms = kNow - 2 * 3600'000;
  wide.end_ms = kNow + 27 * 3600'000;  // 29 h of 1-second periods
  expect(wide, "at most 100800");
}

}  // namespace
}  // namespace nimbus::engine
