// nimbus-loadgen against a real nimbusd: every ingest RPC with --verify, a
// replayed CSV, the query mode and the JSON report. Keeps the tool from
// rotting.
#include <sys/wait.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/rpc/nimbusd_process.h"

namespace nimbus {
namespace {

using ::testing::HasSubstr;

class LoadgenTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start().ok()); }

  // Runs nimbus-loadgen with `flags`; returns its exit code and its JSON
  // report in *json.
  int Run(const std::string& flags, std::string* json = nullptr) {
    const std::string report = server_.data_dir() + "/report.json";
    std::filesystem::remove(report);
    const std::string cmd = std::string(NIMBUS_LOADGEN_PATH) +
                            " --target=" + server_.address() +
                            " --json=" + report + " " + flags + " 2>" +
                            server_.data_dir() + "/loadgen.err";
    const int status = std::system(cmd.c_str());
    if (json != nullptr) {
      std::ifstream in(report);
      std::stringstream ss;
      ss << in.rdbuf();
      *json = ss.str();
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  testing::NimbusdProcess server_;
};

TEST_F(LoadgenTest, EveryIngestRpcLoadsAndVerifies) {
  for (const char* rpc :
       {"PutMetricData", "PutMetricSeries", "StreamMetricSeries"}) {
    std::string json;
    EXPECT_EQ(Run(std::string("--rpc=") + rpc + " --namespace_name=" + rpc +
                      " --series=200 --duration=30m --concurrency=2 --verify",
                  &json),
              0)
        << rpc;
    EXPECT_THAT(json, HasSubstr("\"points_sent\": 36000")) << rpc;
    EXPECT_THAT(json, HasSubstr("\"points_acknowledged\": 36000")) << rpc;
    EXPECT_THAT(json, HasSubstr("\"points_rejected\": 0")) << rpc;
    EXPECT_THAT(json, HasSubstr("\"p99.9\"")) << rpc;
    EXPECT_THAT(json, HasSubstr("\"resident_bytes\"")) << rpc;
  }
}

TEST_F(LoadgenTest, VerifyFailsWhenTheServerHoldsOtherData) {
  ASSERT_EQ(Run("--series=16 --duration=10m --namespace_name=X"), 0);
  // The same series with another seed: the server now holds both.
  EXPECT_EQ(
      Run("--series=16 --duration=10m --namespace_name=X --seed=7 --verify"),
      1);
}

// RFC 3339 for `ms` since the epoch, in whole seconds.
std::string Rfc3339(int64_t ms) {
  const time_t secs = static_cast<time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST_F(LoadgenTest, ExitsNonZeroWhenPointsAreRejected) {
  std::string json;
  // Twenty days ago, on the hour: every point is too old (more than 14
  // days), whatever today's date.
  const int64_t start =
      (NowMs() - int64_t{20} * 86'400'000) / 3'600'000 * 3'600'000;
  EXPECT_EQ(Run("--series=8 --duration=10m --start=" + Rfc3339(start) +
                    " --namespace_name=Old",
                &json),
            1);
  EXPECT_THAT(json, HasSubstr("\"points_acknowledged\": 0"));
  EXPECT_THAT(json, HasSubstr("\"points_per_second\": 0"));
  EXPECT_THAT(json, HasSubstr("TimestampTooOld"));
}

TEST_F(LoadgenTest, RefusesVerifyWithAWallClockLimit) {
  EXPECT_EQ(Run("--series=8 --duration=10m --run_time=1s --verify"), 2);
}

// The alarms mode runs on the server's real clock (rounds 20 s apart), so
// it is run by hand (bench/RESULTS.md); its options are checked here.
TEST_F(LoadgenTest, AlarmsModeRefusesBadOptions) {
  EXPECT_EQ(Run("--mode=alarms --series=10 --alarm_probes=0"), 2);
  EXPECT_EQ(Run("--mode=alarms --series=10 --alarm_probes=101"), 2);
  EXPECT_EQ(Run("--mode=alarms --series=10 --alarm_breach_share=0"), 2);
  EXPECT_EQ(Run("--mode=alarms --series=10 --alarm_breach_share=1.5"), 2);
  EXPECT_EQ(Run("--mode=alarms --series=0"), 2);
  EXPECT_EQ(Run("--mode=alarms --series=10 --alarm_rounds=0"), 2);
  EXPECT_EQ(Run("--mode=nothing"), 2);
}

TEST_F(LoadgenTest, QueryModeFailsWhenThereIsNoData) {
  EXPECT_EQ(
      Run("--mode=query --series=8 --duration=1h --namespace_name=Nothing "
          "--run_time=200ms"),
      1);
}

TEST_F(LoadgenTest, ReplaysACsvFileInOrder) {
  const std::string csv = server_.data_dir() + "/data.csv";
  {
    std::ofstream out(csv);
    out << "series_key,timestamp_ms,value\n";
    const int64_t now = NowMs();
    for (int i = 0; i < 300; ++i) {
      out << "cpu|Host=a|Zone=z1," << now - 600'000 + i * 1000 << ","
          << i * 0.25 << "\n";
      out << "mem|Host=b," << now - 600'000 + i * 1000 << "," << i * 4096
          << "\n";
    }
  }
  std::string json;
  EXPECT_EQ(Run("--replay=" + csv +
                    " --namespace_name=Replay --rpc=PutMetricData --verify",
                &json),
            0);
  EXPECT_THAT(json, HasSubstr("\"points_acknowledged\": 600"));
  EXPECT_EQ(Run("--replay=" + csv +
                " --namespace_name=Replay2 --points_per_series=7 --verify"),
            0);
  std::ofstream(csv, std::ios::app) << "bad row\n";
  EXPECT_EQ(Run("--replay=" + csv), 2);
}

TEST_F(LoadgenTest, QueryModeReportsQueriesPerSecond) {
  ASSERT_EQ(Run("--series=50 --duration=1h --namespace_name=Q"), 0);
  std::string json;
  EXPECT_EQ(Run("--mode=query --series=50 --duration=1h --namespace_name=Q "
                "--run_time=1s --concurrency=2",
                &json),
            0);
  EXPECT_THAT(json, HasSubstr("\"queries_per_second\""));
  EXPECT_THAT(json, HasSubstr("\"errors\": 0"));
}

}  // namespace
}  // namespace nimbus
