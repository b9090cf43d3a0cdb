// A second nimbusd cannot take an address a running one serves: gRPC's
// default SO_REUSEPORT would let it bind and take half of the connections.
#include "gtest/gtest.h"
#include "tests/rpc/nimbusd_process.h"

namespace nimbus {
namespace {

using nimbus::testing::NimbusdProcess;

TEST(ServerPort, ASecondServerCannotTakeARunningServersAddress) {
  NimbusdProcess first;
  ASSERT_TRUE(first.Start().ok());
  NimbusdProcess second;  // its own data directory
  const absl::Status started = second.Start({"--listen=" + first.address()});
  EXPECT_FALSE(started.ok()) << "a second nimbusd bound " << first.address();
  EXPECT_FALSE(second.running());
  EXPECT_TRUE(first.ServerStats().ok());
}

}  // namespace
}  // namespace nimbus
