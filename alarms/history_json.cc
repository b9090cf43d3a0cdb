#include "alarms/history_json.h"

#include <cctype>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "alarms/metric_alarm.h"
#include "alarms/reason.h"

namespace nimbus::alarms {
namespace {

void Key(std::string* out, absl::string_view k) {
  if (out->back() != '{') out->push_back(',');
  AppendJsonString(out, k);
  out->push_back(':');
}

void StringField(std::string* out, absl::string_view k, absl::string_view v) {
  Key(out, k);
  AppendJsonString(out, v);
}

void Strings(std::string* out, absl::string_view k,
             const std::vector<std::string>& v) {
  Key(out, k);
  out->push_back('[');
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(out, v[i]);
  }
  out->push_back(']');
}

// A JSON number, or a string for NaN and infinities (which JSON lacks).
std::string Number(double v) {
  std::string s = JavaDouble(v);
  if (s == "NaN" || s == "Infinity" || s == "-Infinity") {
    return absl::StrCat("\"", s, "\"");
  }
  return s;
}

std::string Cut(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  // Not inside a UTF-8 sequence.
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n) + "...";
}

// The configuration; `brief` leaves out actions, description, tags and
// most of a long rule, for items that would not fit otherwise.
std::string ConfigJson(const AlarmRecord& r, bool brief) {
  std::string out = "{";
  StringField(&out, "alarmName", r.name());
  StringField(&out, "alarmType", AlarmTypeName(r.type));
  absl::StrAppend(&out, ",\"configurationVersion\":", r.config_version);
  if (!brief) {
    StringField(&out, "alarmDescription", r.description());
    Key(&out, "actionsEnabled");
    out += r.actions_enabled() ? "true" : "false";
    Strings(&out, "okActions", r.actions(AlarmState::kOk));
    Strings(&out, "alarmActions", r.actions(AlarmState::kAlarm));
    Strings(&out, "insufficientDataActions",
            r.actions(AlarmState::kInsufficientData));
  }
  if (r.type == AlarmType::kMetric) {
    const MetricAlarmConfig& m = r.metric;
    StringField(&out, "namespace", m.metric.namespace_name);
    StringField(&out, "metricName", m.metric.metric_name);
    Key(&out, "dimensions");
    out.push_back('[');
    for (size_t i = 0; i < m.metric.dimensions.size() && !brief; ++i) {
      if (i > 0) out.push_back(',');
      out += "{";
      StringField(&out, "name", m.metric.dimensions[i].name);
      StringField(&out, "value", m.metric.dimensions[i].value);
      out += "}";
    }
    out.push_back(']');
    if (brief) {
      absl::StrAppend(&out, ",\"dimensionCount\":", m.metric.dimensions.size());
    }
    if (!m.metric.unit.empty()) StringField(&out, "unit", m.metric.unit);
    if (!m.metrics.empty()) {
      Key(&out, "metrics");
      out.push_back('[');
      for (size_t i = 0; i < m.metrics.size(); ++i) {
        const engine::MetricDataQuery& q = m.metrics[i];
        if (i > 0) out.push_back(',');
        out += "{";
        StringField(&out, "id", q.id);
        if (!q.expression.empty()) {
          StringField(&out, "expression",
                      brief ? Cut(q.expression, 100) : q.expression);
        }
        if (q.metric_stat) {
          StringField(&out, "metricName", q.metric_stat->key.metric_name);
          StringField(&out, "stat", q.metric_stat->stat);
          absl::StrAppend(&out,
                          ",\"period\":", q.metric_stat->period_ms / 1000);
        }
        absl::StrAppend(&out,
                        ",\"returnData\":", q.return_data ? "true" : "false");
        out += "}";
      }
      out.push_back(']');
    }
    if (!m.statistic.empty()) StringField(&out, "statistic", m.statistic);
    if (!m.extended_statistic.empty()) {
      StringField(&out, "extendedStatistic", m.extended_statistic);
    }
    absl::StrAppend(&out, ",\"period\":", m.period_s,
                    ",\"evaluationPeriods\":", m.evaluation_periods,
                    ",\"datapointsToAlarm\":", m.datapoints_to_alarm,
                    ",\"threshold\":", Number(m.threshold));
    StringField(&out, "comparisonOperator", m.comparison_operator);
    StringField(&out, "treatMissingData", m.treat_missing_data);
    StringField(&out, "evaluateLowSampleCountPercentile",
                m.evaluate_low_sample_count_percentile);
  } else {
    const CompositeAlarmConfig& c = r.composite;
    StringField(&out, "alarmRule",
                brief ? Cut(c.alarm_rule, 200) : c.alarm_rule);
    if (!c.actions_suppressor.empty()) {
      StringField(&out, "actionsSuppressor", c.actions_suppressor);
      absl::StrAppend(&out, ",\"actionsSuppressorWaitPeriod\":",
                      c.actions_suppressor_wait_period_s,
                      ",\"actionsSuppressorExtensionPeriod\":",
                      c.actions_suppressor_extension_period_s);
    }
  }
  if (!brief && !r.tags.empty()) {
    Key(&out, "tags");
    out.push_back('[');
    for (size_t i = 0; i < r.tags.size(); ++i) {
      if (i > 0) out.push_back(',');
      out += "{";
      StringField(&out, "key", r.tags[i].first);
      StringField(&out, "value", r.tags[i].second);
      out += "}";
    }
    out.push_back(']');
  }
  if (brief) out += ",\"truncated\":true";
  out += "}";
  return out;
}

// The first of `levels` forms (most detailed first) that fits.
template <typename F>
std::string FirstThatFits(int levels, F build) {
  for (int level = 0; level < levels; ++level) {
    std::string out = build(level);
    if (out.size() <= kMaxHistoryDataChars) return out;
  }
  // Nothing fits (long names or values at every level): the bare marker.
  return "{\"version\":\"1.0\",\"truncated\":true}";
}

// What StateReason and StateReasonData read of evidence `e`.
ReasonInput ReasonOf(const Evidence& e) {
  return {&e.rule,          e.range,     &e.evaluation, e.previous,
          e.range_start_ms, e.period_ms, e.tick_ms,     e.statistic};
}

}  // namespace

std::string ConfigurationUpdateData(const AlarmRecord* old,
                                    const AlarmRecord& now) {
  return FirstThatFits(4, [&](int level) {
    // 0: both whole; 1: the previous brief; 2: both brief; 3: only the new.
    std::string out = "{\"version\":\"1.0\"";
    if (old == nullptr) {
      absl::StrAppend(&out, ",\"type\":\"Create\",\"createdAlarm\":",
                      ConfigJson(now, level >= 2));
    } else {
      absl::StrAppend(&out, ",\"type\":\"Update\",\"updatedAlarm\":",
                      ConfigJson(now, level >= 2));
      if (level < 3) {
        absl::StrAppend(&out,
                        ",\"previousAlarm\":", ConfigJson(*old, level >= 1));
      }
    }
    return out + "}";
  });
}

std::string ConfigurationDeleteData(const AlarmRecord& r) {
  return FirstThatFits(2, [&](int level) {
    return absl::StrCat(
        "{\"version\":\"1.0\",\"type\":\"Delete\","
        "\"deletedAlarm\":",
        ConfigJson(r, level >= 1), "}");
  });
}

std::string StateUpdateData(AlarmState previous,
                            const std::string& previous_reason,
                            const AlarmRecord& next,
                            const std::string& evidence) {
  return StateUpdateData(previous, previous_reason, next.state,
                         next.state_reason, next.state_reason_data,
                         next.config_version, evidence);
}

std::string StateUpdateData(AlarmState previous,
                            const std::string& previous_reason,
                            AlarmState state, const std::string& reason,
                            const std::string& reason_data,
                            uint64_t config_version,
                            const std::string& evidence) {
  return FirstThatFits(4, [&](int level) {
    // 0: everything; 1: without the new reason data (the evidence holds
    // what it says); 2: reasons cut short; 3: without the evidence.
    const size_t reason_chars = level >= 2 ? 255 : SIZE_MAX;
    std::string out = "{\"version\":\"1.0\",\"oldState\":{";
    StringField(&out, "stateValue", AlarmStateName(previous));
    StringField(&out, "stateReason", Cut(previous_reason, reason_chars));
    out += "},\"newState\":{";
    StringField(&out, "stateValue", AlarmStateName(state));
    StringField(&out, "stateReason", Cut(reason, reason_chars));
    if (level == 0 && !reason_data.empty()) {
      Key(&out, "stateReasonData");
      out += reason_data;
    }
    absl::StrAppend(&out, "},\"configurationVersion\":", config_version);
    if (level < 3 && !evidence.empty()) {
      absl::StrAppend(&out, ",\"evidence\":", evidence);
    }
    if (level > 0) out += ",\"truncated\":true";
    return out + "}";
  });
}

std::string EvidenceJson(const Evidence& e, uint64_t config_version,
                         size_t max_chars) {
  std::string head = "{";
  StringField(&head, "tick", JsonTime(e.tick_ms));
  absl::StrAppend(&head, ",\"configurationVersion\":", config_version);
  StringField(&head, "statistic", e.statistic);
  absl::StrAppend(&head, ",\"period\":", e.period_ms / 1000,
                  ",\"threshold\":", Number(e.rule.threshold));
  StringField(&head, "comparisonOperator",
              ComparisonOperatorName(e.rule.comparison));
  absl::StrAppend(&head, ",\"evaluationPeriods\":", e.rule.evaluation_periods,
                  ",\"datapointsToAlarm\":", e.rule.datapoints_to_alarm);
  StringField(&head, "treatMissingData",
              TreatMissingDataName(e.rule.treat_missing_data));
  // Per period of the range, newest first.
  std::vector<const EvaluatedPeriod*> evaluated(e.range.size(), nullptr);
  for (const EvaluatedPeriod& p : e.evaluation.evaluated) {
    if (p.index < evaluated.size()) evaluated[p.index] = &p;
  }
  std::vector<std::string> periods;
  for (size_t k = e.range.size(); k-- > 0;) {
    const Period& p = e.range[k];
    std::string item = "{";
    StringField(
        &item, "timestamp",
        JsonTime(e.range_start_ms + static_cast<int64_t>(k) * e.period_ms));
    if (p.value) absl::StrAppend(&item, ",\"value\":", Number(*p.value));
    if (p.low_sample_count) item += ",\"lowSampleCount\":true";
    if (const EvaluatedPeriod* x = evaluated[k]) {
      item += ",\"evaluated\":true";
      if (x->source == EvaluatedPeriod::Source::kFilledBreaching) {
        item += ",\"filled\":\"Breaching\"";
      } else if (x->source == EvaluatedPeriod::Source::kFilledNotBreaching) {
        item += ",\"filled\":\"NonBreaching\"";
      }
      absl::StrAppend(&item,
                      ",\"breaching\":", x->breaching ? "true" : "false");
    }
    periods.push_back(item + "}");
  }
  // Room for the list's brackets, the omitted count and the closing brace.
  const size_t tail = 48;
  std::string out = head + ",\"periods\":[";
  size_t kept = 0;
  for (const std::string& item : periods) {
    if (out.size() + item.size() + 1 + tail > max_chars) break;
    if (kept > 0) out.push_back(',');
    out += item;
    ++kept;
  }
  out += "]";
  if (kept < periods.size()) {
    absl::StrAppend(&out, ",\"periodsOmitted\":", periods.size() - kept);
  }
  return out + "}";
}

std::string EvidenceReason(const Evidence& e) {
  return Truncate(StateReason(ReasonOf(e)), kMaxStateReasonChars);
}

std::string EvidenceReasonData(const Evidence& e) {
  return StateReasonData(ReasonOf(e));
}

absl::Status RenderReason(AlarmRecord* r) {
  if (r->state_evidence.empty()) return absl::OkStatus();
  absl::StatusOr<Evidence> e = DecodeEvidence(r->state_evidence);
  if (!e.ok()) {
    return absl::DataLossError(
        absl::StrCat("alarm '", r->name(), "': ", e.status().message()));
  }
  r->state_reason = EvidenceReason(*e);
  r->state_reason_data = EvidenceReasonData(*e);
  r->state_evidence.clear();
  return absl::OkStatus();
}

absl::StatusOr<std::string> StateChangeData(const StateChange& c) {
  std::string old_reason = c.old_reason;
  if (!c.old_evidence.empty()) {
    absl::StatusOr<Evidence> old = DecodeEvidence(c.old_evidence);
    if (!old.ok()) return old.status();
    old_reason = EvidenceReason(*old);
  }
  absl::StatusOr<Evidence> e = DecodeEvidence(c.new_evidence);
  if (!e.ok()) return e.status();
  return StateUpdateData(c.old_state, old_reason, c.new_state,
                         EvidenceReason(*e), EvidenceReasonData(*e),
                         c.config_version, EvidenceJson(*e, c.config_version));
}

std::string CompositeReasonData(
    const std::vector<std::pair<std::string, std::optional<ChildState>>>&
        children) {
  return FirstThatFits(2, [&](int level) {
    std::string out = "{\"triggeringAlarms\":[";
    size_t listed = 0;
    for (const auto& [name, r] : children) {
      // A second try lists the alarms in ALARM only.
      if (level == 1 && (!r.has_value() || r->state != AlarmState::kAlarm)) {
        continue;
      }
      std::string item = "{";
      StringField(&item, "name", name);
      if (!r.has_value()) {
        item += ",\"deleted\":true";
      } else {
        item += ",\"state\":{";
        StringField(&item, "value", AlarmStateName(r->state));
        StringField(&item, "timestamp", JsonTime(r->transitioned_ms));
        item += "}";
      }
      item += "}";
      if (out.size() + item.size() + 32 > kMaxHistoryDataChars) break;
      if (listed++ > 0) out.push_back(',');
      out += item;
    }
    out += "]";
    if (level == 1) out += ",\"truncated\":true";
    return out + "}";
  });
}

std::string SuppressedReason(SuppressedBy by, const std::string& suppressor) {
  switch (by) {
    case SuppressedBy::kNone:
      return "";
    case SuppressedBy::kAlarm:
      return absl::StrCat("Actions suppressed by ", suppressor,
                          ", which is in ALARM");
    case SuppressedBy::kWaitPeriod:
      return absl::StrCat("Actions suppressed by the wait period for ",
                          suppressor, " to enter ALARM");
    case SuppressedBy::kExtensionPeriod:
      break;
  }
  return absl::StrCat("Actions suppressed by the extension period after ",
                      suppressor, " left ALARM");
}

namespace {

// A recursive-descent check of RFC 8259 syntax; depth-bounded.
class JsonChecker {
 public:
  explicit JsonChecker(absl::string_view s) : s_(s) {}

  absl::Status CheckObject() {
    Space();
    if (!Peek('{')) return Error("must be a JSON object");
    if (!Value(0)) return error_;
    Space();
    if (i_ != s_.size()) return Error("unexpected text after the object");
    return absl::OkStatus();
  }

 private:
  bool Peek(char c) const { return i_ < s_.size() && s_[i_] == c; }
  void Space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' ||
                              s_[i_] == '\n' || s_[i_] == '\r')) {
      ++i_;
    }
  }
  absl::Status Error(absl::string_view what) {
    error_ = absl::InvalidArgumentError(
        absl::StrCat(what, " (at character ", i_ + 1, ")"));
    return error_;
  }
  bool Fail(absl::string_view what) {
    (void)Error(what);  // kept in error_
    return false;
  }
  bool Literal(absl::string_view word) {
    if (s_.substr(i_, word.size()) != word) return Fail("invalid literal");
    i_ += word.size();
    return true;
  }
  bool String() {
    ++i_;  // the opening quote
    while (i_ < s_.size()) {
      const unsigned char c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c < 0x20) return Fail("control character in a string");
      if (c == '\\') {
        ++i_;
        if (i_ >= s_.size()) break;
        const char e = s_[i_];
        if (e == 'u') {
          for (int k = 1; k <= 4; ++k) {
            if (i_ + k >= s_.size() ||
                !std::isxdigit(static_cast<unsigned char>(s_[i_ + k]))) {
              return Fail("invalid \\u escape");
            }
          }
          i_ += 4;
        } else if (absl::string_view("\"\\/bfnrt").find(e) ==
                   absl::string_view::npos) {
          return Fail("invalid escape");
        }
      }
      ++i_;
    }
    return Fail("unterminated string");
  }
  bool Digits() {
    const size_t start = i_;
    while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) {
      ++i_;
    }
    return i_ > start;
  }
  bool Number() {
    if (Peek('-')) ++i_;
    if (Peek('0')) {
      ++i_;
    } else if (!Digits()) {
      return Fail("invalid number");
    }
    if (Peek('.')) {
      ++i_;
      if (!Digits()) return Fail("invalid number");
    }
    if (Peek('e') || Peek('E')) {
      ++i_;
      if (Peek('+') || Peek('-')) ++i_;
      if (!Digits()) return Fail("invalid number");
    }
    return true;
  }
  bool Value(int depth) {
    if (depth > 64) return Fail("nested more than 64 deep");
    Space();
    if (i_ >= s_.size()) return Fail("unexpected end");
    const char c = s_[i_];
    if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++i_;
      Space();
      if (Peek(close)) {
        ++i_;
        return true;
      }
      for (;;) {
        Space();
        if (c == '{') {
          if (!Peek('"')) return Fail("expected a member name");
          if (!String()) return false;
          Space();
          if (!Peek(':')) return Fail("expected ':'");
          ++i_;
        }
        if (!Value(depth + 1)) return false;
        Space();
        if (Peek(',')) {
          ++i_;
          continue;
        }
        if (Peek(close)) {
          ++i_;
          return true;
        }
        return Fail(c == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
      }
    }
    if (c == '"') return String();
    if (c == 't') return Literal("true");
    if (c == 'f') return Literal("false");
    if (c == 'n') return Literal("null");
    return Number();
  }

  absl::string_view s_;
  size_t i_ = 0;
  absl::Status error_;
};

}  // namespace

absl::Status CheckJsonObject(absl::string_view s) {
  return JsonChecker(s).CheckObject();
}

}  // namespace nimbus::alarms
