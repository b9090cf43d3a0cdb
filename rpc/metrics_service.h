// nimbus.v1.MetricsService: proto <-> engine translation, request-level
// validation and per-datum rejection.
#ifndef NIMBUS_RPC_METRICS_SERVICE_H_
#define NIMBUS_RPC_METRICS_SERVICE_H_

#include <array>
#include <atomic>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "engine/clock.h"
#include "engine/engine.h"
#include "engine/metric_data.h"
#include "engine/validation.h"
#include "nimbus/v1/metrics.grpc.pb.h"
#include "rpc/datum_wire.h"

namespace nimbus::rpc {

// Thread-safe; borrows the engine and the clock.
//
// PutMetricData is the hot path of datum ingest: it is served through the
// callback API on raw bytes, on gRPC's thread, and each request is decoded
// in place (rpc/datum_wire.h) and queued for its group commit without
// waiting for it (Engine::WriteAsync); the thread that applies the group
// acknowledges it. The other methods use the synchronous API.
// The queries of a GetMetricDataRequest (or an alarm's metrics) as the
// engine takes them: INVALID_ARGUMENT naming name[i] and the field broken.
grpc::Status ToEngineQueries(
    const google::protobuf::RepeatedPtrField<nimbus::v1::MetricDataQuery>&
        queries,
    absl::string_view name, std::vector<engine::MetricDataQuery>* out);

class MetricsService final
    : public nimbus::v1::MetricsService::WithRawCallbackMethod_PutMetricData<
          nimbus::v1::MetricsService::Service> {
 public:
  // `max_queued_bytes`: PutMetricData bytes that may be in progress
  // (decoded or waiting for their commit), beyond which requests are
  // answered RESOURCE_EXHAUSTED.
  MetricsService(engine::Engine& engine, engine::Clock& clock,
                 size_t max_queued_bytes);
  ~MetricsService() override;

  grpc::ServerUnaryReactor* PutMetricData(grpc::CallbackServerContext* ctx,
                                          const grpc::ByteBuffer* req,
                                          grpc::ByteBuffer* resp) override;
  grpc::Status PutMetricSeries(
      grpc::ServerContext* ctx, const nimbus::v1::PutMetricSeriesRequest* req,
      nimbus::v1::PutMetricDataResponse* resp) override;
  grpc::Status StreamMetricSeries(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<nimbus::v1::PutMetricDataResponse,
                               nimbus::v1::PutMetricSeriesRequest>* stream)
      override;
  grpc::Status ListMetrics(grpc::ServerContext* ctx,
                           const nimbus::v1::ListMetricsRequest* req,
                           nimbus::v1::ListMetricsResponse* resp) override;
  grpc::Status GetMetricStatistics(
      grpc::ServerContext* ctx,
      const nimbus::v1::GetMetricStatisticsRequest* req,
      nimbus::v1::GetMetricStatisticsResponse* resp) override;
  grpc::Status GetMetricData(grpc::ServerContext* ctx,
                             const nimbus::v1::GetMetricDataRequest* req,
                             nimbus::v1::GetMetricDataResponse* resp) override;
  grpc::Status GetServerStats(
      grpc::ServerContext* ctx, const nimbus::v1::GetServerStatsRequest* req,
      nimbus::v1::GetServerStatsResponse* resp) override;

 private:
  struct PutCall;
  std::unique_ptr<PutCall> AcquireCall();
  void ReleaseCall(std::unique_ptr<PutCall> c);
  // Decodes and checks the request's bytes into c's batch and response.
  grpc::Status Decode(const grpc::ByteBuffer& req, PutCall* c);
  // Sorts the dimensions of each datum in place.
  grpc::Status PutDatums(PutMetricDataView& req, PutCall* c);
  // Fills the response (if OK) and finishes the call.
  void Complete(std::unique_ptr<PutCall> c, grpc::Status status);
  grpc::Status PutSeries(const nimbus::v1::PutMetricSeriesRequest& req,
                         nimbus::v1::PutMetricDataResponse* resp);
  void CountRejection(engine::RejectReason reason, int64_t points);

  engine::Engine& engine_;
  engine::Clock& clock_;
  std::array<std::atomic<int64_t>, engine::kRejectReasonCount> rejected_{};
  const size_t max_queued_bytes_;
  std::atomic<size_t> queued_bytes_{0};
  absl::Mutex calls_mu_;
  std::vector<std::unique_ptr<PutCall>> free_calls_ ABSL_GUARDED_BY(calls_mu_);
};

}  // namespace nimbus::rpc

#endif  // NIMBUS_RPC_METRICS_SERVICE_H_
