// Every engine write-error path, through a store that fails or holds chosen
// writes (storage/fault_injection_store.h): what a failed write must not
// acknowledge, what must stay readable, what is retried and counted, and
// which readers must not wait behind a write.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/sealer.h"
#include "engine/sweeper.h"
#include "gtest/gtest.h"
#include "storage/fault_injection_store.h"
#include "storage/keys.h"
#include "storage/store.h"

namespace nimbus::engine {
namespace {

using storage::Column;

constexpr int64_t kNow = 1'795'950'000'000;  // 2026-11-29 (a ManualClock)
// Bounds on waits for something another thread must do; a healthy run
// takes milliseconds.
constexpr absl::Duration kBound = absl::Seconds(30);

class EngineFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("engine_faults_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    options_.data_dir = dir_.string();
    options_.sweep_interval_ms = 0;
    options_.rollup_interval_ms = 0;
    options_.head_seal_points = 8;
    options_.background_sealing = false;
    options_.wrap_store_for_testing =
        [this](std::unique_ptr<storage::Store> base) {
          auto f =
              std::make_unique<storage::FaultInjectionStore>(std::move(base));
          faults_ = f.get();
          return std::unique_ptr<storage::Store>(std::move(f));
        };
  }
  void TearDown() override {
    if (faults_ != nullptr) faults_->ReleaseHeld();
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Open() {
    engine_.reset();
    faults_ = nullptr;
    auto e = Engine::Open(options_, clock_);
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
    ASSERT_NE(faults_, nullptr);
  }

  static SeriesKey Key(const std::string& host) {
    SeriesKey k;
    k.namespace_name = "Test";
    k.metric_name = "M";
    k.dimensions = {{"Host", host}};
    k.unit = "None";
    return k;
  }

  absl::Status Put(const SeriesKey& key, std::vector<Sample> samples) {
    std::vector<SeriesWrite> w = {{key, std::move(samples), {}}};
    return engine_->Write(w);
  }

  // Points of `key` in the hour before kNow (count, sum).
  std::pair<double, double> CountAndSum(const SeriesKey& key) {
    StatisticsQuery q;
    q.key = key;
    q.start_ms = kNow - 3'600'000;
    q.end_ms = kNow + 1;
    q.period_ms = q.end_ms - q.start_ms;
    auto r = engine_->GetStatistics(q);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok() || r->empty()) return {0, 0};
    return {(*r)[0].sample_count, (*r)[0].sum};
  }

  // `seals` heads of 8 points (one chunk each), 1 s apart from `first`.
  void PutInSeals(const SeriesKey& key, int seals, int64_t first,
                  double value) {
    for (int i = 0; i < seals; ++i) {
      ASSERT_TRUE(Put(key, Points(8, first + i * 8000, value)).ok());
    }
  }

  static std::vector<Sample> Points(int n, int64_t first, double value = 1) {
    std::vector<Sample> s;
    for (int i = 0; i < n; ++i) s.push_back({first + i * 1000, value});
    return s;
  }

  std::filesystem::path dir_;
  ManualClock clock_{kNow};
  EngineOptions options_;
  std::unique_ptr<Engine> engine_;
  storage::FaultInjectionStore* faults_ = nullptr;
};

TEST_F(EngineFaultsTest, AFailedCommitWriteAcknowledgesNothing) {
  Open();
  const SeriesKey k = Key("a");
  ASSERT_TRUE(Put(k, Points(3, kNow - 60'000)).ok());
  faults_->FailWrites(Column::kIngestLog, 1, absl::UnavailableError("disk"));
  const absl::Status failed = Put(k, Points(4, kNow - 30'000, 10));
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable) << failed;
  EXPECT_EQ(CountAndSum(k), std::make_pair(3.0, 3.0));
  EXPECT_EQ(engine_->Stats().points_accepted, 3);
  EXPECT_EQ(engine_->Stats().head_points, 3);
  // The next write goes through, and a restart finds exactly what was
  // acknowledged.
  ASSERT_TRUE(Put(k, Points(2, kNow - 10'000, 5)).ok());
  Open();
  EXPECT_EQ(CountAndSum(k), std::make_pair(5.0, 13.0));
}

// WriteAsync reports each outcome once, to its callback: a failed series
// creation before anything is queued, a failed commit, a success; one
// writer serves each next write once the last one called back.
TEST_F(EngineFaultsTest, AnAsyncWriteReportsItsOutcomeToItsCallback) {
  Open();
  const std::string key = Key("a").Encode();
  const std::vector<Sample> points = Points(3, kNow - 60'000, 2);
  IngestBatch batch;
  batch.runs.resize(1);
  batch.runs[0].key = key;
  batch.runs[0].samples = points.data();
  batch.runs[0].sample_count = points.size();
  CommitWriter w;
  std::vector<absl::Status> got;
  auto write = [&] {
    engine_->WriteAsync(batch, &w, [&](absl::Status s) { got.push_back(s); });
  };
  faults_->FailWrites(Column::kSeries, 1, absl::UnavailableError("disk"));
  write();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].code(), absl::StatusCode::kUnavailable) << got[0];
  EXPECT_EQ(engine_->Stats().series_count, 0);
  faults_->FailWrites(Column::kIngestLog, 1, absl::UnavailableError("disk"));
  write();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].code(), absl::StatusCode::kUnavailable) << got[1];
  EXPECT_EQ(CountAndSum(Key("a")), std::make_pair(0.0, 0.0));
  write();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_TRUE(got[2].ok()) << got[2];
  EXPECT_EQ(CountAndSum(Key("a")), std::make_pair(3.0, 6.0));
  // Nothing to write: answered at once.
  batch.runs[0].sample_count = 0;
  write();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_TRUE(got[3].ok()) << got[3];
  Open();
  EXPECT_EQ(CountAndSum(Key("a")), std::make_pair(3.0, 6.0));
}

TEST_F(EngineFaultsTest, AFailedSeriesCreationCreatesNothingAndCanBeRetried) {
  Open();
  ASSERT_TRUE(Put(Key("a"), Points(1, kNow - 60'000)).ok());
  faults_->FailWrites(Column::kSeries, 1, absl::UnavailableError("disk"));
  EXPECT_FALSE(Put(Key("b"), Points(1, kNow - 60'000)).ok());
  EXPECT_EQ(engine_->Stats().series_count, 1);
  ASSERT_TRUE(Put(Key("b"), Points(2, kNow - 60'000, 7)).ok());
  ASSERT_TRUE(Put(Key("c"), Points(1, kNow - 60'000, 9)).ok());
  Open();
  EXPECT_EQ(engine_->Stats().series_count, 3);
  EXPECT_EQ(CountAndSum(Key("a")), std::make_pair(1.0, 1.0));
  EXPECT_EQ(CountAndSum(Key("b")), std::make_pair(2.0, 14.0));
  EXPECT_EQ(CountAndSum(Key("c")), std::make_pair(1.0, 9.0));
}

TEST_F(EngineFaultsTest, AFailedSealKeepsThePointsAndIsRetriedAndCounted) {
  Open();
  const SeriesKey k = Key("a");
  faults_->FailWrites(Column::kPoints, 1, absl::UnavailableError("disk"));
  // The eighth point fills the head; its seal (inside the commit here)
  // fails, but the commit itself was durable and is acknowledged.
  ASSERT_TRUE(Put(k, Points(8, kNow - 60'000, 2)).ok());
  EXPECT_EQ(faults_->failed_writes(), 1);
  EXPECT_EQ(engine_->Stats().seal_failures, 1);
  EXPECT_EQ(engine_->Stats().head_points, 8);
  EXPECT_EQ(engine_->Stats().chunks_sealed, 0);
  EXPECT_EQ(CountAndSum(k), std::make_pair(8.0, 16.0));
  // The next point finds the head still full and seals it.
  ASSERT_TRUE(Put(k, Points(1, kNow - 40'000, 2)).ok());
  EXPECT_EQ(engine_->Stats().head_points, 0);
  EXPECT_EQ(engine_->Stats().chunks_sealed, 1);
  EXPECT_EQ(CountAndSum(k), std::make_pair(9.0, 18.0));
  Open();
  EXPECT_EQ(CountAndSum(k), std::make_pair(9.0, 18.0));
}

// A seal of many heads goes in store writes of kSealBatch series, so that a
// commit never waits behind one large write; a failed write keeps its
// batch's points in the heads (the next write to one of its series queues
// it again) and the other batches are sealed.
TEST_F(EngineFaultsTest, ManyHeadsAreSealedInBatchesThatFailAlone) {
  int seal_writes = 0;
  options_.after_seal_write_for_testing = [&] { ++seal_writes; };
  Open();
  const int n = static_cast<int>(2 * kSealBatch) + 44;
  std::vector<SeriesWrite> w;
  for (int i = 0; i < n; ++i) {
    w.push_back(
        {Key(absl::StrCat("h", i)), Points(8, kNow - 60'000, 1), {}, {}});
  }
  faults_->FailWrites(Column::kPoints, 1, absl::UnavailableError("disk"));
  // All n heads fill in this one commit and are sealed together.
  ASSERT_TRUE(engine_->Write(w).ok());
  EXPECT_EQ(faults_->failed_writes(), 1);
  EXPECT_EQ(seal_writes, 2);
  EXPECT_EQ(engine_->Stats().seal_failures, 1);
  EXPECT_EQ(engine_->Stats().chunks_sealed, n - static_cast<int>(kSealBatch));
  EXPECT_EQ(engine_->Stats().head_points, 8 * static_cast<int>(kSealBatch));
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(CountAndSum(Key(absl::StrCat("h", i))), std::make_pair(8.0, 8.0))
        << i;
  }
  // One more point for every series: the failed batch's heads are full and
  // sealed now; the others hold the new point.
  for (auto& x : w) x.samples = {{kNow - 30'000, 2}};
  ASSERT_TRUE(engine_->Write(w).ok());
  EXPECT_EQ(engine_->Stats().seal_failures, 1);
  EXPECT_EQ(engine_->Stats().chunks_sealed, n);
  EXPECT_EQ(engine_->Stats().head_points, n - static_cast<int>(kSealBatch));
  Open();
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(CountAndSum(Key(absl::StrCat("h", i))), std::make_pair(9.0, 10.0))
        << i;
  }
}

// The points chunks of every series, in key order.
std::vector<std::string> ChunkKeys(storage::Store& store) {
  std::vector<std::string> keys;
  auto it = store.NewIterator(Column::kPoints);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    keys.emplace_back(it->key());
  }
  EXPECT_TRUE(it->status().ok()) << it->status();
  return keys;
}

TEST_F(EngineFaultsTest, ASealWhoseMergeFailsKeepsEverythingAndMergesNextTime) {
  Open();
  const SeriesKey k = Key("a");
  // 8-point heads: 8 seals make a run of 8 chunks.
  PutInSeals(k, 8, kNow - 600'000, 1);
  ASSERT_EQ(ChunkKeys(*faults_).size(), 8u);
  // The ninth seal merges the run first, in the same write, which fails.
  faults_->FailWrites(Column::kPoints, 1, absl::UnavailableError("disk"));
  ASSERT_TRUE(Put(k, Points(8, kNow - 500'000, 3)).ok());
  EXPECT_EQ(engine_->Stats().seal_failures, 1);
  EXPECT_EQ(engine_->Stats().chunks_merged, 0);
  EXPECT_EQ(engine_->Stats().head_points, 8);
  EXPECT_EQ(ChunkKeys(*faults_).size(), 8u);
  EXPECT_EQ(CountAndSum(k), std::make_pair(72.0, 88.0));
  // The next point seals again: the run merged, then the head's chunk.
  ASSERT_TRUE(Put(k, Points(1, kNow - 400'000, 5)).ok());
  EXPECT_EQ(engine_->Stats().chunks_merged, 1);
  EXPECT_EQ(engine_->Stats().head_points, 0);
  EXPECT_EQ(ChunkKeys(*faults_).size(), 2u);
  EXPECT_EQ(CountAndSum(k), std::make_pair(73.0, 93.0));
  Open();
  EXPECT_EQ(CountAndSum(k), std::make_pair(73.0, 93.0));
}

TEST_F(EngineFaultsTest, AFailedQuietMergeIsCountedAndDoneByTheNextSweep) {
  Open();
  const SeriesKey k = Key("a");
  PutInSeals(k, 3, kNow - 600'000, 2);
  ASSERT_EQ(ChunkKeys(*faults_).size(), 3u);
  faults_->FailWrites(Column::kPoints, 1, absl::UnavailableError("disk"));
  // The sweep goes on past the failed merge: it still trims the log.
  EXPECT_TRUE(engine_->SealAllHeads().ok());
  EXPECT_EQ(faults_->failed_writes(), 1);
  EXPECT_EQ(engine_->Stats().seal_failures, 1);
  EXPECT_EQ(engine_->Stats().chunks_merged, 0);
  EXPECT_EQ(ChunkKeys(*faults_).size(), 3u);
  EXPECT_EQ(CountAndSum(k), std::make_pair(24.0, 48.0));
  ASSERT_TRUE(engine_->SealAllHeads().ok());
  EXPECT_EQ(engine_->Stats().chunks_merged, 1);
  EXPECT_EQ(ChunkKeys(*faults_).size(), 1u);
  EXPECT_EQ(CountAndSum(k), std::make_pair(24.0, 48.0));
}

TEST_F(EngineFaultsTest, AChunkThatDoesNotDecodeIsNeverMergedAway) {
  Open();
  const SeriesKey bad = Key("bad"), good = Key("good");
  PutInSeals(bad, 3, kNow - 600'000, 2);
  PutInSeals(good, 3, kNow - 600'000, 2);
  std::vector<std::string> keys = ChunkKeys(*faults_);
  ASSERT_EQ(keys.size(), 6u);  // bad's first (its id is lower)
  storage::WriteBatch damage;
  damage.Put(Column::kPoints, keys[1], "not a chunk");
  ASSERT_TRUE(faults_->Write(damage).ok());
  ASSERT_TRUE(engine_->SealAllHeads().ok());
  // Logged and counted; the damaged series keeps its three chunks, the
  // other merges.
  EXPECT_EQ(engine_->Stats().seal_failures, 1);
  EXPECT_EQ(engine_->Stats().chunks_merged, 1);
  keys = ChunkKeys(*faults_);
  ASSERT_EQ(keys.size(), 4u);
  auto v = faults_->Get(Column::kPoints, keys[1]);
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ(**v, "not a chunk");
  EXPECT_EQ(CountAndSum(good), std::make_pair(24.0, 48.0));
}

TEST_F(EngineFaultsTest, AFailedAgedSealIsCountedAndTheLogKeepsThePoints) {
  Open();
  const SeriesKey k = Key("a");
  ASSERT_TRUE(Put(k, Points(3, kNow - 60'000, 4)).ok());
  faults_->FailWrites(Column::kPoints, 1, absl::UnavailableError("disk"));
  EXPECT_FALSE(engine_->SealAllHeads().ok());
  EXPECT_EQ(engine_->Stats().seal_failures, 1);
  EXPECT_EQ(engine_->Stats().head_points, 3);
  // Nothing was trimmed from the log: a restart replays the points.
  Open();
  EXPECT_EQ(engine_->Stats().head_points, 3);
  EXPECT_EQ(CountAndSum(k), std::make_pair(3.0, 12.0));
  ASSERT_TRUE(engine_->SealAllHeads().ok());
  EXPECT_EQ(engine_->Stats().head_points, 0);
  EXPECT_EQ(CountAndSum(k), std::make_pair(3.0, 12.0));
}

TEST_F(EngineFaultsTest, AFailedLogTrimIsCountedAndDoneByTheNextSweep) {
  Open();
  const SeriesKey k = Key("a");
  ASSERT_TRUE(Put(k, Points(3, kNow - 60'000, 4)).ok());
  // The seal succeeds; the trim (and last-write) write fails.
  faults_->FailWrites(Column::kIngestLog, 1, absl::UnavailableError("disk"));
  EXPECT_FALSE(engine_->SealAllHeads().ok());
  EXPECT_EQ(engine_->Stats().sweep_failures, 1);
  EXPECT_EQ(engine_->Stats().head_points, 0);
  EXPECT_EQ(CountAndSum(k), std::make_pair(3.0, 12.0));
  ASSERT_TRUE(engine_->SealAllHeads().ok());
  // The last-write time was persisted by the retry, not lost with the
  // failed write: ListMetrics' recently-active filter finds the series
  // after a restart.
  Open();
  ListQuery lq;
  lq.recently_active = true;
  auto listed = engine_->ListSeries(lq);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->series.size(), 1u);
  EXPECT_EQ(CountAndSum(k), std::make_pair(3.0, 12.0));
  EXPECT_EQ(engine_->Stats().head_points, 0);
}

TEST_F(EngineFaultsTest, AFailedRollupWriteIsRetriedAndCounted) {
  // Points two hours back, rolled up by a pass once settled.
  Open();
  const SeriesKey k = Key("a");
  ASSERT_TRUE(Put(k, Points(30, kNow - 7'200'000, 3)).ok());
  clock_.Advance(3 * 3'600'000);
  faults_->FailWrites(Column::kRollup60, 1, absl::UnavailableError("disk"));
  EXPECT_FALSE(engine_->RunRollups().ok());
  EXPECT_EQ(engine_->Stats().rollup_failures, 1);
  const int64_t stuck = engine_->Stats().rollup_watermark_ms;
  ASSERT_TRUE(engine_->RunRollups().ok());
  EXPECT_GT(engine_->Stats().rollup_watermark_ms, stuck);
  EXPECT_GT(engine_->Stats().rollups.records_written, 0);
  // Served from rollups: the same figures as the raw points.
  StatisticsQuery q;
  q.key = k;
  q.start_ms = kNow - 7'200'000;
  q.end_ms = kNow - 3'600'000;
  q.period_ms = 3'600'000;
  auto r = engine_->GetStatistics(q);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].sample_count, 30);
  EXPECT_EQ((*r)[0].sum, 90);
}

// A late commit whose write fails marks nothing: a mark would let the next
// commit into the same hour leave it out of its dirty record, and after a
// restart the hour would be served from blocks without that commit's
// points. Statistics of the late hour are exact before and after the
// restart and the pass.
TEST_F(EngineFaultsTest, AFailedLateCommitMarksNothing) {
  // The store is new: its watermark is the hour it opened in (kNow), so
  // points of the hour before are late.
  Open();
  const SeriesKey k = Key("a");
  const int64_t hour = kNow - 3'600'000;
  auto hour_stats = [&]() -> std::pair<double, double> {
    StatisticsQuery q;
    q.key = k;
    q.start_ms = hour;
    q.end_ms = kNow;
    q.period_ms = 3'600'000;  // served from rollup_3600 once redone
    auto r = engine_->GetStatistics(q);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok() || r->size() != 1) return {-1, -1};
    return {(*r)[0].sample_count, (*r)[0].sum};
  };
  ASSERT_TRUE(Put(k, Points(2, hour + 60'000, 1)).ok());
  clock_.Advance(3 * 3'600'000);
  ASSERT_TRUE(engine_->RunRollups().ok());
  ASSERT_EQ(engine_->Stats().dirty_hours_pending, 0);
  ASSERT_EQ(hour_stats(), std::make_pair(2.0, 2.0));
  const int64_t written = engine_->Stats().dirty_pairs_written;

  faults_->FailWrites(Column::kIngestLog, 1, absl::UnavailableError("disk"));
  EXPECT_FALSE(Put(k, Points(3, hour + 120'000, 10)).ok());
  EXPECT_EQ(engine_->Stats().dirty_hours_pending, 0);
  EXPECT_EQ(hour_stats(), std::make_pair(2.0, 2.0));
  // The next late commit into the hour writes the pair.
  ASSERT_TRUE(Put(k, Points(1, hour + 180'000, 5)).ok());
  EXPECT_EQ(engine_->Stats().dirty_pairs_written, written + 1);
  EXPECT_EQ(engine_->Stats().dirty_hours_pending, 1);
  EXPECT_EQ(hour_stats(), std::make_pair(3.0, 7.0));
  // A failed commit into the pending hour changes nothing either.
  faults_->FailWrites(Column::kIngestLog, 1, absl::UnavailableError("disk"));
  EXPECT_FALSE(Put(k, Points(3, hour + 240'000, 10)).ok());
  EXPECT_EQ(hour_stats(), std::make_pair(3.0, 7.0));
  Open();
  EXPECT_EQ(engine_->Stats().dirty_hours_pending, 1);
  EXPECT_EQ(hour_stats(), std::make_pair(3.0, 7.0));
  ASSERT_TRUE(engine_->RunRollups().ok());
  EXPECT_EQ(engine_->Stats().dirty_hours_pending, 0);
  EXPECT_EQ(hour_stats(), std::make_pair(3.0, 7.0));
}

// Creating a series writes to the store (an fsync under --sync=power);
// writers and readers of existing series must not wait behind it.
TEST_F(EngineFaultsTest, QueriesAndOtherWritersDoNotWaitForASeriesCreation) {
  Open();
  const SeriesKey old_key = Key("old");
  ASSERT_TRUE(Put(old_key, Points(2, kNow - 60'000)).ok());
  faults_->HoldWrites(Column::kSeries);
  std::thread creator(
      [&] { EXPECT_TRUE(Put(Key("new"), Points(1, kNow - 60'000)).ok()); });
  ASSERT_TRUE(faults_->AwaitHeld(1, kBound));
  // While the creation's write is held:
  std::atomic<bool> done{false};
  std::thread reader([&] {
    EXPECT_EQ(CountAndSum(old_key), std::make_pair(2.0, 2.0));
    ListQuery lq;
    EXPECT_TRUE(engine_->ListSeries(lq).ok());
    EXPECT_TRUE(Put(old_key, Points(1, kNow - 30'000)).ok());
    done = true;
  });
  const absl::Time deadline = absl::Now() + kBound;
  while (!done && absl::Now() < deadline) std::this_thread::yield();
  const bool finished = done;
  faults_->ReleaseHeld();
  reader.join();
  creator.join();
  EXPECT_TRUE(finished) << "a query or a write of an existing series waited "
                           "for another series' creation";
  EXPECT_EQ(CountAndSum(old_key), std::make_pair(3.0, 3.0));
  EXPECT_EQ(CountAndSum(Key("new")), std::make_pair(1.0, 1.0));
}

// A seal that merges the series' run deletes its chunks and writes their
// merge and a chunk of the head's points; queries of that very series must
// neither wait for the write nor see the points twice or not at all,
// before, during or after it.
TEST_F(EngineFaultsTest, QueriesDoNotWaitForASealAndSeeEveryPointOnce) {
  Open();
  const SeriesKey k = Key("a");
  PutInSeals(k, 8, kNow - 600'000, 1);  // a run of 8 chunks
  ASSERT_EQ(engine_->Stats().chunks_sealed, 8);
  ASSERT_TRUE(Put(k, Points(5, kNow - 500'000, 2)).ok());  // head
  faults_->HoldWrites(Column::kPoints);
  std::thread sealer([&] { EXPECT_TRUE(engine_->SealAllHeads().ok()); });
  ASSERT_TRUE(faults_->AwaitHeld(1, kBound));
  std::atomic<bool> done{false};
  std::pair<double, double> seen;
  std::thread reader([&] {
    seen = CountAndSum(k);
    // A write to the series being sealed goes on too.
    EXPECT_TRUE(Put(k, Points(1, kNow - 100'000, 4)).ok());
    done = true;
  });
  const absl::Time deadline = absl::Now() + kBound;
  while (!done && absl::Now() < deadline) std::this_thread::yield();
  const bool finished = done;
  faults_->ReleaseHeld();
  reader.join();
  sealer.join();
  EXPECT_TRUE(finished) << "a query waited for a seal's write";
  EXPECT_EQ(seen, std::make_pair(69.0, 74.0));
  // The seal's merge, then the sweep's (of the run it left: two chunks).
  EXPECT_EQ(engine_->Stats().chunks_merged, 2);
  EXPECT_EQ(CountAndSum(k), std::make_pair(70.0, 78.0));
  EXPECT_EQ(engine_->Stats().head_points, 1);
  Open();
  EXPECT_EQ(CountAndSum(k), std::make_pair(70.0, 78.0));
}

// The same between a seal's write and its head trim: the store already
// holds the merged chunk (and not its parts) and the seal's chunk, the head
// still holds the sealed points.
TEST_F(EngineFaultsTest,
       AQueryBetweenASealsWriteAndItsHeadTrimSeesEachPointOnce) {
  const SeriesKey k = Key("a");
  int seals = 0;
  std::atomic<bool> done{false};
  std::pair<double, double> seen;
  bool finished = false;
  std::thread reader;
  options_.after_seal_write_for_testing = [&] {
    if (++seals != 9) return;  // the ninth seal merges the first eight
    reader = std::thread([&] {
      seen = CountAndSum(k);
      done = true;
    });
    const absl::Time deadline = absl::Now() + kBound;
    while (!done && absl::Now() < deadline) std::this_thread::yield();
    finished = done;
  };
  Open();
  PutInSeals(k, 8, kNow - 600'000, 1);
  ASSERT_TRUE(Put(k, Points(5, kNow - 500'000, 2)).ok());
  ASSERT_TRUE(engine_->SealAllHeads().ok());  // the ninth seal
  ASSERT_TRUE(reader.joinable());
  reader.join();
  EXPECT_EQ(seals, 9);
  EXPECT_EQ(engine_->Stats().chunks_merged, 2);  // the seal's, the sweep's
  EXPECT_TRUE(finished) << "a query waited for a seal's head trim";
  EXPECT_EQ(seen, std::make_pair(69.0, 74.0));
  EXPECT_EQ(CountAndSum(k), std::make_pair(69.0, 74.0));
}

// Heads push back: when the background sealer lags (here: its write is
// held), writers wait instead of growing the heads without bound, and go on
// once it catches up.
TEST_F(EngineFaultsTest, WritersWaitWhileTheSealerLags) {
  options_.background_sealing = true;
  options_.max_seal_backlog = 2;
  Open();
  faults_->HoldWrites(Column::kPoints);
  // The first full head is taken by the sealer, whose write is held.
  ASSERT_TRUE(Put(Key("s0"), Points(8, kNow - 60'000)).ok());
  ASSERT_TRUE(faults_->AwaitHeld(1, kBound));
  // Two more full heads queue up behind it: the backlog is full.
  ASSERT_TRUE(Put(Key("s1"), Points(8, kNow - 60'000)).ok());
  std::atomic<bool> done{false};
  std::thread writer([&] {
    EXPECT_TRUE(Put(Key("s2"), Points(8, kNow - 60'000)).ok());
    EXPECT_TRUE(Put(Key("s3"), Points(1, kNow - 60'000)).ok());
    done = true;
  });
  // The third full head still gets in; the next write waits.
  const absl::Time deadline = absl::Now() + kBound;
  while (engine_->Stats().writes_throttled == 0 && absl::Now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(engine_->Stats().writes_throttled, 1);
  EXPECT_FALSE(done);
  faults_->ReleaseHeld();
  writer.join();
  EXPECT_TRUE(done);
  for (const char* h : {"s0", "s1", "s2"}) {
    EXPECT_EQ(CountAndSum(Key(h)), std::make_pair(8.0, 8.0)) << h;
  }
  EXPECT_EQ(CountAndSum(Key("s3")), std::make_pair(1.0, 1.0));
}

// The background sweep and a caller's SealAllHeads (nimbusd --compact, tests,
// tools) may overlap: one runs at a time, so the second never writes while
// the first is writing.
TEST_F(EngineFaultsTest, SweepsDoNotOverlap) {
  Open();
  ASSERT_TRUE(Put(Key("a"), Points(3, kNow - 60'000)).ok());
  // The log-trim write of the first run is held (it deletes from the log).
  faults_->HoldWrites(Column::kIngestLog);
  std::thread first([&] { EXPECT_TRUE(engine_->SealAllHeads().ok()); });
  ASSERT_TRUE(faults_->AwaitHeld(1, kBound));
  std::thread second([&] { EXPECT_TRUE(engine_->SealAllHeads().ok()); });
  // Without the sweeper's lock the second run, finding the log not trimmed
  // yet, writes its own trim beside the first within microseconds; with
  // it, it waits. (A bound on an event that must not happen: this passes
  // when it does not.)
  EXPECT_FALSE(faults_->AwaitHeld(2, absl::Milliseconds(500)));
  faults_->ReleaseHeld();
  first.join();
  second.join();
  EXPECT_EQ(engine_->Stats().head_points, 0);
  ASSERT_TRUE(Put(Key("b"), Points(3, kNow - 60'000)).ok());
  Open();
  EXPECT_EQ(CountAndSum(Key("a")), std::make_pair(3.0, 3.0));
  EXPECT_EQ(CountAndSum(Key("b")), std::make_pair(3.0, 3.0));
}

TEST_F(EngineFaultsTest, AZeroSealBacklogIsRefusedRatherThanHangingWriters) {
  options_.background_sealing = true;
  options_.max_seal_backlog = 0;
  auto e = Engine::Open(options_, clock_);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(e.status().message().find("max_seal_backlog"), std::string::npos);
}

TEST_F(EngineFaultsTest, ABackgroundNiceOutsideZeroToNineteenIsRefused) {
  for (int nice : {-1, 20}) {
    options_.background_nice = nice;
    auto e = Engine::Open(options_, clock_);
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << nice;
    EXPECT_NE(e.status().message().find("background_nice"), std::string::npos);
  }
}

// SealAllHeads (and the version-2 migration, which relies on it) seals every
// head even when the clock stepped back since the head's first point.
TEST_F(EngineFaultsTest, SealAllHeadsSealsEveryHeadWhenTheClockSteppedBack) {
  Open();
  ASSERT_TRUE(Put(Key("a"), Points(3, kNow - 60'000)).ok());
  clock_.Advance(-60'000);
  ASSERT_TRUE(engine_->SealAllHeads().ok());
  EXPECT_EQ(engine_->Stats().head_points, 0);
  EXPECT_EQ(CountAndSum(Key("a")), std::make_pair(3.0, 3.0));
}

// The persisted last-write time of series `id` (0 if none).
int64_t PersistedLastWrite(storage::Store& store, uint64_t id) {
  auto v = store.Get(Column::kSeries, storage::EncodeSeriesIdKey(
                                          storage::kSeriesLastWriteTag, id));
  EXPECT_TRUE(v.ok()) << v.status();
  if (!v.ok() || !v->has_value() || (*v)->size() != 8) return 0;
  return static_cast<int64_t>(storage::GetBigEndian64((*v)->data()));
}

// Background sweeps persist a series' last-write time when it has moved by
// a step; a full sweep persists every change.
TEST_F(EngineFaultsTest, LastWriteTimesArePersistedByTheStep) {
  Open();
  const SeriesKey k = Key("a");
  ASSERT_TRUE(Put(k, Points(1, kNow - 60'000)).ok());
  ASSERT_TRUE(engine_->SealAgedHeads().ok());
  EXPECT_EQ(PersistedLastWrite(*faults_, 1), kNow);  // the first: at once
  clock_.Advance(Sweeper::kLastWriteStepMs / 2);
  ASSERT_TRUE(Put(k, Points(1, kNow - 50'000)).ok());
  ASSERT_TRUE(engine_->SealAgedHeads().ok());
  EXPECT_EQ(PersistedLastWrite(*faults_, 1), kNow);  // within the step
  clock_.Advance(Sweeper::kLastWriteStepMs / 2);
  ASSERT_TRUE(Put(k, Points(1, kNow - 40'000)).ok());
  ASSERT_TRUE(engine_->SealAgedHeads().ok());
  EXPECT_EQ(PersistedLastWrite(*faults_, 1), clock_.NowMs());
  clock_.Advance(1000);
  ASSERT_TRUE(Put(k, Points(1, kNow - 30'000)).ok());
  ASSERT_TRUE(engine_->SealAllHeads().ok());  // a full sweep: exact
  EXPECT_EQ(PersistedLastWrite(*faults_, 1), clock_.NowMs());
}

// Many series' last-write records go in several writes; a failed one
// leaves its series (and the log trim, in the last write) for the next
// sweep, and what was written before it stays written.
TEST_F(EngineFaultsTest, LastWriteRecordsGoInBatchesThatFailAlone) {
  Open();
  const int n = static_cast<int>(Sweeper::kLastWriteBatch) + 100;
  std::vector<SeriesWrite> w;
  for (int i = 0; i < n; ++i) {
    w.push_back({Key(absl::StrCat("h", i)), {{kNow - 60'000, 1}}, {}});
  }
  ASSERT_TRUE(engine_->Write(w).ok());
  faults_->FailWrites(Column::kIngestLog, 1, absl::UnavailableError("disk"));
  EXPECT_FALSE(engine_->SealAllHeads().ok());
  EXPECT_EQ(engine_->Stats().sweep_failures, 1);
  EXPECT_EQ(PersistedLastWrite(*faults_, 1), kNow);  // the first batch
  EXPECT_EQ(PersistedLastWrite(*faults_, n), 0);     // the last one failed
  ASSERT_TRUE(engine_->SealAllHeads().ok());
  EXPECT_EQ(PersistedLastWrite(*faults_, n), kNow);
  EXPECT_EQ(engine_->Stats().sweep_failures, 1);
  // A failure in the first batch writes nothing and stops the sweep (a
  // background sweep: the heads are too young to seal, the times have moved
  // by a step).
  clock_.Advance(Sweeper::kLastWriteStepMs);
  for (auto& x : w) x.samples = {{kNow - 50'000, 2}};
  ASSERT_TRUE(engine_->Write(w).ok());
  faults_->FailWrites(Column::kSeries, 1, absl::UnavailableError("disk"));
  EXPECT_FALSE(engine_->SealAgedHeads().ok());
  EXPECT_EQ(engine_->Stats().sweep_failures, 2);
  EXPECT_EQ(PersistedLastWrite(*faults_, 1), kNow);
  EXPECT_EQ(PersistedLastWrite(*faults_, n), kNow);
  ASSERT_TRUE(engine_->SealAgedHeads().ok());
  EXPECT_EQ(PersistedLastWrite(*faults_, 1), clock_.NowMs());
  EXPECT_EQ(PersistedLastWrite(*faults_, n), clock_.NowMs());
}

}  // namespace
}  // namespace nimbus::engine
