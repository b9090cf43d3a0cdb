#include "tools/nimbus_cli.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "nimbus/v1/alarms.grpc.pb.h"
#include "nimbus/v1/metrics.grpc.pb.h"
#include "rpc/proto_time.h"

namespace nimbus::cli {
namespace {

namespace v1 = ::nimbus::v1;

absl::Status Invalid(std::string message) {
  return absl::InvalidArgumentError(std::move(message));
}

// ---------------------------------------------------------------------------
// Command specs.

FlagSpec Flag(std::string name, std::string value_name, std::string help,
              bool repeated = false) {
  return FlagSpec{std::move(name), std::move(value_name), std::move(help),
                  repeated};
}

const std::vector<FlagSpec>& GlobalFlags() {
  static const auto* flags = new std::vector<FlagSpec>{
      Flag("endpoint", "HOST:PORT",
           "nimbusd's address (default $NIMBUS_ENDPOINT, else " +
               std::string(kDefaultEndpoint) + ")"),
      Flag("timeout", "DURATION",
           "deadline of each call: 10s, 500ms, 2m, or seconds (default 10s)"),
  };
  return *flags;
}

std::vector<FlagSpec> Concat(std::initializer_list<std::vector<FlagSpec>> l) {
  std::vector<FlagSpec> out;
  for (const auto& v : l) out.insert(out.end(), v.begin(), v.end());
  return out;
}

const char kTimeHelp[] =
    "RFC 3339 (2026-12-01T10:00:00Z), 'now', relative (-1h, -30m, -2d) or "
    "@UNIX_SECONDS";

// The metric an alarm watches, and how (alarms put and alarms preview).
std::vector<FlagSpec> MetricAlarmFlags(bool name_required) {
  return {
      Flag("name", "NAME",
           name_required ? "the alarm's name (required)"
                         : "the alarm's name (default 'preview')"),
      Flag("description", "TEXT", "the alarm's description"),
      Flag("namespace", "NAMESPACE", "the metric's namespace (required)"),
      Flag("metric", "NAME", "the metric's name (required)"),
      Flag("dimension", "NAME=VALUE", "a dimension of the metric (repeatable)",
           true),
      Flag("unit", "UNIT", "only points of this unit (default: any unit)"),
      Flag("statistic", "STAT",
           "SampleCount, Average, Sum, Minimum or Maximum (this or "
           "--extended-statistic is required)"),
      Flag("extended-statistic", "STAT", "p99, tm90, TM(10%:90%), IQM, ..."),
      Flag("period", "SECONDS",
           "10, 20, 30 or a multiple of 60 seconds; 300 or 5m (required)"),
      Flag("evaluation-periods", "N",
           "how many recent periods are evaluated (required)"),
      Flag("datapoints-to-alarm", "M",
           "how many of them must breach (default: --evaluation-periods)"),
      Flag("threshold", "NUMBER", "the threshold (required)"),
      Flag("comparison-operator", "OP",
           "GreaterThanThreshold (or >), GreaterThanOrEqualToThreshold (>=), "
           "LessThanThreshold (<), LessThanOrEqualToThreshold (<=) "
           "(required)"),
      Flag("treat-missing-data", "HOW",
           "missing (default), ignore, breaching or notBreaching"),
      Flag("evaluate-low-sample-count-percentile", "HOW",
           "evaluate (default) or ignore"),
  };
}

std::vector<FlagSpec> ActionFlags() {
  return {
      Flag("actions-enabled", "BOOL", "true (default) or false"),
      Flag("ok-action", "ACTION", "an action on entering OK (repeatable)",
           true),
      Flag("alarm-action", "ACTION", "an action on entering ALARM (repeatable)",
           true),
      Flag("insufficient-data-action", "ACTION",
           "an action on entering INSUFFICIENT_DATA (repeatable)", true),
      Flag("tag", "KEY=VALUE", "a tag (repeatable)", true),
  };
}

std::vector<CommandSpec> MakeCommands() {
  std::vector<CommandSpec> c;
  c.push_back(CommandSpec{
      "put",
      "",
      "store a metric point (PutMetricData)",
      "A point without --timestamp is stamped by the server when it "
      "arrives. Give several --value flags to send several values at one "
      "timestamp. --json sends a whole PutMetricDataRequest instead, in "
      "protobuf's JSON mapping (as text, @FILE, or @- for stdin). Exits 1 "
      "if the server rejected a datum.",
      {
          Flag("namespace", "NAMESPACE", "the namespace (required)"),
          Flag("metric", "NAME", "the metric's name (required)"),
          Flag("dimension", "NAME=VALUE", "a dimension (repeatable)", true),
          Flag("value", "NUMBER", "the value (required; repeatable)", true),
          Flag("timestamp", "TIME", std::string(kTimeHelp) + "; default now"),
          Flag("unit", "UNIT", "one of CloudWatch's units (default None)"),
          Flag("storage-resolution", "SECONDS", "1 or 60 (default 60)"),
          Flag("json", "JSON|@FILE",
               "the whole PutMetricDataRequest, instead of the flags above"),
      }});
  c.push_back(CommandSpec{
      "get",
      "",
      "statistics of a metric over time (GetMetricStatistics)",
      "Prints a table of the datapoints (oldest first) and a chart of the "
      "first statistic, one column per period from the first datapoint to "
      "the last (a blank column: no data). The start is inclusive and "
      "rounded down to the minute by the server; the end is exclusive.",
      {
          Flag("namespace", "NAMESPACE", "the namespace (required)"),
          Flag("metric", "NAME", "the metric's name (required)"),
          Flag("dimension", "NAME=VALUE", "a dimension (repeatable)", true),
          Flag("statistic", "STAT",
               "SampleCount, Average, Sum, Minimum or Maximum (repeatable, or "
               "comma-separated; default Average unless "
               "--extended-statistic is given; not with it)",
               true),
          Flag("extended-statistic", "STAT",
               "p99, p99.9, tm90, TM(10%:90%), IQM, ... (repeatable)", true),
          Flag("period", "SECONDS",
               "1, 5, 10, 20, 30 or a multiple of 60 seconds; 300 or 5m "
               "(default 60)"),
          Flag("start", "TIME", std::string(kTimeHelp) + "; default -1h"),
          Flag("end", "TIME", "as --start; default now"),
          Flag("unit", "UNIT", "only points of this unit"),
          Flag("json", "", "print the response in protobuf's JSON mapping"),
          Flag("no-chart", "", "print the table only"),
          Flag("no-table", "", "print the chart only"),
          Flag("height", "ROWS", "rows of the chart (default 8)"),
      }});
  c.push_back(CommandSpec{
      "list",
      "",
      "list series (ListMetrics)",
      "Follows every page. A --dimension filter without a value matches "
      "any value.",
      {
          Flag("namespace", "NAMESPACE", "only this namespace"),
          Flag("metric", "NAME", "only this metric name"),
          Flag("dimension", "NAME[=VALUE]",
               "only series with this dimension (repeatable)", true),
          Flag("recently-active", "",
               "only series that received points in the last 3 hours"),
          Flag("json", "", "print the response in protobuf's JSON mapping"),
      }});
  c.push_back(CommandSpec{
      "alarms put", "", "create or replace a metric alarm (PutMetricAlarm)",
      "A new alarm starts INSUFFICIENT_DATA and is evaluated before the "
      "call returns; its state is printed. --json sends a whole "
      "PutMetricAlarmRequest instead (text, @FILE or @-).",
      Concat({MetricAlarmFlags(true),
              ActionFlags(),
              {Flag("json", "JSON|@FILE",
                    "the whole PutMetricAlarmRequest, instead of the flags "
                    "above")}})});
  c.push_back(CommandSpec{
      "alarms put-composite", "",
      "create or replace a composite alarm (PutCompositeAlarm)",
      "The rule combines other alarms' states: ALARM(name), OK(name), "
      "INSUFFICIENT_DATA(name), TRUE, FALSE, NOT, AND, OR, parentheses.",
      Concat({{Flag("name", "NAME", "the alarm's name (required)"),
               Flag("description", "TEXT", "the alarm's description"),
               Flag("rule", "RULE",
                    "the alarm rule, e.g. 'ALARM(cpu) AND ALARM(disk)' "
                    "(required)"),
               Flag("actions-suppressor", "ALARM",
                    "an alarm whose ALARM state holds back the actions"),
               Flag("suppressor-wait-period", "SECONDS",
                    "actions_suppressor_wait_period"),
               Flag("suppressor-extension-period", "SECONDS",
                    "actions_suppressor_extension_period")},
              ActionFlags(),
              {Flag("json", "JSON|@FILE",
                    "the whole PutCompositeAlarmRequest, instead of the "
                    "flags above")}})});
  c.push_back(CommandSpec{
      "alarms describe",
      "[NAME...]",
      "list alarms (DescribeAlarms)",
      "Prints a table of name, type, state, whether actions are enabled, "
      "and the state's reason. Without --type, metric and composite alarms "
      "both. Follows every page.",
      {
          Flag("prefix", "PREFIX", "only alarms whose names start with it"),
          Flag("state", "STATE",
               "only alarms in OK, ALARM or "
               "INSUFFICIENT_DATA"),
          Flag("type", "TYPE",
               "MetricAlarm (metric) or CompositeAlarm (composite) "
               "(repeatable)",
               true),
          Flag("children-of", "ALARM", "the alarms a composite's rule names"),
          Flag("parents-of", "ALARM", "the composites whose rules name it"),
          Flag("action-prefix", "PREFIX",
               "only alarms with an action starting with it"),
          Flag("json", "", "print the response in protobuf's JSON mapping"),
      },
      0,
      SIZE_MAX});
  c.push_back(CommandSpec{"alarms delete",
                          "NAME...",
                          "delete alarms, all or none (DeleteAlarms)",
                          "Their history stays.",
                          {},
                          1,
                          SIZE_MAX});
  c.push_back(CommandSpec{
      "alarms history",
      "[NAME]",
      "alarm history (DescribeAlarmHistory)",
      "Newest first; without NAME, every alarm's. Kept 30 days, also after "
      "an alarm is deleted.",
      {
          Flag("type", "TYPE", "ConfigurationUpdate, StateUpdate or Action"),
          Flag("start", "TIME", std::string(kTimeHelp) + " (inclusive)"),
          Flag("end", "TIME", "as --start (exclusive)"),
          Flag("oldest-first", "", "oldest items first"),
          Flag("limit", "N", "at most this many items (default 100)"),
          Flag("json", "", "print the response in protobuf's JSON mapping"),
      },
      0,
      1});
  c.push_back(CommandSpec{
      "alarms set-state",
      "NAME STATE",
      "force an alarm's state until its next evaluation (SetAlarmState)",
      "STATE is OK, ALARM or INSUFFICIENT_DATA.",
      {
          Flag("reason", "TEXT", "why (required; at most 1023 characters)"),
          Flag("reason-data", "JSON", "a JSON object, at most 4000 characters"),
      },
      2,
      2});
  c.push_back(CommandSpec{"alarms enable",
                          "NAME...",
                          "enable alarms' actions (EnableAlarmActions)",
                          "",
                          {},
                          1,
                          SIZE_MAX});
  c.push_back(CommandSpec{"alarms disable",
                          "NAME...",
                          "disable alarms' actions (DisableAlarmActions)",
                          "The alarms keep being evaluated and changing state.",
                          {},
                          1,
                          SIZE_MAX});
  c.push_back(CommandSpec{
      "alarms preview", "",
      "run a metric alarm over stored data without saving it (PreviewAlarm)",
      "Takes the flags of 'alarms put' (or --alarm-json) and prints the "
      "alarm's states at every evaluation tick from --start to --end as a "
      "strip chart: the value of each tick's newest period as bars with the "
      "threshold's line (╌), the state after the tick (O OK, A ALARM, I "
      "INSUFFICIENT_DATA), '^' under each transition, then every transition "
      "with its reason.",
      Concat(
          {MetricAlarmFlags(false),
           {Flag("start", "TIME", std::string(kTimeHelp) + "; default -1h"),
            Flag("end", "TIME", "as --start; default now"),
            Flag("initial-state", "STATE",
                 "the state before the first tick (default "
                 "INSUFFICIENT_DATA)"),
            Flag("alarm-json", "JSON|@FILE",
                 "the alarm as a PutMetricAlarmRequest, instead of the "
                 "alarm's flags"),
            Flag("rule", "RULE",
                 "preview a composite alarm's rule instead, over the "
                 "previews of the server's alarms it names; prints a row "
                 "of states for the rule and one for each alarm"),
            Flag("json", "", "print the response in protobuf's JSON mapping"),
            Flag("height", "ROWS", "rows of the value bars (default 6)")}})});
  for (CommandSpec& spec : c) {
    spec.flags.insert(spec.flags.end(), GlobalFlags().begin(),
                      GlobalFlags().end());
  }
  return c;
}

const FlagSpec* FindFlag(const CommandSpec& spec, absl::string_view name) {
  for (const FlagSpec& f : spec.flags) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
// Small helpers.

size_t DisplayWidth(absl::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;  // not a UTF-8 continuation byte
  }
  return n;
}

// The first `width` characters of `s` (whole UTF-8 sequences), with "…" in
// place of the last if it was longer.
std::string FitWidth(const std::string& s, size_t width) {
  if (DisplayWidth(s) <= width || width == 0) return s;
  size_t chars = 0, end = 0;
  for (; end < s.size(); ++end) {
    if ((static_cast<unsigned char>(s[end]) & 0xC0) != 0x80 &&
        chars++ == width - 1) {
      break;
    }
  }
  return s.substr(0, end) + "…";
}

std::string PadRight(absl::string_view s, size_t width) {
  std::string out(s);
  const size_t w = DisplayWidth(s);
  if (w < width) out.append(width - w, ' ');
  return out;
}

std::string PadLeft(absl::string_view s, size_t width) {
  const size_t w = DisplayWidth(s);
  std::string out;
  if (w < width) out.append(width - w, ' ');
  out.append(s.data(), s.size());
  return out;
}

std::string RStrip(std::string s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

std::string Repeat(absl::string_view s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out.append(s.data(), s.size());
  return out;
}

// `text` in lines of at most `width` columns, every line but the first
// prefixed by `indent` spaces (not counted in `width`); each line but the
// last ends with '\n'.
std::string Wrap(absl::string_view text, size_t width, size_t indent) {
  std::string out, line;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (!line.empty() && DisplayWidth(line) + 1 + DisplayWidth(word) > width) {
      absl::StrAppend(&out, line, "\n", std::string(indent, ' '));
      line.clear();
    }
    if (!line.empty()) line += ' ';
    absl::StrAppend(&line, word);
  }
  out += line;
  return out;
}

std::string Quote(absl::string_view s) { return absl::StrCat("'", s, "'"); }

int64_t SystemNowMs() { return absl::ToUnixMillis(absl::Now()); }

void SetTime(int64_t ms, google::protobuf::Timestamp* t) {
  rpc::ToTimestamp(ms, t);
}

int64_t TimeMs(const google::protobuf::Timestamp& t) {
  return rpc::ToMillis(t).value_or(t.seconds() * 1000);
}

std::string Plural(int64_t n, absl::string_view one, absl::string_view many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

// A chart label: 4 significant digits.
std::string ShortNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// ---------------------------------------------------------------------------
// Flag values.

absl::StatusOr<double> NumberValue(absl::string_view flag,
                                   const std::string& text) {
  double v = 0;
  if (!absl::SimpleAtod(text, &v) || !std::isfinite(v)) {
    return Invalid(absl::StrCat("--", flag, ": must be a finite number, got ",
                                Quote(text)));
  }
  return v;
}

absl::StatusOr<int32_t> IntValue(absl::string_view flag,
                                 const std::string& text, int32_t min) {
  int32_t v = 0;
  if (!absl::SimpleAtoi(text, &v) || v < min) {
    return Invalid(absl::StrCat("--", flag, ": must be a whole number of at ",
                                "least ", min, ", got ", Quote(text)));
  }
  return v;
}

// Seconds: a whole number, or a duration of whole seconds ("5m").
absl::StatusOr<int32_t> SecondsValue(absl::string_view flag,
                                     const std::string& text) {
  int64_t seconds = 0;
  bool ok = false;
  if (!text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      })) {
    ok = absl::SimpleAtoi(text, &seconds);
  } else if (absl::StatusOr<int64_t> ms = ParseDurationMs(text);
             ms.ok() && *ms % 1000 == 0) {
    seconds = *ms / 1000;
    ok = true;
  }
  if (!ok || seconds < 1 || seconds > std::numeric_limits<int32_t>::max()) {
    return Invalid(absl::StrCat("--", flag,
                                ": must be a whole number of seconds (60) or "
                                "a duration of whole seconds (5m, 1h), got ",
                                Quote(text)));
  }
  return static_cast<int32_t>(seconds);
}

absl::StatusOr<int64_t> TimeValue(absl::string_view flag,
                                  const std::string& text, int64_t now_ms) {
  absl::StatusOr<int64_t> t = ParseTimeMs(text, now_ms);
  if (!t.ok()) {
    return Invalid(absl::StrCat("--", flag, ": ", t.status().message()));
  }
  return *t;
}

absl::StatusOr<std::pair<std::string, std::string>> PairValue(
    absl::string_view flag, const std::string& text, absl::string_view form) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return Invalid(
        absl::StrCat("--", flag, ": must be ", form, ", got ", Quote(text)));
  }
  return std::make_pair(text.substr(0, eq), text.substr(eq + 1));
}

absl::Status AddDimensions(
    const ParsedArgs& args,
    google::protobuf::RepeatedPtrField<v1::Dimension>* out) {
  for (const std::string& d : args.All("dimension")) {
    absl::StatusOr<std::pair<std::string, std::string>> kv =
        PairValue("dimension", d, "Name=Value");
    if (!kv.ok()) return kv.status();
    v1::Dimension* x = out->Add();
    x->set_name(kv->first);
    x->set_value(kv->second);
  }
  return absl::OkStatus();
}

absl::Status AddTags(const ParsedArgs& args,
                     google::protobuf::RepeatedPtrField<v1::Tag>* out) {
  for (const std::string& t : args.All("tag")) {
    absl::StatusOr<std::pair<std::string, std::string>> kv =
        PairValue("tag", t, "Key=Value");
    if (!kv.ok()) return kv.status();
    v1::Tag* x = out->Add();
    x->set_key(kv->first);
    x->set_value(kv->second);
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> BoolValue(absl::string_view flag,
                               const std::string& text) {
  const std::string t = absl::AsciiStrToLower(text);
  if (t == "true" || t == "yes" || t == "1") return true;
  if (t == "false" || t == "no" || t == "0") return false;
  return Invalid(
      absl::StrCat("--", flag, ": must be true or false, got ", Quote(text)));
}

// "ok", "alarm", "insufficient-data" -> OK, ALARM, INSUFFICIENT_DATA; other
// text is passed on upper-cased for the server to judge.
std::string StateValue(const std::string& text) {
  std::string s = absl::AsciiStrToUpper(text);
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

absl::Status Required(const ParsedArgs& args, absl::string_view flag,
                      absl::string_view extra = "") {
  if (args.Has(flag)) return absl::OkStatus();
  return Invalid(absl::StrCat("--", flag, ": required", extra));
}

// The text of a JSON argument: itself, or the contents of @FILE (@- is
// stdin).
absl::StatusOr<std::string> JsonText(absl::string_view flag,
                                     const std::string& value,
                                     const BuildInputs& in) {
  if (!absl::StartsWith(value, "@")) return value;
  const std::string path = value.substr(1);
  std::stringstream ss;
  if (path == "-") {
    if (in.in == nullptr) {
      return Invalid(absl::StrCat("--", flag, ": cannot read stdin here"));
    }
    ss << in.in->rdbuf();
    return ss.str();
  }
  std::ifstream f(path);
  if (!f) {
    return Invalid(absl::StrCat("--", flag, ": cannot read ", Quote(path), ": ",
                                std::strerror(errno)));
  }
  ss << f.rdbuf();
  return ss.str();
}

absl::Status ParseJsonInto(absl::string_view flag, const std::string& value,
                           const BuildInputs& in,
                           google::protobuf::Message* msg) {
  absl::StatusOr<std::string> text = JsonText(flag, value, in);
  if (!text.ok()) return text.status();
  google::protobuf::util::JsonParseOptions options;
  const auto s =
      google::protobuf::util::JsonStringToMessage(*text, msg, options);
  if (!s.ok()) {
    return Invalid(absl::StrCat(
        "--", flag, ": not a ", msg->GetDescriptor()->full_name(),
        " in protobuf's JSON mapping: ", std::string(s.message())));
  }
  return absl::OkStatus();
}

// With --json (a whole request), only `allowed` and the global flags.
absl::Status OnlyWith(const ParsedArgs& args, absl::string_view json_flag,
                      const std::set<absl::string_view>& allowed) {
  for (const std::string& f : args.given()) {
    if (f == json_flag || f == "endpoint" || f == "timeout" ||
        allowed.count(f) > 0) {
      continue;
    }
    return Invalid(absl::StrCat(
        "--", f, ": cannot be combined with --", json_flag,
        json_flag == "rule"         ? ", which previews a composite rule"
        : json_flag == "alarm-json" ? ", which gives the whole alarm"
                                    : ", which gives the whole request"));
  }
  return absl::OkStatus();
}

std::string ComparisonOperator(const std::string& text) {
  if (text == ">") return "GreaterThanThreshold";
  if (text == ">=") return "GreaterThanOrEqualToThreshold";
  if (text == "<") return "LessThanThreshold";
  if (text == "<=") return "LessThanOrEqualToThreshold";
  return text;
}

absl::Status FillActions(const ParsedArgs& args, bool* has_enabled,
                         bool* enabled) {
  if (std::optional<std::string> v = args.Get("actions-enabled")) {
    absl::StatusOr<bool> b = BoolValue("actions-enabled", *v);
    if (!b.ok()) return b.status();
    *has_enabled = true;
    *enabled = *b;
  }
  return absl::OkStatus();
}

absl::Status BuildAlarmFromFlags(const ParsedArgs& args, bool name_required,
                                 v1::PutMetricAlarmRequest* req) {
  if (name_required) {
    if (absl::Status s = Required(args, "name"); !s.ok()) return s;
  }
  for (const char* f : {"namespace", "metric", "period", "evaluation-periods",
                        "threshold", "comparison-operator"}) {
    if (absl::Status s = Required(args, f); !s.ok()) return s;
  }
  if (args.Has("statistic") == args.Has("extended-statistic")) {
    return Invalid(
        "--statistic, --extended-statistic: exactly one of them is required");
  }
  req->set_alarm_name(args.Get("name").value_or("preview"));
  if (auto v = args.Get("description")) req->set_alarm_description(*v);
  req->set_namespace_(*args.Get("namespace"));
  req->set_metric_name(*args.Get("metric"));
  if (absl::Status s = AddDimensions(args, req->mutable_dimensions());
      !s.ok()) {
    return s;
  }
  if (auto v = args.Get("unit")) req->set_unit(*v);
  if (auto v = args.Get("statistic")) req->set_statistic(*v);
  if (auto v = args.Get("extended-statistic")) req->set_extended_statistic(*v);
  absl::StatusOr<int32_t> period = SecondsValue("period", *args.Get("period"));
  if (!period.ok()) return period.status();
  req->set_period(*period);
  absl::StatusOr<int32_t> n =
      IntValue("evaluation-periods", *args.Get("evaluation-periods"), 1);
  if (!n.ok()) return n.status();
  req->set_evaluation_periods(*n);
  if (auto v = args.Get("datapoints-to-alarm")) {
    absl::StatusOr<int32_t> m = IntValue("datapoints-to-alarm", *v, 1);
    if (!m.ok()) return m.status();
    req->set_datapoints_to_alarm(*m);
  }
  absl::StatusOr<double> threshold =
      NumberValue("threshold", *args.Get("threshold"));
  if (!threshold.ok()) return threshold.status();
  req->set_threshold(*threshold);
  req->set_comparison_operator(
      ComparisonOperator(*args.Get("comparison-operator")));
  if (auto v = args.Get("treat-missing-data")) req->set_treat_missing_data(*v);
  if (auto v = args.Get("evaluate-low-sample-count-percentile")) {
    req->set_evaluate_low_sample_count_percentile(*v);
  }
  return absl::OkStatus();
}

std::string DimensionsText(
    const google::protobuf::RepeatedPtrField<v1::Dimension>& dims) {
  return absl::StrJoin(dims, ",", [](std::string* out, const v1::Dimension& d) {
    absl::StrAppend(out, d.name(), "=", d.value());
  });
}

// ---------------------------------------------------------------------------
// Charts.

const char* const kBlocks[9] = {" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};

struct Scale {
  double lo = 0;
  double hi = 1;
  int height = 8;
  std::optional<double> threshold;
  int threshold_row = -1;  // from the top; -1: none

  static Scale Of(const std::vector<std::optional<double>>& values, int height,
                  std::optional<double> threshold) {
    Scale s;
    s.height = std::max(1, height);
    s.threshold = threshold;
    bool any = false;
    double lo = 0, hi = 0;
    for (const std::optional<double>& v : values) {
      if (!v || !std::isfinite(*v)) continue;
      lo = std::min(lo, *v);
      hi = std::max(hi, *v);
      any = true;
    }
    if (threshold && std::isfinite(*threshold)) {
      lo = std::min(lo, *threshold);
      hi = std::max(hi, *threshold);
      any = true;
    }
    if (!any) hi = 1;
    if (!(hi > lo)) hi = lo + 1;
    s.lo = lo;
    s.hi = hi;
    if (threshold && std::isfinite(*threshold)) {
      const double t = (*threshold - lo) / (hi - lo) * s.height;
      const int from_bottom =
          std::clamp(static_cast<int>(std::floor(t)), 0, s.height - 1);
      s.threshold_row = s.height - 1 - from_bottom;
    }
    return s;
  }

  // Eighths of a row, 1 to height * 8.
  int Level(double v) const {
    const int levels = height * 8;
    const long r = std::lround((v - lo) / (hi - lo) * levels);
    return static_cast<int>(std::clamp<long>(r, 1, levels));
  }

  std::string Label(int row) const {
    if (row == 0) return ShortNumber(hi);
    if (row == height - 1) return ShortNumber(lo);
    if (row == threshold_row) return ShortNumber(*threshold);
    return "";
  }

  size_t LabelWidth() const {
    size_t w = 0;
    for (int r = 0; r < height; ++r) w = std::max(w, Label(r).size());
    return w;
  }
};

// The rows of bars for values [begin, end), each prefixed by its label.
std::vector<std::string> BarRows(
    const std::vector<std::optional<double>>& values, const Scale& scale,
    size_t begin, size_t end, size_t label_width) {
  std::vector<std::string> rows;
  for (int r = 0; r < scale.height; ++r) {
    const std::string label = scale.Label(r);
    std::string line = PadLeft(label, label_width);
    line += label.empty() ? "│" : "┤";
    const int base = (scale.height - 1 - r) * 8;
    for (size_t i = begin; i < end; ++i) {
      const std::optional<double>& v = values[i];
      int fill = 0;
      if (v && std::isfinite(*v)) {
        fill = std::clamp(scale.Level(*v) - base, 0, 8);
      }
      if (fill == 0 && r == scale.threshold_row) {
        line += "╌";
      } else {
        line += kBlocks[fill];
      }
    }
    rows.push_back(RStrip(line));
  }
  return rows;
}

// "10:05", or "12-01T10:05" when the chart spans days; seconds when a tick
// has some.
std::string TickLabel(int64_t ms, bool with_date, bool with_seconds) {
  const absl::Time t = absl::FromUnixMillis(ms);
  std::string fmt = with_date ? "%m-%dT%H:%M" : "%H:%M";
  if (with_seconds) fmt += ":%S";
  return absl::FormatTime(fmt, t, absl::UTCTimeZone());
}

// The axis line and the time labels under columns [begin, end).
std::vector<std::string> TimeAxis(const std::vector<int64_t>& times_ms,
                                  size_t begin, size_t end, size_t label_width,
                                  bool axis_line = true) {
  std::vector<std::string> rows;
  if (axis_line) {
    rows.push_back(std::string(label_width, ' ') + "└" +
                   Repeat("─", end - begin));
  }
  if (times_ms.size() < end || begin >= end) return rows;
  const auto day = [](int64_t ms) { return ms / 86'400'000; };
  const bool with_date = day(times_ms.front()) != day(times_ms.back());
  bool with_seconds = false;
  for (int64_t t : times_ms) with_seconds |= t % 60'000 != 0;
  const std::string first = TickLabel(times_ms[begin], with_date, with_seconds);
  const std::string last =
      TickLabel(times_ms[end - 1], with_date, with_seconds);
  std::string line = std::string(label_width + 1, ' ') + first;
  const size_t columns = end - begin;
  if (end - begin > 1 && first.size() + 2 + last.size() <= columns) {
    line += std::string(columns - first.size() - last.size(), ' ') + last;
  }
  rows.push_back(line);
  return rows;
}

const char* StateLetter(const std::string& state) {
  if (state == "OK") return "O";
  if (state == "ALARM") return "A";
  if (state == "INSUFFICIENT_DATA") return "I";
  return "?";
}

const char* StateColor(const std::string& state) {
  if (state == "OK") return "\x1b[32m";
  if (state == "ALARM") return "\x1b[31m";
  return "\x1b[33m";
}

// A state's letter in a row of states, colored if asked.
std::string StateCell(const std::string& state, bool color) {
  if (!color) return StateLetter(state);
  return absl::StrCat(StateColor(state), StateLetter(state), "\x1b[0m");
}

// The columns of a chart line after its labels.
size_t ChartColumns(const ChartOptions& options, size_t label_width) {
  return static_cast<size_t>(
      std::max<int>(10, options.width - static_cast<int>(label_width) - 1));
}

std::optional<double> StatValue(const v1::Datapoint& d,
                                const std::string& stat) {
  if (stat == "SampleCount" && d.has_sample_count()) return d.sample_count();
  if (stat == "Average" && d.has_average()) return d.average();
  if (stat == "Sum" && d.has_sum()) return d.sum();
  if (stat == "Minimum" && d.has_minimum()) return d.minimum();
  if (stat == "Maximum" && d.has_maximum()) return d.maximum();
  auto it = d.extended_statistics().find(stat);
  if (it != d.extended_statistics().end()) return it->second;
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Running commands.

struct Context {
  Context(const CommandSpec& spec, const ParsedArgs& args,
          const Environment& env, std::ostream& out, std::ostream& err)
      : spec(spec), args(args), env(env), out(out), err(err) {}

  const CommandSpec& spec;
  const ParsedArgs& args;
  const Environment& env;
  std::ostream& out;
  std::ostream& err;
  std::string endpoint;
  int64_t timeout_ms = 10'000;
  int64_t now_ms = 0;
  std::shared_ptr<grpc::Channel> channel;

  BuildInputs inputs() const { return BuildInputs{now_ms, env.in}; }

  std::shared_ptr<grpc::Channel> Channel() {
    if (channel == nullptr) {
      grpc::ChannelArguments a;
      a.SetMaxReceiveMessageSize(64 << 20);
      a.SetMaxSendMessageSize(64 << 20);
      channel = grpc::CreateCustomChannel(
          endpoint, grpc::InsecureChannelCredentials(), a);
    }
    return channel;
  }
  std::unique_ptr<v1::MetricsService::Stub> Metrics() {
    return v1::MetricsService::NewStub(Channel());
  }
  std::unique_ptr<v1::AlarmService::Stub> Alarms() {
    return v1::AlarmService::NewStub(Channel());
  }

  ChartOptions Chart(int default_height) const {
    ChartOptions o;
    o.height = default_height;
    o.width = env.width;
    o.color = env.color;
    return o;
  }
};

void PrintUsageError(std::ostream& err, absl::string_view path,
                     absl::string_view message) {
  if (path.empty()) {
    err << "nimbus: " << message << "\nRun 'nimbus --help' for usage.\n";
  } else {
    err << "nimbus: " << path << ": " << message << "\nRun 'nimbus " << path
        << " --help' for usage.\n";
  }
}

int UsageError(Context& c, const absl::Status& s) {
  PrintUsageError(c.err, c.spec.path, s.message());
  return kExitUsage;
}

int RpcError(Context& c, const grpc::Status& s) {
  c.err << "nimbus: " << StatusCodeName(s.error_code()) << ": "
        << s.error_message();
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    c.err << " (cannot reach nimbusd at " << c.endpoint
          << "; --endpoint or NIMBUS_ENDPOINT says where it is)";
  } else if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    c.err << " (no answer from " << c.endpoint << " within "
          << absl::FormatDuration(absl::Milliseconds(c.timeout_ms))
          << "; --timeout)";
  }
  c.err << "\n";
  return ExitCodeFor(s);
}

template <typename Stub, typename Req, typename Resp>
grpc::Status Call(Context& c, Stub& stub,
                  grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&,
                                               Resp*),
                  const Req& req, Resp* resp) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(c.timeout_ms));
  return (stub.*method)(&ctx, req, resp);
}

void PrintJson(Context& c, const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  std::string json;
  const auto s = google::protobuf::util::MessageToJsonString(m, &json, options);
  if (!s.ok()) {
    c.err << "nimbus: cannot print the response as JSON: " << s.message()
          << "\n";
    return;
  }
  c.out << json;
  if (json.empty() || json.back() != '\n') c.out << "\n";
}

int RunPut(Context& c) {
  absl::StatusOr<v1::PutMetricDataRequest> req =
      BuildPutMetricData(c.args, c.inputs());
  if (!req.ok()) return UsageError(c, req.status());
  v1::PutMetricDataResponse resp;
  auto stub = c.Metrics();
  const grpc::Status s =
      Call(c, *stub, &v1::MetricsService::Stub::PutMetricData, *req, &resp);
  if (!s.ok()) return RpcError(c, s);
  c.out << "accepted " << Plural(resp.accepted_points(), "point", "points");
  if (resp.rejected_points() > 0) {
    c.out << ", rejected " << resp.rejected_points();
  }
  c.out << "\n";
  for (const v1::RejectedDatum& r : resp.rejected()) {
    c.err << "nimbus: datum " << r.index();
    if (r.point_index() >= 0) c.err << " point " << r.point_index();
    c.err << " rejected: " << r.reason() << ": " << r.message() << "\n";
  }
  if (resp.rejected_points() > resp.rejected_size()) {
    c.err << "nimbus: and " << resp.rejected_points() - resp.rejected_size()
          << " more rejected\n";
  }
  return resp.rejected_points() > 0 ? kExitServerError : kExitOk;
}

int RunGet(Context& c) {
  absl::StatusOr<v1::GetMetricStatisticsRequest> req =
      BuildGetStatistics(c.args, c.inputs());
  if (!req.ok()) return UsageError(c, req.status());
  ChartOptions chart = c.Chart(8);
  if (auto h = c.args.Get("height")) {
    absl::StatusOr<int32_t> v = IntValue("height", *h, 1);
    if (!v.ok()) return UsageError(c, v.status());
    chart.height = *v;
  }
  v1::GetMetricStatisticsResponse resp;
  auto stub = c.Metrics();
  const grpc::Status s = Call(
      c, *stub, &v1::MetricsService::Stub::GetMetricStatistics, *req, &resp);
  if (!s.ok()) return RpcError(c, s);
  if (c.args.Switch("json")) {
    PrintJson(c, resp);
    return kExitOk;
  }
  std::string title = absl::StrCat(req->namespace_(), " ", req->metric_name());
  if (!req->dimensions().empty()) {
    absl::StrAppend(&title, " ", DimensionsText(req->dimensions()));
  }
  c.out << title << ", period " << req->period() << " s, "
        << FormatTimeMs(TimeMs(req->start_time())) << " to "
        << FormatTimeMs(TimeMs(req->end_time())) << "\n";
  if (resp.datapoints().empty()) {
    c.out << "no datapoints\n";
    return kExitOk;
  }
  std::vector<std::string> stats(req->statistics().begin(),
                                 req->statistics().end());
  stats.insert(stats.end(), req->extended_statistics().begin(),
               req->extended_statistics().end());
  std::vector<std::string> header = {"TIMESTAMP"};
  std::vector<bool> right = {false};
  for (const std::string& st : stats) {
    header.push_back(st);
    right.push_back(true);
  }
  header.push_back("UNIT");
  right.push_back(false);
  std::vector<std::vector<std::string>> rows;
  for (const v1::Datapoint& d : resp.datapoints()) {
    std::vector<std::string> row = {FormatTimeMs(TimeMs(d.timestamp()))};
    for (const std::string& st : stats) {
      std::optional<double> v = StatValue(d, st);
      row.push_back(v ? FormatNumber(*v) : "-");
    }
    row.push_back(d.unit());
    rows.push_back(std::move(row));
  }
  const bool table = !c.args.Switch("no-table");
  if (table) c.out << RenderTable(header, rows, right);
  if (!c.args.Switch("no-chart") && !stats.empty()) {
    // A count has no unit.
    const std::string unit =
        stats[0] == "SampleCount" ? "" : resp.datapoints(0).unit();
    if (table) c.out << "\n";
    c.out << stats[0]
          << (unit.empty() || unit == "None" ? "" : " (" + unit + ")") << "\n"
          << RenderStatisticsChart(resp, stats[0], req->period(), chart);
  }
  return kExitOk;
}

int RunList(Context& c) {
  absl::StatusOr<v1::ListMetricsRequest> req =
      BuildListMetrics(c.args, c.inputs());
  if (!req.ok()) return UsageError(c, req.status());
  auto stub = c.Metrics();
  v1::ListMetricsResponse all;
  std::set<std::string> tokens;
  while (true) {
    v1::ListMetricsResponse page;
    const grpc::Status s =
        Call(c, *stub, &v1::MetricsService::Stub::ListMetrics, *req, &page);
    if (!s.ok()) return RpcError(c, s);
    for (v1::Metric& m : *page.mutable_metrics()) {
      *all.add_metrics() = std::move(m);
    }
    if (page.next_token().empty() || !tokens.insert(page.next_token()).second) {
      break;
    }
    req->set_next_token(page.next_token());
  }
  if (c.args.Switch("json")) {
    PrintJson(c, all);
    return kExitOk;
  }
  if (all.metrics().empty()) {
    c.out << "no metrics\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const v1::Metric& m : all.metrics()) {
    rows.push_back({m.namespace_(), m.metric_name(),
                    DimensionsText(m.dimensions()), m.unit()});
  }
  c.out << RenderTable({"NAMESPACE", "METRIC", "DIMENSIONS", "UNIT"}, rows);
  return kExitOk;
}

// After a put: the alarm's state, or nothing if it cannot be read.
void PrintSavedAlarm(Context& c, v1::AlarmService::Stub& stub,
                     const std::string& name, bool composite) {
  v1::DescribeAlarmsRequest req;
  req.add_alarm_names(name);
  req.add_alarm_types(composite ? "CompositeAlarm" : "MetricAlarm");
  v1::DescribeAlarmsResponse resp;
  c.out << "saved alarm " << Quote(name);
  const grpc::Status s =
      Call(c, stub, &v1::AlarmService::Stub::DescribeAlarms, req, &resp);
  if (s.ok()) {
    if (!resp.metric_alarms().empty()) {
      const v1::MetricAlarm& a = resp.metric_alarms(0);
      c.out << ": " << a.state_value() << " (" << a.state_reason() << ")";
    } else if (!resp.composite_alarms().empty()) {
      const v1::CompositeAlarm& a = resp.composite_alarms(0);
      c.out << ": " << a.state_value() << " (" << a.state_reason() << ")";
    }
  }
  c.out << "\n";
}

int RunAlarmsPut(Context& c) {
  absl::StatusOr<v1::PutMetricAlarmRequest> req =
      BuildPutMetricAlarm(c.args, c.inputs());
  if (!req.ok()) return UsageError(c, req.status());
  auto stub = c.Alarms();
  v1::PutMetricAlarmResponse resp;
  const grpc::Status s =
      Call(c, *stub, &v1::AlarmService::Stub::PutMetricAlarm, *req, &resp);
  if (!s.ok()) return RpcError(c, s);
  PrintSavedAlarm(c, *stub, req->alarm_name(), false);
  return kExitOk;
}

int RunAlarmsPutComposite(Context& c) {
  absl::StatusOr<v1::PutCompositeAlarmRequest> req =
      BuildPutCompositeAlarm(c.args, c.inputs());
  if (!req.ok()) return UsageError(c, req.status());
  auto stub = c.Alarms();
  v1::PutCompositeAlarmResponse resp;
  const grpc::Status s =
      Call(c, *stub, &v1::AlarmService::Stub::PutCompositeAlarm, *req, &resp);
  if (!s.ok()) return RpcError(c, s);
  PrintSavedAlarm(c, *stub, req->alarm_name(), true);
  return kExitOk;
}

int RunAlarmsDescribe(Context& c) {
  absl::StatusOr<v1::DescribeAlarmsRequest> req =
      BuildDescribeAlarms(c.args, c.inputs());
  if (!req.ok()) return UsageError(c, req.status());
  auto stub = c.Alarms();
  v1::DescribeAlarmsResponse all;
  std::set<std::string> tokens;
  while (true) {
    v1::DescribeAlarmsResponse page;
    const grpc::Status s =
        Call(c, *stub, &v1::AlarmService::Stub::DescribeAlarms, *req, &page);
    if (!s.ok()) return RpcError(c, s);
    for (auto& a : *page.mutable_metric_alarms()) {
      *all.add_metric_alarms() = std::move(a);
    }
    for (auto& a : *page.mutable_composite_alarms()) {
      *all.add_composite_alarms() = std::move(a);
    }
    if (page.next_token().empty() || !tokens.insert(page.next_token()).second) {
      break;
    }
    req->set_next_token(page.next_token());
  }
  if (c.args.Switch("json")) {
    PrintJson(c, all);
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const v1::MetricAlarm& a : all.metric_alarms()) {
    rows.push_back({a.alarm_name(), "Metric", a.state_value(),
                    a.actions_enabled() ? "enabled" : "disabled",
                    a.state_reason()});
  }
  for (const v1::CompositeAlarm& a : all.composite_alarms()) {
    rows.push_back({a.alarm_name(), "Composite", a.state_value(),
                    a.actions_enabled() ? "enabled" : "disabled",
                    a.state_reason()});
  }
  if (rows.empty()) {
    c.out << "no alarms\n";
    return kExitOk;
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a[0] < b[0]; });
  c.out << RenderTable({"NAME", "TYPE", "STATE", "ACTIONS", "REASON"}, rows);
  return kExitOk;
}

int RunAlarmsDelete(Context& c) {
  v1::DeleteAlarmsRequest req;
  for (const std::string& n : c.args.positional()) req.add_alarm_names(n);
  auto stub = c.Alarms();
  v1::DeleteAlarmsResponse resp;
  const grpc::Status s =
      Call(c, *stub, &v1::AlarmService::Stub::DeleteAlarms, req, &resp);
  if (!s.ok()) return RpcError(c, s);
  c.out << "deleted " << Plural(req.alarm_names_size(), "alarm", "alarms")
        << "\n";
  return kExitOk;
}

int RunAlarmsHistory(Context& c) {
  absl::StatusOr<v1::DescribeAlarmHistoryRequest> req =
      BuildAlarmHistory(c.args, c.inputs());
  if (!req.ok()) return UsageError(c, req.status());
  int64_t limit = 100;
  if (auto v = c.args.Get("limit")) {
    absl::StatusOr<int32_t> n = IntValue("limit", *v, 1);
    if (!n.ok()) return UsageError(c, n.status());
    limit = *n;
  }
  auto stub = c.Alarms();
  v1::DescribeAlarmHistoryResponse all;
  std::set<std::string> tokens;
  while (all.alarm_history_items_size() < limit) {
    req->set_max_records(static_cast<int32_t>(
        std::min<int64_t>(100, limit - all.alarm_history_items_size())));
    v1::DescribeAlarmHistoryResponse page;
    const grpc::Status s = Call(
        c, *stub, &v1::AlarmService::Stub::DescribeAlarmHistory, *req, &page);
    if (!s.ok()) return RpcError(c, s);
    for (auto& h : *page.mutable_alarm_history_items()) {
      *all.add_alarm_history_items() = std::move(h);
    }
    if (page.next_token().empty() || !tokens.insert(page.next_token()).second) {
      break;
    }
    req->set_next_token(page.next_token());
  }
  if (c.args.Switch("json")) {
    PrintJson(c, all);
    return kExitOk;
  }
  if (all.alarm_history_items().empty()) {
    c.out << "no history items\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const v1::AlarmHistoryItem& h : all.alarm_history_items()) {
    rows.push_back({FormatTimeMs(TimeMs(h.timestamp())), h.alarm_name(),
                    h.history_item_type(), h.history_summary()});
  }
  c.out << RenderTable({"TIMESTAMP", "NAME", "TYPE", "SUMMARY"}, rows);
  return kExitOk;
}

int RunAlarmsSetState(Context& c) {
  absl::StatusOr<v1::SetAlarmStateRequest> req =
      BuildSetAlarmState(c.args, c.inputs());
  if (!req.ok()) return UsageError(c, req.status());
  auto stub = c.Alarms();
  v1::SetAlarmStateResponse resp;
  const grpc::Status s =
      Call(c, *stub, &v1::AlarmService::Stub::SetAlarmState, *req, &resp);
  if (!s.ok()) return RpcError(c, s);
  c.out << "set alarm " << Quote(req->alarm_name()) << " to "
        << req->state_value() << " until its next evaluation\n";
  return kExitOk;
}

int RunAlarmsEnableDisable(Context& c, bool enable) {
  auto stub = c.Alarms();
  grpc::Status s;
  if (enable) {
    v1::EnableAlarmActionsRequest req;
    for (const std::string& n : c.args.positional()) req.add_alarm_names(n);
    v1::EnableAlarmActionsResponse resp;
    s = Call(c, *stub, &v1::AlarmService::Stub::EnableAlarmActions, req, &resp);
  } else {
    v1::DisableAlarmActionsRequest req;
    for (const std::string& n : c.args.positional()) req.add_alarm_names(n);
    v1::DisableAlarmActionsResponse resp;
    s = Call(c, *stub, &v1::AlarmService::Stub::DisableAlarmActions, req,
             &resp);
  }
  if (!s.ok()) return RpcError(c, s);
  c.out << (enable ? "enabled" : "disabled") << " the actions of "
        << Plural(static_cast<int64_t>(c.args.positional().size()), "alarm",
                  "alarms")
        << "\n";
  return kExitOk;
}

int RunAlarmsPreview(Context& c) {
  absl::StatusOr<v1::PreviewAlarmRequest> req =
      BuildPreviewAlarm(c.args, c.inputs());
  if (!req.ok()) return UsageError(c, req.status());
  ChartOptions chart = c.Chart(6);
  if (auto h = c.args.Get("height")) {
    absl::StatusOr<int32_t> v = IntValue("height", *h, 1);
    if (!v.ok()) return UsageError(c, v.status());
    chart.height = *v;
  }
  auto stub = c.Alarms();
  v1::PreviewAlarmResponse resp;
  const grpc::Status s =
      Call(c, *stub, &v1::AlarmService::Stub::PreviewAlarm, *req, &resp);
  if (!s.ok()) return RpcError(c, s);
  if (c.args.Switch("json")) {
    PrintJson(c, resp);
    return kExitOk;
  }
  const std::string initial =
      req->initial_state().empty() ? "INSUFFICIENT_DATA" : req->initial_state();
  if (req->has_composite()) {
    c.out << "composite: " << req->composite().alarm_rule() << "\n"
          << RenderCompositePreview(resp, initial, chart);
    return kExitOk;
  }
  const v1::PutMetricAlarmRequest& a = req->alarm();
  std::string title = absl::StrCat(a.namespace_(), " ", a.metric_name());
  if (!a.dimensions().empty()) {
    absl::StrAppend(&title, " ", DimensionsText(a.dimensions()));
  }
  c.out << title << ": "
        << (a.statistic().empty() ? a.extended_statistic() : a.statistic())
        << " over " << a.period() << " s, " << a.comparison_operator() << " "
        << FormatNumber(a.threshold()) << ", "
        << (a.datapoints_to_alarm() > 0 ? a.datapoints_to_alarm()
                                        : a.evaluation_periods())
        << " of " << a.evaluation_periods() << "\n";
  c.out << RenderPreview(resp, a.threshold(), initial, chart);
  return kExitOk;
}

int Dispatch(Context& c) {
  const std::string& p = c.spec.path;
  if (p == "put") return RunPut(c);
  if (p == "get") return RunGet(c);
  if (p == "list") return RunList(c);
  if (p == "alarms put") return RunAlarmsPut(c);
  if (p == "alarms put-composite") return RunAlarmsPutComposite(c);
  if (p == "alarms describe") return RunAlarmsDescribe(c);
  if (p == "alarms delete") return RunAlarmsDelete(c);
  if (p == "alarms history") return RunAlarmsHistory(c);
  if (p == "alarms set-state") return RunAlarmsSetState(c);
  if (p == "alarms enable") return RunAlarmsEnableDisable(c, true);
  if (p == "alarms disable") return RunAlarmsEnableDisable(c, false);
  if (p == "alarms preview") return RunAlarmsPreview(c);
  PrintUsageError(c.err, "", absl::StrCat("unknown command ", Quote(p)));
  return kExitUsage;
}

std::string GroupHelp(absl::string_view group) {
  std::string out = absl::StrCat(
      "Usage: nimbus ", group, " SUBCOMMAND [flags] [args]\n\nSubcommands:\n");
  const std::string prefix = absl::StrCat(group, " ");
  for (const CommandSpec& spec : Commands()) {
    if (!absl::StartsWith(spec.path, prefix)) continue;
    absl::StrAppend(&out, "  ", PadRight(spec.path.substr(prefix.size()), 15),
                    spec.summary, "\n");
  }
  absl::StrAppend(&out, "\nRun 'nimbus ", group,
                  " SUBCOMMAND --help' for a subcommand's flags.\n");
  return out;
}

std::string AlarmSubcommands() {
  std::vector<std::string> subs;
  for (const CommandSpec& spec : Commands()) {
    if (absl::StartsWith(spec.path, "alarms ")) {
      subs.push_back(spec.path.substr(7));
    }
  }
  return absl::StrJoin(subs, ", ");
}

}  // namespace

// ---------------------------------------------------------------------------
// Arguments.

bool ParsedArgs::Has(absl::string_view flag) const {
  return values_.find(flag) != values_.end();
}

std::optional<std::string> ParsedArgs::Get(absl::string_view flag) const {
  auto it = values_.find(flag);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

const std::vector<std::string>& ParsedArgs::All(absl::string_view flag) const {
  static const auto* empty = new std::vector<std::string>();
  auto it = values_.find(flag);
  return it == values_.end() ? *empty : it->second;
}

bool ParsedArgs::Switch(absl::string_view flag) const {
  std::optional<std::string> v = Get(flag);
  return v.has_value() && *v == "true";
}

absl::StatusOr<ParsedArgs> ParseArgs(const CommandSpec& spec,
                                     const std::vector<std::string>& args) {
  ParsedArgs parsed;
  for (const std::string& a : args) {
    if (a == "--") break;
    if (a == "--help" || a == "-h") {
      parsed.help_ = true;
      return parsed;
    }
  }
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (flags_done || a.size() < 2 || a[0] != '-') {
      parsed.positional_.push_back(a);
      continue;
    }
    if (a == "--") {
      flags_done = true;
      continue;
    }
    if (!absl::StartsWith(a, "--")) {
      return Invalid(
          absl::StrCat("unknown flag ", a, " (flags are spelled --name)"));
    }
    std::string name = a.substr(2);
    std::optional<std::string> value;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const FlagSpec* f = FindFlag(spec, name);
    if (f == nullptr) return Invalid(absl::StrCat("unknown flag --", name));
    if (f->value_name.empty()) {  // a switch
      if (value && *value != "true" && *value != "false") {
        return Invalid(absl::StrCat(
            "--", name, ": takes no value, or =true or =false; got ",
            Quote(*value)));
      }
      if (!value) value = "true";
    } else if (!value) {
      if (i + 1 >= args.size()) {
        return Invalid(
            absl::StrCat("--", name, ": needs a value (", f->value_name, ")"));
      }
      value = args[++i];
    }
    std::vector<std::string>& values = parsed.values_[name];
    if (!values.empty() && !f->repeated) {
      return Invalid(
          absl::StrCat("--", name, ": given twice; it takes one value"));
    }
    if (values.empty()) parsed.order_.push_back(name);
    values.push_back(*value);
  }
  const size_t n = parsed.positional_.size();
  if (n < spec.min_args) {
    return Invalid(absl::StrCat("missing ", spec.args,
                                n == 0 ? "" : absl::StrCat(" (got ", n, ")")));
  }
  if (n > spec.max_args) {
    return Invalid(absl::StrCat(
        "unexpected argument ", Quote(parsed.positional_[spec.max_args]),
        spec.max_args == 0 ? " (takes no arguments)"
                           : absl::StrCat(" (takes ", spec.args, ")")));
  }
  return parsed;
}

const std::vector<CommandSpec>& Commands() {
  static const auto* commands = new std::vector<CommandSpec>(MakeCommands());
  return *commands;
}

const CommandSpec* FindCommand(absl::string_view path) {
  for (const CommandSpec& spec : Commands()) {
    if (spec.path == path) return &spec;
  }
  return nullptr;
}

std::string CommandHelp(const CommandSpec& spec) {
  std::string summary = spec.summary;
  if (!summary.empty()) {
    summary[0] = absl::ascii_toupper(static_cast<unsigned char>(summary[0]));
  }
  std::string out = absl::StrCat("Usage: nimbus ", spec.path, " [flags]",
                                 spec.args.empty() ? "" : " ", spec.args,
                                 "\n\n", summary, ".\n");
  if (!spec.details.empty()) {
    absl::StrAppend(&out, "\n", Wrap(spec.details, 78, 0), "\n");
  }
  std::vector<std::string> names;
  size_t width = 0;
  for (const FlagSpec& f : spec.flags) {
    names.push_back(absl::StrCat("--", f.name, f.value_name.empty() ? "" : " ",
                                 f.value_name));
    width = std::max(width, names.back().size());
  }
  width = std::min<size_t>(width, 34);
  bool global = false;
  absl::StrAppend(&out, "\nFlags:\n");
  for (size_t i = 0; i < spec.flags.size(); ++i) {
    const FlagSpec& f = spec.flags[i];
    const bool is_global = f.name == "endpoint" || f.name == "timeout";
    if (is_global && !global) {
      absl::StrAppend(&out, "\nGlobal flags:\n");
      global = true;
    }
    std::string line = absl::StrCat("  ", PadRight(names[i], width));
    if (names[i].size() > width) {
      absl::StrAppend(&line, "\n", std::string(width + 2, ' '));
    }
    absl::StrAppend(&out, line, "  ", Wrap(f.help, 78 - width - 4, width + 4),
                    "\n");
  }
  absl::StrAppend(&out, "  ", PadRight("--help", width), "  print this help\n");
  return out;
}

std::string ToolHelp() {
  std::string out =
      "nimbus: the command-line tool of Nimbus, over nimbusd's gRPC API.\n\n"
      "Usage: nimbus [--endpoint HOST:PORT] [--timeout DURATION] COMMAND "
      "[flags] [args]\n\nCommands:\n";
  for (const CommandSpec& spec : Commands()) {
    absl::StrAppend(&out, "  ", PadRight(spec.path, 22), spec.summary, "\n");
  }
  absl::StrAppend(
      &out, "\nGlobal flags (before or after the command):\n",
      "  --endpoint HOST:PORT  nimbusd's address (default $NIMBUS_ENDPOINT, "
      "else ",
      kDefaultEndpoint, ")\n",
      "  --timeout DURATION    deadline of each call (default 10s)\n",
      "  --help                this help; 'nimbus COMMAND --help' for a "
      "command's\n\n",
      "Exit codes: 0 success; 1 the server returned an error (or rejected a "
      "datum);\n2 usage error; 3 the server cannot be reached (UNAVAILABLE, "
      "deadline exceeded).\n");
  return out;
}

// ---------------------------------------------------------------------------
// Values.

absl::StatusOr<int64_t> ParseDurationMs(absl::string_view text) {
  const auto bad = [&] {
    return Invalid(absl::StrCat(
        "must be a duration like 90s, 5m, 1h30m or 2d (units ms, s, m, h, d, "
        "w), got ",
        Quote(text)));
  };
  absl::string_view s = absl::StripAsciiWhitespace(text);
  if (s.empty()) return bad();
  double total = 0;
  while (!s.empty()) {
    size_t n = 0;
    while (n < s.size() &&
           (absl::ascii_isdigit(static_cast<unsigned char>(s[n])) ||
            s[n] == '.')) {
      ++n;
    }
    if (n == 0) return bad();
    double number = 0;
    if (!absl::SimpleAtod(s.substr(0, n), &number)) return bad();
    s.remove_prefix(n);
    size_t u = 0;
    while (u < s.size() &&
           absl::ascii_isalpha(static_cast<unsigned char>(s[u]))) {
      ++u;
    }
    const absl::string_view unit = s.substr(0, u);
    s.remove_prefix(u);
    double unit_ms = 0;
    if (unit == "ms") {
      unit_ms = 1;
    } else if (unit == "s") {
      unit_ms = 1000;
    } else if (unit == "m") {
      unit_ms = 60'000;
    } else if (unit == "h") {
      unit_ms = 3'600'000;
    } else if (unit == "d") {
      unit_ms = 86'400'000;
    } else if (unit == "w") {
      unit_ms = 7 * 86'400'000.0;
    } else {
      return bad();
    }
    total += number * unit_ms;
  }
  if (!(total < 1e15)) return bad();  // beyond 30,000 years
  return static_cast<int64_t>(std::llround(total));
}

absl::StatusOr<int64_t> ParseTimeMs(absl::string_view text, int64_t now_ms) {
  const auto bad = [&] {
    return Invalid(absl::StrCat(
        "must be RFC 3339 (2026-12-01T10:00:00Z), 'now', relative to now "
        "(-1h, -30m, -2d, now-1h30m) or @UNIX_SECONDS, got ",
        Quote(text)));
  };
  absl::string_view t = absl::StripAsciiWhitespace(text);
  if (t == "now") return now_ms;
  absl::string_view rel = t;
  const bool now_prefix = absl::ConsumePrefix(&rel, "now");
  if (!rel.empty() && (rel[0] == '-' || rel[0] == '+')) {
    absl::StatusOr<int64_t> d = ParseDurationMs(rel.substr(1));
    if (!d.ok()) return bad();
    return rel[0] == '-' ? now_ms - *d : now_ms + *d;
  }
  if (now_prefix) return bad();
  if (absl::ConsumePrefix(&t, "@")) {  // Unix seconds, as date -d @S takes
    double seconds = 0;
    if (t.empty() || !absl::ascii_isdigit(static_cast<unsigned char>(t[0])) ||
        !absl::SimpleAtod(t, &seconds) ||
        seconds > static_cast<double>(rpc::kMaxTimestampSeconds)) {
      return bad();
    }
    return std::llround(seconds * 1000);
  }
  std::string s(t);
  // "2026-12-01 10:00:00Z": a space for the T, as RFC 3339 allows.
  if (s.size() > 10 && s[10] == ' ') s[10] = 'T';
  for (const char* format :
       {absl::RFC3339_full, "%Y-%m-%d%ET%H:%M:%E*S", "%Y-%m-%d%ET%H:%M%Ez",
        "%Y-%m-%d%ET%H:%M", "%Y-%m-%d"}) {
    absl::Time when;
    std::string err;
    if (absl::ParseTime(format, s, absl::UTCTimeZone(), &when, &err)) {
      const int64_t ms = absl::ToUnixMillis(when);
      if (ms < rpc::kMinTimestampSeconds * 1000 ||
          ms > rpc::kMaxTimestampSeconds * 1000) {
        return bad();
      }
      return ms;
    }
  }
  return bad();
}

std::string FormatTimeMs(int64_t ms) {
  const absl::Time t = absl::FromUnixMillis(ms);
  return absl::FormatTime(
      ms % 1000 == 0 ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%dT%H:%M:%E3SZ", t,
      absl::UTCTimeZone());
}

std::string FormatNumber(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

std::string StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return absl::StrCat("CODE_", static_cast<int>(code));
  }
}

int ExitCodeFor(const grpc::Status& status) {
  if (status.ok()) return kExitOk;
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return kExitUnreachable;
  }
  return kExitServerError;
}

// ---------------------------------------------------------------------------
// Requests.

absl::StatusOr<v1::PutMetricDataRequest> BuildPutMetricData(
    const ParsedArgs& args, const BuildInputs& in) {
  v1::PutMetricDataRequest req;
  if (std::optional<std::string> json = args.Get("json")) {
    if (absl::Status s = OnlyWith(args, "json", {}); !s.ok()) return s;
    if (absl::Status s = ParseJsonInto("json", *json, in, &req); !s.ok()) {
      return s;
    }
    return req;
  }
  const char kOrJson[] = " (or give the whole request with --json)";
  for (const char* f : {"namespace", "metric", "value"}) {
    if (absl::Status s = Required(args, f, kOrJson); !s.ok()) return s;
  }
  req.set_namespace_(*args.Get("namespace"));
  v1::MetricDatum* d = req.add_metric_data();
  d->set_metric_name(*args.Get("metric"));
  if (absl::Status s = AddDimensions(args, d->mutable_dimensions()); !s.ok()) {
    return s;
  }
  const std::vector<std::string>& values = args.All("value");
  for (const std::string& v : values) {
    absl::StatusOr<double> x = NumberValue("value", v);
    if (!x.ok()) return x.status();
    if (values.size() == 1) {
      d->set_value(*x);
    } else {
      d->add_values(*x);
    }
  }
  if (std::optional<std::string> t = args.Get("timestamp");
      t && absl::StripAsciiWhitespace(*t) != "now") {
    // Without a timestamp (or with "now") the server stamps the point as it
    // arrives, on its own clock.
    absl::StatusOr<int64_t> ms = TimeValue("timestamp", *t, in.now_ms);
    if (!ms.ok()) return ms.status();
    SetTime(*ms, d->mutable_timestamp());
  }
  if (auto u = args.Get("unit")) d->set_unit(*u);
  if (auto r = args.Get("storage-resolution")) {
    absl::StatusOr<int32_t> v = IntValue("storage-resolution", *r, 1);
    if (!v.ok()) return v.status();
    d->set_storage_resolution(*v);
  }
  return req;
}

absl::StatusOr<v1::GetMetricStatisticsRequest> BuildGetStatistics(
    const ParsedArgs& args, const BuildInputs& in) {
  v1::GetMetricStatisticsRequest req;
  for (const char* f : {"namespace", "metric"}) {
    if (absl::Status s = Required(args, f); !s.ok()) return s;
  }
  req.set_namespace_(*args.Get("namespace"));
  req.set_metric_name(*args.Get("metric"));
  if (absl::Status s = AddDimensions(args, req.mutable_dimensions()); !s.ok()) {
    return s;
  }
  for (const std::string& v : args.All("statistic")) {
    for (absl::string_view st :
         absl::StrSplit(v, ',', absl::SkipWhitespace())) {
      req.add_statistics(std::string(absl::StripAsciiWhitespace(st)));
    }
  }
  for (const std::string& v : args.All("extended-statistic")) {
    req.add_extended_statistics(v);
  }
  if (!req.statistics().empty() && !req.extended_statistics().empty()) {
    return Invalid(
        "--statistic, --extended-statistic: give one of them, not both "
        "(GetMetricStatistics takes one list or the other)");
  }
  if (req.statistics().empty() && req.extended_statistics().empty()) {
    req.add_statistics("Average");
  }
  int32_t period = 60;
  if (auto p = args.Get("period")) {
    absl::StatusOr<int32_t> v = SecondsValue("period", *p);
    if (!v.ok()) return v.status();
    period = *v;
  }
  req.set_period(period);
  absl::StatusOr<int64_t> start =
      TimeValue("start", args.Get("start").value_or("-1h"), in.now_ms);
  if (!start.ok()) return start.status();
  absl::StatusOr<int64_t> end =
      TimeValue("end", args.Get("end").value_or("now"), in.now_ms);
  if (!end.ok()) return end.status();
  if (*start >= *end) {
    return Invalid(absl::StrCat("--start: must be before --end (",
                                FormatTimeMs(*start), " is not before ",
                                FormatTimeMs(*end), ")"));
  }
  SetTime(*start, req.mutable_start_time());
  SetTime(*end, req.mutable_end_time());
  if (auto u = args.Get("unit")) req.set_unit(*u);
  return req;
}

absl::StatusOr<v1::ListMetricsRequest> BuildListMetrics(const ParsedArgs& args,
                                                        const BuildInputs&) {
  v1::ListMetricsRequest req;
  if (auto v = args.Get("namespace")) req.set_namespace_(*v);
  if (auto v = args.Get("metric")) req.set_metric_name(*v);
  for (const std::string& d : args.All("dimension")) {
    const size_t eq = d.find('=');
    if (d.empty() || eq == 0) {
      return Invalid(absl::StrCat(
          "--dimension: must be Name or Name=Value, got ", Quote(d)));
    }
    v1::DimensionFilter* f = req.add_dimensions();
    f->set_name(d.substr(0, eq));
    if (eq != std::string::npos) f->set_value(d.substr(eq + 1));
  }
  if (args.Switch("recently-active")) req.set_recently_active("PT3H");
  return req;
}

absl::StatusOr<v1::PutMetricAlarmRequest> BuildPutMetricAlarm(
    const ParsedArgs& args, const BuildInputs& in) {
  v1::PutMetricAlarmRequest req;
  if (std::optional<std::string> json = args.Get("json")) {
    if (absl::Status s = OnlyWith(args, "json", {}); !s.ok()) return s;
    if (absl::Status s = ParseJsonInto("json", *json, in, &req); !s.ok()) {
      return s;
    }
    return req;
  }
  if (absl::Status s = BuildAlarmFromFlags(args, true, &req); !s.ok()) return s;
  bool has_enabled = false, enabled = true;
  if (absl::Status s = FillActions(args, &has_enabled, &enabled); !s.ok()) {
    return s;
  }
  if (has_enabled) req.set_actions_enabled(enabled);
  for (const auto& a : args.All("ok-action")) req.add_ok_actions(a);
  for (const auto& a : args.All("alarm-action")) req.add_alarm_actions(a);
  for (const auto& a : args.All("insufficient-data-action")) {
    req.add_insufficient_data_actions(a);
  }
  if (absl::Status s = AddTags(args, req.mutable_tags()); !s.ok()) return s;
  return req;
}

absl::StatusOr<v1::PutCompositeAlarmRequest> BuildPutCompositeAlarm(
    const ParsedArgs& args, const BuildInputs& in) {
  v1::PutCompositeAlarmRequest req;
  if (std::optional<std::string> json = args.Get("json")) {
    if (absl::Status s = OnlyWith(args, "json", {}); !s.ok()) return s;
    if (absl::Status s = ParseJsonInto("json", *json, in, &req); !s.ok()) {
      return s;
    }
    return req;
  }
  for (const char* f : {"name", "rule"}) {
    if (absl::Status s = Required(args, f); !s.ok()) return s;
  }
  req.set_alarm_name(*args.Get("name"));
  req.set_alarm_rule(*args.Get("rule"));
  if (auto v = args.Get("description")) req.set_alarm_description(*v);
  if (auto v = args.Get("actions-suppressor")) req.set_actions_suppressor(*v);
  if (auto v = args.Get("suppressor-wait-period")) {
    absl::StatusOr<int32_t> s = SecondsValue("suppressor-wait-period", *v);
    if (!s.ok()) return s.status();
    req.set_actions_suppressor_wait_period(*s);
  }
  if (auto v = args.Get("suppressor-extension-period")) {
    absl::StatusOr<int32_t> s = SecondsValue("suppressor-extension-period", *v);
    if (!s.ok()) return s.status();
    req.set_actions_suppressor_extension_period(*s);
  }
  bool has_enabled = false, enabled = true;
  if (absl::Status s = FillActions(args, &has_enabled, &enabled); !s.ok()) {
    return s;
  }
  if (has_enabled) req.set_actions_enabled(enabled);
  for (const auto& a : args.All("ok-action")) req.add_ok_actions(a);
  for (const auto& a : args.All("alarm-action")) req.add_alarm_actions(a);
  for (const auto& a : args.All("insufficient-data-action")) {
    req.add_insufficient_data_actions(a);
  }
  if (absl::Status s = AddTags(args, req.mutable_tags()); !s.ok()) return s;
  return req;
}

absl::StatusOr<v1::DescribeAlarmsRequest> BuildDescribeAlarms(
    const ParsedArgs& args, const BuildInputs&) {
  v1::DescribeAlarmsRequest req;
  for (const std::string& n : args.positional()) req.add_alarm_names(n);
  if (auto v = args.Get("prefix")) req.set_alarm_name_prefix(*v);
  if (auto v = args.Get("state")) req.set_state_value(StateValue(*v));
  for (const std::string& t : args.All("type")) {
    const std::string lower = absl::AsciiStrToLower(t);
    if (lower == "metric" || lower == "metricalarm") {
      req.add_alarm_types("MetricAlarm");
    } else if (lower == "composite" || lower == "compositealarm") {
      req.add_alarm_types("CompositeAlarm");
    } else {
      return Invalid(
          absl::StrCat("--type: must be MetricAlarm (metric) or CompositeAlarm "
                       "(composite), got ",
                       Quote(t)));
    }
  }
  if (req.alarm_types().empty()) {
    req.add_alarm_types("MetricAlarm");
    req.add_alarm_types("CompositeAlarm");
  }
  if (auto v = args.Get("children-of")) req.set_children_of_alarm_name(*v);
  if (auto v = args.Get("parents-of")) req.set_parents_of_alarm_name(*v);
  if (auto v = args.Get("action-prefix")) req.set_action_prefix(*v);
  return req;
}

absl::StatusOr<v1::DescribeAlarmHistoryRequest> BuildAlarmHistory(
    const ParsedArgs& args, const BuildInputs& in) {
  v1::DescribeAlarmHistoryRequest req;
  if (!args.positional().empty()) req.set_alarm_name(args.positional()[0]);
  if (auto v = args.Get("type")) req.set_history_item_type(*v);
  std::optional<int64_t> start, end;
  if (auto v = args.Get("start")) {
    absl::StatusOr<int64_t> t = TimeValue("start", *v, in.now_ms);
    if (!t.ok()) return t.status();
    start = *t;
    SetTime(*t, req.mutable_start_date());
  }
  if (auto v = args.Get("end")) {
    absl::StatusOr<int64_t> t = TimeValue("end", *v, in.now_ms);
    if (!t.ok()) return t.status();
    end = *t;
    SetTime(*t, req.mutable_end_date());
  }
  if (start && end && *start >= *end) {
    return Invalid(absl::StrCat("--start: must be before --end (",
                                FormatTimeMs(*start), " is not before ",
                                FormatTimeMs(*end), ")"));
  }
  if (args.Switch("oldest-first")) req.set_scan_by("TimestampAscending");
  return req;
}

absl::StatusOr<v1::SetAlarmStateRequest> BuildSetAlarmState(
    const ParsedArgs& args, const BuildInputs&) {
  v1::SetAlarmStateRequest req;
  if (args.positional().size() != 2) {
    return Invalid("missing NAME STATE");
  }
  if (absl::Status s = Required(args, "reason"); !s.ok()) return s;
  req.set_alarm_name(args.positional()[0]);
  req.set_state_value(StateValue(args.positional()[1]));
  req.set_state_reason(*args.Get("reason"));
  if (auto v = args.Get("reason-data")) req.set_state_reason_data(*v);
  return req;
}

absl::StatusOr<v1::PreviewAlarmRequest> BuildPreviewAlarm(
    const ParsedArgs& args, const BuildInputs& in) {
  v1::PreviewAlarmRequest req;
  if (std::optional<std::string> rule = args.Get("rule")) {
    if (absl::Status s =
            OnlyWith(args, "rule", {"start", "end", "initial-state", "json"});
        !s.ok()) {
      return s;
    }
    req.mutable_composite()->set_alarm_rule(*rule);
  } else if (std::optional<std::string> json = args.Get("alarm-json")) {
    if (absl::Status s =
            OnlyWith(args, "alarm-json",
                     {"start", "end", "initial-state", "json", "height"});
        !s.ok()) {
      return s;
    }
    if (absl::Status s =
            ParseJsonInto("alarm-json", *json, in, req.mutable_alarm());
        !s.ok()) {
      return s;
    }
    if (req.alarm().alarm_name().empty()) {
      req.mutable_alarm()->set_alarm_name("preview");
    }
  } else if (absl::Status s =
                 BuildAlarmFromFlags(args, false, req.mutable_alarm());
             !s.ok()) {
    return s;
  }
  absl::StatusOr<int64_t> start =
      TimeValue("start", args.Get("start").value_or("-1h"), in.now_ms);
  if (!start.ok()) return start.status();
  absl::StatusOr<int64_t> end =
      TimeValue("end", args.Get("end").value_or("now"), in.now_ms);
  if (!end.ok()) return end.status();
  if (*start >= *end) {
    return Invalid(absl::StrCat("--start: must be before --end (",
                                FormatTimeMs(*start), " is not before ",
                                FormatTimeMs(*end), ")"));
  }
  SetTime(*start, req.mutable_start_time());
  SetTime(*end, req.mutable_end_time());
  if (auto v = args.Get("initial-state")) req.set_initial_state(StateValue(*v));
  return req;
}

// ---------------------------------------------------------------------------
// Output.

std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows,
                        const std::vector<bool>& right) {
  std::vector<size_t> width(header.size(), 0);
  for (size_t i = 0; i < header.size(); ++i) {
    width[i] = DisplayWidth(header[i]);
  }
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], DisplayWidth(row[i]));
    }
  }
  std::string out;
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t i = 0; i < cells.size() && i < width.size(); ++i) {
      if (i > 0) l += "  ";
      const bool r = i < right.size() && right[i];
      const bool last = i + 1 == cells.size();
      if (r) {
        l += PadLeft(cells[i], width[i]);
      } else {
        l += last ? cells[i] : PadRight(cells[i], width[i]);
      }
    }
    out += RStrip(l) + "\n";
  };
  line(header);
  for (const auto& row : rows) line(row);
  return out;
}

std::string RenderBarChart(const std::vector<std::optional<double>>& values,
                           const std::vector<int64_t>& times_ms,
                           const ChartOptions& options,
                           std::optional<double> threshold) {
  if (values.empty()) return "";
  const Scale scale = Scale::Of(values, options.height, threshold);
  const size_t label_width = scale.LabelWidth();
  const size_t columns = ChartColumns(options, label_width);
  std::string out;
  for (size_t begin = 0; begin < values.size(); begin += columns) {
    const size_t end = std::min(values.size(), begin + columns);
    if (begin > 0) out += "\n";
    for (const std::string& row :
         BarRows(values, scale, begin, end, label_width)) {
      out += row + "\n";
    }
    for (const std::string& row : TimeAxis(times_ms, begin, end, label_width)) {
      out += row + "\n";
    }
  }
  return out;
}

std::string RenderStatisticsChart(const v1::GetMetricStatisticsResponse& resp,
                                  const std::string& statistic,
                                  int64_t period_s,
                                  const ChartOptions& options) {
  if (resp.datapoints().empty() || period_s <= 0) return "";
  const int64_t period_ms = period_s * 1000;
  const int64_t first = TimeMs(resp.datapoints(0).timestamp());
  const int64_t last = TimeMs(resp.datapoints().rbegin()->timestamp());
  std::vector<std::optional<double>> values;
  std::vector<int64_t> times;
  bool aligned = last >= first && (last - first) / period_ms < 100'000;
  for (const v1::Datapoint& d : resp.datapoints()) {
    aligned &= (TimeMs(d.timestamp()) - first) % period_ms == 0;
  }
  if (aligned) {
    const size_t n = static_cast<size_t>((last - first) / period_ms) + 1;
    values.assign(n, std::nullopt);
    for (size_t k = 0; k < n; ++k) {
      times.push_back(first + static_cast<int64_t>(k) * period_ms);
    }
    for (const v1::Datapoint& d : resp.datapoints()) {
      const int64_t k = (TimeMs(d.timestamp()) - first) / period_ms;
      if (k >= 0 && static_cast<size_t>(k) < n) {
        values[static_cast<size_t>(k)] = StatValue(d, statistic);
      }
    }
  } else {  // one column per datapoint
    for (const v1::Datapoint& d : resp.datapoints()) {
      values.push_back(StatValue(d, statistic));
      times.push_back(TimeMs(d.timestamp()));
    }
  }
  return RenderBarChart(values, times, options);
}

// The ticks, the states' counts and every transition with its reason.
std::string PreviewSummary(const v1::PreviewAlarmResponse& resp,
                           const std::string& initial_state) {
  std::map<std::string, int> counts;
  size_t transitions = 0;
  for (const v1::PreviewStep& s : resp.steps()) {
    ++counts[s.state_value()];
    if (s.changed()) ++transitions;
  }
  std::string out = absl::StrCat(
      Plural(resp.steps_size(), "tick", "ticks"), " from ",
      FormatTimeMs(TimeMs(resp.steps(0).timestamp())), " to ",
      FormatTimeMs(TimeMs(resp.steps(resp.steps_size() - 1).timestamp())), ":");
  bool first = true;
  for (const char* state : {"OK", "ALARM", "INSUFFICIENT_DATA"}) {
    auto it = counts.find(state);
    if (it == counts.end()) continue;
    absl::StrAppend(&out, first ? " " : ", ", state, " ", it->second);
    first = false;
  }
  absl::StrAppend(
      &out, "; ",
      Plural(static_cast<int64_t>(transitions), "transition", "transitions"),
      "\n");
  std::string previous = initial_state;
  for (const v1::PreviewStep& s : resp.steps()) {
    if (s.changed()) {
      absl::StrAppend(&out, FormatTimeMs(TimeMs(s.timestamp())), "  ", previous,
                      " -> ", s.state_value(), "  ", s.state_reason(), "\n");
    }
    previous = s.state_value();
  }
  return out;
}

std::string RenderPreview(const v1::PreviewAlarmResponse& resp,
                          double threshold, const std::string& initial_state,
                          const ChartOptions& options) {
  const size_t n = static_cast<size_t>(resp.steps_size());
  if (n == 0) return "no evaluation ticks from start to end\n";
  std::vector<std::optional<double>> values(n);
  std::vector<int64_t> times(n);
  for (size_t i = 0; i < n; ++i) {
    const v1::PreviewStep& s = resp.steps(static_cast<int>(i));
    times[i] = TimeMs(s.timestamp());
    if (!s.datapoints().empty() && s.datapoints().rbegin()->has_value()) {
      values[i] = s.datapoints().rbegin()->value();
    }
  }
  const Scale scale = Scale::Of(values, options.height, threshold);
  const size_t label_width = std::max<size_t>(scale.LabelWidth(), 5);
  const size_t columns = ChartColumns(options, label_width);
  std::string out;
  for (size_t begin = 0; begin < n; begin += columns) {
    const size_t end = std::min(n, begin + columns);
    if (begin > 0) out += "\n";
    for (const std::string& row :
         BarRows(values, scale, begin, end, label_width)) {
      out += row + "\n";
    }
    out +=
        std::string(label_width, ' ') + "└" + Repeat("─", end - begin) + "\n";
    std::string states = PadLeft("state", label_width) + " ";
    std::string marks = std::string(label_width + 1, ' ');
    for (size_t i = begin; i < end; ++i) {
      const v1::PreviewStep& s = resp.steps(static_cast<int>(i));
      states += StateCell(s.state_value(), options.color);
      marks += s.changed() ? '^' : ' ';
    }
    out += states + "\n";
    if (RStrip(marks).size() > 0) out += RStrip(marks) + "\n";
    for (const std::string& row :
         TimeAxis(times, begin, end, label_width, /*axis_line=*/false)) {
      out += row + "\n";
    }
  }
  absl::StrAppend(&out, "\nO OK  A ALARM  I INSUFFICIENT_DATA  ^ transition  ",
                  "╌ threshold ", FormatNumber(threshold), "\n");
  return out + PreviewSummary(resp, initial_state);
}

std::string RenderCompositePreview(const v1::PreviewAlarmResponse& resp,
                                   const std::string& initial_state,
                                   const ChartOptions& options) {
  const size_t n = static_cast<size_t>(resp.steps_size());
  if (n == 0) return "no evaluation ticks from start to end\n";
  std::vector<int64_t> times(n);
  for (size_t i = 0; i < n; ++i) {
    times[i] = TimeMs(resp.steps(static_cast<int>(i)).timestamp());
  }
  // Each row: a label and the state at each of the rule's ticks (an alarm's
  // last state at or before it).
  std::vector<std::pair<std::string, std::vector<std::string>>> rows;
  std::vector<std::string> rule_states;
  for (const v1::PreviewStep& s : resp.steps()) {
    rule_states.push_back(s.state_value());
  }
  rows.push_back({"(rule)", std::move(rule_states)});
  for (const v1::ChildPreview& child : resp.children()) {
    std::vector<std::string> states;
    int next = 0;
    std::string state = initial_state;
    for (int64_t t : times) {
      while (next < child.steps_size() &&
             TimeMs(child.steps(next).timestamp()) <= t) {
        state = child.steps(next++).state_value();
      }
      states.push_back(state);
    }
    rows.push_back({child.alarm_name(), std::move(states)});
  }
  size_t label_width = 5;
  for (const auto& [label, states] : rows) {
    label_width = std::max(label_width, DisplayWidth(label));
  }
  label_width = std::min<size_t>(label_width, 24);
  const size_t columns = ChartColumns(options, label_width);
  std::string out;
  for (size_t begin = 0; begin < n; begin += columns) {
    const size_t end = std::min(n, begin + columns);
    if (begin > 0) out += "\n";
    for (size_t r = 0; r < rows.size(); ++r) {
      std::string line =
          PadRight(FitWidth(rows[r].first, label_width), label_width) + " ";
      for (size_t i = begin; i < end; ++i) {
        line += StateCell(rows[r].second[i], options.color);
      }
      out += line + "\n";
      if (r == 0) {
        std::string marks = std::string(label_width + 1, ' ');
        for (size_t i = begin; i < end; ++i) {
          marks += resp.steps(static_cast<int>(i)).changed() ? '^' : ' ';
        }
        if (RStrip(marks).size() > 0) out += RStrip(marks) + "\n";
      }
    }
    for (const std::string& row :
         TimeAxis(times, begin, end, label_width, /*axis_line=*/false)) {
      out += row + "\n";
    }
  }
  out += "\nO OK  A ALARM  I INSUFFICIENT_DATA  ^ transition of the rule\n";
  return out + PreviewSummary(resp, initial_state);
}

// ---------------------------------------------------------------------------
// The tool.

int Run(const std::vector<std::string>& args, const Environment& env,
        std::ostream& out, std::ostream& err) {
  // Global flags before the command.
  std::vector<std::string> globals;
  size_t i = 0;
  while (i < args.size() && absl::StartsWith(args[i], "-") && args[i] != "-") {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      out << ToolHelp();
      return kExitOk;
    }
    const std::string name = a.substr(0, a.find('='));
    if (name != "--endpoint" && name != "--timeout") {
      PrintUsageError(
          err, "",
          absl::StrCat("unknown flag ", name,
                       " before the command (only --endpoint, --timeout and "
                       "--help go there)"));
      return kExitUsage;
    }
    globals.push_back(a);
    if (a == name) {  // the value is the next argument
      if (i + 1 >= args.size()) {
        PrintUsageError(err, "", absl::StrCat(name, ": needs a value"));
        return kExitUsage;
      }
      globals.push_back(args[++i]);
    }
    ++i;
  }
  if (i >= args.size()) {
    PrintUsageError(err, "", "missing command (put, get, list, alarms ...)");
    return kExitUsage;
  }
  std::string path = args[i++];
  if (path == "help") {
    std::vector<std::string> words(args.begin() + static_cast<long>(i),
                                   args.end());
    const std::string what = absl::StrJoin(words, " ");
    if (what.empty()) {
      out << ToolHelp();
      return kExitOk;
    }
    if (what == "alarms") {
      out << GroupHelp("alarms");
      return kExitOk;
    }
    if (const CommandSpec* spec = FindCommand(what)) {
      out << CommandHelp(*spec);
      return kExitOk;
    }
    PrintUsageError(err, "", absl::StrCat("unknown command ", Quote(what)));
    return kExitUsage;
  }
  if (path == "alarms") {
    if (i >= args.size()) {
      PrintUsageError(
          err, "alarms",
          absl::StrCat("missing subcommand (", AlarmSubcommands(), ")"));
      return kExitUsage;
    }
    if (args[i] == "--help" || args[i] == "-h") {
      out << GroupHelp("alarms");
      return kExitOk;
    }
    const std::string sub = args[i++];
    path = "alarms " + sub;
    if (FindCommand(path) == nullptr) {
      PrintUsageError(err, "alarms",
                      absl::StrCat("unknown subcommand ", Quote(sub), " (",
                                   AlarmSubcommands(), ")"));
      return kExitUsage;
    }
  }
  const CommandSpec* spec = FindCommand(path);
  if (spec == nullptr) {
    PrintUsageError(err, "",
                    absl::StrCat("unknown command ", Quote(path),
                                 " (put, get, list, alarms)"));
    return kExitUsage;
  }
  std::vector<std::string> rest = globals;
  rest.insert(rest.end(), args.begin() + static_cast<long>(i), args.end());
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(*spec, rest);
  if (!parsed.ok()) {
    PrintUsageError(err, spec->path, parsed.status().message());
    return kExitUsage;
  }
  if (parsed->help()) {
    out << CommandHelp(*spec);
    return kExitOk;
  }
  Context c(*spec, *parsed, env, out, err);
  c.now_ms = env.now_ms ? env.now_ms() : SystemNowMs();
  c.endpoint =
      parsed->Get("endpoint")
          .value_or(env.endpoint.empty() ? std::string(kDefaultEndpoint)
                                         : env.endpoint);
  if (c.endpoint.empty()) {
    PrintUsageError(err, spec->path, "--endpoint: must not be empty");
    return kExitUsage;
  }
  if (auto t = parsed->Get("timeout")) {
    absl::StatusOr<int64_t> ms = ParseDurationMs(*t);
    int64_t seconds = 0;
    if (absl::SimpleAtoi(*t, &seconds) && seconds > 0 &&
        seconds < 100'000'000) {
      ms = seconds * 1000;
    }
    if (!ms.ok() || *ms <= 0) {
      PrintUsageError(
          err, spec->path,
          absl::StrCat("--timeout: must be a positive duration (10s, 500ms, "
                       "2m) or a number of seconds, got ",
                       Quote(*t)));
      return kExitUsage;
    }
    c.timeout_ms = *ms;
  }
  return Dispatch(c);
}

}  // namespace nimbus::cli
