// nimbus.v1.MetricsService: proto <-> engine translation, request-level
// validation and per-datum rejection.
#ifndef NIMBUS_RPC_METRICS_SERVICE_H_
#define NIMBUS_RPC_METRICS_SERVICE_H_

#include <array>
#include <atomic>

#include "engine/clock.h"
#include "engine/engine.h"
#include "engine/validation.h"
#include "nimbus/v1/metrics.grpc.pb.h"

namespace nimbus::rpc {

// Thread-safe; borrows the engine and the clock.
class MetricsService final : public nimbus::v1::MetricsService::Service {
 public:
  MetricsService(engine::Engine& engine, engine::Clock& clock)
      : engine_(engine), clock_(clock) {}

  grpc::Status PutMetricData(grpc::ServerContext* ctx,
                             const nimbus::v1::PutMetricDataRequest* req,
                             nimbus::v1::PutMetricDataResponse* resp) override;
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
  grpc::Status PutSeries(const nimbus::v1::PutMetricSeriesRequest& req,
                         nimbus::v1::PutMetricDataResponse* resp);
  void CountRejection(engine::RejectReason reason, int64_t points);

  engine::Engine& engine_;
  engine::Clock& clock_;
  std::array<std::atomic<int64_t>, engine::kRejectReasonCount> rejected_{};
};

}  // namespace nimbus::rpc

#endif  // NIMBUS_RPC_METRICS_SERVICE_H_
