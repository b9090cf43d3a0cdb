#include "engine/periodic_thread.h"

#include <utility>

#include "absl/time/time.h"

namespace nimbus::engine {

PeriodicThread::PeriodicThread(int64_t interval_ms, std::function<void()> fn)
    : interval_ms_(interval_ms), fn_(std::move(fn)) {
  thread_ = std::thread([this] { Loop(); });
}

PeriodicThread::~PeriodicThread() { Stop(); }

void PeriodicThread::Stop() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void PeriodicThread::Loop() {
  absl::MutexLock l(&mu_);
  while (!stopping_) {
    mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                         absl::Milliseconds(interval_ms_));
    if (stopping_) break;
    mu_.Unlock();
    fn_();
    mu_.Lock();
  }
}

}  // namespace nimbus::engine
