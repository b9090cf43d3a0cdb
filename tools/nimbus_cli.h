// The `nimbus` command-line tool: a human interface over nimbusd's gRPC API
// (nimbus.v1.MetricsService and nimbus.v1.AlarmService). tools/nimbus.cc is
// only its main(); everything else is here, so that tests can reach the
// argument parser, the time parser, the request builders and the charts.
//
//   nimbus [--endpoint host:port] [--timeout 10s] COMMAND [flags] [args]
//
// Commands: put, get, list, alarms {put, put-composite, describe, delete,
// history, set-state, enable, disable, preview}; `nimbus COMMAND --help`
// says what each takes.
//
// Exit codes: 0 success; 1 the server answered with an error (or rejected
// a datum); 2 a usage error; 3 the server could not be reached (UNAVAILABLE
// or the deadline passed).
#ifndef NIMBUS_TOOLS_NIMBUS_CLI_H_
#define NIMBUS_TOOLS_NIMBUS_CLI_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"
#include "nimbus/v1/alarms.pb.h"
#include "nimbus/v1/metrics.pb.h"

namespace nimbus::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitServerError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnreachable = 3;

inline constexpr char kDefaultEndpoint[] = "127.0.0.1:50051";

// ---------------------------------------------------------------------------
// Arguments.

// One flag of a command, spelled --name.
struct FlagSpec {
  std::string name;  // without the leading "--"
  // What the value is called in --help ("SECONDS"); empty for a switch
  // (--oldest-first, or --oldest-first=true|false).
  std::string value_name;
  std::string help;
  bool repeated = false;
};

struct CommandSpec {
  std::string path;     // "alarms put"
  std::string args;     // positional arguments in --help: "[NAME...]"
  std::string summary;  // one line
  std::string details;  // more text for --help, may be empty
  std::vector<FlagSpec> flags;
  size_t min_args = 0;
  size_t max_args = 0;  // SIZE_MAX: any number
};

// What ParseArgs found: flag values in the order given, and the positional
// arguments.
class ParsedArgs {
 public:
  bool Has(absl::string_view flag) const;
  // The value of a flag given once; nullopt when it was not given.
  std::optional<std::string> Get(absl::string_view flag) const;
  // Every value of a repeatable flag, in order.
  const std::vector<std::string>& All(absl::string_view flag) const;
  // A switch: false unless given (as --x, --x=true or --x=false).
  bool Switch(absl::string_view flag) const;
  const std::vector<std::string>& positional() const { return positional_; }
  bool help() const { return help_; }
  // The flags given, in the order first seen, without "--".
  const std::vector<std::string>& given() const { return order_; }

 private:
  friend absl::StatusOr<ParsedArgs> ParseArgs(
      const CommandSpec& spec, const std::vector<std::string>& args);
  std::map<std::string, std::vector<std::string>, std::less<>> values_;
  std::vector<std::string> order_;
  std::vector<std::string> positional_;
  bool help_ = false;
};

// Parses `args` (what follows the command words) against `spec`:
// "--flag value", "--flag=value", switches, "--" ending the flags, and
// -h/--help anywhere (then nothing else is checked). A flag's value is
// taken as given even when it starts with '-' ("--start -1h"). Errors
// (InvalidArgument) name the flag and the rule: "unknown flag --foo",
// "--period: needs a value", "--period: given twice; it takes one value".
absl::StatusOr<ParsedArgs> ParseArgs(const CommandSpec& spec,
                                     const std::vector<std::string>& args);

// Every command, in the order --help lists them.
const std::vector<CommandSpec>& Commands();
// The command spelled `path` ("get", "alarms put"), or nullptr.
const CommandSpec* FindCommand(absl::string_view path);
// `nimbus COMMAND --help`.
std::string CommandHelp(const CommandSpec& spec);
// `nimbus --help`.
std::string ToolHelp();

// ---------------------------------------------------------------------------
// Values.

// A duration: a sequence of <number><unit> with units ms, s, m, h, d and w
// ("90s", "1h30m", "1.5h", "2d"). Rejects a bare number and negatives.
absl::StatusOr<int64_t> ParseDurationMs(absl::string_view text);

// A point in time, in ms since the epoch: "now"; RFC 3339
// ("2026-12-01T10:00:00Z", "2026-12-01T10:00:00.250+01:00"; without an
// offset, UTC; a date alone is its midnight UTC); or relative to `now_ms`
// ("-1h", "+5m", "now-1h30m", "-2d").
absl::StatusOr<int64_t> ParseTimeMs(absl::string_view text, int64_t now_ms);

// RFC 3339 in UTC, with milliseconds only when there are some:
// "2026-12-01T10:00:00Z", "2026-12-01T10:00:00.250Z".
std::string FormatTimeMs(int64_t ms);

// A value as tables print it: up to 10 significant digits ("18.125",
// "3.333333333", "1234567", "1e+21").
std::string FormatNumber(double v);

// The name of a gRPC code as gRPC spells it: "INVALID_ARGUMENT".
std::string StatusCodeName(grpc::StatusCode code);

// The exit code for a failed call: kExitUnreachable for UNAVAILABLE and
// DEADLINE_EXCEEDED, kExitServerError otherwise.
int ExitCodeFor(const grpc::Status& status);

// ---------------------------------------------------------------------------
// Requests from arguments. Each returns InvalidArgument naming the flag and
// the rule when the arguments are wrong (a usage error).

struct BuildInputs {
  int64_t now_ms = 0;
  // Where "--json @-" reads from; nullptr: refused.
  std::istream* in = nullptr;
};

absl::StatusOr<nimbus::v1::PutMetricDataRequest> BuildPutMetricData(
    const ParsedArgs& args, const BuildInputs& in);
absl::StatusOr<nimbus::v1::GetMetricStatisticsRequest> BuildGetStatistics(
    const ParsedArgs& args, const BuildInputs& in);
absl::StatusOr<nimbus::v1::ListMetricsRequest> BuildListMetrics(
    const ParsedArgs& args, const BuildInputs& in);
absl::StatusOr<nimbus::v1::PutMetricAlarmRequest> BuildPutMetricAlarm(
    const ParsedArgs& args, const BuildInputs& in);
absl::StatusOr<nimbus::v1::PutCompositeAlarmRequest> BuildPutCompositeAlarm(
    const ParsedArgs& args, const BuildInputs& in);
absl::StatusOr<nimbus::v1::DescribeAlarmsRequest> BuildDescribeAlarms(
    const ParsedArgs& args, const BuildInputs& in);
absl::StatusOr<nimbus::v1::DescribeAlarmHistoryRequest> BuildAlarmHistory(
    const ParsedArgs& args, const BuildInputs& in);
absl::StatusOr<nimbus::v1::SetAlarmStateRequest> BuildSetAlarmState(
    const ParsedArgs& args, const BuildInputs& in);
absl::StatusOr<nimbus::v1::PreviewAlarmRequest> BuildPreviewAlarm(
    const ParsedArgs& args, const BuildInputs& in);

// ---------------------------------------------------------------------------
// Output.

// Columns separated by two spaces, each as wide as its widest cell (in
// code points); `right` right-aligns a column (numbers). The last column is
// not padded. Every line ends with '\n'.
std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows,
                        const std::vector<bool>& right = {});

struct ChartOptions {
  int height = 8;      // rows of bars
  int width = 100;     // columns of a line, labels included; longer charts wrap
  bool color = false;  // ANSI colors (the preview's state row)
};

// A bar chart, one column per value, of unicode block characters in
// eighths of a row (" ▁▂▃▄▅▆▇█"); a value without data is a blank column
// and every other value shows at least "▁". Bars rise from min(0, lowest
// value) to the highest value; the top and bottom rows are labelled with
// the values they stand for. `times_ms` (the same length as `values`)
// labels the first and last columns under the axis. A `threshold` draws a
// dashed line ('╌') through the row it falls in. Charts wider than
// options.width wrap into blocks on the same scale.
std::string RenderBarChart(const std::vector<std::optional<double>>& values,
                           const std::vector<int64_t>& times_ms,
                           const ChartOptions& options,
                           std::optional<double> threshold = std::nullopt);

// The datapoints of a GetMetricStatistics response as a bar chart of
// `statistic` ("Average", "p99"), one column per period from the first
// datapoint to the last (periods without a datapoint are blank columns).
std::string RenderStatisticsChart(
    const nimbus::v1::GetMetricStatisticsResponse& resp,
    const std::string& statistic, int64_t period_s,
    const ChartOptions& options);

// A PreviewAlarm response as a strip chart, one column per tick: the value
// of each tick's newest period as bars with the threshold's line, a row of
// states (O OK, A ALARM, I INSUFFICIENT_DATA), a row marking transitions
// ('^'), the times of the first and last ticks, then a summary and each
// transition with its reason.
std::string RenderPreview(const nimbus::v1::PreviewAlarmResponse& resp,
                          double threshold, const std::string& initial_state,
                          const ChartOptions& options);
// A composite's preview: a row of states for the rule (with its
// transitions marked) and one for each alarm it reached, on the rule's
// ticks; then every transition of the rule with its reason.
std::string RenderCompositePreview(const nimbus::v1::PreviewAlarmResponse& resp,
                                   const std::string& initial_state,
                                   const ChartOptions& options);

// ---------------------------------------------------------------------------
// The tool.

struct Environment {
  std::string endpoint;  // NIMBUS_ENDPOINT; empty when unset
  bool color = false;    // stdout is a terminal and NO_COLOR is unset
  int width = 100;       // the terminal's columns
  std::function<int64_t()> now_ms;  // default: the system clock
  std::istream* in = nullptr;       // for "--json @-"
};

// Runs `nimbus args...` (args without the program name), writing results to
// `out` and diagnostics to `err`; returns the exit code.
int Run(const std::vector<std::string>& args, const Environment& env,
        std::ostream& out, std::ostream& err);

}  // namespace nimbus::cli

#endif  // NIMBUS_TOOLS_NIMBUS_CLI_H_
