#include "engine/clock.h"

#include <fstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"

namespace nimbus::engine {

FileClock::FileClock(std::string path) : path_(std::move(path)) {}

int64_t FileClock::NowMs() const {
  std::ifstream f(path_);
  std::string text;
  int64_t ms;
  if (f && std::getline(f, text) &&
      absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &ms)) {
    last_.store(ms);
    return ms;
  }
  return last_.load();
}

}  // namespace nimbus::engine
