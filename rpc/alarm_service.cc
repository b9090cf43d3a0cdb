#include "rpc/alarm_service.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "alarms/composite_preview.h"
#include "alarms/preview.h"
#include "engine/validation.h"
#include "rpc/metrics_service.h"
#include "rpc/proto_time.h"
#include "rpc/status_convert.h"

namespace nimbus::rpc {
namespace {

namespace v1 = ::nimbus::v1;
using alarms::AlarmRecord;
using alarms::AlarmState;

absl::Status Invalid(std::string message) {
  return absl::InvalidArgumentError(std::move(message));
}

std::vector<std::string> Strings(
    const google::protobuf::RepeatedPtrField<std::string>& v) {
  return {v.begin(), v.end()};
}

alarms::Tags ToTags(const google::protobuf::RepeatedPtrField<v1::Tag>& tags) {
  alarms::Tags out;
  for (const v1::Tag& t : tags) out.emplace_back(t.key(), t.value());
  return out;
}

void FromTags(const alarms::Tags& tags,
              google::protobuf::RepeatedPtrField<v1::Tag>* out) {
  for (const auto& [k, v] : tags) {
    v1::Tag* t = out->Add();
    t->set_key(k);
    t->set_value(v);
  }
}

// A field that must fit an int32 and not be negative.
absl::Status CheckCount(const char* field, int32_t v) {
  if (v < 0) {
    return Invalid(absl::StrCat(field, ": must not be negative, got ", v));
  }
  return absl::OkStatus();
}

absl::StatusOr<alarms::MetricAlarmConfig> ToConfig(
    const v1::PutMetricAlarmRequest& r) {
  if (!r.has_threshold()) return Invalid("threshold: required");
  for (const auto& [field, v] :
       {std::pair<const char*, int32_t>{"period", r.period()},
        {"evaluation_periods", r.evaluation_periods()},
        {"datapoints_to_alarm", r.datapoints_to_alarm()}}) {
    if (absl::Status s = CheckCount(field, v); !s.ok()) return s;
  }
  if (r.period() == 0 && r.metrics().empty()) {
    return Invalid("period: required");
  }
  alarms::MetricAlarmConfig c;
  c.name = r.alarm_name();
  c.description = r.alarm_description();
  c.actions_enabled = !r.has_actions_enabled() || r.actions_enabled();
  c.ok_actions = Strings(r.ok_actions());
  c.alarm_actions = Strings(r.alarm_actions());
  c.insufficient_data_actions = Strings(r.insufficient_data_actions());
  c.metric.namespace_name = r.namespace_();
  c.metric.metric_name = r.metric_name();
  for (const v1::Dimension& d : r.dimensions()) {
    c.metric.dimensions.push_back({d.name(), d.value()});
  }
  c.metric.unit = r.unit();
  c.statistic = r.statistic();
  c.extended_statistic = r.extended_statistic();
  c.period_s = r.period();
  c.evaluation_periods = static_cast<size_t>(r.evaluation_periods());
  c.datapoints_to_alarm = static_cast<size_t>(r.datapoints_to_alarm());
  c.threshold = r.threshold();
  c.comparison_operator = r.comparison_operator();
  c.treat_missing_data = r.treat_missing_data();
  c.evaluate_low_sample_count_percentile =
      r.evaluate_low_sample_count_percentile();
  if (!r.metrics().empty()) {
    if (r.metrics_size() > static_cast<int>(alarms::kMaxAlarmMetrics)) {
      return Invalid(absl::StrCat("metrics: at most ", alarms::kMaxAlarmMetrics,
                                  " queries, got ", r.metrics_size()));
    }
    grpc::Status s = ToEngineQueries(r.metrics(), "metrics", &c.metrics);
    if (!s.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                          s.error_message());
    }
  }
  return c;
}

void FromQuery(const engine::MetricDataQuery& q, v1::MetricDataQuery* out) {
  out->set_id(q.id);
  out->set_expression(q.expression);
  out->set_label(q.label);
  out->set_return_data(q.return_data);
  out->set_period(static_cast<int32_t>(q.period_ms / 1000));
  if (!q.metric_stat) return;
  v1::MetricStat* ms = out->mutable_metric_stat();
  v1::Metric* m = ms->mutable_metric();
  m->set_namespace_(q.metric_stat->key.namespace_name);
  m->set_metric_name(q.metric_stat->key.metric_name);
  for (const engine::Dimension& d : q.metric_stat->key.dimensions) {
    v1::Dimension* x = m->add_dimensions();
    x->set_name(d.name);
    x->set_value(d.value);
  }
  ms->set_unit(q.metric_stat->key.unit);
  ms->set_period(static_cast<int32_t>(q.metric_stat->period_ms / 1000));
  ms->set_stat(q.metric_stat->stat);
}

void ToProto(const AlarmRecord& r, v1::MetricAlarm* out) {
  const alarms::MetricAlarmConfig& m = r.metric;
  out->set_alarm_name(m.name);
  out->set_alarm_description(m.description);
  out->set_actions_enabled(m.actions_enabled);
  for (const auto& a : m.ok_actions) out->add_ok_actions(a);
  for (const auto& a : m.alarm_actions) out->add_alarm_actions(a);
  for (const auto& a : m.insufficient_data_actions) {
    out->add_insufficient_data_actions(a);
  }
  out->set_state_value(alarms::AlarmStateName(r.state));
  out->set_state_reason(r.state_reason);
  out->set_state_reason_data(r.state_reason_data);
  ToTimestamp(r.state_updated_ms, out->mutable_state_updated_timestamp());
  ToTimestamp(r.state_transitioned_ms,
              out->mutable_state_transitioned_timestamp());
  ToTimestamp(r.config_updated_ms,
              out->mutable_alarm_configuration_updated_timestamp());
  out->set_evaluation_state(alarms::EvaluationStateName(r.evaluation_state));
  out->set_namespace_(m.metric.namespace_name);
  out->set_metric_name(m.metric.metric_name);
  for (const engine::Dimension& d : m.metric.dimensions) {
    v1::Dimension* x = out->add_dimensions();
    x->set_name(d.name);
    x->set_value(d.value);
  }
  out->set_unit(m.metric.unit);
  out->set_statistic(m.statistic);
  out->set_extended_statistic(m.extended_statistic);
  out->set_period(static_cast<int32_t>(m.period_s));
  out->set_evaluation_periods(static_cast<int32_t>(m.evaluation_periods));
  out->set_datapoints_to_alarm(static_cast<int32_t>(m.datapoints_to_alarm));
  out->set_threshold(m.threshold);
  out->set_comparison_operator(m.comparison_operator);
  out->set_treat_missing_data(m.treat_missing_data);
  out->set_evaluate_low_sample_count_percentile(
      m.evaluate_low_sample_count_percentile);
  out->set_configuration_version(static_cast<int64_t>(r.config_version));
  FromTags(r.tags, out->mutable_tags());
  for (const engine::MetricDataQuery& q : m.metrics) {
    FromQuery(q, out->add_metrics());
  }
}

void ToProto(const AlarmRecord& r, v1::CompositeAlarm* out) {
  const alarms::CompositeAlarmConfig& c = r.composite;
  out->set_alarm_name(c.name);
  out->set_alarm_description(c.description);
  out->set_actions_enabled(c.actions_enabled);
  for (const auto& a : c.ok_actions) out->add_ok_actions(a);
  for (const auto& a : c.alarm_actions) out->add_alarm_actions(a);
  for (const auto& a : c.insufficient_data_actions) {
    out->add_insufficient_data_actions(a);
  }
  out->set_alarm_rule(c.alarm_rule);
  out->set_state_value(alarms::AlarmStateName(r.state));
  out->set_state_reason(r.state_reason);
  out->set_state_reason_data(r.state_reason_data);
  ToTimestamp(r.state_updated_ms, out->mutable_state_updated_timestamp());
  ToTimestamp(r.state_transitioned_ms,
              out->mutable_state_transitioned_timestamp());
  ToTimestamp(r.config_updated_ms,
              out->mutable_alarm_configuration_updated_timestamp());
  out->set_evaluation_state(alarms::EvaluationStateName(r.evaluation_state));
  out->set_actions_suppressor(c.actions_suppressor);
  out->set_actions_suppressor_wait_period(
      static_cast<int32_t>(c.actions_suppressor_wait_period_s));
  out->set_actions_suppressor_extension_period(
      static_cast<int32_t>(c.actions_suppressor_extension_period_s));
  out->set_actions_suppressed_by(
      alarms::SuppressedByName(r.actions_suppressed_by));
  out->set_actions_suppressed_reason(r.actions_suppressed_reason);
  out->set_configuration_version(static_cast<int64_t>(r.config_version));
  FromTags(r.tags, out->mutable_tags());
}

absl::StatusOr<std::vector<alarms::AlarmType>> ToTypes(
    const google::protobuf::RepeatedPtrField<std::string>& names) {
  std::vector<alarms::AlarmType> out;
  for (int i = 0; i < names.size(); ++i) {
    std::optional<alarms::AlarmType> t = alarms::ParseAlarmType(names[i]);
    if (!t) {
      return Invalid(absl::StrCat(
          "alarm_types[", i, "]: must be MetricAlarm or CompositeAlarm, got '",
          names[i], "'"));
    }
    out.push_back(*t);
  }
  return out;
}

absl::StatusOr<AlarmState> ToState(const char* field, const std::string& s) {
  std::optional<AlarmState> state = alarms::ParseAlarmState(s);
  if (!state) {
    return Invalid(absl::StrCat(
        field, ": must be OK, ALARM or INSUFFICIENT_DATA, got '", s, "'"));
  }
  return *state;
}

absl::Status DescribeAlarms(alarms::AlarmEngine& engine,
                            const v1::DescribeAlarmsRequest& req,
                            v1::DescribeAlarmsResponse* resp) {
  alarms::DescribeAlarmsQuery q;
  q.alarm_names = Strings(req.alarm_names());
  q.alarm_name_prefix = req.alarm_name_prefix();
  absl::StatusOr<std::vector<alarms::AlarmType>> types =
      ToTypes(req.alarm_types());
  if (!types.ok()) return types.status();
  q.alarm_types = *std::move(types);
  q.children_of_alarm_name = req.children_of_alarm_name();
  q.parents_of_alarm_name = req.parents_of_alarm_name();
  // No types: metric alarms only, as CloudWatch lists them, except for the
  // relation lookups, whose answers are composites too (CloudWatch takes
  // no other parameter beside those).
  if (q.alarm_types.empty() && q.children_of_alarm_name.empty() &&
      q.parents_of_alarm_name.empty()) {
    q.alarm_types = {alarms::AlarmType::kMetric};
  }
  if (!req.state_value().empty()) {
    absl::StatusOr<AlarmState> s = ToState("state_value", req.state_value());
    if (!s.ok()) return s.status();
    q.state_value = *s;
  }
  q.action_prefix = req.action_prefix();
  if (req.max_records() < 0) {
    return Invalid(absl::StrCat("max_records: must be 1 to ",
                                alarms::kMaxDescribeRecords, ", got ",
                                req.max_records()));
  }
  q.max_records =
      req.max_records() == 0 ? 50 : static_cast<size_t>(req.max_records());
  q.next_token = req.next_token();
  absl::StatusOr<alarms::DescribeAlarmsResult> r = engine.DescribeAlarms(q);
  if (!r.ok()) return r.status();
  for (const AlarmRecord& a : r->alarms) {
    if (a.type == alarms::AlarmType::kMetric) {
      ToProto(a, resp->add_metric_alarms());
    } else {
      ToProto(a, resp->add_composite_alarms());
    }
  }
  resp->set_next_token(r->next_token);
  return absl::OkStatus();
}

absl::Status DescribeHistory(alarms::AlarmEngine& engine,
                             const v1::DescribeAlarmHistoryRequest& req,
                             v1::DescribeAlarmHistoryResponse* resp) {
  alarms::HistoryQuery q;
  q.alarm_name = req.alarm_name();
  absl::StatusOr<std::vector<alarms::AlarmType>> types =
      ToTypes(req.alarm_types());
  if (!types.ok()) return types.status();
  q.alarm_types = *std::move(types);
  if (!req.history_item_type().empty()) {
    q.item_type = alarms::ParseHistoryItemType(req.history_item_type());
    if (!q.item_type) {
      return Invalid(absl::StrCat(
          "history_item_type: must be ConfigurationUpdate, StateUpdate or "
          "Action, got '",
          req.history_item_type(), "'"));
    }
  }
  if (req.has_start_date()) {
    std::optional<int64_t> ms = ToMillis(req.start_date());
    if (!ms) return Invalid("start_date: not a valid timestamp");
    q.start_ms = *ms;
  }
  if (req.has_end_date()) {
    std::optional<int64_t> ms = ToMillis(req.end_date());
    if (!ms) return Invalid("end_date: not a valid timestamp");
    q.end_ms = *ms;
  }
  if (req.max_records() < 0) {
    return Invalid(absl::StrCat("max_records: must be 1 to ",
                                alarms::kMaxDescribeRecords, ", got ",
                                req.max_records()));
  }
  q.max_records =
      req.max_records() == 0 ? 100 : static_cast<size_t>(req.max_records());
  q.next_token = req.next_token();
  if (req.scan_by() == "TimestampAscending") {
    q.oldest_first = true;
  } else if (!req.scan_by().empty() && req.scan_by() != "TimestampDescending") {
    return Invalid(absl::StrCat(
        "scan_by: must be TimestampDescending or TimestampAscending, got '",
        req.scan_by(), "'"));
  }
  absl::StatusOr<alarms::HistoryResult> r = engine.DescribeAlarmHistory(q);
  if (!r.ok()) return r.status();
  for (const alarms::HistoryItem& h : r->items) {
    v1::AlarmHistoryItem* x = resp->add_alarm_history_items();
    x->set_alarm_name(h.alarm_name);
    x->set_alarm_type(alarms::AlarmTypeName(h.alarm_type));
    ToTimestamp(h.time_ms, x->mutable_timestamp());
    x->set_history_item_type(alarms::HistoryItemTypeName(h.type));
    x->set_history_summary(h.summary);
    x->set_history_data(h.data);
  }
  resp->set_next_token(r->next_token);
  return absl::OkStatus();
}

// The fields a metric alarm's step and a composite's share.
template <typename Step>
void StepToProto(const Step& s, v1::PreviewStep* x) {
  ToTimestamp(s.tick_ms, x->mutable_timestamp());
  x->set_state_value(alarms::AlarmStateName(s.state));
  x->set_changed(s.changed);
  x->set_state_reason(s.reason);
  x->set_state_reason_data(s.reason_data);
}

void ToProto(const alarms::PreviewStep& s, v1::PreviewStep* x) {
  StepToProto(s, x);
  std::vector<const alarms::EvaluatedPeriod*> evaluated(s.range.size());
  for (const alarms::EvaluatedPeriod& e : s.evaluation.evaluated) {
    if (e.index < evaluated.size()) evaluated[e.index] = &e;
  }
  for (size_t k = 0; k < s.range.size(); ++k) {
    v1::PreviewDatapoint* d = x->add_datapoints();
    ToTimestamp(
        s.window.start_ms + static_cast<int64_t>(k) * s.window.period_ms,
        d->mutable_timestamp());
    if (s.range[k].value) d->set_value(*s.range[k].value);
    d->set_low_sample_count(s.range[k].low_sample_count);
    if (const alarms::EvaluatedPeriod* e = evaluated[k]) {
      d->set_evaluated(true);
      d->set_breaching(e->breaching);
      using Source = alarms::EvaluatedPeriod::Source;
      if (e->source == Source::kFilledBreaching) d->set_filled("Breaching");
      if (e->source == Source::kFilledNotBreaching) {
        d->set_filled("NonBreaching");
      }
    }
  }
}

void ToProto(const alarms::CompositePreviewStep& s, v1::PreviewStep* x) {
  StepToProto(s, x);
}

// One preview's range and starting state.
struct PreviewRange {
  int64_t start_ms;
  int64_t end_ms;
  AlarmState initial;
};

// Previews `config` over `range`. With `budget`, the periods it may hold
// in all, which it takes its own from first (InvalidArgument naming
// end_time if they are not enough).
absl::StatusOr<std::vector<alarms::PreviewStep>> PreviewMetric(
    engine::Engine& engine, engine::Clock& clock, int64_t reach_ms,
    alarms::MetricAlarmConfig config, const PreviewRange& range,
    size_t* budget = nullptr) {
  absl::StatusOr<alarms::ValidatedMetricAlarm> v =
      alarms::ValidateMetricAlarm(&config, reach_ms);
  if (!v.ok()) return v.status();
  if (budget != nullptr && range.end_ms > range.start_ms) {
    const int64_t interval = alarms::EvaluationIntervalMs(
        config.period_s, config.evaluation_periods);
    const int64_t first = alarms::NextTickAfter(range.start_ms - 1, interval);
    const int64_t ticks =
        first > range.end_ms ? 0 : (range.end_ms - first) / interval + 1;
    const size_t periods = static_cast<size_t>(std::min<int64_t>(
                               ticks, alarms::kMaxPreviewTicks + 1)) *
                           alarms::EvaluationRange(config.evaluation_periods);
    if (periods > *budget) {
      return absl::InvalidArgumentError(absl::StrCat(
          "end_time: the children's previews would hold more than ",
          alarms::kMaxPreviewDatapoints,
          " periods in all; preview a shorter range"));
    }
    *budget -= periods;
  }
  return alarms::PreviewMetricAlarm(
      config, *v, range.start_ms, range.end_ms, range.initial,
      [&](const alarms::EvaluationWindow& w) {
        return alarms::FetchAlarmPeriods(engine, clock, config, *v, w);
      });
}

// A composite's preview: its children's, found in the request or on the
// server, each once; then the rule over them.
class CompositePreviewer {
 public:
  CompositePreviewer(alarms::AlarmEngine& alarms, engine::Engine& engine,
                     engine::Clock& clock, int64_t reach_ms,
                     const v1::PreviewAlarmRequest& req,
                     const PreviewRange& range, v1::PreviewAlarmResponse* resp)
      : alarms_(alarms),
        engine_(engine),
        clock_(clock),
        reach_ms_(reach_ms),
        req_(req),
        range_(range),
        resp_(resp) {}

  absl::Status Run() {
    for (const v1::PutMetricAlarmRequest& c : req_.children()) {
      if (!given_.emplace(c.alarm_name(), &c).second) {
        return Invalid(
            absl::StrCat("children: alarm '", c.alarm_name(), "' given twice"));
      }
    }
    // The composite previewed stands for the server's of its name: a rule
    // that reaches that name reaches itself.
    if (!req_.composite().alarm_name().empty()) {
      visiting_.push_back(req_.composite().alarm_name());
    }
    absl::StatusOr<std::vector<alarms::CompositePreviewStep>> steps =
        Composite("", req_.composite().alarm_rule());
    if (!steps.ok()) return steps.status();
    for (const auto& [name, c] : given_) {
      if (!timelines_.contains(name)) {
        return Invalid(absl::StrCat("children: alarm '", name,
                                    "' is not reached by alarm_rule"));
      }
    }
    for (const alarms::CompositePreviewStep& s : *steps) {
      ToProto(s, resp_->add_steps());
    }
    return absl::OkStatus();
  }

 private:
  // The rule of composite `name` ("" for the one previewed) over its
  // children's timelines.
  absl::StatusOr<std::vector<alarms::CompositePreviewStep>> Composite(
      const std::string& name, const std::string& rule_text) {
    absl::StatusOr<alarms::CompositeRule> rule =
        alarms::CompositeRule::Parse(rule_text);
    if (!rule.ok()) {
      if (name.empty()) return rule.status();
      return absl::FailedPreconditionError(absl::StrCat(
          "alarm '", name, "' on the server: ", rule.status().message()));
    }
    if (!name.empty()) visiting_.push_back(name);
    absl::flat_hash_map<std::string, std::vector<alarms::TimelineStep>> kids;
    for (const std::string& child : rule->children()) {
      absl::Status s = Child(child);
      if (!s.ok()) return s;
      kids[child] = timelines_[child];
    }
    if (!name.empty()) visiting_.pop_back();
    return alarms::PreviewCompositeRule(*rule, kids, range_.initial);
  }

  // Previews `name` into timelines_ (once) and the response.
  absl::Status Child(const std::string& name) {
    if (timelines_.contains(name)) return absl::OkStatus();
    if (std::find(visiting_.begin(), visiting_.end(), name) !=
        visiting_.end()) {
      return Invalid(absl::StrCat("alarm_rule: reaches alarm '", name,
                                  "' through itself (a cycle)"));
    }
    std::vector<alarms::TimelineStep> timeline;
    v1::ChildPreview* out = nullptr;
    if (auto g = given_.find(name); g != given_.end()) {
      absl::StatusOr<alarms::MetricAlarmConfig> config = ToConfig(*g->second);
      if (!config.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("children: ", config.status().message()));
      }
      absl::Status s = Metric(name, *std::move(config), &timeline, &out);
      if (!s.ok()) return s;
    } else {
      std::optional<alarms::AlarmRecord> r = alarms_.Get(name);
      if (!r.has_value()) {
        return Invalid(
            absl::StrCat("alarm_rule: names alarm '", name,
                         "', which neither children nor the server has"));
      }
      if (r->type == alarms::AlarmType::kMetric) {
        absl::Status s = Metric(name, r->metric, &timeline, &out);
        if (!s.ok()) return s;
      } else {
        absl::StatusOr<std::vector<alarms::CompositePreviewStep>> steps =
            Composite(name, r->composite.alarm_rule);
        if (!steps.ok()) return steps.status();
        out = resp_->add_children();
        out->set_alarm_name(name);
        for (const alarms::CompositePreviewStep& s : *steps) {
          timeline.push_back({s.tick_ms, s.state});
          ToProto(s, out->add_steps());
        }
      }
    }
    timelines_[name] = std::move(timeline);
    return absl::OkStatus();
  }

  absl::Status Metric(const std::string& name, alarms::MetricAlarmConfig config,
                      std::vector<alarms::TimelineStep>* timeline,
                      v1::ChildPreview** out) {
    absl::StatusOr<std::vector<alarms::PreviewStep>> steps = PreviewMetric(
        engine_, clock_, reach_ms_, std::move(config), range_, &budget_);
    if (!steps.ok()) {
      return absl::Status(
          steps.status().code(),
          absl::StrCat("alarm '", name, "': ", steps.status().message()));
    }
    *out = resp_->add_children();
    (*out)->set_alarm_name(name);
    for (const alarms::PreviewStep& s : *steps) {
      timeline->push_back({s.tick_ms, s.state});
      ToProto(s, (*out)->add_steps());
    }
    return absl::OkStatus();
  }

  alarms::AlarmEngine& alarms_;
  engine::Engine& engine_;
  engine::Clock& clock_;
  const int64_t reach_ms_;
  const v1::PreviewAlarmRequest& req_;
  const PreviewRange range_;
  v1::PreviewAlarmResponse* const resp_;
  absl::flat_hash_map<std::string, const v1::PutMetricAlarmRequest*> given_;
  absl::flat_hash_map<std::string, std::vector<alarms::TimelineStep>>
      timelines_;
  std::vector<std::string> visiting_;  // composites being previewed
  // Periods the children's previews may still hold.
  size_t budget_ = alarms::kMaxPreviewDatapoints;
};

absl::Status Preview(alarms::AlarmEngine& alarms, engine::Engine& engine,
                     engine::Clock& clock, int64_t reach_ms,
                     const v1::PreviewAlarmRequest& req,
                     v1::PreviewAlarmResponse* resp) {
  const bool composite = req.has_composite();
  if (composite && req.has_alarm()) {
    return Invalid("alarm: give alarm or composite, not both");
  }
  if (!composite && req.children_size() > 0) {
    return Invalid("children: only with composite");
  }
  absl::StatusOr<alarms::MetricAlarmConfig> config;
  if (!composite) {
    config = ToConfig(req.alarm());
    if (!config.ok()) return config.status();
  }
  if (!req.has_start_time()) return Invalid("start_time: required");
  if (!req.has_end_time()) return Invalid("end_time: required");
  std::optional<int64_t> start = ToMillis(req.start_time());
  std::optional<int64_t> end = ToMillis(req.end_time());
  if (!start) return Invalid("start_time: not a valid timestamp");
  if (!end) return Invalid("end_time: not a valid timestamp");
  PreviewRange range{*start, *end, AlarmState::kInsufficientData};
  if (!req.initial_state().empty()) {
    absl::StatusOr<AlarmState> s =
        ToState("initial_state", req.initial_state());
    if (!s.ok()) return s.status();
    range.initial = *s;
  }
  if (composite) {
    return CompositePreviewer(alarms, engine, clock, reach_ms, req, range, resp)
        .Run();
  }
  absl::StatusOr<std::vector<alarms::PreviewStep>> steps =
      PreviewMetric(engine, clock, reach_ms, *std::move(config), range);
  if (!steps.ok()) return steps.status();
  for (const alarms::PreviewStep& s : *steps) ToProto(s, resp->add_steps());
  return absl::OkStatus();
}

}  // namespace

AlarmService::AlarmService(alarms::AlarmEngine& alarms, engine::Engine& engine,
                           engine::Clock& clock,
                           int64_t high_resolution_reach_ms)
    : alarms_(alarms),
      engine_(engine),
      clock_(clock),
      high_resolution_reach_ms_(high_resolution_reach_ms) {}

grpc::Status AlarmService::PutMetricAlarm(grpc::ServerContext*,
                                          const v1::PutMetricAlarmRequest* req,
                                          v1::PutMetricAlarmResponse*) {
  absl::StatusOr<alarms::MetricAlarmConfig> c = ToConfig(*req);
  if (!c.ok()) return ToGrpcStatus(c.status());
  return ToGrpcStatus(
      alarms_.PutMetricAlarm(*std::move(c), ToTags(req->tags())));
}

grpc::Status AlarmService::PutCompositeAlarm(
    grpc::ServerContext*, const v1::PutCompositeAlarmRequest* req,
    v1::PutCompositeAlarmResponse*) {
  alarms::CompositeAlarmConfig c;
  c.name = req->alarm_name();
  c.description = req->alarm_description();
  c.actions_enabled = !req->has_actions_enabled() || req->actions_enabled();
  c.ok_actions = Strings(req->ok_actions());
  c.alarm_actions = Strings(req->alarm_actions());
  c.insufficient_data_actions = Strings(req->insufficient_data_actions());
  c.alarm_rule = req->alarm_rule();
  c.actions_suppressor = req->actions_suppressor();
  c.actions_suppressor_wait_period_s = req->actions_suppressor_wait_period();
  c.actions_suppressor_extension_period_s =
      req->actions_suppressor_extension_period();
  return ToGrpcStatus(
      alarms_.PutCompositeAlarm(std::move(c), ToTags(req->tags())));
}

grpc::Status AlarmService::DescribeAlarms(grpc::ServerContext*,
                                          const v1::DescribeAlarmsRequest* req,
                                          v1::DescribeAlarmsResponse* resp) {
  return ToGrpcStatus(rpc::DescribeAlarms(alarms_, *req, resp));
}

grpc::Status AlarmService::DescribeAlarmsForMetric(
    grpc::ServerContext*, const v1::DescribeAlarmsForMetricRequest* req,
    v1::DescribeAlarmsForMetricResponse* resp) {
  engine::SeriesKey key;
  key.namespace_name = req->namespace_();
  key.metric_name = req->metric_name();
  for (const v1::Dimension& d : req->dimensions()) {
    key.dimensions.push_back({d.name(), d.value()});
  }
  if (absl::Status s =
          engine::ValidateNamespace(key.namespace_name, "namespace");
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (auto r = engine::ValidateMetricName(key.metric_name)) {
    return ToGrpcStatus(Invalid(r->message));
  }
  if (auto r = engine::ValidateDimensions(&key.dimensions)) {
    return ToGrpcStatus(Invalid(r->message));
  }
  key.unit = req->unit();
  if (!key.unit.empty()) {
    if (auto r = engine::ValidateUnit(&key.unit)) {
      return ToGrpcStatus(Invalid(r->message));
    }
  }
  if (req->period() < 0) {
    return ToGrpcStatus(Invalid(
        absl::StrCat("period: must not be negative, got ", req->period())));
  }
  absl::StatusOr<std::vector<AlarmRecord>> found =
      alarms_.DescribeAlarmsForMetric(key, req->statistic(),
                                      req->extended_statistic(), req->period());
  if (!found.ok()) return ToGrpcStatus(found.status());
  for (const AlarmRecord& r : *found) ToProto(r, resp->add_metric_alarms());
  return grpc::Status::OK;
}

grpc::Status AlarmService::DeleteAlarms(grpc::ServerContext*,
                                        const v1::DeleteAlarmsRequest* req,
                                        v1::DeleteAlarmsResponse*) {
  return ToGrpcStatus(alarms_.DeleteAlarms(Strings(req->alarm_names())));
}

grpc::Status AlarmService::SetAlarmState(grpc::ServerContext*,
                                         const v1::SetAlarmStateRequest* req,
                                         v1::SetAlarmStateResponse*) {
  absl::StatusOr<AlarmState> s = ToState("state_value", req->state_value());
  if (!s.ok()) return ToGrpcStatus(s.status());
  return ToGrpcStatus(alarms_.SetAlarmState(
      req->alarm_name(), *s, req->state_reason(), req->state_reason_data()));
}

grpc::Status AlarmService::EnableAlarmActions(
    grpc::ServerContext*, const v1::EnableAlarmActionsRequest* req,
    v1::EnableAlarmActionsResponse*) {
  return ToGrpcStatus(
      alarms_.SetActionsEnabled(Strings(req->alarm_names()), true));
}

grpc::Status AlarmService::DisableAlarmActions(
    grpc::ServerContext*, const v1::DisableAlarmActionsRequest* req,
    v1::DisableAlarmActionsResponse*) {
  return ToGrpcStatus(
      alarms_.SetActionsEnabled(Strings(req->alarm_names()), false));
}

grpc::Status AlarmService::DescribeAlarmHistory(
    grpc::ServerContext*, const v1::DescribeAlarmHistoryRequest* req,
    v1::DescribeAlarmHistoryResponse* resp) {
  return ToGrpcStatus(DescribeHistory(alarms_, *req, resp));
}

grpc::Status AlarmService::PreviewAlarm(grpc::ServerContext*,
                                        const v1::PreviewAlarmRequest* req,
                                        v1::PreviewAlarmResponse* resp) {
  return ToGrpcStatus(
      Preview(alarms_, engine_, clock_, high_resolution_reach_ms_, *req, resp));
}

grpc::Status AlarmService::GetAlarmStats(grpc::ServerContext*,
                                         const v1::GetAlarmStatsRequest*,
                                         v1::GetAlarmStatsResponse* resp) {
  const alarms::AlarmEngineStats s = alarms_.Stats();
  resp->set_alarms(s.alarms);
  resp->set_evaluations(s.evaluations);
  resp->set_transitions(s.transitions);
  resp->set_ticks_skipped(s.ticks_skipped);
  resp->set_evaluation_failures(s.evaluation_failures);
  resp->set_window_reads(s.window_reads);
  resp->set_store_reads(s.store_reads);
  if (s.last_round.jobs > 0) {  // absent until a round has evaluated
    v1::GetAlarmStatsResponse::Round* round = resp->mutable_last_round();
    round->set_jobs(s.last_round.jobs);
    round->set_transitions(s.last_round.transitions);
    round->set_look_us(s.last_round.look_us);
    round->set_evaluate_us(s.last_round.evaluate_us);
    round->set_apply_us(s.last_round.apply_us);
    round->set_write_us(s.last_round.write_us);
  }
  ToTimestamp(clock_.NowMs(), resp->mutable_now());
  return grpc::Status::OK;
}

}  // namespace nimbus::rpc
