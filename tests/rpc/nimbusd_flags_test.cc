// nimbusd refuses flag values outside their documented ranges
// (docs/operations.md) rather than serving with them.
#include <string>

#include "gtest/gtest.h"
#include "tests/rpc/nimbusd_process.h"

namespace nimbus {
namespace {

using nimbus::testing::NimbusdProcess;

// Whether nimbusd refuses to start with `flag`, and is not left running.
bool Refuses(const std::string& flag) {
  NimbusdProcess server;
  return !server.Start({flag}).ok() && !server.running();
}

TEST(NimbusdFlags, RefusesANegativeIngestThreadCount) {
  EXPECT_TRUE(Refuses("--ingest_threads=-1"));
}

TEST(NimbusdFlags, RefusesAnEmptyIngestQueue) {
  EXPECT_TRUE(Refuses("--ingest_queue_bytes=0"));
}

TEST(NimbusdFlags, RefusesARollupQuietTimeBeyondAnHour) {
  EXPECT_TRUE(Refuses("--rollup_quiet=61m"));
  EXPECT_TRUE(Refuses("--rollup_quiet=-1s"));
}

TEST(NimbusdFlags, RefusesABackgroundNiceOutsideZeroToNineteen) {
  EXPECT_TRUE(Refuses("--background_nice=20"));
  EXPECT_TRUE(Refuses("--background_nice=-1"));
}

TEST(NimbusdFlags, RefusesAlarmEvaluationThreadsOutsideOneToSixtyFour) {
  EXPECT_TRUE(Refuses("--alarm_evaluation_threads=0"));
  EXPECT_TRUE(Refuses("--alarm_evaluation_threads=65"));
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
