#include "tests/rpc/nimbusd_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpcpp/generic/generic_stub.h"

namespace nimbus::testing {

namespace {

// Reaps `pid` if it has ended; waits for it at most `bound`. Returns true
// and its status in *status if it ended.
bool ReapWithin(pid_t pid, std::chrono::milliseconds bound, int* status) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (true) {
    const pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    if (r < 0) {  // not our child any more: nothing to reap
      *status = 0;
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) {
    return absl::StrCat("exited with status ", WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return absl::StrCat("killed by signal ", WTERMSIG(status), " (",
                        strsignal(WTERMSIG(status)), ")");
  }
  return absl::StrCat("ended with wait status ", status);
}

absl::Status WaitUntil(const std::function<bool()>& done,
                       absl::string_view what,
                       std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          what, ": did not happen within ",
          std::chrono::duration_cast<std::chrono::seconds>(bound).count(),
          " s"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return absl::OkStatus();
}

NimbusdProcess::NimbusdProcess() {
  std::string tmpl =
      (std::filesystem::temp_directory_path() / "nimbusd-test-XXXXXX").string();
  char* dir = mkdtemp(tmpl.data());
  data_dir_ = dir != nullptr ? std::string(dir) : tmpl;
}

NimbusdProcess::~NimbusdProcess() {
  (void)Stop(SIGKILL);
  std::error_code ec;
  std::filesystem::remove_all(data_dir_, ec);
}

absl::Status NimbusdProcess::Start(
    const std::vector<std::string>& extra_flags) {
  if (pid_ > 0) return absl::FailedPreconditionError("nimbusd is running");
  const std::string port_file =
      data_dir_ + "/../" +
      std::filesystem::path(data_dir_).filename().string() + ".port";
  std::filesystem::remove(port_file);
  std::vector<std::string> args = {NIMBUSD_PATH, "--listen=127.0.0.1:0",
                                   "--data_dir=" + data_dir_ + "/db",
                                   "--port_file=" + port_file};
  args.insert(args.end(), extra_flags.begin(), extra_flags.end());
  pid_ = fork();
  if (pid_ < 0) return absl::InternalError("fork failed");
  if (pid_ == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // Quiet stdout; keep stderr for diagnostics.
    if (FILE* f = freopen("/dev/null", "w", stdout)) (void)f;
    execv(argv[0], argv.data());
    _exit(127);
  }
  // Wait for the port file (the server writes it once it serves).
  std::string exited;
  const absl::Status serving = WaitUntil(
      [&] {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          exited = DescribeWaitStatus(status);
          return true;
        }
        std::ifstream in(port_file);
        return static_cast<bool>(in >> port_) && port_ > 0;
      },
      "nimbusd serving (its port file written)");
  std::filesystem::remove(port_file);
  if (!exited.empty()) {
    return absl::InternalError(absl::StrCat("nimbusd exited early: ", exited));
  }
  if (!serving.ok()) {
    (void)Stop(SIGKILL);
    return serving;
  }
  return absl::OkStatus();
}

absl::Status NimbusdProcess::Stop(int sig) {
  if (pid_ <= 0) return absl::OkStatus();
  const pid_t pid = pid_;
  pid_ = -1;
  kill(pid, sig);
  int status = 0;
  if (!ReapWithin(pid, kWaitBound, &status)) {
    kill(pid, SIGKILL);
    ReapWithin(pid, kWaitBound, &status);
    return absl::DeadlineExceededError(
        absl::StrCat("nimbusd did not end within ", kWaitBound.count(),
                     " s of signal ", sig, "; killed with SIGKILL"));
  }
  const bool as_asked = sig == SIGKILL
                            ? WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL
                            : WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!as_asked) {
    return absl::InternalError(absl::StrCat("nimbusd, sent signal ", sig, ", ",
                                            DescribeWaitStatus(status)));
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::Channel> NimbusdProcess::Channel() const {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  return grpc::CreateCustomChannel(address(),
                                   grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<nimbus::v1::MetricsService::Stub> NimbusdProcess::Stub() const {
  return nimbus::v1::MetricsService::NewStub(Channel());
}

absl::StatusOr<nimbus::v1::GetServerStatsResponse> NimbusdProcess::ServerStats()
    const {
  nimbus::v1::GetServerStatsResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  const grpc::Status s =
      Stub()->GetServerStats(&ctx, nimbus::v1::GetServerStatsRequest(), &resp);
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("GetServerStats: ", s.error_message()));
  }
  return resp;
}

grpc::Status CallRaw(const std::shared_ptr<grpc::Channel>& channel,
                     const std::string& method, const std::string& body) {
  grpc::GenericStub generic(channel);
  grpc::Slice slice(body);
  grpc::ByteBuffer request(&slice, 1), response;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kWaitBound);
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  generic.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response,
                    [&](grpc::Status s) {
                      std::lock_guard<std::mutex> l(mu);
                      status = std::move(s);
                      done = true;
                      cv.notify_one();
                    });
  std::unique_lock<std::mutex> l(mu);
  cv.wait(l, [&] { return done; });
  return status;
}

}  // namespace nimbus::testing
