#include "rpc/server.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/commit_queue.h"
#include "engine/periodic_thread.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "rpc/alarm_service.h"
#include "rpc/malloc_stats.h"
#include "rpc/metrics_service.h"
#include "storage/status_macros.h"

namespace nimbus::rpc {

// tcmalloc keeps freed pages for reuse; handing them back keeps resident
// memory near what is in use after a burst (a backfill, a flood of new
// series).
constexpr int64_t kReleaseFreeMemoryMs = 5000;
constexpr size_t kReleaseAboveBytes = size_t{4} << 20;

struct Server::Impl {
  std::unique_ptr<engine::Engine> engine;
  std::unique_ptr<alarms::AlarmEngine> alarms;
  std::unique_ptr<MetricsService> metrics;
  std::unique_ptr<AlarmService> alarm_service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<engine::PeriodicThread> release_memory;
  int port = 0;
};

bool IsLoopbackAddress(const std::string& host_port) {
  std::string host = host_port;
  const size_t colon = host.rfind(':');
  if (colon != std::string::npos) host = host.substr(0, colon);
  if (host == "localhost" || host == "[::1]" || host == "::1") return true;
  return absl::StartsWith(host, "127.");
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options,
                                                      engine::Clock& clock) {
  if (!IsLoopbackAddress(options.listen_address) && !options.insecure) {
    return absl::FailedPreconditionError(absl::StrCat(
        "listen address ", options.listen_address,
        " is not loopback: binding it needs authentication, which this "
        "build does not have yet; pass --insecure to bind it anyway"));
  }
  auto impl = std::make_unique<Impl>();
  NIMBUS_ASSIGN_OR_RETURN(impl->engine,
                          engine::Engine::Open(options.engine, clock));
  impl->metrics = std::make_unique<MetricsService>(
      *impl->engine, clock, options.max_queued_ingest_bytes);
  // Sub-minute alarms are checked against the reach the engine answers.
  options.alarms.high_resolution_reach_ms =
      options.engine.reach.high_resolution_ms;
  NIMBUS_ASSIGN_OR_RETURN(
      impl->alarms,
      alarms::AlarmEngine::Open(*impl->engine, clock, options.alarms));
  impl->alarm_service =
      std::make_unique<AlarmService>(*impl->alarms, *impl->engine, clock,
                                     options.alarms.high_resolution_reach_ms);

  // Referencing a health message keeps grpc.health.v1's descriptors linked,
  // so reflection lists the health service.
  grpc::health::v1::HealthCheckRequest keep_health_descriptors;
  (void)keep_health_descriptors;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address,
                           grpc::InsecureServerCredentials(), &impl->port);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  // gRPC sets SO_REUSEPORT by default, which lets a second server bind the
  // same address and take half of its connections: refuse instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(impl->metrics.get());
  builder.RegisterService(impl->alarm_service.get());
  impl->server = builder.BuildAndStart();
  if (impl->server == nullptr || impl->port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address));
  }
  if (CanReleaseFreeMemory()) {
    impl->release_memory = std::make_unique<engine::PeriodicThread>(
        kReleaseFreeMemoryMs,
        [] { ReleaseFreeMemoryAbove(kReleaseAboveBytes); });
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() { Shutdown(); }
int Server::port() const { return impl_->port; }
void Server::Wait() { impl_->server->Wait(); }
void Server::Shutdown() {
  // Calls still running after a second are cancelled; an idle client
  // connection otherwise holds gRPC's shutdown for seconds.
  if (impl_->server) {
    impl_->server->Shutdown(std::chrono::system_clock::now() +
                            std::chrono::seconds(1));
  }
}

}  // namespace nimbus::rpc
