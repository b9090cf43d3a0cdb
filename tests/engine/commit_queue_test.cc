// The commit queue's groups: one leader at a time, in sequence order,
// bounded by writers and by bytes.
#include "engine/commit_queue.h"

#include <atomic>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
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

// Holds the first group's apply until released; records each group's size
// and the thread that applied it. Groups after the first return Fail()'s
// status.
class GatedApply {
 public:
  absl::Status Apply(const CommitGroup& g) {
    absl::MutexLock l(&mu_);
    sizes_.push_back(g.writers.size());
    threads_.push_back(std::this_thread::get_id());
    if (sizes_.size() == 1) {
      mu_.Await(absl::Condition(&released_));
      return absl::OkStatus();
    }
    return status_;
  }
  void Release() {
    absl::MutexLock l(&mu_);
    released_ = true;
  }
  void WaitUntilApplying() {
    absl::MutexLock l(&mu_);
    mu_.Await(absl::Condition(
        +[](std::vector<size_t>* s) { return !s->empty(); }, &sizes_));
  }
  void Fail(absl::Status s) {
    absl::MutexLock l(&mu_);
    status_ = std::move(s);
  }
  std::vector<size_t> sizes() {
    absl::MutexLock l(&mu_);
    return sizes_;
  }
  std::vector<std::thread::id> threads() {
    absl::MutexLock l(&mu_);
    return threads_;
  }

 private:
  absl::Mutex mu_;
  bool released_ = false;
  absl::Status status_;
  std::vector<size_t> sizes_;
  std::vector<std::thread::id> threads_;
};

// Waits until `n` writers are queued (at most 30 seconds).
void AwaitQueued(CommitQueue& q, size_t n) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (q.QueuedForTesting() < n && absl::Now() < deadline) {
    absl::SleepFor(absl::Microseconds(100));
  }
  ASSERT_GE(q.QueuedForTesting(), n);
}

// What an asynchronous writer's callback saw.
struct Called {
  std::atomic<bool> done{false};
  absl::Status status;
  std::thread::id thread;
};

void QueueAsync(CommitQueue& q, CommitWriter* w, GatedApply& apply,
                Called* called) {
  q.CommitAsync(
      w, [&](const CommitGroup& g) { return apply.Apply(g); },
      [called](absl::Status s) {
        called->status = std::move(s);
        called->thread = std::this_thread::get_id();
        called->done = true;
      });
}

TEST(CommitQueue, AsyncWritersAreAppliedAndCalledBackByTheLeadingThread) {
  CommitQueue q;
  GatedApply apply;
  CommitWriter lead;
  std::thread::id leader;
  std::thread t([&] {
    leader = std::this_thread::get_id();
    EXPECT_TRUE(q.Commit(&lead, [&](const CommitGroup& g) {
                   return apply.Apply(g);
                 }).ok());
  });
  apply.WaitUntilApplying();
  std::vector<CommitWriter> w(3);
  std::vector<Called> called(3);
  for (size_t i = 0; i < w.size(); ++i) {
    QueueAsync(q, &w[i], apply, &called[i]);  // returns without waiting
  }
  EXPECT_EQ(q.QueuedForTesting(), 4u);
  for (const Called& c : called) EXPECT_FALSE(c.done);
  apply.Release();
  t.join();
  EXPECT_EQ(apply.sizes(), (std::vector<size_t>{1, 3}));
  for (const Called& c : called) {
    EXPECT_TRUE(c.done);
    EXPECT_TRUE(c.status.ok()) << c.status;
    EXPECT_EQ(c.thread, leader);
  }
  EXPECT_EQ(q.QueuedForTesting(), 0u);
}

// An asynchronous writer that finds the queue empty leads: it applies the
// groups queued while it applies, and hands over to a waiting writer that
// reaches the front, which leads on its own thread.
TEST(CommitQueue, AnAsyncLeaderGoesOnUntilAWaitingWriterIsAtTheFront) {
  CommitQueue q;
  GatedApply apply;
  CommitWriter a1, a2, b, a3;
  Called c1, c2, c3;
  std::thread::id t1_id, t2_id;
  std::thread t1([&] {
    t1_id = std::this_thread::get_id();
    QueueAsync(q, &a1, apply, &c1);
  });
  apply.WaitUntilApplying();
  QueueAsync(q, &a2, apply, &c2);
  std::thread t2([&] {
    t2_id = std::this_thread::get_id();
    EXPECT_TRUE(q.Commit(&b, [&](const CommitGroup& g) {
                   return apply.Apply(g);
                 }).ok());
  });
  AwaitQueued(q, 3);
  apply.Release();
  t1.join();
  t2.join();
  // a1 alone, then a2 and b (a2 at the front: t1 went on).
  EXPECT_EQ(apply.sizes(), (std::vector<size_t>{1, 2}));
  EXPECT_EQ(apply.threads(), (std::vector<std::thread::id>{t1_id, t1_id}));
  EXPECT_EQ(c1.thread, t1_id);
  EXPECT_EQ(c2.thread, t1_id);

  // Now a waiting writer at the front after the first group: it leads, and
  // applies the asynchronous writer queued behind it.
  CommitQueue q2;
  GatedApply apply2;
  CommitWriter d1, e;
  Called c4;
  std::thread t3([&] {
    t1_id = std::this_thread::get_id();
    QueueAsync(q2, &d1, apply2, &c4);
  });
  apply2.WaitUntilApplying();
  std::thread t4([&] {
    t2_id = std::this_thread::get_id();
    EXPECT_TRUE(q2.Commit(&e, [&](const CommitGroup& g) {
                    return apply2.Apply(g);
                  }).ok());
  });
  AwaitQueued(q2, 2);
  QueueAsync(q2, &a3, apply2, &c3);
  apply2.Release();
  t3.join();
  t4.join();
  EXPECT_EQ(apply2.sizes(), (std::vector<size_t>{1, 2}));
  EXPECT_EQ(apply2.threads(), (std::vector<std::thread::id>{t1_id, t2_id}));
  EXPECT_EQ(c4.thread, t1_id);
  EXPECT_EQ(c3.thread, t2_id);
  EXPECT_TRUE(c3.status.ok()) << c3.status;
}

TEST(CommitQueue, AFailedGroupsStatusReachesEveryWriterAndCallback) {
  CommitQueue q;
  GatedApply apply;
  CommitWriter lead, waiting, async;
  Called called;
  std::thread t([&] {
    EXPECT_TRUE(q.Commit(&lead, [&](const CommitGroup& g) {
                   return apply.Apply(g);
                 }).ok());
  });
  apply.WaitUntilApplying();
  QueueAsync(q, &async, apply, &called);
  absl::Status waited;
  std::thread t2([&] {
    waited = q.Commit(&waiting,
                      [&](const CommitGroup& g) { return apply.Apply(g); });
  });
  AwaitQueued(q, 3);
  apply.Fail(absl::UnavailableError("disk"));
  apply.Release();
  t.join();
  t2.join();
  EXPECT_EQ(apply.sizes(), (std::vector<size_t>{1, 2}));
  EXPECT_EQ(waited.code(), absl::StatusCode::kUnavailable) << waited;
  EXPECT_TRUE(called.done);
  EXPECT_EQ(called.status.code(), absl::StatusCode::kUnavailable);
}

// A callback runs without the queue's lock: it may free its writer and
// queue the next write, which its leader then applies, in order.
TEST(CommitQueue, ACallbackMayFreeItsWriterAndQueueTheNext) {
  CommitQueue q;
  std::vector<uint64_t> seqs;
  auto apply = [&](const CommitGroup& g) {
    seqs.push_back(g.seq);
    return absl::OkStatus();
  };
  int left = 100;
  std::function<void()> next = [&] {
    auto* w = new CommitWriter;
    q.CommitAsync(w, apply, [&, w](absl::Status s) {
      EXPECT_TRUE(s.ok()) << s;
      delete w;
      if (--left > 0) next();
    });
  };
  next();  // leads, and applies all 100 before returning
  EXPECT_EQ(left, 0);
  ASSERT_EQ(seqs.size(), 100u);
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], i + 1);
  EXPECT_EQ(q.QueuedForTesting(), 0u);
}

// Waiting and asynchronous writers from several threads, interleaved: each
// completes exactly once, groups are applied one at a time in sequence
// order, and the queue ends empty.
TEST(CommitQueue, MixedWritersFromManyThreadsEachCompleteOnce) {
  CommitQueue q;
  absl::Mutex mu;
  std::vector<uint64_t> seqs;
  int applying = 0;
  auto apply = [&](const CommitGroup& g) {
    absl::MutexLock l(&mu);
    EXPECT_EQ(applying++, 0);
    seqs.push_back(g.seq);
    --applying;
    return absl::OkStatus();
  };
  constexpr int kThreads = 4, kCommits = 400;
  std::vector<std::atomic<int>> completed(kThreads * kCommits);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<CommitWriter> async(kCommits);
      for (int i = 0; i < kCommits; ++i) {
        std::atomic<int>* done = &completed[t * kCommits + i];
        if ((i + t) % 3 == 0) {
          CommitWriter w;
          EXPECT_TRUE(q.Commit(&w, apply).ok());
          done->fetch_add(1);
        } else {
          q.CommitAsync(&async[i], apply, [done](absl::Status s) {
            EXPECT_TRUE(s.ok()) << s;
            done->fetch_add(1);
          });
        }
      }
      // The writers must outlive their callbacks.
      const absl::Time deadline = absl::Now() + absl::Seconds(30);
      for (int i = 0; i < kCommits; ++i) {
        while (completed[t * kCommits + i].load() == 0 &&
               absl::Now() < deadline) {
          absl::SleepFor(absl::Microseconds(100));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (size_t i = 0; i < completed.size(); ++i) {
    EXPECT_EQ(completed[i].load(), 1) << i;
  }
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], i + 1);
  EXPECT_EQ(q.QueuedForTesting(), 0u);
}

}  // namespace
}  // namespace nimbus::engine
