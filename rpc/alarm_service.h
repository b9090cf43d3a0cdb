// nimbus.v1.AlarmService: the alarm calls over alarms::AlarmEngine, and
// PreviewAlarm over the engine's stored data. Requests become alarms/
// types here; errors come back as absl::Status and become gRPC codes only
// here.
#ifndef NIMBUS_RPC_ALARM_SERVICE_H_
#define NIMBUS_RPC_ALARM_SERVICE_H_

#include <cstdint>

#include "alarms/alarm_engine.h"
#include "engine/engine.h"
#include "nimbus/v1/alarms.grpc.pb.h"

namespace nimbus::rpc {

// Thread-safe.
class AlarmService final : public nimbus::v1::AlarmService::Service {
 public:
  // `high_resolution_reach_ms`: how far back sub-minute periods are
  // answered (the preview's alarms are validated as live ones are).
  AlarmService(alarms::AlarmEngine& alarms, engine::Engine& engine,
               engine::Clock& clock, int64_t high_resolution_reach_ms);

  grpc::Status PutMetricAlarm(
      grpc::ServerContext* ctx, const nimbus::v1::PutMetricAlarmRequest* req,
      nimbus::v1::PutMetricAlarmResponse* resp) override;
  grpc::Status PutCompositeAlarm(
      grpc::ServerContext* ctx, const nimbus::v1::PutCompositeAlarmRequest* req,
      nimbus::v1::PutCompositeAlarmResponse* resp) override;
  grpc::Status DescribeAlarms(
      grpc::ServerContext* ctx, const nimbus::v1::DescribeAlarmsRequest* req,
      nimbus::v1::DescribeAlarmsResponse* resp) override;
  grpc::Status DescribeAlarmsForMetric(
      grpc::ServerContext* ctx,
      const nimbus::v1::DescribeAlarmsForMetricRequest* req,
      nimbus::v1::DescribeAlarmsForMetricResponse* resp) override;
  grpc::Status DeleteAlarms(grpc::ServerContext* ctx,
                            const nimbus::v1::DeleteAlarmsRequest* req,
                            nimbus::v1::DeleteAlarmsResponse* resp) override;
  grpc::Status SetAlarmState(grpc::ServerContext* ctx,
                             const nimbus::v1::SetAlarmStateRequest* req,
                             nimbus::v1::SetAlarmStateResponse* resp) override;
  grpc::Status EnableAlarmActions(
      grpc::ServerContext* ctx,
      const nimbus::v1::EnableAlarmActionsRequest* req,
      nimbus::v1::EnableAlarmActionsResponse* resp) override;
  grpc::Status DisableAlarmActions(
      grpc::ServerContext* ctx,
      const nimbus::v1::DisableAlarmActionsRequest* req,
      nimbus::v1::DisableAlarmActionsResponse* resp) override;
  grpc::Status DescribeAlarmHistory(
      grpc::ServerContext* ctx,
      const nimbus::v1::DescribeAlarmHistoryRequest* req,
      nimbus::v1::DescribeAlarmHistoryResponse* resp) override;
  grpc::Status PreviewAlarm(grpc::ServerContext* ctx,
                            const nimbus::v1::PreviewAlarmRequest* req,
                            nimbus::v1::PreviewAlarmResponse* resp) override;
  grpc::Status GetAlarmStats(grpc::ServerContext* ctx,
                             const nimbus::v1::GetAlarmStatsRequest* req,
                             nimbus::v1::GetAlarmStatsResponse* resp) override;

 private:
  alarms::AlarmEngine& alarms_;
  engine::Engine& engine_;
  engine::Clock& clock_;
  const int64_t high_resolution_reach_ms_;
};

}  // namespace nimbus::rpc

#endif  // NIMBUS_RPC_ALARM_SERVICE_H_
