// Runs a real nimbusd as a child process on a free loopback port, for
// integration tests.
#ifndef NIMBUS_TESTS_RPC_NIMBUSD_PROCESS_H_
#define NIMBUS_TESTS_RPC_NIMBUSD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "grpcpp/grpcpp.h"
#include "nimbus/v1/metrics.grpc.pb.h"

namespace nimbus::testing {

class NimbusdProcess {
 public:
  // A fresh temporary data directory, removed by the destructor.
  NimbusdProcess();
  ~NimbusdProcess();

  // Starts nimbusd on 127.0.0.1 with a free port and waits until it serves.
  absl::Status Start(const std::vector<std::string>& extra_flags = {});
  // Sends `sig` (SIGTERM, SIGKILL) and reaps the process.
  void Stop(int sig);

  int port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::shared_ptr<grpc::Channel> Channel() const;
  std::unique_ptr<nimbus::v1::MetricsService::Stub> Stub() const;

 private:
  std::string data_dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace nimbus::testing

#endif  // NIMBUS_TESTS_RPC_NIMBUSD_PROCESS_H_
