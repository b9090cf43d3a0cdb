// The engine's recent windows (engine/recent_window.h): built from stored
// data (heads, sealed chunks, statistic sets), fed by commits, each point
// counted once also while the build races commits, units matched as
// queries match them, and ranges outside the window refused.
#include "engine/recent_window.h"

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/clock.h"
#include "engine/engine.h"
#include "gtest/gtest.h"

namespace nimbus::engine {
namespace {

constexpr int64_t kMinute = 60'000;
constexpr int64_t kT0 = 1796119200000;  // 2026-12-01 10:00:00 UTC

class RecentWindowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("recent_window_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    EngineOptions options;
    options.data_dir = dir_.string();
    options.sweep_interval_ms = 0;
    options.rollup_interval_ms = 0;
    options.background_sealing = false;
    auto e = Engine::Open(options, clock_);
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
  }
  void TearDown() override {
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }

  static SeriesKey Key(std::string unit = "Percent") {
    SeriesKey k;
    k.namespace_name = "App";
    k.metric_name = "CPU";
    k.dimensions = {{"Host", "a"}};
    k.unit = std::move(unit);
    return k;
  }

  void Put(const SeriesKey& key, std::vector<Sample> samples,
           std::vector<StatisticSet> sets = {}) {
    std::vector<SeriesWrite> w = {
        {key, std::move(samples), std::move(sets), {}}};
    ASSERT_TRUE(engine_->Write(w).ok());
  }

  // Sample counts and sums of n one-minute periods from start, read from
  // the window (which must cover them).
  std::vector<std::pair<double, double>> Window(uint64_t h, int64_t start,
                                                size_t n) {
    std::vector<WindowStats> stats;
    EXPECT_TRUE(engine_->ReadWatched(h, start, kMinute, n, &stats));
    std::vector<std::pair<double, double>> out;
    for (const WindowStats& s : stats) out.push_back({s.count, s.sum});
    return out;
  }
  // The same from GetStatistics.
  std::vector<std::pair<double, double>> Stored(const SeriesKey& key,
                                                int64_t start, size_t n) {
    StatisticsQuery q;
    q.key = key;
    q.start_ms = start;
    q.end_ms = start + static_cast<int64_t>(n) * kMinute;
    q.period_ms = kMinute;
    auto points = engine_->GetStatistics(q);
    EXPECT_TRUE(points.ok()) << points.status();
    std::vector<std::pair<double, double>> out(n, {0, 0});
    for (const StatisticsDatapoint& d : *points) {
      out[static_cast<size_t>((d.start_ms - start) / kMinute)] = {
          d.sample_count, d.sum};
    }
    return out;
  }

  std::filesystem::path dir_;
  ManualClock clock_{kT0 + 10 * kMinute};
  std::unique_ptr<Engine> engine_;
};

using Stats = std::vector<std::pair<double, double>>;

TEST_F(RecentWindowTest, BuildsFromHeadsChunksAndSetsThenFollowsCommits) {
  Put(Key(), {{kT0 + 5 * kMinute, 1}, {kT0 + 5 * kMinute + 1, 2}});
  ASSERT_TRUE(engine_->SealAllHeads().ok());  // into a chunk
  Put(Key(), {{kT0 + 6 * kMinute, 4}}, {{kT0 + 7 * kMinute, 3, 30, 5, 15}});
  auto h = engine_->WatchSeries(Key(), kMinute, 10 * kMinute);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(Window(*h, kT0 + 5 * kMinute, 4),
            (Stats{{2, 3}, {1, 4}, {3, 30}, {0, 0}}));
  // A commit after the build, a late point within the span, and one too
  // old for it: the window follows the first two.
  Put(Key(), {{kT0 + 8 * kMinute, 8},
              {kT0 + 6 * kMinute + 5, 6},
              {kT0 - 30 * kMinute, 99}});
  EXPECT_EQ(Window(*h, kT0 + 5 * kMinute, 4),
            (Stats{{2, 3}, {2, 10}, {3, 30}, {1, 8}}));
  EXPECT_EQ(Window(*h, kT0 + 5 * kMinute, 4),
            Stored(Key(), kT0 + 5 * kMinute, 4));
  // Older than the span: refused, the caller reads the store.
  std::vector<WindowStats> stats;
  EXPECT_FALSE(
      engine_->ReadWatched(*h, kT0 - 30 * kMinute, kMinute, 1, &stats));
  engine_->UnwatchSeries(*h);
  EXPECT_FALSE(engine_->ReadWatched(*h, kT0 + 5 * kMinute, kMinute, 1, &stats));
}

TEST_F(RecentWindowTest, TheWindowMovesWithTheClock) {
  auto h = engine_->WatchSeries(Key(), kMinute, 5 * kMinute);
  ASSERT_TRUE(h.ok());
  for (int m = 10; m < 30; ++m) {
    clock_.Set(kT0 + m * kMinute + 30'000);
    Put(Key(), {{kT0 + m * kMinute, static_cast<double>(m)}});
    EXPECT_EQ(Window(*h, kT0 + (m - 4) * kMinute, 5),
              Stored(Key(), kT0 + (m - 4) * kMinute, 5))
        << m;
  }
  std::vector<WindowStats> stats;
  EXPECT_FALSE(
      engine_->ReadWatched(*h, kT0 + 10 * kMinute, kMinute, 5, &stats));
}

TEST_F(RecentWindowTest, AClockThatStepsBackDoesNotReadRecycledBuckets) {
  auto h = engine_->WatchSeries(Key(), kMinute, 5 * kMinute);
  ASSERT_TRUE(h.ok());
  for (int m = 10; m < 20; ++m) {
    clock_.Set(kT0 + m * kMinute + 30'000);
    Put(Key(), {{kT0 + m * kMinute, 1.0}});
  }
  clock_.Set(kT0 + 12 * kMinute);  // back: minutes 10-12 are recycled
  std::vector<WindowStats> stats;
  EXPECT_FALSE(
      engine_->ReadWatched(*h, kT0 + 10 * kMinute, kMinute, 3, &stats));
  clock_.Set(kT0 + 20 * kMinute);
  EXPECT_EQ(Window(*h, kT0 + 16 * kMinute, 4),
            Stored(Key(), kT0 + 16 * kMinute, 4));
}

TEST_F(RecentWindowTest, ABuildThatCannotReadWatchesNothing) {
  Put(Key(), {{kT0 + 5 * kMinute, 1}});
  ASSERT_TRUE(engine_->SealAllHeads().ok());
  // Damage the series' chunk.
  std::unique_ptr<storage::StoreIterator> it =
      engine_->store().NewIterator(storage::Column::kPoints);
  it->SeekToFirst();
  ASSERT_TRUE(it->Valid());
  storage::WriteBatch b;
  b.Put(storage::Column::kPoints, it->key(), "garbage");
  it.reset();
  ASSERT_TRUE(engine_->store().Write(b).ok());
  auto h = engine_->WatchSeries(Key(), kMinute, 10 * kMinute);
  EXPECT_EQ(h.status().code(), absl::StatusCode::kDataLoss);
  // Nothing left behind: a new point is not fed anywhere, and a later
  // watch of another span builds its own window (and fails the same way).
  Put(Key(), {{kT0 + 6 * kMinute, 1}});
  EXPECT_FALSE(engine_->WatchSeries(Key(), kMinute, 11 * kMinute).ok());
}

TEST_F(RecentWindowTest, PointsAheadOfNowCountWhenTheirTimeComes) {
  auto h = engine_->WatchSeries(Key(), kMinute, 5 * kMinute);
  ASSERT_TRUE(h.ok());
  Put(Key(), {{kT0 + 70 * kMinute, 7}});  // an hour ahead
  clock_.Set(kT0 + 71 * kMinute);
  EXPECT_EQ(Window(*h, kT0 + 68 * kMinute, 3), (Stats{{0, 0}, {0, 0}, {1, 7}}));
}

// A client whose clock runs ten minutes fast: its window keeps the buckets
// still within its reach, not one more for every minute that passes.
TEST_F(RecentWindowTest, PointsAlwaysAheadKeepOnlyTheBucketsStillAhead) {
  auto h = engine_->WatchSeries(Key(), kMinute, 5 * kMinute);
  ASSERT_TRUE(h.ok());
  const size_t ring = engine_->WindowBuckets();
  for (int m = 10; m < 70; ++m) {
    clock_.Set(kT0 + m * kMinute);
    Put(Key(), {{kT0 + (m + 10) * kMinute, 1.0}});
    // Reads leave the buckets as they are.
    EXPECT_EQ(Window(*h, kT0 + (m - 4) * kMinute, 5),
              Stored(Key(), kT0 + (m - 4) * kMinute, 5));
  }
  // The ring, the ten buckets ahead, and those that came ahead and are now
  // within the ring's reach (read from where they wait): 60 otherwise.
  EXPECT_LE(engine_->WindowBuckets(), 2 * ring + 10);
}

TEST_F(RecentWindowTest, AnEmptyUnitWatchesEveryUnitAndNewSeries) {
  Put(Key("Percent"), {{kT0 + 5 * kMinute, 1}});
  auto h = engine_->WatchSeries(Key(""), kMinute, 10 * kMinute);
  ASSERT_TRUE(h.ok());
  auto exact = engine_->WatchSeries(Key("Count"), kMinute, 10 * kMinute);
  ASSERT_TRUE(exact.ok());
  Put(Key("Count"), {{kT0 + 5 * kMinute, 10}});  // a series created now
  EXPECT_EQ(Window(*h, kT0 + 5 * kMinute, 1), (Stats{{2, 11}}));
  EXPECT_EQ(Window(*h, kT0 + 5 * kMinute, 1),
            Stored(Key(""), kT0 + 5 * kMinute, 1));
  EXPECT_EQ(Window(*exact, kT0 + 5 * kMinute, 1), (Stats{{1, 10}}));
}

TEST_F(RecentWindowTest, SharedWindowsLastUntilTheirLastWatch) {
  auto a = engine_->WatchSeries(Key(), kMinute, 10 * kMinute);
  auto b = engine_->WatchSeries(Key(), kMinute, 10 * kMinute);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  Put(Key(), {{kT0 + 9 * kMinute, 5}});
  engine_->UnwatchSeries(*a);
  EXPECT_EQ(Window(*b, kT0 + 9 * kMinute, 1), (Stats{{1, 5}}));
}

TEST_F(RecentWindowTest, WindowsOfOneKeyOutliveEachOther) {
  // Two windows of one key (other spans), on a unit not written yet: the
  // first, whose bytes the key index views, goes; a series created after
  // still reaches the second.
  auto first = engine_->WatchSeries(Key(""), kMinute, 10 * kMinute);
  auto second = engine_->WatchSeries(Key(""), kMinute, 20 * kMinute);
  auto third = engine_->WatchSeries(Key(""), kMinute, 30 * kMinute);
  ASSERT_TRUE(first.ok() && second.ok() && third.ok());
  engine_->UnwatchSeries(*first);
  Put(Key("Count"), {{kT0 + 9 * kMinute, 4}});  // a new series
  EXPECT_EQ(Window(*second, kT0 + 9 * kMinute, 1), (Stats{{1, 4}}));
  engine_->UnwatchSeries(*second);
  Put(Key("Bytes"), {{kT0 + 9 * kMinute, 6}});  // another
  EXPECT_EQ(Window(*third, kT0 + 9 * kMinute, 1), (Stats{{2, 10}}));
  std::vector<WindowStats> stats;
  EXPECT_FALSE(
      engine_->ReadWatched(*first, kT0 + 9 * kMinute, kMinute, 1, &stats));
}

TEST_F(RecentWindowTest, SubMinuteBucketsSumIntoPeriods) {
  auto h = engine_->WatchSeries(Key(), 10'000, 2 * kMinute);
  ASSERT_TRUE(h.ok());
  for (int i = 0; i < 6; ++i) {
    Put(Key(), {{kT0 + 9 * kMinute + i * 10'000, static_cast<double>(i)}});
  }
  std::vector<WindowStats> stats;
  ASSERT_TRUE(engine_->ReadWatched(*h, kT0 + 9 * kMinute, 20'000, 3, &stats));
  EXPECT_EQ(stats[0].sum, 1);
  EXPECT_EQ(stats[1].sum, 5);
  EXPECT_EQ(stats[2].sum, 9);
  EXPECT_EQ(stats[2].minimum, 4);
  EXPECT_EQ(stats[2].maximum, 5);
  // Not aligned to the bucket: refused.
  EXPECT_FALSE(
      engine_->ReadWatched(*h, kT0 + 9 * kMinute + 5, 20'000, 1, &stats));
}

// A batch answers each of its reads as a read of its own would: covered
// ones with the same statistics, back to back; refused ones (an unknown
// handle, a start older than the span or not on a bucket) refused.
TEST_F(RecentWindowTest, ABatchOfReadsAnswersEachAsAReadAlone) {
  SeriesKey other = Key();
  other.dimensions = {{"Host", "b"}};
  auto minute = engine_->WatchSeries(Key(), kMinute, 5 * kMinute);
  auto tens = engine_->WatchSeries(other, 10'000, 2 * kMinute);
  ASSERT_TRUE(minute.ok() && tens.ok());
  for (int i = 0; i < 30; ++i) {
    Put(Key(), {{kT0 + 6 * kMinute + i * 10'000, static_cast<double>(i)}});
    Put(other, {{kT0 + 8 * kMinute + i * 4'000, static_cast<double>(2 * i)}});
  }
  Put(other, {{kT0 + 40 * kMinute, 7}});  // far ahead of now
  const std::vector<WindowRead> reads = {
      {*minute, kT0 + 6 * kMinute, kMinute, 4},
      {*tens, kT0 + 8 * kMinute, 20'000, 6},
      {*minute + *tens + 1, kT0 + 6 * kMinute, kMinute, 2},  // unknown
      {*minute, kT0 - 30 * kMinute, kMinute, 3},             // too old
      {*tens, kT0 + 9 * kMinute + 5, 10'000, 2},             // not on a bucket
      {*tens, kT0 + 9 * kMinute, 10'000, 3},
  };
  std::vector<WindowStats> many;
  std::vector<bool> answered;
  engine_->ReadWatchedMany(reads, &many, &answered);
  ASSERT_EQ(answered.size(), reads.size());
  size_t periods = 0;
  for (const WindowRead& r : reads) periods += r.periods;
  ASSERT_EQ(many.size(), periods);
  size_t at = 0;
  int covered = 0;
  for (size_t i = 0; i < reads.size(); ++i) {
    const WindowRead& r = reads[i];
    std::vector<WindowStats> alone;
    const bool ok = engine_->ReadWatched(r.handle, r.start_ms, r.period_ms,
                                         r.periods, &alone);
    EXPECT_EQ(answered[i], ok) << i;
    if (ok) {
      ++covered;
      for (size_t k = 0; k < r.periods; ++k) {
        EXPECT_EQ(many[at + k].count, alone[k].count) << i << " " << k;
        EXPECT_EQ(many[at + k].sum, alone[k].sum) << i << " " << k;
        EXPECT_EQ(many[at + k].minimum, alone[k].minimum) << i << " " << k;
        EXPECT_EQ(many[at + k].maximum, alone[k].maximum) << i << " " << k;
      }
    }
    at += r.periods;
  }
  EXPECT_EQ(covered, 3);
  // What the first read says is what is stored.
  Stats first;
  for (size_t k = 0; k < 4; ++k) first.push_back({many[k].count, many[k].sum});
  EXPECT_EQ(first, Stored(Key(), kT0 + 6 * kMinute, 4));
  // Later, the point that was ahead is counted in a batch too.
  clock_.Set(kT0 + 41 * kMinute);
  engine_->ReadWatchedMany({{*tens, kT0 + 40 * kMinute, 10'000, 1}}, &many,
                           &answered);
  ASSERT_TRUE(answered[0]);
  EXPECT_EQ(many[0].sum, 7);
}

TEST_F(RecentWindowTest, EachPointCountsOnceWhileBuildsRaceCommits) {
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      Put(Key(), {{kT0 + 5 * kMinute + (i % 60'000), 1.0}},
          i % 7 == 0
              ? std::vector<StatisticSet>{{kT0 + 6 * kMinute, 2, 2, 1, 1}}
              : std::vector<StatisticSet>{});
      written.fetch_add(1);
    }
  });
  while (written.load() < 50) std::this_thread::yield();
  std::vector<uint64_t> handles;
  for (int k = 0; k < 40; ++k) {
    // Different spans: a new window, built while the writer commits.
    auto h = engine_->WatchSeries(Key(), kMinute, (10 + k) * kMinute);
    ASSERT_TRUE(h.ok());
    handles.push_back(*h);
  }
  const int during = written.load();
  stop.store(true);
  writer.join();
  // Commits went on while the windows were built.
  ASSERT_GT(written.load(), during) << "no commit raced the builds";
  const Stats stored = Stored(Key(), kT0 + 5 * kMinute, 2);
  for (uint64_t h : handles) {
    EXPECT_EQ(Window(h, kT0 + 5 * kMinute, 2), stored);
  }
}

}  // namespace
}  // namespace nimbus::engine
