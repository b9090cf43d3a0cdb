// Background threads: one that runs a function every interval until
// stopped, and the priority such threads run at.
#ifndef NIMBUS_ENGINE_PERIODIC_THREAD_H_
#define NIMBUS_ENGINE_PERIODIC_THREAD_H_

#include <cstdint>
#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace nimbus::engine {

// Lowers the calling thread's CPU priority by `nice` (Linux nice levels,
// 0-19; 0 leaves it): background work then runs in the gaps that serving
// leaves instead of delaying requests, and bounded queues (the sealer's
// backlog) push back if it falls behind. A failure is logged, not fatal.
void LowerThisThreadPriority(int nice);

// Thread-safe. The interval is measured on the system's monotonic clock:
// it paces background work, it does not decide what the work does (that
// reads the engine's Clock).
class PeriodicThread {
 public:
  // Runs fn every interval_ms (> 0), first after one interval, on a thread
  // whose priority is lowered by `nice` (LowerThisThreadPriority).
  PeriodicThread(int64_t interval_ms, std::function<void()> fn, int nice = 0);
  // Stop().
  ~PeriodicThread();
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

  // Waits for a running fn to return, then ends the thread. Idempotent.
  void Stop();

 private:
  void Loop();

  const int64_t interval_ms_;
  const int nice_;
  const std::function<void()> fn_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_PERIODIC_THREAD_H_
