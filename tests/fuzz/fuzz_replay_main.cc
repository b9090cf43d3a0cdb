// Runs a fuzz target without libFuzzer, so that every build (gcc included)
// compiles the targets and CTest exercises them: on each file named on the
// command line (or in a named directory), then on a fixed number of
// deterministic pseudo-random inputs derived from those files. An input that
// crashes or fails a check is written to crash-replay-<target> in the
// working directory, as libFuzzer writes crash-<sha1>, to replay it alone.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// The input being run and where to save it, for the signal handler.
const std::string* current = nullptr;
std::string crash_path;

void SaveCurrentInput(int sig) {
  if (current != nullptr) {
    const int fd = open(crash_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ssize_t ignored = write(fd, current->data(), current->size());
      (void)ignored;  // nothing more to do in a dying process
      close(fd);
    }
    const char msg[] = "replay: the failing input is in ";
    ssize_t ignored = write(2, msg, sizeof(msg) - 1);
    ignored = write(2, crash_path.data(), crash_path.size());
    ignored = write(2, "\n", 1);
    (void)ignored;
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void Run(const std::string& s) {
  current = &s;
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  current = nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  crash_path =
      "crash-replay-" + std::filesystem::path(argv[0]).filename().string();
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) {
    std::signal(sig, SaveCurrentInput);
  }
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; ++i) {
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(argv[i])) {
      for (const auto& e : std::filesystem::directory_iterator(argv[i])) {
        files.push_back(e.path());
      }
      // By name: directory order depends on the filesystem, and the
      // mutations below depend on the order of the inputs.
      std::sort(files.begin(), files.end());
    } else {
      files.push_back(argv[i]);
    }
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      inputs.emplace_back(std::istreambuf_iterator<char>(in),
                          std::istreambuf_iterator<char>());
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "no seed inputs found in the paths given\n");
    return 1;
  }
  for (const std::string& s : inputs) Run(s);
  // Deterministic mutations of the seeds: byte flips, truncations, splices.
  uint64_t x = 0x9E3779B97F4A7C15ull;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  constexpr int kMutations = 20000;
  for (int i = 0; i < kMutations; ++i) {
    std::string s = inputs[next() % inputs.size()];
    const int edits = 1 + static_cast<int>(next() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const size_t at = next() % s.size();
      switch (next() % 3) {
        case 0:
          s[at] = static_cast<char>(next());
          break;
        case 1:
          s.resize(at);
          break;
        default:
          s.insert(at, inputs[next() % inputs.size()].substr(0, 16));
          break;
      }
    }
    Run(s);
  }
  std::printf("replayed %zu seeds and %d mutations\n", inputs.size(),
              kMutations);
  return 0;
}
