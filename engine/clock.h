// Time, injected: engine and alarm code read the time only through a Clock,
// so tests control it.
#ifndef NIMBUS_ENGINE_CLOCK_H_
#define NIMBUS_ENGINE_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace nimbus::engine {

inline constexpr int64_t kHourMs = 3'600'000;

// v rounded down to a multiple of step (> 0), towards minus infinity.
inline int64_t FloorTo(int64_t v, int64_t step) {
  const int64_t q = v / step;
  return (v % step < 0 ? q - 1 : q) * step;
}

// Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual int64_t NowMs() const = 0;
};

class SystemClock : public Clock {
 public:
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that moves only when told to. Thread-safe.
class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t now_ms) : now_ms_(now_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  void Set(int64_t now_ms) { now_ms_.store(now_ms); }
  void Advance(int64_t ms) { now_ms_.fetch_add(ms); }

 private:
  std::atomic<int64_t> now_ms_;
};

// A clock read from a file holding milliseconds since the epoch (ASCII
// digits), for tests of a whole server that move its time by rewriting the
// file (nimbusd --testing_clock_file). Each reading opens the file; a file
// that cannot be read or parsed gives the last good reading.
class FileClock : public Clock {
 public:
  explicit FileClock(std::string path);
  int64_t NowMs() const override;

 private:
  const std::string path_;
  mutable std::atomic<int64_t> last_{0};
};

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_CLOCK_H_
