// The commit queue's groups: one leader at a time, in sequence order,
// bounded by writers and by bytes.
#include "engine/commit_queue.h"

#include <atomic>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace nimbus::engine {
namespace {

// Holds the first group's apply until released, so that writers queue up
// behind it; records every group.
class GroupRecorder {
 public:
  absl::Status Apply(const CommitGroup& g) {
    absl::MutexLock l(&mu_);
    sizes_.push_back(g.writers.size());
    seqs_.push_back(g.seq);
    if (sizes_.size() == 1) mu_.Await(absl::Condition(&released_));
    return absl::OkStatus();
  }
  void Release() {
    absl::MutexLock l(&mu_);
    released_ = true;
  }
  std::vector<size_t> sizes() {
    absl::MutexLock l(&mu_);
    return sizes_;
  }
  std::vector<uint64_t> seqs() {
    absl::MutexLock l(&mu_);
    return seqs_;
  }

 private:
  absl::Mutex mu_;
  bool released_ = false;
  std::vector<size_t> sizes_;
  std::vector<uint64_t> seqs_;
};

void RunGroups(const std::vector<size_t>& bytes, GroupRecorder& rec) {
  CommitQueue q;
  std::vector<CommitWriter> writers(bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i) writers[i].bytes = bytes[i];
  auto commit = [&](CommitWriter* w) {
    EXPECT_TRUE(
        q.Commit(w, [&](const CommitGroup& g) { return rec.Apply(g); }).ok());
  };
  std::vector<std::thread> threads;
  threads.emplace_back(commit, &writers[0]);
  while (rec.sizes().empty()) std::this_thread::yield();  // leading
  for (size_t i = 1; i < writers.size(); ++i) {
    threads.emplace_back(commit, &writers[i]);
    while (q.QueuedForTesting() < i + 1) std::this_thread::yield();
  }
  rec.Release();
  for (auto& t : threads) t.join();
}

TEST(CommitQueue, GroupsStopGrowingAtTheirByteBound) {
  GroupRecorder rec;
  const size_t kFive = size_t{5} << 20;
  RunGroups({100, kFive, kFive, kFive, 100, 100}, rec);
  // First the leader alone; then 5 MB (+5 MB would pass 8 MB), 5 MB,
  // 5 MB + 100 + 100.
  EXPECT_EQ(rec.sizes(), (std::vector<size_t>{1, 1, 1, 3}));
  EXPECT_EQ(rec.seqs(), (std::vector<uint64_t>{1, 2, 3, 4}));
}

TEST(CommitQueue, AWriterLargerThanTheBoundIsAGroupOfItsOwn) {
  GroupRecorder rec;
  RunGroups({1, size_t{64} << 20, 1}, rec);
  EXPECT_EQ(rec.sizes(), (std::vector<size_t>{1, 1, 1}));
}

TEST(CommitQueue, GroupsStopGrowingAtTheirWriterBound) {
  GroupRecorder rec;
  RunGroups(std::vector<size_t>(1 + kMaxGroupWriters + 3, 10), rec);
  EXPECT_EQ(rec.sizes(), (std::vector<size_t>{1, kMaxGroupWriters, 3}));
}

// A commit carries the last boundary RaiseLateWatermark returned (0 before
// any): at most its own sequence, and every later boundary is above it.
TEST(CommitQueue, ACommitCarriesTheLastPassBoundary) {
  CommitQueue q;
  std::vector<std::pair<uint64_t, uint64_t>> got;  // seq, last boundary
  auto commit = [&] {
    CommitWriter w;
    EXPECT_TRUE(q.Commit(&w, [&](const CommitGroup& g) {
                   got.push_back({g.seq, g.last_boundary});
                   return absl::OkStatus();
                 }).ok());
  };
  commit();
  const uint64_t b1 = q.RaiseLateWatermark(1000);
  EXPECT_EQ(b1, 2u);
  commit();
  commit();
  // No commit in between: the same boundary again.
  EXPECT_EQ(q.RaiseLateWatermark(2000), 4u);
  EXPECT_EQ(q.RaiseLateWatermark(2000), 4u);
  commit();
  EXPECT_EQ(got, (std::vector<std::pair<uint64_t, uint64_t>>{
                     {1, 0}, {2, 2}, {3, 2}, {4, 4}}));
}

}  // namespace
}  // namespace nimbus::engine
