#include "engine/engine.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/chunk_codec.h"
#include "storage/store.h"
#include "tools/shapes.h"

namespace nimbus::engine {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kNow = 1'795'950'000'000;  // 2026-11-29

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("engine_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    options_.data_dir = dir_.string();
    options_.sweep_interval_ms = 0;   // tests drive sealing
    options_.rollup_interval_ms = 0;  // and rollups
    options_.head_seal_points = 8;
    options_.background_sealing = false;  // seal inside the commit
  }
  void TearDown() override {
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Open() {
    engine_.reset();
    auto e = Engine::Open(options_, clock_);
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
  }

  static SeriesKey Key(const std::string& metric, const std::string& host,
                       const std::string& unit = "None") {
    SeriesKey k;
    k.namespace_name = "Test";
    k.metric_name = metric;
    k.dimensions = {{"Host", host}};
    k.unit = unit;
    return k;
  }

  // Closes the engine and returns the point count of every chunk, in key
  // order.
  std::vector<size_t> ChunkSizes() {
    engine_.reset();
    std::vector<size_t> sizes;
    auto store = storage::Store::Open({dir_.string()});
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return sizes;
    auto it = (*store)->NewIterator(storage::Column::kPoints);
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      sizes.push_back(storage::ReadChunkHeader(it->value())->point_count);
    }
    return sizes;
  }

  void Put(const SeriesKey& key, std::vector<Sample> samples) {
    std::vector<SeriesWrite> w = {{key, std::move(samples), {}}};
    ASSERT_TRUE(engine_->Write(w).ok());
  }

  std::vector<StatisticsDatapoint> Stats(const SeriesKey& key, int64_t start,
                                         int64_t end, int64_t period,
                                         std::vector<double> pct = {}) {
    StatisticsQuery q;
    q.key = key;
    q.start_ms = start;
    q.end_ms = end;
    q.period_ms = period;
    q.percentiles = std::move(pct);
    auto r = engine_->GetStatistics(q);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : std::vector<StatisticsDatapoint>{};
  }

  std::filesystem::path dir_;
  ManualClock clock_{kNow};
  EngineOptions options_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineTest, ReadsBackExactStatisticsPerPeriod) {
  Open();
  const SeriesKey k = Key("Latency", "a");
  Put(k, {{kNow - 120'000, 1},
          {kNow - 110'000, 3},
          {kNow - 60'000, 10},
          {kNow - 59'000, 20},
          {kNow - 58'000, 30}});
  const auto dps = Stats(k, kNow - 120'000, kNow, 60'000, {50, 100});
  ASSERT_EQ(dps.size(), 2u);
  EXPECT_EQ(dps[0].start_ms, kNow - 120'000);
  EXPECT_EQ(dps[0].sample_count, 2);
  EXPECT_EQ(dps[0].sum, 4);
  EXPECT_EQ(dps[0].minimum, 1);
  EXPECT_EQ(dps[0].maximum, 3);
  EXPECT_EQ(dps[0].percentiles, (std::vector<double>{1, 3}));
  EXPECT_EQ(dps[1].start_ms, kNow - 60'000);
  EXPECT_EQ(dps[1].sample_count, 3);
  EXPECT_EQ(dps[1].sum, 60);
  EXPECT_EQ(dps[1].percentiles, (std::vector<double>{20, 30}));
  EXPECT_EQ(dps[1].unit, "None");
}

TEST_F(EngineTest, StartIsInclusiveAndEndExclusive) {
  Open();
  const SeriesKey k = Key("M", "a");
  Put(k, {{kNow - 60'000, 1}, {kNow, 2}});
  const auto dps = Stats(k, kNow - 60'000, kNow, 60'000);
  ASSERT_EQ(dps.size(), 1u);
  EXPECT_EQ(dps[0].sample_count, 1);
  EXPECT_EQ(dps[0].sum, 1);
}

TEST_F(EngineTest, SealsFullHeadsIntoChunksAndStillReadsEverything) {
  Open();
  const SeriesKey k = Key("M", "a");
  // 8-point heads: 100 points seal 12 times, leaving 4 in the head.
  for (int i = 0; i < 100; ++i)
    Put(k, {{kNow - 100'000 + i * 1000, double(i)}});
  const EngineStats s = engine_->Stats();
  EXPECT_EQ(s.chunks_sealed, 12);
  EXPECT_EQ(s.head_points, 4);
  EXPECT_EQ(s.points_accepted, 100);
  const auto dps = Stats(k, kNow - 200'000, kNow, 200'000);
  ASSERT_EQ(dps.size(), 1u);
  EXPECT_EQ(dps[0].sample_count, 100);
  EXPECT_EQ(dps[0].sum, 99 * 100 / 2);
}

TEST_F(EngineTest, KeepsLateAndOutOfOrderPointsAndDuplicates) {
  Open();
  const SeriesKey k = Key("M", "a");
  Put(k, {{kNow - 1000, 5},
          {kNow - 5000, 1},
          {kNow - 1000, 5},
          {kNow - 13LL * 24 * 3600 * 1000, 7}});
  for (int i = 0; i < 20; ++i) Put(k, {{kNow - 3000, 2}});  // forces seals
  const auto recent = Stats(k, kNow - 10'000, kNow, 10'000);
  ASSERT_EQ(recent.size(), 1u);
  EXPECT_EQ(recent[0].sample_count, 23);
  EXPECT_EQ(recent[0].sum, 5 + 1 + 5 + 40);
  const auto late =
      Stats(k, kNow - 14LL * 24 * 3600 * 1000, kNow - 10'000, 24 * 3600 * 1000);
  double total = 0;
  for (const auto& d : late) total += d.sample_count;
  EXPECT_EQ(total, 1);
}

TEST_F(EngineTest, RestartRecoversHeadsFromTheLogAndSealedChunks) {
  Open();
  const SeriesKey a = Key("M", "a"), b = Key("M", "b");
  for (int i = 0; i < 21; ++i) {
    Put(a, {{kNow - 60'000 + i * 1000, double(i)}});
    Put(b, {{kNow - 60'000 + i * 1000, 1}});
  }
  Open();  // closes and reopens: 5 points of each series come from the log
  EXPECT_EQ(engine_->Stats().series_count, 2);
  EXPECT_EQ(engine_->Stats().head_points, 10);
  const auto da = Stats(a, kNow - 60'000, kNow, 60'000);
  ASSERT_EQ(da.size(), 1u);
  EXPECT_EQ(da[0].sample_count, 21);
  EXPECT_EQ(da[0].sum, 20 * 21 / 2);
  // New writes after the restart go on from where the log stopped.
  Put(a, {{kNow - 1, 100}});
  Open();
  const auto again = Stats(a, kNow - 60'000, kNow, 60'000);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].sample_count, 22);
}

TEST_F(EngineTest, AgedHeadsAreSealedAndTheLogTrimmed) {
  options_.head_seal_points = 1000;
  options_.head_max_age_ms = 60'000;
  Open();
  const SeriesKey k = Key("M", "a");
  Put(k, {{kNow - 1000, 1}, {kNow - 500, 2}});
  EXPECT_EQ(engine_->Stats().head_points, 2);
  ASSERT_TRUE(engine_->SealAgedHeads().ok());
  EXPECT_EQ(engine_->Stats().head_points, 2) << "not old enough yet";
  clock_.Advance(61'000);
  ASSERT_TRUE(engine_->SealAgedHeads().ok());
  EXPECT_EQ(engine_->Stats().head_points, 0);
  EXPECT_EQ(engine_->Stats().chunks_sealed, 1);
  Open();  // nothing to replay: the points are in a chunk, once
  EXPECT_EQ(engine_->Stats().head_points, 0);
  const auto dps = Stats(k, kNow - 10'000, kNow, 10'000);
  ASSERT_EQ(dps.size(), 1u);
  EXPECT_EQ(dps[0].sample_count, 2);
}

TEST_F(EngineTest, LogSequencesKeepRisingAfterTheLogIsTrimmedEmpty) {
  options_.head_seal_points = 1000;
  options_.head_max_age_ms = 60'000;
  Open();
  const SeriesKey k = Key("M", "a");
  Put(k, {{kNow - 1000, 1}, {kNow - 900, 2}});
  clock_.Advance(61'000);
  ASSERT_TRUE(engine_->SealAgedHeads().ok());  // sealed, log trimmed empty
  Open();
  Put(k, {{kNow - 800, 3}});  // must not reuse a sealed sequence
  Open();                     // ... or the replay would skip it
  const auto dps = Stats(k, kNow - 10'000, kNow, 10'000);
  ASSERT_EQ(dps.size(), 1u);
  EXPECT_EQ(dps[0].sample_count, 3);
  EXPECT_EQ(dps[0].sum, 6);
}

TEST_F(EngineTest,
       StatisticSetsCountTowardStatisticsAndExactOnesTowardPercentiles) {
  Open();
  const SeriesKey k = Key("M", "a");
  std::vector<SeriesWrite> w = {
      {k,
       {{kNow - 5000, 100}},
       {{kNow - 4000, 10, 50, 1, 9}, {kNow - 3000, 3, 6, 2, 2}}}};
  ASSERT_TRUE(engine_->Write(w).ok());
  const auto dps = Stats(k, kNow - 10'000, kNow, 10'000, {0, 100});
  ASSERT_EQ(dps.size(), 1u);
  EXPECT_EQ(dps[0].sample_count, 14);
  EXPECT_EQ(dps[0].sum, 156);
  EXPECT_EQ(dps[0].minimum, 1);
  EXPECT_EQ(dps[0].maximum, 100);
  // The inexact set {10 samples, 1..9} leaves the period without
  // percentiles, as in CloudWatch.
  ASSERT_EQ(dps[0].percentiles.size(), 2u);
  EXPECT_TRUE(std::isnan(dps[0].percentiles[0]));
  EXPECT_TRUE(std::isnan(dps[0].percentiles[1]));
  // Without it, the exact set {2, 2, 2} alone makes them.
  const auto later = Stats(k, kNow - 3500, kNow, 10'000, {0, 100});
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].sample_count, 3);
  EXPECT_EQ(later[0].percentiles, (std::vector<double>{2, 2}));
}

TEST_F(EngineTest, ExactStatisticSetsWeighPercentilesByTheirCount) {
  Open();
  const SeriesKey k = Key("M", "a");
  // A billion samples of 5 weigh a billion, without a billion copies, and a
  // fractional count is a fractional weight.
  std::vector<SeriesWrite> w = {
      {k,
       {{kNow - 5000, 100}},
       {{kNow - 4000, 1e9, 5e9, 5, 5}, {kNow - 3000, 0.5, 3.5, 7, 7}}}};
  ASSERT_TRUE(engine_->Write(w).ok());
  const auto dps = Stats(k, kNow - 10'000, kNow, 10'000, {0, 50, 100});
  ASSERT_EQ(dps.size(), 1u);
  EXPECT_EQ(dps[0].sample_count, 1e9 + 1.5);
  EXPECT_EQ(dps[0].percentiles, (std::vector<double>{5, 5, 100}));
}

TEST_F(EngineTest, UnitsAreSeparateSeriesAndAnEmptyUnitReadsAll) {
  Open();
  Put(Key("M", "a", "Seconds"), {{kNow - 1000, 1}});
  Put(Key("M", "a", "Milliseconds"), {{kNow - 1000, 1000}});
  EXPECT_EQ(engine_->Stats().series_count, 2);
  EXPECT_EQ(Stats(Key("M", "a", "Seconds"), kNow - 10'000, kNow, 10'000)[0].sum,
            1);
  SeriesKey any = Key("M", "a");
  any.unit.clear();
  const auto all = Stats(any, kNow - 10'000, kNow, 10'000);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].sample_count, 2);
  EXPECT_EQ(all[0].unit, "None");  // mixed units
}

TEST_F(EngineTest, ListsSeriesWithFiltersAndPages) {
  Open();
  for (int i = 0; i < 7; ++i) {
    Put(Key("CPU", "h" + std::to_string(i)), {{kNow - 1000, 1}});
  }
  SeriesKey other = Key("Mem", "h0");
  other.dimensions.push_back({"Zone", "z1"});
  Put(other, {{kNow - 1000, 1}});

  ListQuery q;
  q.namespace_name = "Test";
  q.page_size = 3;
  std::vector<std::string> seen;
  for (int page = 0; page < 10; ++page) {
    auto r = engine_->ListSeries(q);
    ASSERT_TRUE(r.ok()) << r.status();
    for (const auto& k : r->series) seen.push_back(k.DebugString());
    if (r->next_token.empty()) break;
    q.next_token = r->next_token;
  }
  EXPECT_EQ(seen.size(), 8u);

  ListQuery f;
  f.dimensions = {{"Zone", std::nullopt}};
  auto r = engine_->ListSeries(f);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->series.size(), 1u);
  EXPECT_EQ(r->series[0].metric_name, "Mem");

  f.dimensions = {{"Host", std::string("h3")}};
  r = engine_->ListSeries(f);
  ASSERT_EQ(r->series.size(), 1u);
  EXPECT_EQ(r->series[0].dimensions[0].value, "h3");

  ListQuery active;
  active.recently_active = true;
  clock_.Advance(3LL * 3600 * 1000 + 1);
  Put(Key("CPU", "h0"), {{clock_.NowMs() - 1000, 1}});
  r = engine_->ListSeries(active);
  ASSERT_EQ(r->series.size(), 1u);

  ListQuery bad;
  bad.next_token = "not base64!";
  EXPECT_EQ(engine_->ListSeries(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EngineTest, RecentlyActiveCoversStatisticSetsAndSurvivesRestart) {
  options_.head_seal_points = 1;  // sealed at once: nothing left to replay
  Open();
  std::vector<SeriesWrite> w = {
      {Key("Sets", "a"), {}, {{kNow - 1000, 2, 2, 1, 1}}},
      {Key("Raw", "a"), {{kNow - 1000, 1}}, {}}};
  ASSERT_TRUE(engine_->Write(w).ok());
  ListQuery active;
  active.recently_active = true;
  EXPECT_EQ(engine_->ListSeries(active)->series.size(), 2u);
  ASSERT_TRUE(engine_->SealAgedHeads().ok());  // the sweep persists it
  Open();
  EXPECT_EQ(engine_->ListSeries(active)->series.size(), 2u);
  clock_.Advance(3LL * 3600 * 1000 + 1);
  EXPECT_EQ(engine_->ListSeries(active)->series.size(), 0u);
}

// Reads skip the statistic-set family for series that never had a set; a
// restart must find out again which series have some.
TEST_F(EngineTest, StatisticSetsAreReadAfterARestart) {
  Open();
  std::vector<SeriesWrite> w = {
      {Key("Mixed", "a"), {{kNow - 2000, 1}}, {{kNow - 1000, 3, 12, 2, 6}}},
      {Key("Mixed", "b"), {{kNow - 2000, 5}}, {}}};
  ASSERT_TRUE(engine_->Write(w).ok());
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "before the restart" : "after it");
    auto a = Stats(Key("Mixed", "a"), kNow - 60'000, kNow, 60'000);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].sample_count, 4);
    EXPECT_EQ(a[0].sum, 13);
    EXPECT_EQ(a[0].maximum, 6);
    auto b = Stats(Key("Mixed", "b"), kNow - 60'000, kNow, 60'000);
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(b[0].sample_count, 1);
    Open();
  }
}

TEST_F(EngineTest, ConcurrentWritersCreatingTheSameSeriesGetOneId) {
  Open();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::vector<SeriesWrite> w = {
            {Key("M", "shared"), {{kNow - 1000, 1}}, {}},
            {Key("M", "t" + std::to_string(t) + "_" + std::to_string(i % 20)),
             {{kNow - 1000, 1}},
             {}}};
        ASSERT_TRUE(engine_->Write(w).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(engine_->Stats().series_count, 1 + 4 * 20);
  const auto dps = Stats(Key("M", "shared"), kNow - 10'000, kNow, 10'000);
  ASSERT_EQ(dps.size(), 1u);
  EXPECT_EQ(dps[0].sample_count, 800);
  Open();
  EXPECT_EQ(engine_->Stats().series_count, 1 + 4 * 20);
  EXPECT_EQ(
      Stats(Key("M", "shared"), kNow - 10'000, kNow, 10'000)[0].sample_count,
      800);
}

// A seal that merges the series' run of chunks deletes them, writes their
// merge and its own chunk, then trims the head; a query that runs in between
// (parts gone, head not trimmed yet) must neither wait for the seal nor
// count points twice or lose them (engine/head_store.h).
TEST_F(EngineTest,
       AQueryBetweenASealsWriteAndItsHeadTrimRunsAndSeesEachPointOnce) {
  const SeriesKey k = Key("M", "a");
  std::thread query;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  bool finished_inside = false;
  double seen = -1;
  int seals = 0;
  options_.after_seal_write_for_testing = [&] {
    if (++seals != 9) return;  // the ninth seal merges the first eight
    query = std::thread([&] {
      const auto dps = Stats(k, kNow - 100'000, kNow, 100'000);
      std::lock_guard<std::mutex> l(mu);
      seen = dps.empty() ? 0 : dps[0].sample_count;
      done = true;
      cv.notify_one();
    });
    // A bound, not a pause: the query finishes in microseconds unless it
    // waits for the seal.
    std::unique_lock<std::mutex> l(mu);
    finished_inside =
        cv.wait_for(l, std::chrono::seconds(30), [&] { return done; });
  };
  Open();
  for (int i = 0; i < 72; ++i)
    Put(k, {{kNow - 50'000 + i, 1}});  // seals at 8, 16, ..., 72
  ASSERT_TRUE(query.joinable());
  query.join();
  EXPECT_EQ(seals, 9);
  EXPECT_EQ(engine_->Stats().chunks_merged, 1);
  EXPECT_TRUE(finished_inside);
  EXPECT_EQ(seen, 72);
  EXPECT_EQ(Stats(k, kNow - 100'000, kNow, 100'000)[0].sample_count, 72);
}

// Small seals write small chunks, each point once; a series' run of them is
// merged into one when it reaches 8 chunks, when the next seal would not fit
// in 720 points, and when the series goes quiet, so chunks settle near the
// size the codec packs best.
TEST_F(EngineTest, SmallSealsAreMergedIntoChunksOf720Points) {
  Open();
  const SeriesKey k = Key("M", "a");
  for (int i = 0; i < 1000; ++i) {  // 8-point heads: 125 seals
    Put(k, {{kNow - 3'600'000 + i * 1000, double(i % 7)}});
  }
  EXPECT_EQ(Stats(k, kNow - 3'600'000, kNow, 3'600'000)[0].sample_count, 1000);
  EXPECT_EQ(engine_->Stats().chunks_sealed, 125);
  // Merges at seals 9, 16, ..., 86 (each run of 8 chunks, 12 of them), at
  // seal 91 (720 points: 728 would not fit), then at 99, 106, 113 and 120.
  EXPECT_EQ(engine_->Stats().chunks_merged, 17);
  ASSERT_TRUE(engine_->SealAllHeads().ok());  // merges the quiet run
  EXPECT_EQ(engine_->Stats().chunks_merged, 18);
  EXPECT_EQ(Stats(k, kNow - 3'600'000, kNow, 3'600'000)[0].sample_count, 1000);
  // 720 points (2 hours at 10 s would fit; here 1 s apart, the 720-point cap
  // binds), then the rest.
  EXPECT_EQ(ChunkSizes(), (std::vector<size_t>{720, 280}));
}

// The sealer remembers each series' run of chunks; after a restart it reads
// the run back from the store, and late points (older than the run) get a
// chunk of their own: either way the run's chunks merge into one.
TEST_F(EngineTest, RunsMergeAcrossARestartAndLatePoints) {
  Open();
  const SeriesKey k = Key("M", "a");
  const int64_t t0 = kNow - 3'600'000;
  int next = 0;
  auto put = [&](int n) {
    for (int i = 0; i < n; ++i, ++next) {
      Put(k, {{t0 + next * 1000, double(next % 5)}});
    }
  };
  put(400);  // 8-point heads: 50 seals, merged every 8 chunks
  Open();    // forgets the run
  put(200);
  for (int i = 0; i < 8; ++i) Put(k, {{t0 - 100'000 + i, 1}});  // late
  put(120);  // 600 + 120: the newest chunk, full
  ASSERT_TRUE(engine_->SealAllHeads().ok());
  EXPECT_EQ(Stats(k, t0 - 200'000, kNow, 3'800'000)[0].sample_count, 728);
  EXPECT_EQ(ChunkSizes(), (std::vector<size_t>{8, 720}));
}

// A series that went quiet before a restart has a run the new process does
// not know: the first sweep that finds it quiet reads it back and merges it.
TEST_F(EngineTest, AQuietSeriesRunIsMergedAfterARestart) {
  Open();
  const SeriesKey k = Key("M", "a"), other = Key("M", "b");
  for (int i = 0; i < 24; ++i) Put(k, {{kNow - 600'000 + i * 1000, 1}});
  Put(other, {{kNow - 600'000, 1}});
  Open();  // three 8-point chunks; the run is forgotten
  ASSERT_TRUE(engine_->SealAllHeads().ok());
  EXPECT_EQ(engine_->Stats().chunks_merged, 1);
  EXPECT_EQ(Stats(k, kNow - 600'000, kNow, 600'000)[0].sample_count, 24);
  EXPECT_EQ(ChunkSizes(), (std::vector<size_t>{24, 1}));
}

TEST_F(EngineTest, QueriesSeeEveryPointOnceWhileTheSealerRuns) {
  options_.background_sealing = true;
  options_.head_seal_points = 16;
  Open();
  const SeriesKey k = Key("M", "a");
  constexpr int kBatches = 400, kPerBatch = 7;
  std::atomic<int64_t> acked{0};
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int b = 0; b < kBatches; ++b) {
      std::vector<Sample> s;
      for (int i = 0; i < kPerBatch; ++i) s.push_back({kNow - 100'000 + b, 1});
      Put(k, s);
      acked += kPerBatch;
    }
    done = true;
  });
  int queries = 0;
  while (!done.load()) {
    const int64_t before = acked.load();
    const auto dps = Stats(k, kNow - 200'000, kNow, 200'000);
    const double seen = dps.empty() ? 0 : dps[0].sample_count;
    const int64_t after = acked.load();
    // Never a point lost between head and chunk, nor counted in both; one
    // batch may be applied but not yet acknowledged.
    ASSERT_GE(seen, before);
    ASSERT_LE(seen, after + kPerBatch);
    ++queries;
  }
  writer.join();
  EXPECT_GT(queries, 0);
  const auto dps = Stats(k, kNow - 200'000, kNow, 200'000);
  ASSERT_EQ(dps.size(), 1u);
  EXPECT_EQ(dps[0].sample_count, kBatches * kPerBatch);
  Open();  // and after a restart, replaying whatever was not sealed
  EXPECT_EQ(Stats(k, kNow - 200'000, kNow, 200'000)[0].sample_count,
            kBatches * kPerBatch);
}

// Stress: writers, the background sealer and a sweeper that seals every
// non-empty head every millisecond race for the same few series. Every
// acknowledged point must be counted once, live and after a restart.
TEST_F(EngineTest, SealerAndSweeperRacingKeepEveryPoint) {
  options_.background_sealing = true;
  options_.head_seal_points = 4;
  options_.head_max_age_ms = 0;  // every head counts as aged
  options_.sweep_interval_ms = 1;
  Open();
  constexpr int kSeries = 3, kThreads = 4, kPerThread = 3000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        Put(Key("M", std::to_string(i % kSeries)), {{kNow - 1000 - i, 1}});
      }
    });
  }
  for (auto& t : threads) t.join();
  auto count = [&] {
    double total = 0;
    for (int s = 0; s < kSeries; ++s) {
      for (const auto& d : Stats(Key("M", std::to_string(s)), kNow - 3600'000,
                                 kNow, 3600'000)) {
        total += d.sample_count;
      }
    }
    return total;
  };
  EXPECT_EQ(count(), kThreads * kPerThread);
  // One point more, in a head of its own: too few for the sealer (4), so
  // only the sweeper seals it. Every head counts as aged, so the sweeper
  // seals whatever is in memory within a few sweeps: wait for that
  // (bounded), and the points are all still there, from chunks alone.
  Put(Key("M", "tail"), {{kNow - 1, 1}});
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (engine_->Stats().head_points != 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(engine_->Stats().head_points, 0)
      << "the sweeper left points in memory 60 s after the last write";
  EXPECT_EQ(engine_->Stats().points_accepted, kThreads * kPerThread + 1);
  EXPECT_EQ(count(), kThreads * kPerThread);
  EXPECT_EQ(
      Stats(Key("M", "tail"), kNow - 60'000, kNow, 60'000)[0].sample_count, 1);
  options_.sweep_interval_ms = 0;
  Open();
  EXPECT_EQ(count(), kThreads * kPerThread);
}

TEST_F(EngineTest, AHeadOfMoreThanAChunksPointsSealsIntoSeveralChunks) {
  options_.head_seal_points = 1000;
  options_.head_max_age_ms = 60'000;
  Open();
  const SeriesKey big = Key("M", "big"), small = Key("M", "small");
  std::vector<Sample> same_time(40'000, Sample{kNow - 1000, 1});
  Put(big, same_time);  // 40,000 points at one timestamp
  Put(small, {{kNow - 1000, 2}});
  clock_.Advance(61'000);
  ASSERT_TRUE(engine_->SealAgedHeads().ok());
  EXPECT_EQ(engine_->Stats().head_points, 0);
  EXPECT_EQ(engine_->Stats().chunks_sealed, 3 + 1);  // 16384 + 16384 + 7232
  EXPECT_EQ(Stats(big, kNow - 10'000, kNow, 10'000)[0].sample_count, 40'000);
  EXPECT_EQ(Stats(small, kNow - 10'000, kNow, 10'000)[0].sample_count, 1);
}

// Retention itself is tested in tests/storage/store_test.cc; here, that raw
// points cannot be configured to expire before a late point's hour can be
// rolled up again.
TEST_F(EngineTest, RefusesARawRetentionShorterThanTheLateWindow) {
  options_.raw_retention_ms = int64_t{14} * 24 * 3600'000;
  options_.data_dir = dir_.string();
  auto e = Engine::Open(options_, clock_);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.status().message(), HasSubstr("14 days + 3 hours"));
  options_.raw_retention_ms += 3 * 3600'000;
  Open();
}

// Extreme times are refused before any arithmetic on them.
TEST_F(EngineTest, RejectsTimesBeyondTheQueryRange) {
  Open();
  StatisticsQuery q;
  q.key = Key("M", "a");
  q.start_ms = std::numeric_limits<int64_t>::min();
  q.end_ms = std::numeric_limits<int64_t>::max();
  q.period_ms = 60'000;
  auto r = engine_->GetStatistics(q);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("2^53"));
  q.start_ms = 0;
  q.end_ms = int64_t{1} << 53;  // the largest accepted
  EXPECT_TRUE(engine_->GetStatistics(q).ok());
}

TEST_F(EngineTest, RejectsAnInvertedRangeAndABadPeriod) {
  Open();
  StatisticsQuery q;
  q.key = Key("M", "a");
  q.start_ms = kNow;
  q.end_ms = kNow;
  q.period_ms = 60'000;
  auto r = engine_->GetStatistics(q);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("end_time"));
  q.end_ms = kNow + 1;
  q.period_ms = 0;
  EXPECT_THAT(engine_->GetStatistics(q).status().message(),
              HasSubstr("period"));
}

}  // namespace
}  // namespace nimbus::engine
