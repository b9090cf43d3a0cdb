#include "engine/log.h"

#include <atomic>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace nimbus {
namespace {

std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};

}  // namespace

void Log(LogLevel level, absl::string_view component,
         absl::string_view message) {
  if (static_cast<int>(level) < min_level.load(std::memory_order_relaxed)) {
    return;
  }
  static constexpr char kLetters[] = {'I', 'W', 'E'};
  const std::string line =
      absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                    absl::UTCTimeZone()),
                   " ", std::string(1, kLetters[static_cast<int>(level)]), " ",
                   component, ": ", message, "\n");
  // One fwrite per line: lines from different threads do not interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void SetMinLogLevel(LogLevel level) {
  min_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

}  // namespace nimbus
