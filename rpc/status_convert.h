// The one place absl::Status becomes grpc::Status. Abseil's codes mirror
// google.rpc.Code, so the mapping is one to one.
#ifndef NIMBUS_RPC_STATUS_CONVERT_H_
#define NIMBUS_RPC_STATUS_CONVERT_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace nimbus::rpc {

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

}  // namespace nimbus::rpc

#endif  // NIMBUS_RPC_STATUS_CONVERT_H_
