// Server assembly: the engine, the alarms, the gRPC services, reflection
// and health.
#ifndef NIMBUS_RPC_SERVER_H_
#define NIMBUS_RPC_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "alarms/alarm_engine.h"
#include "engine/clock.h"
#include "engine/engine.h"

namespace nimbus::rpc {

struct ServerOptions {
  // host:port; port 0 picks a free port (see Server::port()).
  // Default: 127.0.0.1:50051.
  std::string listen_address = "127.0.0.1:50051";
  // Binding an address other than loopback needs this until API keys exist.
  bool insecure = false;
  // The largest request the server reads, in bytes. Default 16 MiB: room for
  // a large PutMetricSeries; PutMetricData has its own 1 MB limit.
  int max_receive_message_bytes = 16 << 20;
  // PutMetricData bytes that may be in progress (decoded, or waiting for
  // their group commit); beyond it a request is answered RESOURCE_EXHAUSTED
  // at once. Default 256 MiB.
  size_t max_queued_ingest_bytes = size_t{256} << 20;
  engine::EngineOptions engine;
  // Alarm evaluation; high_resolution_reach_ms is taken from
  // engine.reach.
  alarms::AlarmEngineOptions alarms;
};

// Thread-safe.
class Server {
 public:
  // Opens the engine and starts serving. Returns FailedPrecondition for a
  // non-loopback address without `insecure`, Unavailable if the address
  // cannot be bound, and the engine's errors.
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerOptions options,
                                                       engine::Clock& clock);
  ~Server();

  // The port actually bound.
  int port() const;
  // Blocks until Shutdown().
  void Wait();
  // Stops accepting calls and waits up to a second for running ones, then
  // cancels them.
  void Shutdown();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// True for 127.0.0.0/8, ::1 and localhost.
bool IsLoopbackAddress(const std::string& host_port);

}  // namespace nimbus::rpc

#endif  // NIMBUS_RPC_SERVER_H_
