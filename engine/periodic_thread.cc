#include "engine/periodic_thread.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/log.h"

namespace nimbus::engine {

void LowerThisThreadPriority(int nice) {
  if (nice == 0) return;
  // On Linux a thread is a task: PRIO_PROCESS with its thread id sets the
  // nice value of this thread alone.
  const pid_t tid = gettid();
  errno = 0;
  const int now = getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
  if (errno == 0 &&
      setpriority(PRIO_PROCESS, static_cast<id_t>(tid), now + nice) == 0) {
    return;
  }
  Log(LogLevel::kWarning, "engine",
      absl::StrCat("could not lower a background thread's priority by ", nice,
                   ": ", std::strerror(errno)));
}

PeriodicThread::PeriodicThread(int64_t interval_ms, std::function<void()> fn,
                               int nice)
    : interval_ms_(interval_ms), nice_(nice), fn_(std::move(fn)) {
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
  LowerThisThreadPriority(nice_);
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
