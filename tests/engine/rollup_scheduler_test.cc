// engine::RollupScheduler through the engine: rollup records equal what the
// raw points give, after out-of-order and late points, and after a pass cut
// short; the watermark survives a restart.
#include "engine/rollup_scheduler.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "engine/rollup.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/keys.h"
#include "storage/store.h"

namespace nimbus::engine {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kHour = 3'600'000;
constexpr int64_t kT0 = 1'795'946'400'000;  // 2026-11-29 09:00 UTC, an hour

int64_t FloorTo(int64_t v, int64_t step) { return v / step * step; }

// What the raw points of one series give for one period.
struct Expected {
  double count = 0, sum = 0;
  double min = 1e300, max = -1e300;
  std::vector<std::pair<double, double>> values;  // value, weight
  bool percentiles_known = true;
};

class RollupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("rollup_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    options_.data_dir = dir_.string();
    options_.sweep_interval_ms = 0;
    options_.rollup_interval_ms = 0;  // the test runs passes
    options_.head_seal_points = 16;
    options_.background_sealing = false;
    options_.rollup.initial_lookback_ms = 0;  // start at the current hour
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

  static SeriesKey Key(const std::string& host) {
    SeriesKey k;
    k.namespace_name = "App";
    k.metric_name = "Latency";
    k.dimensions = {{"Host", host}};
    k.unit = "Milliseconds";
    return k;
  }

  // Writes samples and remembers them.
  void PutSamples(const std::string& host, const std::vector<Sample>& s) {
    std::vector<SeriesWrite> w = {{Key(host), s, {}}};
    ASSERT_TRUE(engine_->Write(w).ok());
    for (const Sample& x : s) raw_[host].push_back({x.ts_ms, x.value, 1, 0});
  }
  void PutSet(const std::string& host, const StatisticSet& st) {
    std::vector<SeriesWrite> w = {{Key(host), {}, {st}}};
    ASSERT_TRUE(engine_->Write(w).ok());
    raw_[host].push_back(
        {st.ts_ms, st.sum, st.sample_count, 1, st.minimum, st.maximum});
  }

  // Every rollup record of every tier, read from the store after closing
  // the engine, compared with what the raw points give.
  void ExpectRollupsEqualRaw(int64_t rolled_below) {
    engine_.reset();
    storage::StoreOptions so;
    so.path = dir_.string();
    const int64_t now = clock_.NowMs();
    so.now_ms = [now] { return now; };
    auto store = storage::Store::Open(so);
    ASSERT_TRUE(store.ok()) << store.status();
    int64_t records = 0;
    for (const auto& [host, points] : raw_) {
      auto id =
          (*store)->Get(storage::Column::kSeries, "k" + Key(host).Encode());
      ASSERT_TRUE(id.ok() && id->has_value());
      const uint64_t sid = storage::GetBigEndian64((*id)->data());
      for (int t = 0; t < 3; ++t) {
        const int64_t period = kTierPeriodsMs[t];
        std::map<int64_t, Expected> want;
        for (const RawPoint& p : points) {
          // Only periods wholly below the watermark are final.
          const int64_t start = FloorTo(p.ts, period);
          if (start + period > rolled_below) continue;
          Expected& e = want[start];
          e.count += p.count;
          e.sum += p.value;
          if (p.is_set) {
            e.min = std::min(e.min, p.min);
            e.max = std::max(e.max, p.max);
            if (p.min == p.max) {
              e.values.push_back({p.min, p.count});
            } else {
              e.percentiles_known = false;
            }
          } else {
            e.min = std::min(e.min, p.value);
            e.max = std::max(e.max, p.value);
            e.values.push_back({p.value, 1});
          }
        }
        std::map<int64_t, PeriodStatistics> got;
        auto it = (*store)->NewIterator(kTierColumns[t]);
        for (it->Seek(storage::EncodeRollupKey(sid, INT64_MIN)); it->Valid();
             it->Next()) {
          uint64_t id2;
          int64_t hour;
          ASSERT_TRUE(storage::DecodeRollupKey(it->key(), &id2, &hour));
          if (id2 != sid) break;
          EXPECT_EQ(hour % kHour, 0);
          absl::Status s =
              DecodeRollupBlock(it->value(), kTierSlots[t], true,
                                [&](int index, PeriodStatistics& r) {
                                  const int64_t start = hour + index * period;
                                  if (start + period <= rolled_below) {
                                    got.emplace(start, std::move(r));
                                  }
                                });
          ASSERT_TRUE(s.ok()) << s;
        }
        ASSERT_EQ(got.size(), want.size()) << host << " tier " << period;
        for (auto& [start, e] : want) {
          SCOPED_TRACE(testing::Message()
                       << host << " tier " << period << " period " << start);
          ASSERT_TRUE(got.count(start));
          const PeriodStatistics& g = got.at(start);
          // Integer values: sums are exact whatever the order.
          EXPECT_EQ(g.count, e.count);
          EXPECT_EQ(g.sum, e.sum);
          EXPECT_EQ(g.minimum, e.min);
          EXPECT_EQ(g.maximum, e.max);
          EXPECT_EQ(g.percentiles_known, e.percentiles_known);
          if (e.percentiles_known) {
            std::sort(e.values.begin(), e.values.end());
            for (double q : {0.5, 0.9, 0.99}) {
              double total = 0, cum = 0, exact = 0;
              for (auto& [v, w] : e.values) total += w;
              for (auto& [v, w] : e.values) {
                cum += w;
                if (cum >= q * total) {
                  exact = v;
                  break;
                }
              }
              EXPECT_NEAR(
                  g.sketch.Quantile(q), exact,
                  std::fabs(exact) * QuantileSketch::kRelativeAccuracy + 1e-9)
                  << "q " << q;
            }
          }
          ++records;
        }
      }
    }
    EXPECT_GT(records, 0);
  }

  // The rollup_dirty column: how many records, and how many (series, hour)
  // pairs they list in all. Closes the engine to read the store, then opens
  // it again.
  std::pair<int64_t, int64_t> DirtyRecordsAndPairs() {
    engine_.reset();
    int64_t records = 0, pairs = 0;
    {
      storage::StoreOptions so;
      so.path = dir_.string();
      auto store = storage::Store::Open(so);
      EXPECT_TRUE(store.ok()) << store.status();
      if (!store.ok()) return {-1, -1};
      auto it = (*store)->NewIterator(storage::Column::kRollupDirty);
      std::vector<DirtyHour> hours;
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        hours.clear();
        EXPECT_TRUE(DecodeDirtyRecord(it->value(), &hours).ok());
        ++records;
        pairs += static_cast<int64_t>(hours.size());
      }
    }
    Open();
    return {records, pairs};
  }

  // GetStatistics over [start, end) in one period against the raw points
  // written: count, sum, minimum and maximum exactly.
  void ExpectStatisticsExact(const std::string& host, int64_t start,
                             int64_t end) {
    Expected e;
    for (const RawPoint& p : raw_[host]) {
      if (p.ts < start || p.ts >= end) continue;
      e.count += p.count;
      e.sum += p.value;
      e.min = std::min(e.min, p.is_set ? p.min : p.value);
      e.max = std::max(e.max, p.is_set ? p.max : p.value);
    }
    StatisticsQuery q;
    q.key = Key(host);
    q.start_ms = start;
    q.end_ms = end;
    q.period_ms = end - start;
    auto r = engine_->GetStatistics(q);
    ASSERT_TRUE(r.ok()) << r.status();
    SCOPED_TRACE(testing::Message()
                 << host << " [" << start << ", " << end << ")");
    if (e.count == 0) {
      EXPECT_TRUE(r->empty());
      return;
    }
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ((*r)[0].sample_count, e.count);
    EXPECT_EQ((*r)[0].sum, e.sum);
    EXPECT_EQ((*r)[0].minimum, e.min);
    EXPECT_EQ((*r)[0].maximum, e.max);
  }

  struct RawPoint {
    int64_t ts;
    double value;  // the sum, for a set
    double count;
    bool is_set;
    double min = 0, max = 0;
  };

  std::filesystem::path dir_;
  ManualClock clock_{kT0};
  EngineOptions options_;
  std::unique_ptr<Engine> engine_;
  std::map<std::string, std::vector<RawPoint>> raw_;
};

TEST_F(RollupTest, RecordsOfEveryTierEqualTheRawPoints) {
  Open();
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> value(0, 5000);
  for (const std::string host : {"a", "b", "c"}) {
    std::vector<Sample> batch;
    for (int64_t ts = kT0; ts < kT0 + 3 * kHour; ts += 10'000) {
      batch.push_back({ts, double(value(rng))});
      if (host == "c") batch.push_back({ts, double(value(rng))});  // twice
      if (batch.size() == 50) {
        std::shuffle(batch.begin(), batch.end(), rng);
        PutSamples(host, batch);
        batch.clear();
      }
    }
    PutSamples(host, batch);
  }
  PutSet("b", {kT0 + 60'000, 4, 40, 10, 10});  // exact: four tens
  PutSet("a", {kT0 + 65'000, 3, 30, 5, 15});   // not exact
  clock_.Set(kT0 + 3 * kHour + 5 * 60'000);
  ASSERT_TRUE(engine_->RunRollups().ok());
  const EngineStats s = engine_->Stats();
  EXPECT_EQ(s.rollup_watermark_ms, kT0 + 3 * kHour);  // whole hours
  EXPECT_GE(s.rollups.raw_points_read, 4 * 1080);
  EXPECT_EQ(s.rollups.dirty_hours_redone, 0);
  ExpectRollupsEqualRaw(kT0 + 3 * kHour);
}

TEST_F(RollupTest, LateAndOutOfOrderPointsMakeTheirHourRolledUpAgain) {
  Open();
  for (int64_t ts = kT0; ts < kT0 + 2 * kHour; ts += 15'000) {
    PutSamples("a", {{ts, double(ts / 15'000 % 97)}});
  }
  clock_.Set(kT0 + 2 * kHour + 3 * 60'000);
  ASSERT_TRUE(engine_->RunRollups().ok());
  // Late: into rolled-up minutes of both hours, out of order, a new maximum,
  // a duplicate timestamp, a statistic set, and a series never seen before.
  PutSamples("a", {{kT0 + 90 * 60'000 + 7, 1000}, {kT0 + 5'000, -3}});
  PutSamples("a", {{kT0, 96}});
  PutSet("a", {kT0 + 61 * 60'000, 2, 20, 10, 10});
  PutSamples("z", {{kT0 + 30 * 60'000, 5}});
  EXPECT_EQ(engine_->Stats().rollups.dirty_hours_redone, 0);
  // a: hours 0 and 1, z: hour 0, each written in one dirty record: the
  // later commits into a's hours found them pending already.
  EXPECT_EQ(engine_->Stats().dirty_pairs_written, 3);
  ASSERT_TRUE(engine_->RunRollups().ok());
  EXPECT_EQ(engine_->Stats().rollups.dirty_hours_redone, 3);
  // Marks are deleted once handled: another pass redoes nothing.
  ASSERT_TRUE(engine_->RunRollups().ok());
  EXPECT_EQ(engine_->Stats().rollups.dirty_hours_redone, 3);
  ExpectRollupsEqualRaw(kT0 + 2 * kHour);
}

// One commit naming a late pair several times (a series in two runs, a
// series' sets in one hour) lists it once in its dirty record.
TEST_F(RollupTest, ACommitListsEachLatePairOnce) {
  Open();
  PutSamples("a", {{kT0 + 1'000, 1}});
  clock_.Set(kT0 + kHour + 5 * 60'000);
  ASSERT_TRUE(engine_->RunRollups().ok());
  ASSERT_EQ(engine_->Stats().rollup_watermark_ms, kT0 + kHour);
  std::vector<SeriesWrite> w = {
      {Key("a"), {{kT0 + 2'000, 2}, {kT0 + 3'000, 3}}, {}},
      {Key("b"), {}, {{kT0 + 4'000, 1, 1, 1, 1}, {kT0 + 5'000, 1, 2, 2, 2}}},
      {Key("a"), {{kT0 + 6'000, 6}}, {}},
      {Key("b"), {}, {{kT0 + 7'000, 1, 7, 7, 7}}}};
  ASSERT_TRUE(engine_->Write(w).ok());
  for (const Sample& x : w[0].samples)
    raw_["a"].push_back({x.ts_ms, x.value, 1, 0});
  for (const Sample& x : w[2].samples)
    raw_["a"].push_back({x.ts_ms, x.value, 1, 0});
  for (const auto* sets : {&w[1].statistic_sets, &w[3].statistic_sets}) {
    for (const StatisticSet& st : *sets) {
      raw_["b"].push_back(
          {st.ts_ms, st.sum, st.sample_count, 1, st.minimum, st.maximum});
    }
  }
  EXPECT_EQ(engine_->Stats().dirty_records_written, 1);
  EXPECT_EQ(engine_->Stats().dirty_pairs_written, 2);  // (a, h0), (b, h0)
  ExpectStatisticsExact("a", kT0, kT0 + kHour);
  ExpectStatisticsExact("b", kT0, kT0 + kHour);
  ASSERT_TRUE(engine_->RunRollups().ok());
  EXPECT_EQ(engine_->Stats().rollups.dirty_hours_redone, 2);
  ExpectRollupsEqualRaw(kT0 + kHour);
}

// A backfill: many commits of late points into the same few (series, hour)
// pairs. The dirty records list each pair about once between two passes,
// not once per commit (the bookkeeping grows with the pairs, not with the
// points or the commits), and the statistics stay exact throughout.
TEST_F(RollupTest, DirtyBookkeepingGrowsWithPairsNotCommits) {
  Open();
  for (const std::string host : {"a", "b", "c"}) {
    PutSamples(host, {{kT0 + 1'000, 1}, {kT0 + kHour + 1'000, 1}});
  }
  clock_.Set(kT0 + 2 * kHour + 5 * 60'000);
  ASSERT_TRUE(engine_->RunRollups().ok());
  ASSERT_EQ(engine_->Stats().rollup_watermark_ms, kT0 + 2 * kHour);
  // 100 commits, each with late points of 3 series in 2 hours.
  auto backfill = [&](int round) {
    for (int c = 0; c < 100; ++c) {
      for (const std::string host : {"a", "b", "c"}) {
        const int64_t ts = kT0 + 2'000 + round * 100'000 + c * 1'000;
        PutSamples(host, {{ts, double(c)}, {ts + kHour, double(c + round)}});
      }
      clock_.Advance(100);
    }
  };
  backfill(0);
  for (const std::string host : {"a", "b", "c"}) {
    ExpectStatisticsExact(host, kT0, kT0 + kHour);
    ExpectStatisticsExact(host, kT0 + kHour, kT0 + 2 * kHour);
  }
  // 300 commits with late points; 6 distinct pairs, in the records of the
  // first commit of each series.
  EXPECT_EQ(engine_->Stats().dirty_records_written, 3);
  EXPECT_EQ(engine_->Stats().dirty_pairs_written, 6);
  EXPECT_EQ(engine_->Stats().dirty_hours_pending, 6);
  auto [records, pairs] = DirtyRecordsAndPairs();
  EXPECT_EQ(records, 3);
  EXPECT_EQ(pairs, 6);
  ASSERT_TRUE(engine_->RunRollups().ok());
  backfill(1);
  EXPECT_EQ(engine_->Stats().dirty_pairs_written, 6);
  std::tie(records, pairs) = DirtyRecordsAndPairs();
  EXPECT_EQ(records, 3);
  EXPECT_EQ(pairs, 6) << "the pass deleted the first round's records";
  for (const std::string host : {"a", "b", "c"}) {
    ExpectStatisticsExact(host, kT0, kT0 + kHour);
    ExpectStatisticsExact(host, kT0 + kHour, kT0 + 2 * kHour);
  }
  ASSERT_TRUE(engine_->RunRollups().ok());
  std::tie(records, pairs) = DirtyRecordsAndPairs();
  EXPECT_EQ(pairs, 0);
  EXPECT_EQ(engine_->Stats().dirty_hours_pending, 0);
  for (const std::string host : {"a", "b", "c"}) {
    ExpectStatisticsExact(host, kT0, kT0 + kHour);
    ExpectStatisticsExact(host, kT0 + kHour, kT0 + 2 * kHour);
  }
  ExpectRollupsEqualRaw(kT0 + 2 * kHour);
}

// A pair that a backfill keeps touching is not redone by every pass: the
// background passes (RunRollups(false), as the rollup thread runs them)
// defer it while it is busy, queries read it raw with the right statistics
// meanwhile, and once it has been quiet for dirty_quiet_ms one pass redoes
// it. Its pair is written again once per pass interval, not per commit.
TEST_F(RollupTest, ABusyLateHourIsRedoneOnceItHasBeenQuiet) {
  options_.rollup.dirty_quiet_ms = 60'000;
  Open();
  PutSamples("a", {{kT0 + 1'000, 1}});
  clock_.Set(kT0 + kHour + 5 * 60'000);
  ASSERT_TRUE(engine_->RunRollups().ok());
  ASSERT_EQ(engine_->Stats().rollup_watermark_ms, kT0 + kHour);
  for (int i = 0; i < 10; ++i) {
    SCOPED_TRACE(i);
    for (int c = 0; c < 5; ++c) {  // five commits a pass interval
      PutSamples("a", {{kT0 + 2'000 + i * 10'000 + c, double(10 * i + c)}});
    }
    clock_.Advance(20'000);  // touched 20 s ago: busy
    ASSERT_TRUE(engine_->RunRollups(/*redo_busy_hours=*/false).ok());
    const EngineStats st = engine_->Stats();
    EXPECT_EQ(st.rollups.dirty_hours_redone, 0);
    EXPECT_EQ(st.rollups.dirty_hours_deferred, i + 1);
    EXPECT_EQ(st.dirty_hours_pending, 1);
    // Once per pass interval: the pass's retry record took the pair over,
    // so the next commit lists it again, and the four after it do not.
    EXPECT_EQ(st.dirty_pairs_written, i + 1);
    ExpectStatisticsExact("a", kT0, kT0 + kHour);
  }
  // 40 s since the last touch: still busy, though no commit touched it
  // since the last pass (which kept its touched time).
  clock_.Advance(20'000);
  ASSERT_TRUE(engine_->RunRollups(/*redo_busy_hours=*/false).ok());
  EXPECT_EQ(engine_->Stats().rollups.dirty_hours_redone, 0);
  EXPECT_EQ(engine_->Stats().rollups.dirty_hours_deferred, 11);
  ExpectStatisticsExact("a", kT0, kT0 + kHour);
  clock_.Advance(20'000);  // 60 s since the last touch
  ASSERT_TRUE(engine_->RunRollups(/*redo_busy_hours=*/false).ok());
  EXPECT_EQ(engine_->Stats().rollups.dirty_hours_redone, 1);
  EXPECT_EQ(engine_->Stats().rollups.dirty_hours_deferred, 11);
  EXPECT_EQ(engine_->Stats().dirty_hours_pending, 0);
  ExpectStatisticsExact("a", kT0, kT0 + kHour);  // from the blocks now
  ASSERT_TRUE(engine_->RunRollups(/*redo_busy_hours=*/false).ok());
  EXPECT_EQ(engine_->Stats().rollups.dirty_hours_redone, 1);  // done
  ExpectRollupsEqualRaw(kT0 + kHour);
}

// RunRollups() (for tests and tools) redoes busy hours too, and so does a
// background pass with dirty_quiet_ms 0.
TEST_F(RollupTest, RunRollupsRedoesBusyHours) {
  options_.rollup.dirty_quiet_ms = 60'000;
  Open();
  PutSamples("a", {{kT0 + 1'000, 1}});
  clock_.Set(kT0 + kHour + 5 * 60'000);
  ASSERT_TRUE(engine_->RunRollups().ok());
  PutSamples("a", {{kT0 + 2'000, 2}});
  ASSERT_TRUE(engine_->RunRollups().ok());
  EXPECT_EQ(engine_->Stats().rollups.dirty_hours_redone, 1);
  EXPECT_EQ(engine_->Stats().rollups.dirty_hours_deferred, 0);
  EXPECT_EQ(engine_->Stats().dirty_hours_pending, 0);

  options_.rollup.dirty_quiet_ms = 0;
  Open();
  PutSamples("a", {{kT0 + 3'000, 3}});
  ASSERT_TRUE(engine_->RunRollups(/*redo_busy_hours=*/false).ok());
  EXPECT_EQ(engine_->Stats().rollups.dirty_hours_redone, 1);
  EXPECT_EQ(engine_->Stats().dirty_hours_pending, 0);
  ExpectRollupsEqualRaw(kT0 + kHour);
}

TEST_F(RollupTest, RefusesAQuietTimeBeyondAnHour) {
  options_.rollup.dirty_quiet_ms = kHour + 1;
  auto e = Engine::Open(options_, clock_);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.status().message(), HasSubstr("dirty_quiet_ms"));
  options_.rollup.dirty_quiet_ms = -1;
  EXPECT_EQ(Engine::Open(options_, clock_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Restarts in the middle keep every pending pair: the one only a pass's
// retry record holds (deferred), one a commit's record holds, one whose
// later commits left it out of their records, and the pairs of a pass cut
// short after writing blocks. Reads are exact before and after each
// restart, and after the passes.
TEST_F(RollupTest, PendingPairsSurviveRestartsWhileDeferred) {
  options_.rollup.dirty_quiet_ms = 60'000;
  Open();
  for (const std::string host : {"a", "b", "c"}) {
    PutSamples(host, {{kT0 + 1'000, 1}});
  }
  clock_.Set(kT0 + kHour + 5 * 60'000);
  ASSERT_TRUE(engine_->RunRollups().ok());
  auto expect_all_exact = [&] {
    for (const std::string host : {"a", "b", "c"}) {
      ExpectStatisticsExact(host, kT0, kT0 + kHour);
    }
  };
  PutSamples("a", {{kT0 + 2'000, 20}});
  ASSERT_TRUE(engine_->RunRollups(/*redo_busy_hours=*/false).ok());
  ASSERT_EQ(engine_->Stats().rollups.dirty_hours_deferred, 1);
  // a: only in the retry record. b: a commit's record, then commits that
  // leave it out. c: a commit's record.
  PutSamples("b", {{kT0 + 3'000, 30}});
  PutSamples("b", {{kT0 + 4'000, 40}});
  PutSamples("b", {{kT0 + 5'000, 50}});
  PutSamples("c", {{kT0 + 6'000, 60}});
  EXPECT_EQ(engine_->Stats().dirty_pairs_written, 3);  // a, b, c once
  expect_all_exact();
  Open();
  EXPECT_EQ(engine_->Stats().dirty_hours_pending, 3);
  expect_all_exact();
  // A background pass right after the restart defers them all (their
  // history is not known: they count as touched at the open) ...
  ASSERT_TRUE(engine_->RunRollups(/*redo_busy_hours=*/false).ok());
  EXPECT_EQ(engine_->Stats().rollups.dirty_hours_redone, 0);
  EXPECT_EQ(engine_->Stats().rollups.dirty_hours_deferred, 3);
  EXPECT_EQ(engine_->Stats().dirty_hours_pending, 3);
  expect_all_exact();
  PutSamples("a", {{kT0 + 7'000, 70}});  // a: the retry and this record
  // A pass after the quiet time, cut short after writing the blocks of b
  // and c (a is busy again), leaves all three pending.
  int writes = 0;
  options_.rollup.after_write_for_testing = [&]() -> absl::Status {
    ++writes;
    return absl::AbortedError("crash after the first write");
  };
  Open();
  clock_.Advance(60'000);  // the restart counted all three as touched
  PutSamples("a", {{kT0 + 8'000, 80}});
  EXPECT_EQ(engine_->RunRollups(/*redo_busy_hours=*/false).code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(writes, 1);
  options_.rollup.after_write_for_testing = nullptr;
  Open();
  EXPECT_EQ(engine_->Stats().dirty_hours_pending, 3);
  expect_all_exact();
  clock_.Advance(60'000);
  ASSERT_TRUE(engine_->RunRollups(/*redo_busy_hours=*/false).ok());
  EXPECT_EQ(engine_->Stats().rollups.dirty_hours_redone, 3);
  EXPECT_EQ(engine_->Stats().dirty_hours_pending, 0);
  expect_all_exact();
  ExpectRollupsEqualRaw(kT0 + kHour);
}

// Late points that arrive while a pass runs (between its writes): into a
// pair the pass is redoing, into a pair it defers, and into a new pair.
// Each is either read by the pass or left pending for the next; a commit
// after the pass may leave out a pair that a commit during the pass
// recorded (the pass keeps that newer mark), and the next pass still
// counts its points. Statistics are exact throughout.
TEST_F(RollupTest, LatePointsDuringAPassAreNeitherLostNorCountedTwice) {
  options_.rollup.dirty_quiet_ms = 60'000;
  bool during = false;
  options_.rollup.after_write_for_testing = [&]() -> absl::Status {
    if (!during) return absl::OkStatus();
    during = false;
    PutSamples("quiet", {{kT0 + 10'000, 100}});
    PutSamples("busy", {{kT0 + 11'000, 110}});
    PutSamples("new", {{kT0 + 12'000, 120}});
    return absl::OkStatus();
  };
  Open();
  for (const std::string host : {"quiet", "busy", "new"}) {
    PutSamples(host, {{kT0 + 1'000, 1}});
  }
  clock_.Set(kT0 + kHour + 5 * 60'000);
  ASSERT_TRUE(engine_->RunRollups().ok());
  auto expect_all_exact = [&] {
    for (const std::string host : {"quiet", "busy", "new"}) {
      ExpectStatisticsExact(host, kT0, kT0 + kHour);
    }
  };
  PutSamples("quiet", {{kT0 + 2'000, 2}});
  clock_.Advance(61'000);
  PutSamples("busy", {{kT0 + 3'000, 3}});
  clock_.Advance(1'000);
  during = true;  // the pass redoes "quiet", defers "busy"
  ASSERT_TRUE(engine_->RunRollups(/*redo_busy_hours=*/false).ok());
  EXPECT_FALSE(during) << "the pass wrote no records";
  EXPECT_EQ(engine_->Stats().rollups.dirty_hours_redone, 1);
  EXPECT_EQ(engine_->Stats().rollups.dirty_hours_deferred, 1);
  EXPECT_EQ(engine_->Stats().dirty_hours_pending, 3);
  expect_all_exact();
  // The commits during the pass recorded all three pairs; these commits
  // find them pending in those records and leave them out.
  const int64_t written = engine_->Stats().dirty_pairs_written;
  PutSamples("quiet", {{kT0 + 13'000, 130}});
  PutSamples("busy", {{kT0 + 14'000, 140}});
  PutSamples("new", {{kT0 + 15'000, 150}});
  EXPECT_EQ(engine_->Stats().dirty_pairs_written, written);
  expect_all_exact();
  clock_.Advance(60'000);
  ASSERT_TRUE(engine_->RunRollups(/*redo_busy_hours=*/false).ok());
  EXPECT_EQ(engine_->Stats().rollups.dirty_hours_redone, 4);
  EXPECT_EQ(engine_->Stats().dirty_hours_pending, 0);
  expect_all_exact();
  ExpectRollupsEqualRaw(kT0 + kHour);
}

// Why a commit may leave out only pairs marked at or above the last pass
// boundary, not a pass's retry mark just below it: a pass that defers a
// pair writes it under boundary - 1, and the next pass can get the same
// boundary (no commit in between), so it takes that record without waiting
// for a commit that arrives while it runs. Such a commit must record the
// pair itself, or its points would be missing from the blocks the pass
// wrote once the pass cleared the mark.
TEST_F(RollupTest, ACommitDuringAPassOverARetriedHourRecordsItAgain) {
  options_.rollup.dirty_quiet_ms = 60'000;
  bool during = false;
  options_.rollup.after_write_for_testing = [&]() -> absl::Status {
    if (during) {
      during = false;
      PutSamples("a", {{kT0 + 30'000, 300}});
    }
    return absl::OkStatus();
  };
  Open();
  PutSamples("a", {{kT0 + 1'000, 1}});
  clock_.Set(kT0 + kHour + 5 * 60'000);
  ASSERT_TRUE(engine_->RunRollups().ok());
  PutSamples("a", {{kT0 + 2'000, 2}});
  ASSERT_TRUE(engine_->RunRollups(/*redo_busy_hours=*/false).ok());
  ASSERT_EQ(engine_->Stats().rollups.dirty_hours_deferred, 1);
  clock_.Advance(60'000);
  during = true;  // redoes the pair from its retry record
  ASSERT_TRUE(engine_->RunRollups(/*redo_busy_hours=*/false).ok());
  ASSERT_FALSE(during);
  EXPECT_EQ(engine_->Stats().dirty_hours_pending, 1);
  ExpectStatisticsExact("a", kT0, kT0 + kHour);
  ASSERT_TRUE(engine_->RunRollups().ok());
  ExpectStatisticsExact("a", kT0, kT0 + kHour);
  ExpectRollupsEqualRaw(kT0 + kHour);
}

TEST_F(RollupTest, APassCutShortIsDoneAgainWithoutCountingTwice) {
  int writes = 0;
  options_.rollup.after_write_for_testing = [&]() -> absl::Status {
    if (++writes == 1) return absl::AbortedError("crash after the first write");
    return absl::OkStatus();
  };
  Open();
  for (int64_t ts = kT0; ts < kT0 + kHour; ts += 10'000) {
    PutSamples("a", {{ts, 1}});
    PutSamples("b", {{ts, 2}});
  }
  clock_.Set(kT0 + kHour + 3 * 60'000);
  EXPECT_EQ(engine_->RunRollups().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(engine_->Stats().rollup_watermark_ms, kT0);  // not advanced
  // Late points arrive before the restart; the cut pass had raised the
  // commits' watermark, so they are marked.
  PutSamples("a", {{kT0 + 10 * 60'000, 7}});
  // "Restart" without the fault; the new pass recomputes every record.
  options_.rollup.after_write_for_testing = nullptr;
  Open();
  EXPECT_EQ(engine_->Stats().rollup_watermark_ms, kT0);
  ASSERT_TRUE(engine_->RunRollups().ok());
  EXPECT_EQ(engine_->Stats().rollup_watermark_ms, kT0 + kHour);
  ExpectRollupsEqualRaw(kT0 + kHour);
}

TEST_F(RollupTest, TheWatermarkSurvivesARestart) {
  Open();
  PutSamples("a", {{kT0 + 1'000, 1}});
  clock_.Set(kT0 + kHour + 60'000);  // the hour has not settled yet
  ASSERT_TRUE(engine_->RunRollups().ok());
  EXPECT_EQ(engine_->Stats().rollup_watermark_ms, kT0);
  clock_.Set(kT0 + kHour + 2 * 60'000);
  ASSERT_TRUE(engine_->RunRollups().ok());
  const int64_t w = engine_->Stats().rollup_watermark_ms;
  EXPECT_EQ(w, kT0 + kHour);
  Open();
  EXPECT_EQ(engine_->Stats().rollup_watermark_ms, w);
  // A point below the restored watermark is late, and rolled up again.
  PutSamples("a", {{kT0 + 2'000, 41}});
  ASSERT_TRUE(engine_->RunRollups().ok());
  EXPECT_EQ(engine_->Stats().rollups.dirty_hours_redone, 1);
  ExpectRollupsEqualRaw(w);
}

// A crash can come before the sweeper persists when a series was last
// written (here: never, the series is new and its points sealed, so nothing
// is replayed). The points must still be rolled up after the restart.
TEST_F(RollupTest, SeriesWrittenJustBeforeACrashAreRolledUp) {
  options_.head_seal_points = 1;  // sealed at once: the log has nothing
  Open();
  PutSamples("a", {{kT0 + 10'000, 4}, {kT0 + 20'000, 6}});
  clock_.Set(kT0 + 30 * 60'000);
  Open();  // no sweep ran: the engine closes as a crash would leave it
  clock_.Set(kT0 + kHour + 5 * 60'000);
  ASSERT_TRUE(engine_->RunRollups().ok());
  EXPECT_EQ(engine_->Stats().rollups.raw_points_read, 2);
  ExpectRollupsEqualRaw(kT0 + kHour);
}

// A series whose raw points cannot be read (a damaged chunk) must not stop
// the rollups of the others; its hours stay marked and are tried again.
TEST_F(RollupTest, ADamagedSeriesDoesNotStopTheOthers) {
  options_.head_seal_points = 4;
  Open();
  for (int i = 0; i < 8; ++i) {
    PutSamples("bad", {{kT0 + i * 1000, 1}});
    PutSamples("good", {{kT0 + i * 1000, 2}});
  }
  engine_.reset();
  {
    // Damage the first chunk of "bad" (series id 1).
    storage::StoreOptions so;
    so.path = dir_.string();
    auto store = storage::Store::Open(so);
    ASSERT_TRUE(store.ok());
    auto it = (*store)->NewIterator(storage::Column::kPoints);
    it->Seek(storage::ChunkKeyPrefix(1, INT64_MIN));
    ASSERT_TRUE(it->Valid());
    storage::WriteBatch b;
    b.Put(storage::Column::kPoints, it->key(), "not a chunk");
    ASSERT_TRUE((*store)->Write(b).ok());
  }
  Open();
  clock_.Set(kT0 + kHour + 5 * 60'000);
  ASSERT_TRUE(engine_->RunRollups().ok());
  EXPECT_EQ(engine_->Stats().rollup_watermark_ms, kT0 + kHour);
  EXPECT_EQ(engine_->Stats().rollups.series_failed, 1);
  ASSERT_TRUE(engine_->RunRollups().ok());  // tried again, fails again
  EXPECT_EQ(engine_->Stats().rollups.series_failed, 2);
  raw_.erase("bad");
  ExpectRollupsEqualRaw(kT0 + kHour);  // "good" is rolled up
}

// Damaged raw points hold back only the hours that read them (a chunk spans
// at most 2 hours, so hours 0-2 here); later hours of the same series are
// rolled up.
TEST_F(RollupTest, ADamagedChunkHoldsBackOnlyItsHours) {
  options_.head_seal_points = 30;
  Open();
  for (int64_t ts = kT0; ts < kT0 + 6 * kHour; ts += 60'000) {
    PutSamples("a", {{ts, 1}});
  }
  engine_.reset();
  {
    storage::StoreOptions so;
    so.path = dir_.string();
    auto store = storage::Store::Open(so);
    ASSERT_TRUE(store.ok());
    auto it = (*store)->NewIterator(storage::Column::kPoints);
    it->Seek(storage::ChunkKeyPrefix(1, INT64_MIN));
    ASSERT_TRUE(it->Valid());
    storage::WriteBatch b;
    b.Put(storage::Column::kPoints, it->key(), "not a chunk");
    ASSERT_TRUE((*store)->Write(b).ok());
  }
  Open();
  clock_.Set(kT0 + 6 * kHour + 5 * 60'000);
  ASSERT_TRUE(engine_->RunRollups().ok());
  EXPECT_EQ(engine_->Stats().rollups.series_failed, 1);
  auto& points = raw_["a"];
  points.erase(
      std::remove_if(points.begin(), points.end(),
                     [](const RawPoint& p) { return p.ts < kT0 + 3 * kHour; }),
      points.end());
  ExpectRollupsEqualRaw(kT0 + 6 * kHour);  // hours 3-5, and nothing else
}

// A late hour whose raw points may have expired is not rolled up again (it
// would replace a complete block with a partial one).
TEST_F(RollupTest, LateHoursBeyondTheRawRetentionAreNotRedone) {
  options_.raw_retention_ms = int64_t{14} * 24 * kHour + 3 * kHour;
  Open();
  PutSamples("a", {{kT0 + 1'000, 1}});
  clock_.Set(kT0 + 16 * 24 * kHour);
  ASSERT_TRUE(engine_->RunRollups().ok());
  PutSamples("a", {{kT0 + 2'000, 2}});  // 16 days late
  ASSERT_TRUE(engine_->RunRollups().ok());
  EXPECT_EQ(engine_->Stats().rollups.stale_marks_dropped, 1);
  EXPECT_EQ(engine_->Stats().rollups.dirty_hours_redone, 0);
}

TEST_F(RollupTest, RefusesAWatermarkThatIsNotAWholeHour) {
  Open();
  engine_.reset();
  {
    storage::StoreOptions so;
    so.path = dir_.string();
    auto store = storage::Store::Open(so);
    ASSERT_TRUE(store.ok());
    std::string w;
    storage::PutBigEndian64(&w, storage::OrderedFromSigned(kT0 - 1800'000));
    storage::WriteBatch b;
    b.Put(storage::Column::kMeta, "rollup_watermark", w);
    ASSERT_TRUE((*store)->Write(b).ok());
  }
  auto e = Engine::Open(options_, clock_);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(e.status().message(), HasSubstr("not a whole hour"));
}

// A late hour is read from raw points until a pass redoes it, across a
// restart too (the pending hours are rebuilt from the dirty records).
TEST_F(RollupTest, LateHoursStayReadRawAcrossARestart) {
  Open();
  PutSamples("a", {{kT0 + 1'000, 1}});
  clock_.Set(kT0 + kHour + 5 * 60'000);
  ASSERT_TRUE(engine_->RunRollups().ok());
  PutSamples("a", {{kT0 + 2'000, 5}});  // late
  Open();                               // no pass before the restart
  StatisticsQuery q;
  q.key = Key("a");
  q.start_ms = kT0;
  q.end_ms = kT0 + kHour;
  q.period_ms = kHour;  // served from rollup_3600, but for the late hour
  auto r = engine_->GetStatistics(q);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].sample_count, 2);
  EXPECT_EQ((*r)[0].sum, 6);
}

TEST_F(RollupTest, CatchingUpGoesInBoundedPasses) {
  options_.rollup.max_pass_ms = kHour;
  Open();
  PutSamples("a", {{kT0 + 1'000, 1}});
  clock_.Set(kT0 + 4 * kHour);
  PutSamples("a", {{kT0 + 4 * kHour + 1'000, 2}});
  clock_.Set(kT0 + 5 * kHour + 2 * 60'000);
  ASSERT_TRUE(engine_->RunRollups().ok());
  EXPECT_EQ(engine_->Stats().rollups.passes, 5);
  EXPECT_EQ(engine_->Stats().rollup_watermark_ms, kT0 + 5 * kHour);
  ExpectRollupsEqualRaw(kT0 + 5 * kHour);
}

}  // namespace
}  // namespace nimbus::engine
