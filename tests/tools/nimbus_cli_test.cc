// The nimbus CLI: argument parsing, time parsing, request building, tables
// and charts in-process; then the real `nimbus` binary against a real
// nimbusd, as a user runs it (exit codes, stdout and stderr).
#include "tools/nimbus_cli.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/rpc/nimbusd_process.h"

namespace nimbus::cli {
namespace {

namespace v1 = ::nimbus::v1;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// 2026-12-01T10:00:00Z.
constexpr int64_t kT0 = 1796119200000;
constexpr int64_t kMinute = 60'000;

ParsedArgs MustParse(const std::string& path,
                     const std::vector<std::string>& args) {
  const CommandSpec* spec = FindCommand(path);
  EXPECT_NE(spec, nullptr) << path;
  absl::StatusOr<ParsedArgs> p = ParseArgs(*spec, args);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : ParsedArgs();
}

std::string ParseError(const std::string& path,
                       const std::vector<std::string>& args) {
  absl::StatusOr<ParsedArgs> p = ParseArgs(*FindCommand(path), args);
  return p.ok() ? "ok" : std::string(p.status().message());
}

// ---------------------------------------------------------------------------
// Argument parsing.

TEST(ParseArgsTest, ValuesSwitchesAndRepeats) {
  const ParsedArgs p = MustParse(
      "get", {"--namespace", "MyApp", "--metric=Latency", "--dimension",
              "Host=a", "--dimension=Zone=z1", "--json", "--start", "-1h"});
  EXPECT_EQ(p.Get("namespace"), "MyApp");
  EXPECT_EQ(p.Get("metric"), "Latency");
  EXPECT_THAT(p.All("dimension"), ElementsAre("Host=a", "Zone=z1"));
  EXPECT_TRUE(p.Switch("json"));
  EXPECT_FALSE(p.Switch("no-chart"));
  // A value that starts with '-' is the flag's value.
  EXPECT_EQ(p.Get("start"), "-1h");
  EXPECT_FALSE(p.Has("end"));
  EXPECT_THAT(p.given(),
              ElementsAre("namespace", "metric", "dimension", "json", "start"));
}

TEST(ParseArgsTest, SwitchTakesExplicitTrueOrFalse) {
  EXPECT_FALSE(MustParse("get", {"--json=false"}).Switch("json"));
  EXPECT_TRUE(MustParse("get", {"--json=true"}).Switch("json"));
  EXPECT_EQ(ParseError("get", {"--json=yes"}),
            "--json: takes no value, or =true or =false; got 'yes'");
}

TEST(ParseArgsTest, ErrorsNameTheFlagAndTheRule) {
  EXPECT_EQ(ParseError("get", {"--metrc", "x"}), "unknown flag --metrc");
  EXPECT_EQ(ParseError("get", {"--period"}),
            "--period: needs a value (SECONDS)");
  EXPECT_EQ(ParseError("get", {"--period", "60", "--period=300"}),
            "--period: given twice; it takes one value");
  EXPECT_EQ(ParseError("get", {"-p", "60"}),
            "unknown flag -p (flags are spelled --name)");
  EXPECT_EQ(ParseError("get", {"extra"}),
            "unexpected argument 'extra' (takes no arguments)");
  EXPECT_EQ(ParseError("alarms delete", {}), "missing NAME...");
  EXPECT_EQ(ParseError("alarms set-state", {"a"}),
            "missing NAME STATE (got 1)");
  EXPECT_EQ(ParseError("alarms set-state", {"a", "OK", "c"}),
            "unexpected argument 'c' (takes NAME STATE)");
  EXPECT_EQ(ParseError("alarms history", {"a", "b"}),
            "unexpected argument 'b' (takes [NAME])");
}

TEST(ParseArgsTest, PositionalArgumentsAndDoubleDash) {
  const ParsedArgs p =
      MustParse("alarms delete", {"a", "--timeout", "5s", "--", "--b"});
  EXPECT_THAT(p.positional(), ElementsAre("a", "--b"));
  EXPECT_EQ(p.Get("timeout"), "5s");
}

TEST(ParseArgsTest, HelpAnywhereWins) {
  const ParsedArgs p = MustParse("alarms put", {"--bogus", "--help"});
  EXPECT_TRUE(p.help());
  EXPECT_TRUE(MustParse("put", {"-h"}).help());
  // After "--" it is an argument.
  EXPECT_FALSE(MustParse("alarms delete", {"--", "--help"}).help());
}

TEST(ParseArgsTest, EveryCommandTakesTheGlobalFlags) {
  for (const CommandSpec& spec : Commands()) {
    std::vector<std::string> args = {"--endpoint", "h:1", "--timeout=1s"};
    for (size_t i = 0; i < spec.min_args; ++i) args.push_back("x");
    EXPECT_TRUE(ParseArgs(spec, args).ok()) << spec.path;
    EXPECT_THAT(CommandHelp(spec),
                AllOf(StartsWith("Usage: nimbus " + spec.path),
                      HasSubstr("--endpoint HOST:PORT"), HasSubstr("--help")))
        << spec.path;
  }
}

// ---------------------------------------------------------------------------
// Durations and times.

TEST(TimeTest, Durations) {
  EXPECT_EQ(*ParseDurationMs("90s"), 90'000);
  EXPECT_EQ(*ParseDurationMs("1h30m"), 5'400'000);
  EXPECT_EQ(*ParseDurationMs("1.5h"), 5'400'000);
  EXPECT_EQ(*ParseDurationMs("2d"), 172'800'000);
  EXPECT_EQ(*ParseDurationMs("1w"), 604'800'000);
  EXPECT_EQ(*ParseDurationMs("500ms"), 500);
  for (const char* bad : {"", "5", "-5m", "5x", "m", "1h 5"}) {
    EXPECT_FALSE(ParseDurationMs(bad).ok()) << bad;
  }
  EXPECT_THAT(std::string(ParseDurationMs("5x").status().message()),
              HasSubstr("must be a duration like 90s, 5m, 1h30m or 2d"));
}

TEST(TimeTest, NowAndRelative) {
  const int64_t now = kT0 + 12'345;
  EXPECT_EQ(*ParseTimeMs("now", now), now);
  EXPECT_EQ(*ParseTimeMs("-1h", now), now - 3'600'000);
  EXPECT_EQ(*ParseTimeMs("+5m", now), now + 300'000);
  EXPECT_EQ(*ParseTimeMs("now-1h30m", now), now - 5'400'000);
  EXPECT_EQ(*ParseTimeMs("now+2d", now), now + 172'800'000);
  EXPECT_EQ(*ParseTimeMs(" -10s ", now), now - 10'000);
}

TEST(TimeTest, Absolute) {
  EXPECT_EQ(*ParseTimeMs("2026-12-01T10:00:00Z", 0), kT0);
  EXPECT_EQ(*ParseTimeMs("2026-12-01t10:00:00z", 0), kT0);
  EXPECT_EQ(*ParseTimeMs("2026-12-01T11:00:00.250+01:00", 0), kT0 + 250);
  EXPECT_EQ(*ParseTimeMs("2026-12-01 10:00:00Z", 0), kT0);
  EXPECT_EQ(*ParseTimeMs("2026-12-01T10:00:00", 0), kT0);  // UTC
  EXPECT_EQ(*ParseTimeMs("2026-12-01T10:00", 0), kT0);
  EXPECT_EQ(*ParseTimeMs("2026-12-01", 0), kT0 - 10 * 3'600'000);
  EXPECT_EQ(*ParseTimeMs("@1796119200", 0), kT0);
  EXPECT_EQ(*ParseTimeMs("@1796119200.5", 0), kT0 + 500);
}

TEST(TimeTest, BadTimesSayWhatIsAccepted) {
  for (const char* bad :
       {"", "yesterday", "1h", "now-", "now-x", "2026-13-01T00:00:00Z", "@",
        "@-5", "@x", "2026-12-01T10:00:00Q"}) {
    absl::StatusOr<int64_t> t = ParseTimeMs(bad, kT0);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_THAT(std::string(t.status().message()),
                AllOf(HasSubstr("must be RFC 3339 (2026-12-01T10:00:00Z)"),
                      HasSubstr("-1h"), HasSubstr("got '")))
        << bad;
  }
}

TEST(TimeTest, Formats) {
  EXPECT_EQ(FormatTimeMs(kT0), "2026-12-01T10:00:00Z");
  EXPECT_EQ(FormatTimeMs(kT0 + 250), "2026-12-01T10:00:00.250Z");
  EXPECT_EQ(FormatNumber(18.125), "18.125");
  EXPECT_EQ(FormatNumber(10.0 / 3), "3.333333333");
  EXPECT_EQ(FormatNumber(1234567), "1234567");
  EXPECT_EQ(FormatNumber(-0.5), "-0.5");
}

TEST(StatusTest, CodeNamesAndExitCodes) {
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::INVALID_ARGUMENT),
            "INVALID_ARGUMENT");
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::RESOURCE_EXHAUSTED),
            "RESOURCE_EXHAUSTED");
  EXPECT_EQ(ExitCodeFor(grpc::Status::OK), kExitOk);
  EXPECT_EQ(ExitCodeFor(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "")),
            kExitServerError);
  EXPECT_EQ(ExitCodeFor(grpc::Status(grpc::StatusCode::NOT_FOUND, "")),
            kExitServerError);
  EXPECT_EQ(ExitCodeFor(grpc::Status(grpc::StatusCode::UNAVAILABLE, "")),
            kExitUnreachable);
  EXPECT_EQ(ExitCodeFor(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "")),
            kExitUnreachable);
}

// ---------------------------------------------------------------------------
// Requests.

const BuildInputs kInputs{kT0, nullptr};

std::string BuildError(const absl::Status& s) {
  return std::string(s.message());
}

TEST(BuildTest, PutOnePoint) {
  const auto req = BuildPutMetricData(
      MustParse("put",
                {"--namespace", "MyApp", "--metric", "Latency", "--dimension",
                 "Host=web-1", "--dimension", "Az=a=b", "--value", "12.5",
                 "--unit", "Milliseconds", "--timestamp", "-5m"}),
      kInputs);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->namespace_(), "MyApp");
  ASSERT_EQ(req->metric_data_size(), 1);
  const v1::MetricDatum& d = req->metric_data(0);
  EXPECT_EQ(d.metric_name(), "Latency");
  ASSERT_EQ(d.dimensions_size(), 2);
  EXPECT_EQ(d.dimensions(1).name(), "Az");
  EXPECT_EQ(d.dimensions(1).value(), "a=b");
  EXPECT_TRUE(d.has_value());
  EXPECT_EQ(d.value(), 12.5);
  EXPECT_EQ(d.unit(), "Milliseconds");
  EXPECT_EQ(d.timestamp().seconds(), (kT0 - 300'000) / 1000);
}

TEST(BuildTest, PutSeveralValuesAndServerTime) {
  const auto req = BuildPutMetricData(
      MustParse("put", {"--namespace", "N", "--metric", "M", "--value", "1",
                        "--value", "2", "--timestamp", "now"}),
      kInputs);
  ASSERT_TRUE(req.ok()) << req.status();
  const v1::MetricDatum& d = req->metric_data(0);
  EXPECT_FALSE(d.has_value());
  EXPECT_THAT(d.values(), ElementsAre(1, 2));
  // "now" leaves the stamping to the server's clock.
  EXPECT_FALSE(d.has_timestamp());
}

TEST(BuildTest, PutErrors) {
  const auto err = [](const std::vector<std::string>& args) {
    return BuildError(
        BuildPutMetricData(MustParse("put", args), kInputs).status());
  };
  EXPECT_EQ(err({"--namespace", "N", "--value", "1"}),
            "--metric: required (or give the whole request with --json)");
  EXPECT_EQ(err({"--namespace", "N", "--metric", "M", "--value", "x"}),
            "--value: must be a finite number, got 'x'");
  EXPECT_EQ(err({"--namespace", "N", "--metric", "M", "--value", "nan"}),
            "--value: must be a finite number, got 'nan'");
  EXPECT_EQ(err({"--namespace", "N", "--metric", "M", "--value", "1",
                 "--dimension", "Host"}),
            "--dimension: must be Name=Value, got 'Host'");
  EXPECT_EQ(err({"--namespace", "N", "--metric", "M", "--value", "1",
                 "--timestamp", "soon"}),
            "--timestamp: must be RFC 3339 (2026-12-01T10:00:00Z), 'now', "
            "relative to now (-1h, -30m, -2d, now-1h30m) or @UNIX_SECONDS, "
            "got 'soon'");
  EXPECT_EQ(err({"--json", "{}", "--metric", "M"}),
            "--metric: cannot be combined with --json, which gives the whole "
            "request");
  EXPECT_THAT(err({"--json", "{\"nope\": 1}"}),
              StartsWith("--json: not a nimbus.v1.PutMetricDataRequest in "
                         "protobuf's JSON mapping: "));
  EXPECT_THAT(err({"--json", "@/nonexistent/file.json"}),
              StartsWith("--json: cannot read '/nonexistent/file.json': "));
}

TEST(BuildTest, PutJsonTextFileAndStdin) {
  const std::string json =
      R"({"namespace": "N", "metricData": [{"metricName": "M", "value": 3},
          {"metricName": "M", "values": [1, 2]}]})";
  auto req = BuildPutMetricData(MustParse("put", {"--json", json}), kInputs);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->metric_data_size(), 2);

  const std::string path =
      (std::filesystem::temp_directory_path() / "nimbus_cli_test.json")
          .string();
  std::ofstream(path) << json;
  req = BuildPutMetricData(MustParse("put", {"--json", "@" + path}), kInputs);
  std::filesystem::remove(path);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->metric_data(1).values_size(), 2);

  std::istringstream in(json);
  req = BuildPutMetricData(MustParse("put", {"--json=@-"}),
                           BuildInputs{kT0, &in});
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->namespace_(), "N");
  EXPECT_EQ(
      BuildError(BuildPutMetricData(MustParse("put", {"--json=@-"}), kInputs)
                     .status()),
      "--json: cannot read stdin here");
}

TEST(BuildTest, GetDefaultsToTheLastHourAtOneMinute) {
  const auto req = BuildGetStatistics(
      MustParse("get", {"--namespace", "N", "--metric", "M"}), kInputs);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_THAT(req->statistics(), ElementsAre("Average"));
  EXPECT_EQ(req->period(), 60);
  EXPECT_EQ(req->start_time().seconds(), (kT0 - 3'600'000) / 1000);
  EXPECT_EQ(req->end_time().seconds(), kT0 / 1000);
}

TEST(BuildTest, GetStatisticsPeriodAndRange) {
  const auto req = BuildGetStatistics(
      MustParse("get", {"--namespace", "N", "--metric", "M", "--statistic",
                        "SampleCount, Maximum", "--statistic", "Sum",
                        "--period", "5m", "--start", "2026-12-01T09:00:00Z",
                        "--end", "-10m", "--unit", "Count"}),
      kInputs);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_THAT(req->statistics(), ElementsAre("SampleCount", "Maximum", "Sum"));
  EXPECT_EQ(req->period(), 300);
  EXPECT_EQ(req->start_time().seconds(), (kT0 - 3'600'000) / 1000);
  EXPECT_EQ(req->end_time().seconds(), (kT0 - 600'000) / 1000);
  EXPECT_EQ(req->unit(), "Count");

  const auto ext = BuildGetStatistics(
      MustParse("get",
                {"--namespace", "N", "--metric", "M", "--extended-statistic",
                 "p99", "--extended-statistic", "TM(10%:90%)"}),
      kInputs);
  ASSERT_TRUE(ext.ok()) << ext.status();
  EXPECT_TRUE(ext->statistics().empty());
  EXPECT_THAT(ext->extended_statistics(), ElementsAre("p99", "TM(10%:90%)"));
}

TEST(BuildTest, GetErrors) {
  const auto err = [](std::vector<std::string> args) {
    args.insert(args.begin(), {"--namespace", "N", "--metric", "M"});
    return BuildError(
        BuildGetStatistics(MustParse("get", args), kInputs).status());
  };
  EXPECT_EQ(err({"--period", "abc"}),
            "--period: must be a whole number of seconds (60) or a duration "
            "of whole seconds (5m, 1h), got 'abc'");
  EXPECT_EQ(err({"--period", "1500ms"}),
            "--period: must be a whole number of seconds (60) or a duration "
            "of whole seconds (5m, 1h), got '1500ms'");
  EXPECT_EQ(err({"--period", "0"}),
            "--period: must be a whole number of seconds (60) or a duration "
            "of whole seconds (5m, 1h), got '0'");
  EXPECT_EQ(err({"--start", "-1h", "--end", "-2h"}),
            "--start: must be before --end (2026-12-01T09:00:00Z is not "
            "before 2026-12-01T08:00:00Z)");
  EXPECT_EQ(err({"--statistic", "Sum", "--extended-statistic", "p99"}),
            "--statistic, --extended-statistic: give one of them, not both "
            "(GetMetricStatistics takes one list or the other)");
  EXPECT_EQ(BuildError(
                BuildGetStatistics(MustParse("get", {"--metric", "M"}), kInputs)
                    .status()),
            "--namespace: required");
}

TEST(BuildTest, ListFilters) {
  const auto req = BuildListMetrics(
      MustParse("list", {"--namespace", "N", "--dimension", "Host",
                         "--dimension", "Zone=a", "--recently-active"}),
      kInputs);
  ASSERT_TRUE(req.ok()) << req.status();
  ASSERT_EQ(req->dimensions_size(), 2);
  EXPECT_FALSE(req->dimensions(0).has_value());
  EXPECT_EQ(req->dimensions(1).value(), "a");
  EXPECT_EQ(req->recently_active(), "PT3H");
  EXPECT_EQ(BuildError(BuildListMetrics(
                           MustParse("list", {"--dimension", "=a"}), kInputs)
                           .status()),
            "--dimension: must be Name or Name=Value, got '=a'");
}

const std::vector<std::string> kAlarmFlags = {"--name",
                                              "cpu-high",
                                              "--namespace",
                                              "MyApp",
                                              "--metric",
                                              "CPU",
                                              "--dimension",
                                              "Host=a",
                                              "--statistic",
                                              "Average",
                                              "--period",
                                              "5m",
                                              "--evaluation-periods",
                                              "3",
                                              "--datapoints-to-alarm",
                                              "2",
                                              "--threshold",
                                              "-0.5",
                                              "--comparison-operator",
                                              ">="};

TEST(BuildTest, AlarmPutFromFlags) {
  std::vector<std::string> args = kAlarmFlags;
  args.insert(args.end(),
              {"--treat-missing-data", "breaching", "--actions-enabled",
               "false", "--alarm-action", "page", "--alarm-action", "mail",
               "--tag", "team=web"});
  const auto req = BuildPutMetricAlarm(MustParse("alarms put", args), kInputs);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->alarm_name(), "cpu-high");
  EXPECT_EQ(req->dimensions(0).value(), "a");
  EXPECT_EQ(req->period(), 300);
  EXPECT_EQ(req->evaluation_periods(), 3);
  EXPECT_EQ(req->datapoints_to_alarm(), 2);
  EXPECT_TRUE(req->has_threshold());
  EXPECT_EQ(req->threshold(), -0.5);
  EXPECT_EQ(req->comparison_operator(), "GreaterThanOrEqualToThreshold");
  EXPECT_EQ(req->treat_missing_data(), "breaching");
  EXPECT_TRUE(req->has_actions_enabled());
  EXPECT_FALSE(req->actions_enabled());
  EXPECT_THAT(req->alarm_actions(), ElementsAre("page", "mail"));
  EXPECT_EQ(req->tags(0).key(), "team");
}

TEST(BuildTest, AlarmPutErrors) {
  const auto err = [](const std::vector<std::string>& args) {
    return BuildError(
        BuildPutMetricAlarm(MustParse("alarms put", args), kInputs).status());
  };
  std::vector<std::string> no_threshold;
  for (size_t i = 0; i < kAlarmFlags.size(); i += 2) {
    if (kAlarmFlags[i] != "--threshold") {
      no_threshold.push_back(kAlarmFlags[i]);
      no_threshold.push_back(kAlarmFlags[i + 1]);
    }
  }
  EXPECT_EQ(err(no_threshold), "--threshold: required");
  std::vector<std::string> two_stats = kAlarmFlags;
  two_stats.insert(two_stats.end(), {"--extended-statistic", "p99"});
  EXPECT_EQ(err(two_stats),
            "--statistic, --extended-statistic: exactly one of them is "
            "required");
  std::vector<std::string> bad_n = kAlarmFlags;
  bad_n.insert(bad_n.end(), {"--tag", "x"});
  EXPECT_EQ(err(bad_n), "--tag: must be Key=Value, got 'x'");
  EXPECT_EQ(err({"--name", "a"}), "--namespace: required");
  EXPECT_EQ(err({"--json", "{}", "--name", "a"}),
            "--name: cannot be combined with --json, which gives the whole "
            "request");
  std::vector<std::string> bad_periods = kAlarmFlags;
  bad_periods[13] = "three";  // --evaluation-periods
  EXPECT_EQ(err(bad_periods),
            "--evaluation-periods: must be a whole number of at least 1, got "
            "'three'");
}

TEST(BuildTest, AlarmPutJson) {
  const auto req = BuildPutMetricAlarm(
      MustParse("alarms put", {"--json", R"({"alarmName": "a", "threshold": 0,
                              "comparisonOperator": "LessThanThreshold"})"}),
      kInputs);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->alarm_name(), "a");
  EXPECT_TRUE(req->has_threshold());
}

TEST(BuildTest, CompositeDescribeHistorySetState) {
  const auto comp = BuildPutCompositeAlarm(
      MustParse("alarms put-composite",
                {"--name", "web", "--rule", "ALARM(a) OR ALARM(b)",
                 "--suppressor-wait-period", "2m"}),
      kInputs);
  ASSERT_TRUE(comp.ok()) << comp.status();
  EXPECT_EQ(comp->alarm_rule(), "ALARM(a) OR ALARM(b)");
  EXPECT_EQ(comp->actions_suppressor_wait_period(), 120);
  EXPECT_EQ(BuildError(
                BuildPutCompositeAlarm(
                    MustParse("alarms put-composite", {"--name", "x"}), kInputs)
                    .status()),
            "--rule: required");

  auto desc = BuildDescribeAlarms(
      MustParse("alarms describe", {"a", "b", "--state", "alarm"}), kInputs);
  ASSERT_TRUE(desc.ok());
  EXPECT_THAT(desc->alarm_names(), ElementsAre("a", "b"));
  EXPECT_EQ(desc->state_value(), "ALARM");
  // Both types unless asked.
  EXPECT_THAT(desc->alarm_types(),
              ElementsAre("MetricAlarm", "CompositeAlarm"));
  desc = BuildDescribeAlarms(
      MustParse("alarms describe", {"--type", "composite"}), kInputs);
  EXPECT_THAT(desc->alarm_types(), ElementsAre("CompositeAlarm"));
  EXPECT_EQ(
      BuildError(BuildDescribeAlarms(
                     MustParse("alarms describe", {"--type", "x"}), kInputs)
                     .status()),
      "--type: must be MetricAlarm (metric) or CompositeAlarm "
      "(composite), got 'x'");

  const auto hist = BuildAlarmHistory(
      MustParse("alarms history", {"a", "--type", "StateUpdate", "--start",
                                   "-1d", "--oldest-first"}),
      kInputs);
  ASSERT_TRUE(hist.ok());
  EXPECT_EQ(hist->alarm_name(), "a");
  EXPECT_EQ(hist->history_item_type(), "StateUpdate");
  EXPECT_EQ(hist->start_date().seconds(), (kT0 - 86'400'000) / 1000);
  EXPECT_FALSE(hist->has_end_date());
  EXPECT_EQ(hist->scan_by(), "TimestampAscending");

  const auto set = BuildSetAlarmState(
      MustParse("alarms set-state", {"a", "insufficient-data", "--reason",
                                     "why", "--reason-data", "{}"}),
      kInputs);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->state_value(), "INSUFFICIENT_DATA");
  EXPECT_EQ(set->state_reason(), "why");
  EXPECT_EQ(set->state_reason_data(), "{}");
  EXPECT_EQ(BuildError(BuildSetAlarmState(
                           MustParse("alarms set-state", {"a", "OK"}), kInputs)
                           .status()),
            "--reason: required");
}

TEST(BuildTest, Preview) {
  std::vector<std::string> args(kAlarmFlags.begin() + 2, kAlarmFlags.end());
  args.insert(args.end(), {"--start", "-3h", "--initial-state", "ok"});
  auto req = BuildPreviewAlarm(MustParse("alarms preview", args), kInputs);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->alarm().alarm_name(), "preview");
  EXPECT_EQ(req->alarm().period(), 300);
  EXPECT_EQ(req->start_time().seconds(), (kT0 - 3 * 3'600'000) / 1000);
  EXPECT_EQ(req->end_time().seconds(), kT0 / 1000);
  EXPECT_EQ(req->initial_state(), "OK");

  req = BuildPreviewAlarm(
      MustParse("alarms preview",
                {"--alarm-json", R"({"metricName": "M", "threshold": 1})",
                 "--start", "-10m", "--json"}),
      kInputs);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->alarm().alarm_name(), "preview");
  EXPECT_EQ(req->alarm().metric_name(), "M");
  EXPECT_EQ(BuildError(BuildPreviewAlarm(
                           MustParse("alarms preview",
                                     {"--alarm-json", "{}", "--metric", "M"}),
                           kInputs)
                           .status()),
            "--metric: cannot be combined with --alarm-json, which gives the "
            "whole alarm");
  req = BuildPreviewAlarm(
      MustParse("alarms preview", {"--rule", "ALARM(a) OR ALARM(b)"}), kInputs);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_FALSE(req->has_alarm());
  EXPECT_EQ(req->composite().alarm_rule(), "ALARM(a) OR ALARM(b)");
  EXPECT_THAT(BuildError(BuildPreviewAlarm(
                             MustParse("alarms preview",
                                       {"--rule", "ALARM(a)", "--metric", "M"}),
                             kInputs)
                             .status()),
              HasSubstr("--metric: cannot be combined with --rule"));
}

// ---------------------------------------------------------------------------
// Tables and charts.

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(RenderTest, Table) {
  EXPECT_EQ(RenderTable({"NAME", "N", "REASON"},
                        {{"a", "1", "short"}, {"longer", "123", ""}},
                        {false, true, false}),
            "NAME      N  REASON\n"
            "a         1  short\n"
            "longer  123\n");
}

TEST(RenderTest, BarChartInEighths) {
  const std::vector<int64_t> times = {kT0, kT0 + kMinute, kT0 + 2 * kMinute,
                                      kT0 + 3 * kMinute, kT0 + 4 * kMinute};
  ChartOptions o;
  o.height = 2;
  // Scale 0..8 over 16 eighths: 0 shows as the smallest block, 4 fills the
  // bottom row, 8 both; the missing value is a blank column.
  EXPECT_EQ(RenderBarChart({0.0, 4.0, 8.0, std::nullopt, 2.0}, times, o),
            "8┤  █\n"
            "0┤▁██ ▄\n"
            " └─────\n"
            "  10:00\n");
}

TEST(RenderTest, BarChartWithThresholdAndNegatives) {
  ChartOptions o;
  o.height = 4;
  EXPECT_EQ(RenderBarChart({-2.0, 6.0}, {kT0, kT0 + kMinute}, o, 2.0),
            " 6┤ █\n"
            " 2┤╌█\n"
            "  │ █\n"
            "-2┤▁█\n"
            "  └──\n"
            "   10:00\n");
}

TEST(RenderTest, BarChartWrapsOnOneScale) {
  std::vector<std::optional<double>> values(25, 1.0);
  std::vector<int64_t> times;
  for (int i = 0; i < 25; ++i) times.push_back(kT0 + i * kMinute);
  ChartOptions o;
  o.height = 1;
  o.width = 20;
  EXPECT_EQ(RenderBarChart(values, times, o),
            "1┤" + Repeat("█", 18) + "\n" +  //
                " └" + Repeat("─", 18) + "\n" +
                "  10:00        10:17\n"
                "\n"
                "1┤███████\n"
                " └───────\n"
                "  10:18\n");
}

TEST(RenderTest, BarChartLabelsDatesWhenSpanningDays) {
  ChartOptions o;
  o.height = 1;
  const std::string chart = RenderBarChart(
      std::vector<std::optional<double>>(30, 1.0),
      [] {
        std::vector<int64_t> t;
        for (int i = 0; i < 30; ++i) t.push_back(kT0 + i * 3'600'000);
        return t;
      }(),
      o);
  EXPECT_THAT(chart, HasSubstr("\n  12-01T10:00        12-02T15:00\n"));
}

TEST(RenderTest, BarChartOfNothing) {
  EXPECT_EQ(RenderBarChart({}, {}, ChartOptions()), "");
  ChartOptions o;
  o.height = 1;
  EXPECT_EQ(RenderBarChart({std::nullopt}, {kT0}, o),
            "1┤\n"
            " └─\n"
            "  10:00\n");
}

TEST(RenderTest, StatisticsChartHasAColumnPerPeriod) {
  v1::GetMetricStatisticsResponse resp;
  for (int64_t minute : {0, 1, 4}) {
    v1::Datapoint* d = resp.add_datapoints();
    d->mutable_timestamp()->set_seconds((kT0 + minute * kMinute) / 1000);
    d->set_maximum(static_cast<double>(minute + 1) * 2);
    (*d->mutable_extended_statistics())["p99"] = 1;
  }
  ChartOptions o;
  o.height = 1;
  // Minutes 2 and 3 have no datapoint: blank columns.
  EXPECT_EQ(RenderStatisticsChart(resp, "Maximum", 60, o),
            "10┤▂▃  █\n"
            "  └─────\n"
            "   10:00\n");
  EXPECT_THAT(RenderStatisticsChart(resp, "p99", 60, o), StartsWith("1┤██  █"));
}

v1::PreviewAlarmResponse SamplePreview() {
  v1::PreviewAlarmResponse resp;
  const struct {
    std::optional<double> value;
    const char* state;
    bool changed;
    const char* reason;
  } steps[] = {{10, "OK", true, "r1"},
               {90, "ALARM", true, "r2"},
               {90, "ALARM", false, ""},
               {std::nullopt, "INSUFFICIENT_DATA", true, "r4"}};
  int64_t tick = kT0 + kMinute;
  for (const auto& s : steps) {
    v1::PreviewStep* x = resp.add_steps();
    x->mutable_timestamp()->set_seconds(tick / 1000);
    x->set_state_value(s.state);
    x->set_changed(s.changed);
    x->set_state_reason(s.reason);
    v1::PreviewDatapoint* d = x->add_datapoints();
    d->mutable_timestamp()->set_seconds((tick - kMinute) / 1000);
    if (s.value) d->set_value(*s.value);
    tick += kMinute;
  }
  return resp;
}

TEST(RenderTest, PreviewStripChart) {
  ChartOptions o;
  o.height = 2;
  EXPECT_EQ(RenderPreview(SamplePreview(), 50, "INSUFFICIENT_DATA", o),
            "   90┤╌██╌\n"
            "    0┤▂██\n"
            "     └────\n"
            "state OAAI\n"
            "      ^^ ^\n"
            "      10:01\n"
            "\n"
            "O OK  A ALARM  I INSUFFICIENT_DATA  ^ transition  ╌ threshold "
            "50\n"
            "4 ticks from 2026-12-01T10:01:00Z to 2026-12-01T10:04:00Z: OK 1, "
            "ALARM 2, INSUFFICIENT_DATA 1; 3 transitions\n"
            "2026-12-01T10:01:00Z  INSUFFICIENT_DATA -> OK  r1\n"
            "2026-12-01T10:02:00Z  OK -> ALARM  r2\n"
            "2026-12-01T10:04:00Z  ALARM -> INSUFFICIENT_DATA  r4\n");
}

TEST(RenderTest, CompositePreviewRowsOfStates) {
  v1::PreviewAlarmResponse resp;
  const char* rule[] = {"OK", "ALARM", "ALARM", "OK"};
  for (int i = 0; i < 4; ++i) {
    v1::PreviewStep* x = resp.add_steps();
    x->mutable_timestamp()->set_seconds((kT0 + (i + 1) * kMinute) / 1000);
    x->set_state_value(rule[i]);
    x->set_changed(i != 2);
    x->set_state_reason(i == 1 ? "cpu transitioned to ALARM" : "r");
  }
  v1::ChildPreview* cpu = resp.add_children();
  cpu->set_alarm_name("cpu");
  for (int i = 0; i < 4; ++i) {
    v1::PreviewStep* x = cpu->add_steps();
    x->mutable_timestamp()->set_seconds((kT0 + (i + 1) * kMinute) / 1000);
    x->set_state_value(rule[i]);
  }
  // Evaluated from the third tick on only.
  v1::ChildPreview* late = resp.add_children();
  // 30 characters, two bytes each: cut to 23 and an ellipsis.
  std::string longname;
  for (int i = 0; i < 30; ++i) longname += "\xD0\xB6";  // U+0436
  late->set_alarm_name(longname);
  v1::PreviewStep* x = late->add_steps();
  x->mutable_timestamp()->set_seconds((kT0 + 3 * kMinute) / 1000);
  x->set_state_value("OK");
  ChartOptions o;
  EXPECT_EQ(RenderCompositePreview(resp, "INSUFFICIENT_DATA", o),
            "(rule)                   OAAO\n"
            "                         ^^ ^\n"
            "cpu                      OAAO\n"
            "жжжжжжжжжжжжжжжжжжжжжжж… IIOO\n"
            "                         10:01\n"
            "\n"
            "O OK  A ALARM  I INSUFFICIENT_DATA  ^ transition of the rule\n"
            "4 ticks from 2026-12-01T10:01:00Z to 2026-12-01T10:04:00Z: OK 2, "
            "ALARM 2; 3 transitions\n"
            "2026-12-01T10:01:00Z  INSUFFICIENT_DATA -> OK  r\n"
            "2026-12-01T10:02:00Z  OK -> ALARM  cpu transitioned to ALARM\n"
            "2026-12-01T10:04:00Z  ALARM -> OK  r\n");
}

TEST(RenderTest, PreviewColorsStates) {
  ChartOptions o;
  o.height = 2;
  o.color = true;
  const std::string chart =
      RenderPreview(SamplePreview(), 50, "INSUFFICIENT_DATA", o);
  EXPECT_THAT(chart, HasSubstr("\x1b[32mO\x1b[0m\x1b[31mA\x1b[0m"));
  EXPECT_THAT(RenderPreview(v1::PreviewAlarmResponse(), 1, "OK", o),
              "no evaluation ticks from start to end\n");
}

// ---------------------------------------------------------------------------
// Run, in-process: what needs no server.

struct Outcome {
  int code;
  std::string out, err;
};

Outcome RunInProcess(const std::vector<std::string>& args,
                     const std::string& endpoint_env = "") {
  Environment env;
  env.endpoint = endpoint_env;
  env.now_ms = [] { return kT0; };
  std::ostringstream out, err;
  const int code = Run(args, env, out, err);
  return {code, out.str(), err.str()};
}

TEST(RunTest, HelpExitsZero) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"--help"},
           {"help"},
           {"-h"},
           {"help", "alarms", "put"},
           {"alarms", "put", "--help"},
           {"alarms", "--help"},
           {"get", "--namespace", "--help"}}) {
    const Outcome r = RunInProcess(args);
    EXPECT_EQ(r.code, kExitOk) << absl::StrJoin(args, " ");
    EXPECT_THAT(r.out, HasSubstr("Usage: nimbus")) << absl::StrJoin(args, " ");
    EXPECT_EQ(r.err, "");
  }
  EXPECT_THAT(RunInProcess({"alarms", "put", "--help"}).out,
              AllOf(StartsWith("Usage: nimbus alarms put [flags]"),
                    HasSubstr("--comparison-operator OP")));
  EXPECT_THAT(RunInProcess({"--help"}).out,
              AllOf(HasSubstr("alarms preview"), HasSubstr("Exit codes")));
}

TEST(RunTest, UsageErrorsExitTwoWithAHint) {
  struct Case {
    std::vector<std::string> args;
    std::string err;
  } cases[] = {
      {{},
       "nimbus: missing command (put, get, list, alarms ...)\n"
       "Run 'nimbus --help' for usage.\n"},
      {{"frob"},
       "nimbus: unknown command 'frob' (put, get, list, alarms)\n"
       "Run 'nimbus --help' for usage.\n"},
      {{"--verbose", "list"},
       "nimbus: unknown flag --verbose before the command (only --endpoint, "
       "--timeout and --help go there)\nRun 'nimbus --help' for usage.\n"},
      {{"--endpoint"},
       "nimbus: --endpoint: needs a value\n"
       "Run 'nimbus --help' for usage.\n"},
      {{"alarms"},
       "nimbus: alarms: missing subcommand (put, put-composite, describe, "
       "delete, history, set-state, enable, disable, preview)\n"
       "Run 'nimbus alarms --help' for usage.\n"},
      {{"alarms", "frob"},
       "nimbus: alarms: unknown subcommand 'frob' (put, put-composite, "
       "describe, delete, history, set-state, enable, disable, preview)\n"
       "Run 'nimbus alarms --help' for usage.\n"},
      {{"get", "--metrc", "x"},
       "nimbus: get: unknown flag --metrc\n"
       "Run 'nimbus get --help' for usage.\n"},
      {{"get", "--namespace", "N"},
       "nimbus: get: --metric: required\nRun 'nimbus get --help' for "
       "usage.\n"},
      {{"alarms", "set-state", "a"},
       "nimbus: alarms set-state: missing NAME STATE (got 1)\n"
       "Run 'nimbus alarms set-state --help' for usage.\n"},
      {{"list", "--timeout", "fast"},
       "nimbus: list: --timeout: must be a positive duration (10s, 500ms, "
       "2m) or a number of seconds, got 'fast'\n"
       "Run 'nimbus list --help' for usage.\n"},
      {{"help", "frob"},
       "nimbus: unknown command 'frob'\n"
       "Run 'nimbus --help' for usage.\n"},
  };
  for (const Case& c : cases) {
    const Outcome r = RunInProcess(c.args);
    EXPECT_EQ(r.code, kExitUsage) << absl::StrJoin(c.args, " ");
    EXPECT_EQ(r.err, c.err) << absl::StrJoin(c.args, " ");
    EXPECT_EQ(r.out, "") << absl::StrJoin(c.args, " ");
  }
}

// A loopback port with nothing listening on it.
int ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(RunTest, UnreachableEndpointExitsThree) {
  const std::string endpoint = absl::StrCat("127.0.0.1:", ClosedPort());
  Outcome r = RunInProcess({"--endpoint", endpoint, "list"});
  EXPECT_EQ(r.code, kExitUnreachable);
  EXPECT_THAT(r.err, AllOf(StartsWith("nimbus: UNAVAILABLE: "),
                           HasSubstr("cannot reach nimbusd at " + endpoint)));
  // The environment's endpoint, when no flag is given.
  r = RunInProcess({"alarms", "describe"}, endpoint);
  EXPECT_EQ(r.code, kExitUnreachable);
  EXPECT_THAT(r.err, HasSubstr(endpoint));
}

// ---------------------------------------------------------------------------
// The real binary against a real nimbusd.

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

template <typename M>
M FromJson(const std::string& json) {
  M m;
  const auto s = google::protobuf::util::JsonStringToMessage(json, &m);
  EXPECT_TRUE(s.ok()) << s.message() << "\n" << json;
  return m;
}

class NimbusBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok());
    // Whole minutes, 40 minutes ago: every point is in the past, and well
    // within the 14 days nimbusd takes.
    t0_ms_ = (NowMs() - 40 * kMinute) / kMinute * kMinute;
  }

  // Runs `nimbus args...` with the server's endpoint (as NIMBUS_ENDPOINT,
  // or --endpoint when `flag_endpoint`), `stdin_text` on stdin.
  Outcome Nimbus(const std::vector<std::string>& args,
                 const std::string& stdin_text = "",
                 bool flag_endpoint = false) {
    const std::string dir = server_.data_dir();
    const std::string in = dir + "/nimbus.in", out = dir + "/nimbus.out",
                      err = dir + "/nimbus.err";
    std::ofstream(in) << stdin_text;
    std::string cmd = "env -u NO_COLOR COLUMNS=200 ";
    if (!flag_endpoint) cmd += "NIMBUS_ENDPOINT=" + server_.address() + " ";
    cmd += ShellQuote(NIMBUS_CLI_PATH);
    if (flag_endpoint) cmd += " --endpoint " + server_.address();
    for (const std::string& a : args) cmd += " " + ShellQuote(a);
    cmd += " <" + in + " >" + out + " 2>" + err;
    const int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadFile(out),
            ReadFile(err)};
  }

  std::string At(int minute) const {
    return FormatTimeMs(t0_ms_ + minute * kMinute);
  }

  // Puts `values[i]` at minute i of MyApp/CPU Host=web-1.
  void PutSeries(const std::vector<double>& values) {
    for (size_t i = 0; i < values.size(); ++i) {
      const Outcome r = Nimbus({"put", "--namespace", "MyApp", "--metric",
                                "CPU", "--dimension", "Host=web-1", "--value",
                                absl::StrCat(values[i]), "--timestamp",
                                At(static_cast<int>(i)), "--unit", "Percent"});
      ASSERT_EQ(r.code, 0) << r.err;
      ASSERT_EQ(r.out, "accepted 1 point\n");
    }
  }

  testing::NimbusdProcess server_;
  int64_t t0_ms_ = 0;
};

TEST_F(NimbusBinaryTest, PutThenGetAsJsonAndAsATable) {
  PutSeries({10, 20, 40, 80});
  // A second sample in minute 1, sent as JSON on stdin.
  Outcome r = Nimbus(
      {"put", "--json", "@-"},
      absl::StrCat(R"({"namespace": "MyApp", "metricData": [{"metricName": )",
                   R"("CPU", "dimensions": [{"name": "Host", "value": )",
                   R"("web-1"}], "unit": "Percent", "value": 30, )",
                   R"("timestamp": ")", At(1), R"("}]})"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "accepted 1 point\n");

  const std::vector<std::string> get = {
      "get",        "--namespace", "MyApp",
      "--metric",   "CPU",         "--dimension",
      "Host=web-1", "--statistic", "SampleCount,Average,Maximum",
      "--start",    At(0),         "--end",
      At(10)};
  std::vector<std::string> json_get = get;
  json_get.push_back("--json");
  r = Nimbus(json_get);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto resp = FromJson<v1::GetMetricStatisticsResponse>(r.out);
  ASSERT_EQ(resp.datapoints_size(), 4) << r.out;
  EXPECT_EQ(resp.datapoints(1).timestamp().seconds() * 1000, t0_ms_ + kMinute);
  EXPECT_EQ(resp.datapoints(1).sample_count(), 2);
  EXPECT_EQ(resp.datapoints(1).average(), 25);
  EXPECT_EQ(resp.datapoints(3).maximum(), 80);
  EXPECT_EQ(resp.datapoints(3).unit(), "Percent");

  r = Nimbus(get);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out,
              AllOf(StartsWith("MyApp CPU Host=web-1, period 60 s, " + At(0) +
                               " to " + At(10) +
                               "\n"
                               "TIMESTAMP             SampleCount  Average  "
                               "Maximum  UNIT\n" +
                               At(0) +
                               "            1       10       10  "
                               "Percent\n" +
                               At(1) +
                               "            2       25       30  "
                               "Percent\n"),
                    HasSubstr("\nSampleCount\n"),
                    HasSubstr("2┤ █\n"),  // the chart of SampleCount
                    HasSubstr("└────\n")));
  EXPECT_EQ(r.err, "");

  std::vector<std::string> chart_only = get;
  chart_only[8] = "Maximum";  // the --statistic value
  chart_only.push_back("--no-table");
  r = Nimbus(chart_only);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr(" s, " + At(0) + " to " + At(10) +
                                     "\nMaximum (Percent)\n80┤   █\n"),
                           Not(HasSubstr("TIMESTAMP"))));

  r = Nimbus({"list", "--namespace", "MyApp"}, "", /*flag_endpoint=*/true);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "NAMESPACE  METRIC  DIMENSIONS  UNIT\n"
            "MyApp      CPU     Host=web-1  Percent\n");
  r = Nimbus({"list", "--namespace", "Nothing"});
  EXPECT_EQ(r.out, "no metrics\n");
  r = Nimbus({"list", "--json", "--dimension", "Host"});
  EXPECT_EQ(FromJson<v1::ListMetricsResponse>(r.out).metrics_size(), 1);
}

TEST_F(NimbusBinaryTest, GetWithNothingThere) {
  const Outcome r = Nimbus({"get", "--namespace", "MyApp", "--metric", "None",
                            "--start", At(0), "--end", At(10)});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\nno datapoints\n"));
}

TEST_F(NimbusBinaryTest, ServerErrorsExitOneWithTheCodeName) {
  Outcome r = Nimbus({"get", "--namespace", "MyApp", "--metric", "CPU",
                      "--period", "45", "--start", At(0), "--end", At(10)});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "nimbus: INVALID_ARGUMENT: period: must be 1, 5, 10, 20, 30 or a "
            "multiple of 60 seconds, got 45\n");
  EXPECT_EQ(r.out, "");

  r = Nimbus({"alarms", "delete", "no-such-alarm"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, StartsWith("nimbus: NOT_FOUND: "));

  // A rejected datum: the request succeeded, but the point was not stored.
  r = Nimbus({"put", "--namespace", "MyApp", "--metric", "CPU", "--value", "1",
              "--timestamp", "-20d"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "accepted 0 points, rejected 1\n");
  EXPECT_THAT(r.err, StartsWith("nimbus: datum 0 rejected: TimestampTooOld: "));
}

TEST_F(NimbusBinaryTest, UsageErrorsExitTwo) {
  Outcome r = Nimbus(
      {"get", "--namespace", "MyApp", "--metric", "CPU", "--period", "soon"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err,
            "nimbus: get: --period: must be a whole number of seconds (60) or "
            "a duration of whole seconds (5m, 1h), got 'soon'\n"
            "Run 'nimbus get --help' for usage.\n");
  r = Nimbus({"alarms", "put", "--name", "x", "--bogus", "1"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, StartsWith("nimbus: alarms put: unknown flag --bogus\n"));
  r = Nimbus({"alarms", "put", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, StartsWith("Usage: nimbus alarms put [flags]\n"));
}

TEST_F(NimbusBinaryTest, UnreachableAndSilentServersExitThree) {
  const std::string closed = absl::StrCat("127.0.0.1:", ClosedPort());
  Outcome r = Nimbus({"--endpoint", closed, "list"}, "", false);
  EXPECT_EQ(r.code, 3);
  EXPECT_THAT(r.err, StartsWith("nimbus: UNAVAILABLE: "));

  // A socket that accepts connections and never answers: the deadline.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 16), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string silent = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
  r = Nimbus({"list", "--endpoint", silent, "--timeout", "300ms"});
  close(fd);
  EXPECT_EQ(r.code, 3);
  EXPECT_THAT(r.err, StartsWith("nimbus: DEADLINE_EXCEEDED: "));
  EXPECT_THAT(r.err, HasSubstr("within 300ms; --timeout"));
}

TEST_F(NimbusBinaryTest, AlarmLifecycle) {
  // No data and treatMissingData "ignore": an evaluation leaves the state
  // as it is, so a forced state stays while the test looks at it.
  Outcome r = Nimbus({"alarms",
                      "put",
                      "--name",
                      "cpu-high",
                      "--namespace",
                      "MyApp",
                      "--metric",
                      "CPU",
                      "--dimension",
                      "Host=web-1",
                      "--statistic",
                      "Average",
                      "--period",
                      "5m",
                      "--evaluation-periods",
                      "3",
                      "--threshold",
                      "50",
                      "--comparison-operator",
                      ">",
                      "--treat-missing-data",
                      "ignore"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "saved alarm 'cpu-high': INSUFFICIENT_DATA (Unchecked: Initial "
            "alarm creation)\n");
  r = Nimbus({"alarms", "put-composite", "--name", "web", "--rule",
              "ALARM(cpu-high)"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("saved alarm 'web': OK ("));

  r = Nimbus({"alarms", "describe"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("NAME      TYPE       STATE              "
                                "ACTIONS  REASON\n"
                                "cpu-high  Metric     INSUFFICIENT_DATA  "
                                "enabled  Unchecked: Initial alarm "
                                "creation\n"
                                "web       Composite  OK                 "
                                "enabled  "));

  r = Nimbus({"alarms", "set-state", "cpu-high", "ALARM", "--reason",
              "testing the pager", "--reason-data", R"({"by": "test"})"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "set alarm 'cpu-high' to ALARM until its next evaluation\n");
  r = Nimbus({"alarms", "describe", "cpu-high"});
  EXPECT_EQ(r.out,
            "NAME      TYPE    STATE  ACTIONS  REASON\n"
            "cpu-high  Metric  ALARM  enabled  testing the pager\n");
  r = Nimbus({"alarms", "describe", "--state", "alarm", "--type", "composite"});
  EXPECT_THAT(r.out, HasSubstr("\nweb   Composite  ALARM"));

  r = Nimbus({"alarms", "disable", "cpu-high", "web"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "disabled the actions of 2 alarms\n");
  r = Nimbus({"alarms", "describe", "--json", "--prefix", "cpu"});
  auto described = FromJson<v1::DescribeAlarmsResponse>(r.out);
  ASSERT_EQ(described.metric_alarms_size(), 1);
  EXPECT_FALSE(described.metric_alarms(0).actions_enabled());
  EXPECT_EQ(described.metric_alarms(0).period(), 300);
  EXPECT_EQ(described.metric_alarms(0).treat_missing_data(), "ignore");
  EXPECT_EQ(described.metric_alarms(0).state_reason_data(),
            R"({"by": "test"})");
  r = Nimbus({"alarms", "enable", "cpu-high"});
  EXPECT_EQ(r.out, "enabled the actions of 1 alarm\n");
  r = Nimbus({"alarms", "describe", "cpu-high", "web"});
  EXPECT_THAT(r.out, HasSubstr("cpu-high  Metric     ALARM  enabled "));
  EXPECT_THAT(r.out, HasSubstr("web       Composite  ALARM  disabled"));

  r = Nimbus({"alarms", "history", "cpu-high"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("TIMESTAMP"));
  EXPECT_THAT(r.out, HasSubstr("cpu-high  StateUpdate          Alarm updated "
                               "from INSUFFICIENT_DATA to ALARM\n"));
  EXPECT_THAT(r.out, HasSubstr("cpu-high  ConfigurationUpdate  Alarm "
                               "\"cpu-high\" created\n"));
  r = Nimbus({"alarms", "history", "--type", "StateUpdate", "--json",
              "--oldest-first"});
  const auto history = FromJson<v1::DescribeAlarmHistoryResponse>(r.out);
  ASSERT_GE(history.alarm_history_items_size(), 2) << r.out;
  for (const v1::AlarmHistoryItem& h : history.alarm_history_items()) {
    EXPECT_EQ(h.history_item_type(), "StateUpdate");
  }
  r = Nimbus({"alarms", "history", "--limit", "1"});
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;
  r = Nimbus({"alarms", "history", "--end", "-1d"});
  EXPECT_EQ(r.out, "no history items\n");

  r = Nimbus({"alarms", "set-state", "cpu-high", "MAYBE", "--reason", "x"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "nimbus: INVALID_ARGUMENT: state_value: must be OK, ALARM or "
            "INSUFFICIENT_DATA, got 'MAYBE'\n");

  // The composite names cpu-high: both go at once, or neither.
  r = Nimbus({"alarms", "delete", "web", "cpu-high"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "deleted 2 alarms\n");
  r = Nimbus({"alarms", "describe"});
  EXPECT_EQ(r.out, "no alarms\n");
  // The history stays.
  r = Nimbus(
      {"alarms", "history", "cpu-high", "--type", "ConfigurationUpdate"});
  EXPECT_THAT(r.out, HasSubstr("deleted"));
}

TEST_F(NimbusBinaryTest, AlarmFromJsonAndServerValidation) {
  Outcome r =
      Nimbus({"alarms", "put", "--json",
              R"({"alarmName": "j", "namespace": "MyApp", "metricName": "CPU",
           "statistic": "Maximum", "period": 60, "evaluationPeriods": 5,
           "datapointsToAlarm": 6, "threshold": 1,
           "comparisonOperator": "GreaterThanThreshold"})"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "nimbus: INVALID_ARGUMENT: datapoints_to_alarm: must be 1 to "
            "evaluation_periods (5), got 6\n");
  r = Nimbus({"alarms", "put", "--json", "{\"alarmName\": 5"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, StartsWith("nimbus: alarms put: --json: not a "
                                "nimbus.v1.PutMetricAlarmRequest"));
}

TEST_F(NimbusBinaryTest, PreviewShowsTheTimeline) {
  // Minutes 0-7 low, 8-11 high, 12-19 low.
  std::vector<double> values;
  for (int i = 0; i < 20; ++i) values.push_back(i >= 8 && i < 12 ? 90 : 10);
  PutSeries(values);
  const std::vector<std::string> preview = {"alarms",
                                            "preview",
                                            "--namespace",
                                            "MyApp",
                                            "--metric",
                                            "CPU",
                                            "--dimension",
                                            "Host=web-1",
                                            "--statistic",
                                            "Maximum",
                                            "--period",
                                            "60",
                                            "--evaluation-periods",
                                            "2",
                                            "--threshold",
                                            "50",
                                            "--comparison-operator",
                                            "GreaterThanThreshold",
                                            "--start",
                                            At(3),
                                            "--end",
                                            At(19)};
  std::vector<std::string> json = preview;
  json.push_back("--json");
  Outcome r = Nimbus(json);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto resp = FromJson<v1::PreviewAlarmResponse>(r.out);
  ASSERT_GE(resp.steps_size(), 15) << r.out;
  std::string states;
  for (const v1::PreviewStep& s : resp.steps()) {
    // The tick at minute k reads periods k-2 and k-1: both breach for
    // k = 10, 11, 12.
    const int64_t k = (s.timestamp().seconds() * 1000 - t0_ms_) / kMinute;
    EXPECT_EQ(s.state_value(), k >= 10 && k <= 12 ? "ALARM" : "OK") << k;
    states += s.state_value() == "ALARM" ? 'A' : 'O';
  }

  r = Nimbus(preview);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(
      r.out,
      AllOf(StartsWith("MyApp CPU Host=web-1: Maximum over 60 s, "
                       "GreaterThanThreshold 50, 2 of 2\n"),
            HasSubstr("\nstate " + states + "\n"), HasSubstr("╌"),
            HasSubstr("█"), HasSubstr(At(3) + "  INSUFFICIENT_DATA -> OK  "),
            HasSubstr(At(10) + "  OK -> ALARM  Threshold Crossed: 2 "
                               "out of the last 2 datapoints [90.0"),
            HasSubstr(At(13) + "  ALARM -> OK  ")));
  EXPECT_THAT(r.out, HasSubstr("; 3 transitions\n"));

  // The same alarm as JSON, starting in ALARM.
  r = Nimbus({"alarms", "preview", "--alarm-json",
              R"({"namespace": "MyApp", "metricName": "CPU",
                  "dimensions": [{"name": "Host", "value": "web-1"}],
                  "statistic": "Maximum", "period": 60,
                  "evaluationPeriods": 2, "threshold": 50,
                  "comparisonOperator": "GreaterThanThreshold"})",
              "--start", At(3), "--end", At(19), "--initial-state", "ALARM"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(At(3) + "  ALARM -> OK  "));
}

}  // namespace
}  // namespace nimbus::cli
