// Background threads run below the priority of the threads that serve
// requests (engine/periodic_thread.h), by the nice levels asked for.
#include "engine/periodic_thread.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace nimbus::engine {
namespace {

int ThisThreadNice() {
  errno = 0;
  const int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  EXPECT_EQ(errno, 0);
  return nice;
}

// A bound on how long the thread may take to run once; it takes a
// millisecond.
constexpr absl::Duration kBound = absl::Seconds(30);

TEST(PeriodicThread, RunsItsFunctionAtTheLoweredPriority) {
  const int mine = ThisThreadNice();
  std::atomic<int> seen{-100};
  absl::Notification ran;
  PeriodicThread thread(
      1,
      [&] {
        if (ran.HasBeenNotified()) return;
        seen = ThisThreadNice();
        ran.Notify();
      },
      /*nice=*/5);
  ASSERT_TRUE(ran.WaitForNotificationWithTimeout(kBound));
  thread.Stop();
  EXPECT_EQ(seen, std::min(mine + 5, 19));  // Linux caps nice at 19
  EXPECT_EQ(ThisThreadNice(), mine);        // the creator's own is unchanged
}

TEST(PeriodicThread, NiceZeroLeavesThePriority) {
  const int mine = ThisThreadNice();
  std::atomic<int> seen{-100};
  absl::Notification ran;
  PeriodicThread thread(1, [&] {
    if (ran.HasBeenNotified()) return;
    seen = ThisThreadNice();
    ran.Notify();
  });
  ASSERT_TRUE(ran.WaitForNotificationWithTimeout(kBound));
  thread.Stop();
  EXPECT_EQ(seen, mine);
}

}  // namespace
}  // namespace nimbus::engine
