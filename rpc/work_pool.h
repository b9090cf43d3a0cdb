// A fixed set of threads that run submitted tasks in order of submission.
//
// Callback-API handlers run on gRPC's own threads, which must not block; a
// handler whose work blocks (a write waits for its group commit) hands the
// work to a pool instead.
#ifndef NIMBUS_RPC_WORK_POOL_H_
#define NIMBUS_RPC_WORK_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace nimbus::rpc {

// Thread-safe.
class WorkPool {
 public:
  explicit WorkPool(int threads);
  // Runs every task already submitted, then joins the threads.
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // REQUIRES: the pool is not being destroyed.
  void Submit(std::function<void()> task);

 private:
  void Loop();

  absl::Mutex mu_;
  absl::CondVar cv_;  // a task was queued, or the pool is stopping
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace nimbus::rpc

#endif  // NIMBUS_RPC_WORK_POOL_H_
