// nimbusd refuses flag values outside their documented ranges
// (docs/operations.md) rather than serving with them.
#include "gtest/gtest.h"
#include "tests/rpc/nimbusd_process.h"

namespace nimbus {
namespace {

using nimbus::testing::NimbusdProcess;

TEST(NimbusdFlags, RefusesANegativeIngestThreadCount) {
  NimbusdProcess server;
  EXPECT_FALSE(server.Start({"--ingest_threads=-1"}).ok());
  EXPECT_FALSE(server.running());
}

TEST(NimbusdFlags, RefusesAnEmptyIngestQueue) {
  NimbusdProcess server;
  EXPECT_FALSE(server.Start({"--ingest_queue_bytes=0"}).ok());
  EXPECT_FALSE(server.running());
}

TEST(NimbusdFlags, RefusesARollupQuietTimeBeyondAnHour) {
  NimbusdProcess server;
  EXPECT_FALSE(server.Start({"--rollup_quiet=61m"}).ok());
  EXPECT_FALSE(server.running());
  NimbusdProcess negative;
  EXPECT_FALSE(negative.Start({"--rollup_quiet=-1s"}).ok());
}

TEST(NimbusdFlags, RefusesABackgroundNiceOutsideZeroToNineteen) {
  NimbusdProcess server;
  EXPECT_FALSE(server.Start({"--background_nice=20"}).ok());
  EXPECT_FALSE(server.running());
  NimbusdProcess negative;
  EXPECT_FALSE(negative.Start({"--background_nice=-1"}).ok());
}

TEST(NimbusdFlags, RefusesAlarmEvaluationThreadsOutsideOneToSixtyFour) {
  NimbusdProcess none;
  EXPECT_FALSE(none.Start({"--alarm_evaluation_threads=0"}).ok());
  EXPECT_FALSE(none.running());
  NimbusdProcess many;
  EXPECT_FALSE(many.Start({"--alarm_evaluation_threads=65"}).ok());
  EXPECT_FALSE(many.running());
}

TEST(NimbusdFlags, ServesWithTheirEdgeValues) {
  NimbusdProcess server;
  ASSERT_TRUE(
      server
          .Start({"--ingest_threads=1", "--rollup_quiet=1h",
                  "--background_nice=19", "--alarm_evaluation_threads=64"})
          .ok());
  EXPECT_TRUE(server.ServerStats().ok());
  NimbusdProcess same_priority;
  ASSERT_TRUE(
      same_priority
          .Start({"--background_nice=0", "--alarm_evaluation_threads=1"})
          .ok());
  EXPECT_TRUE(same_priority.ServerStats().ok());
}

}  // namespace
}  // namespace nimbus
