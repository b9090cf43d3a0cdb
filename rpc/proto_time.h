// google.protobuf.Timestamp <-> milliseconds since the epoch.
#ifndef NIMBUS_RPC_PROTO_TIME_H_
#define NIMBUS_RPC_PROTO_TIME_H_

#include <cstdint>
#include <optional>

#include "google/protobuf/timestamp.pb.h"

namespace nimbus::rpc {

// google.protobuf.Timestamp's valid range: 0001-01-01 to 9999-12-31.
inline constexpr int64_t kMinTimestampSeconds = -62135596800;
inline constexpr int64_t kMaxTimestampSeconds = 253402300799;

// Milliseconds of a Timestamp, or nullopt if it is outside the valid range.
inline std::optional<int64_t> ToMillis(int64_t seconds, int32_t nanos) {
  if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds ||
      nanos < 0 || nanos > 999'999'999) {
    return std::nullopt;
  }
  return seconds * 1000 + nanos / 1'000'000;
}

inline std::optional<int64_t> ToMillis(const google::protobuf::Timestamp& t) {
  return ToMillis(t.seconds(), t.nanos());
}

inline void ToTimestamp(int64_t ms, google::protobuf::Timestamp* t) {
  int64_t s = ms / 1000, rem = ms % 1000;
  if (rem < 0) {
    --s;
    rem += 1000;
  }
  t->set_seconds(s);
  t->set_nanos(static_cast<int32_t>(rem * 1'000'000));
}

}  // namespace nimbus::rpc

#endif  // NIMBUS_RPC_PROTO_TIME_H_
