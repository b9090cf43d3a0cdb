#include "tests/rpc/nimbusd_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"

namespace nimbus::testing {

NimbusdProcess::NimbusdProcess() {
  std::string tmpl =
      (std::filesystem::temp_directory_path() / "nimbusd-test-XXXXXX").string();
  char* dir = mkdtemp(tmpl.data());
  data_dir_ = dir != nullptr ? std::string(dir) : tmpl;
}

NimbusdProcess::~NimbusdProcess() {
  Stop(SIGKILL);
  std::error_code ec;
  std::filesystem::remove_all(data_dir_, ec);
}

absl::Status NimbusdProcess::Start(
    const std::vector<std::string>& extra_flags) {
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
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError(
          absl::StrCat("nimbusd exited early, status ", status));
    }
    std::ifstream in(port_file);
    if (in >> port_ && port_ > 0) {
      std::filesystem::remove(port_file);
      return absl::OkStatus();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return absl::DeadlineExceededError("nimbusd did not start within 30 s");
}

void NimbusdProcess::Stop(int sig) {
  if (pid_ <= 0) return;
  kill(pid_, sig);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
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

}  // namespace nimbus::testing
