// Runs a real nimbusd as a child process on a free loopback port, for
// integration tests.
#ifndef NIMBUS_TESTS_RPC_NIMBUSD_PROCESS_H_
#define NIMBUS_TESTS_RPC_NIMBUSD_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"
#include "nimbus/v1/metrics.grpc.pb.h"

namespace nimbus::testing {

// The bound on every wait of the integration tests: generous, so that only
// a server that is dead or stuck reaches it.
inline constexpr std::chrono::seconds kWaitBound{60};

class NimbusdProcess {
 public:
  // A fresh temporary data directory, removed by the destructor.
  NimbusdProcess();
  ~NimbusdProcess();

  // Starts nimbusd on 127.0.0.1 with a free port and waits (at most
  // kWaitBound) until it serves. On failure no process is left running.
  absl::Status Start(const std::vector<std::string>& extra_flags = {});
  // Sends `sig` (SIGTERM, SIGKILL) and reaps the process, waiting at most
  // kWaitBound (then it is killed with SIGKILL). Returns an error if the
  // process did not end as `sig` asked: after SIGKILL, if it had already
  // exited or died of another signal; after another signal, if it did not
  // exit with status 0 in time.
  absl::Status Stop(int sig);
  bool running() const { return pid_ > 0; }

  int port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::shared_ptr<grpc::Channel> Channel() const;
  std::unique_ptr<nimbus::v1::MetricsService::Stub> Stub() const;

  // GetServerStats with a 10-second deadline.
  absl::StatusOr<nimbus::v1::GetServerStatsResponse> ServerStats() const;

 private:
  std::string data_dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// A unary call of `method` ("/nimbus.v1.MetricsService/PutMetricData") with
// `body` as the request's bytes, whatever they are; waits at most kWaitBound.
grpc::Status CallRaw(const std::shared_ptr<grpc::Channel>& channel,
                     const std::string& method, const std::string& body);

// Describes a wait status from waitpid: "exited with status 1", "killed by
// signal 9".
std::string DescribeWaitStatus(int status);

// Calls `done` every 10 ms until it returns true, for at most `bound`;
// returns DeadlineExceeded saying that `what` did not happen within it.
absl::Status WaitUntil(const std::function<bool()>& done,
                       absl::string_view what,
                       std::chrono::milliseconds bound = kWaitBound);

}  // namespace nimbus::testing

#endif  // NIMBUS_TESTS_RPC_NIMBUSD_PROCESS_H_
