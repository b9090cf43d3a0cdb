#include "alarms/alarm_record.h"

#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "alarms/composite_rule.h"
#include "alarms/metric_alarm.h"
#include "alarms/schedule.h"
#include "engine/series_key.h"
#include "engine/validation.h"
#include "storage/internal/coding.h"

namespace nimbus::alarms {
namespace {

using storage::internal::GetVarint64;
using storage::internal::PutVarint64;

constexpr uint8_t kRecordVersion = 3;
constexpr uint8_t kHistoryVersion = 2;
constexpr uint8_t kEvidenceVersion = 1;
// The longest wait or extension period, as CloudWatch allows.
constexpr int64_t kMaxSuppressorPeriodS = 86400;

absl::Status Invalid(std::string message) {
  return absl::InvalidArgumentError(std::move(message));
}

void PutString(std::string* out, absl::string_view s) {
  PutVarint64(out, s.size());
  out->append(s.data(), s.size());
}

void PutStrings(std::string* out, const std::vector<std::string>& v) {
  PutVarint64(out, v.size());
  for (const std::string& s : v) PutString(out, s);
}

void PutSigned(std::string* out, int64_t v) {
  PutVarint64(out, storage::internal::ZigZagEncode(v));
}

void PutDouble(std::string* out, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  storage::internal::PutFixed64(out, bits);
}

// Reads the encodings above; any failure sticks.
class Reader {
 public:
  explicit Reader(absl::string_view in)
      : p_(in.data()), limit_(in.data() + in.size()) {}

  bool ok() const { return ok_; }
  bool done() const { return ok_ && p_ == limit_; }
  const char* position() const { return p_; }

  uint8_t Byte() {
    if (!ok_ || p_ == limit_) return Fail(), 0;
    return static_cast<uint8_t>(*p_++);
  }
  uint64_t Varint() {
    uint64_t v = 0;
    if (ok_ && !GetVarint64(&p_, limit_, &v)) Fail();
    return v;
  }
  int64_t Signed() { return storage::internal::ZigZagDecode(Varint()); }
  double Double() {
    if (!ok_ || limit_ - p_ < 8) return Fail(), 0;
    const uint64_t bits = storage::internal::LoadLE64(p_);
    p_ += 8;
    double v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }
  bool Bool() {
    const uint8_t b = Byte();
    if (b > 1) Fail();
    return b == 1;
  }
  std::string String() {
    const uint64_t n = Varint();
    if (!ok_ || static_cast<uint64_t>(limit_ - p_) < n) return Fail(), "";
    std::string s(p_, n);
    p_ += n;
    return s;
  }
  std::vector<std::string> Strings() {
    const uint64_t n = Varint();
    std::vector<std::string> v;
    // Each string takes at least a byte: a count beyond the bytes left is
    // damage, not a reason to allocate.
    if (!ok_ || n > static_cast<uint64_t>(limit_ - p_)) return Fail(), v;
    for (uint64_t i = 0; i < n && ok_; ++i) v.push_back(String());
    return v;
  }
  void Fail() { ok_ = false; }

 private:
  const char* p_;
  const char* limit_;
  bool ok_ = true;
};

// An alarm state's byte.
AlarmState State(Reader& in) {
  const uint8_t b = in.Byte();
  if (b > static_cast<uint8_t>(AlarmState::kInsufficientData)) in.Fail();
  return static_cast<AlarmState>(b);
}

// A byte that must be at most `max`.
uint8_t Enum(Reader& in, uint8_t max) {
  const uint8_t b = in.Byte();
  if (b > max) in.Fail();
  return b;
}

}  // namespace

std::string EncodeEvidence(const Evidence& e) {
  std::string out;
  out.reserve(40 + e.statistic.size() + 9 * e.range.size() +
              3 * e.evaluation.evaluated.size());
  out.push_back(static_cast<char>(kEvidenceVersion));
  PutSigned(&out, e.tick_ms);
  PutSigned(&out, e.range_start_ms);
  PutSigned(&out, e.period_ms);
  out.push_back(static_cast<char>(e.previous));
  PutVarint64(&out, e.rule.evaluation_periods);
  PutVarint64(&out, e.rule.datapoints_to_alarm);
  PutDouble(&out, e.rule.threshold);
  out.push_back(static_cast<char>(e.rule.comparison));
  out.push_back(static_cast<char>(e.rule.treat_missing_data));
  out.push_back(e.rule.ignore_low_sample_count ? 1 : 0);
  PutString(&out, e.statistic);
  PutVarint64(&out, e.range.size());
  for (const Period& p : e.range) {
    out.push_back(
        static_cast<char>((p.value ? 1 : 0) | (p.low_sample_count ? 2 : 0)));
    if (p.value) PutDouble(&out, *p.value);
  }
  const Evaluation& v = e.evaluation;
  out.push_back(static_cast<char>(v.state));
  out.push_back(v.kept ? 1 : 0);
  out.push_back(static_cast<char>(v.reason));
  PutVarint64(&out, v.breaching);
  PutVarint64(&out, v.evaluated.size());
  for (const EvaluatedPeriod& p : v.evaluated) {
    PutVarint64(&out, p.index);
    out.push_back(static_cast<char>(p.source));
    out.push_back(p.breaching ? 1 : 0);
  }
  return out;
}

absl::StatusOr<Evidence> DecodeEvidence(absl::string_view bytes) {
  Reader in(bytes);
  const uint8_t version = in.Byte();
  if (in.ok() && version != kEvidenceVersion) {
    return absl::DataLossError(
        absl::StrCat("evaluation evidence: unknown version ", version));
  }
  Evidence e;
  e.tick_ms = in.Signed();
  e.range_start_ms = in.Signed();
  e.period_ms = in.Signed();
  e.previous = State(in);
  e.rule.evaluation_periods = in.Varint();
  e.rule.datapoints_to_alarm = in.Varint();
  e.rule.threshold = in.Double();
  e.rule.comparison = static_cast<ComparisonOperator>(Enum(in, 3));
  e.rule.treat_missing_data = static_cast<TreatMissingData>(Enum(in, 3));
  e.rule.ignore_low_sample_count = in.Bool();
  e.statistic = in.String();
  // Each period and each evaluated one takes at least a byte.
  const uint64_t periods = in.Varint();
  if (in.ok() && periods > bytes.size()) in.Fail();
  for (uint64_t i = 0; i < periods && in.ok(); ++i) {
    const uint8_t flags = Enum(in, 3);
    Period& p = e.range.emplace_back();
    if (flags & 1) p.value = in.Double();
    p.low_sample_count = (flags & 2) != 0;
  }
  Evaluation& v = e.evaluation;
  v.state = State(in);
  v.kept = in.Bool();
  v.reason = static_cast<Evaluation::Reason>(Enum(in, 4));
  v.breaching = in.Varint();
  const uint64_t evaluated = in.Varint();
  if (in.ok() && evaluated > periods) in.Fail();
  for (uint64_t i = 0; i < evaluated && in.ok(); ++i) {
    EvaluatedPeriod& p = v.evaluated.emplace_back();
    p.index = in.Varint();
    if (p.index >= periods) in.Fail();
    p.source = static_cast<EvaluatedPeriod::Source>(Enum(in, 2));
    p.breaching = in.Bool();
  }
  if (!in.done()) {
    return absl::DataLossError(
        "evaluation evidence: truncated, or bytes after its end");
  }
  return e;
}

const std::vector<std::string>& AlarmRecord::actions(AlarmState s) const {
  const bool m = type == AlarmType::kMetric;
  switch (s) {
    case AlarmState::kOk:
      return m ? metric.ok_actions : composite.ok_actions;
    case AlarmState::kAlarm:
      return m ? metric.alarm_actions : composite.alarm_actions;
    case AlarmState::kInsufficientData:
      break;
  }
  return m ? metric.insufficient_data_actions
           : composite.insufficient_data_actions;
}

absl::Status ValidateCompositeAlarm(const CompositeAlarmConfig& c) {
  if (absl::Status s =
          ValidateAlarmCommon(c.name, c.description, c.ok_actions,
                              c.alarm_actions, c.insufficient_data_actions);
      !s.ok()) {
    return s;
  }
  if (c.alarm_rule.empty()) return Invalid("alarm_rule: required");
  absl::StatusOr<CompositeRule> rule = CompositeRule::Parse(c.alarm_rule);
  if (!rule.ok()) return rule.status();
  for (const std::string& child : rule->children()) {
    if (child == c.name) {
      return Invalid(
          absl::StrCat("alarm_rule: names the alarm itself ('", child, "')"));
    }
  }
  if (c.actions_suppressor.empty()) {
    if (c.actions_suppressor_wait_period_s != 0 ||
        c.actions_suppressor_extension_period_s != 0) {
      return Invalid(
          "actions_suppressor: required with a wait or extension period");
    }
    return absl::OkStatus();
  }
  if (engine::CharacterCount(c.actions_suppressor) > kMaxAlarmNameChars) {
    return Invalid(absl::StrCat("actions_suppressor: must be 1 to ",
                                kMaxAlarmNameChars, " characters, got ",
                                engine::CharacterCount(c.actions_suppressor)));
  }
  if (c.actions_suppressor == c.name) {
    return Invalid("actions_suppressor: must not be the alarm itself");
  }
  const std::pair<const char*, int64_t> periods[] = {
      {"actions_suppressor_wait_period", c.actions_suppressor_wait_period_s},
      {"actions_suppressor_extension_period",
       c.actions_suppressor_extension_period_s}};
  for (const auto& [field, v] : periods) {
    if (v < 0 || v > kMaxSuppressorPeriodS) {
      return Invalid(absl::StrCat(field, ": must be 0 to ",
                                  kMaxSuppressorPeriodS, " seconds, got ", v));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTags(const Tags& tags) {
  if (tags.size() > kMaxTags) {
    return Invalid(
        absl::StrCat("tags: ", tags.size(), " given, at most ", kMaxTags));
  }
  absl::flat_hash_set<absl::string_view> keys;
  for (size_t i = 0; i < tags.size(); ++i) {
    const auto& [key, value] = tags[i];
    const size_t key_chars = engine::CharacterCount(key);
    if (key_chars == 0 || key_chars > kMaxTagKeyChars) {
      return Invalid(absl::StrCat("tags[", i, "].key: must be 1 to ",
                                  kMaxTagKeyChars, " characters, got ",
                                  key_chars));
    }
    if (engine::CharacterCount(value) > kMaxTagValueChars) {
      return Invalid(absl::StrCat("tags[", i, "].value: at most ",
                                  kMaxTagValueChars, " characters, got ",
                                  engine::CharacterCount(value)));
    }
    if (!keys.insert(key).second) {
      return Invalid(
          absl::StrCat("tags[", i, "].key: '", key, "' given twice"));
    }
  }
  return absl::OkStatus();
}

std::string EncodeAlarmRecord(const AlarmRecord& r, size_t* reasons_at) {
  std::string out;
  out.push_back(static_cast<char>(kRecordVersion));
  out.push_back(static_cast<char>(r.type));
  PutVarint64(&out, r.config_version);
  PutSigned(&out, r.config_updated_ms);
  if (r.type == AlarmType::kMetric) {
    const MetricAlarmConfig& m = r.metric;
    PutString(&out, m.description);
    out.push_back(m.actions_enabled ? 1 : 0);
    PutStrings(&out, m.ok_actions);
    PutStrings(&out, m.alarm_actions);
    PutStrings(&out, m.insufficient_data_actions);
    PutString(&out, m.metric.Encode());
    PutString(&out, m.statistic);
    PutString(&out, m.extended_statistic);
    PutVarint64(&out, static_cast<uint64_t>(m.period_s));
    PutVarint64(&out, m.evaluation_periods);
    PutVarint64(&out, m.datapoints_to_alarm);
    PutDouble(&out, m.threshold);
    PutString(&out, m.comparison_operator);
    PutString(&out, m.treat_missing_data);
    PutString(&out, m.evaluate_low_sample_count_percentile);
    PutVarint64(&out, m.metrics.size());
    for (const engine::MetricDataQuery& q : m.metrics) {
      PutString(&out, q.id);
      PutString(&out, q.expression);
      PutString(&out, q.label);
      out.push_back(q.return_data ? 1 : 0);
      PutSigned(&out, q.period_ms);
      out.push_back(q.metric_stat ? 1 : 0);
      if (q.metric_stat) {
        PutString(&out, q.metric_stat->key.Encode());
        PutSigned(&out, q.metric_stat->period_ms);
        PutString(&out, q.metric_stat->stat);
      }
    }
  } else {
    const CompositeAlarmConfig& c = r.composite;
    PutString(&out, c.description);
    out.push_back(c.actions_enabled ? 1 : 0);
    PutStrings(&out, c.ok_actions);
    PutStrings(&out, c.alarm_actions);
    PutStrings(&out, c.insufficient_data_actions);
    PutString(&out, c.alarm_rule);
    PutString(&out, c.actions_suppressor);
    PutVarint64(&out,
                static_cast<uint64_t>(c.actions_suppressor_wait_period_s));
    PutVarint64(&out,
                static_cast<uint64_t>(c.actions_suppressor_extension_period_s));
  }
  PutVarint64(&out, r.tags.size());
  for (const auto& [k, v] : r.tags) {
    PutString(&out, k);
    PutString(&out, v);
  }
  out.push_back(static_cast<char>(r.state));
  PutSigned(&out, r.state_updated_ms);
  PutSigned(&out, r.state_transitioned_ms);
  out.push_back(static_cast<char>(r.evaluation_state));
  PutSigned(&out, r.next_tick_ms);
  out.push_back(r.behind_checkpoint ? 1 : 0);
  out.push_back(r.left_alarm_ms.has_value() ? 1 : 0);
  if (r.left_alarm_ms) PutSigned(&out, *r.left_alarm_ms);
  out.push_back(static_cast<char>(r.actions_suppressed_by));
  PutString(&out, r.actions_suppressed_reason);
  if (reasons_at != nullptr) *reasons_at = out.size();
  PutString(&out, r.state_reason);
  PutString(&out, r.state_reason_data);
  PutString(&out, r.state_evidence);
  return out;
}

absl::StatusOr<AlarmRecord> DecodeAlarmRecord(absl::string_view name,
                                              absl::string_view value,
                                              size_t* reasons_at) {
  if (reasons_at != nullptr) *reasons_at = 0;
  auto damaged = [&](absl::string_view what) {
    return absl::DataLossError(
        absl::StrCat("alarm record '", name, "': ", what));
  };
  Reader in(value);
  const uint8_t version = in.Byte();
  if (in.ok() && (version < 1 || version > kRecordVersion)) {
    return damaged(absl::StrCat("unknown version ", version));
  }
  AlarmRecord r;
  const uint8_t type = in.Byte();
  if (type != static_cast<uint8_t>(AlarmType::kMetric) &&
      type != static_cast<uint8_t>(AlarmType::kComposite)) {
    in.Fail();
  }
  r.type = static_cast<AlarmType>(type);
  r.config_version = in.Varint();
  r.config_updated_ms = in.Signed();
  if (r.type == AlarmType::kMetric) {
    MetricAlarmConfig& m = r.metric;
    m.name = std::string(name);
    m.description = in.String();
    m.actions_enabled = in.Bool();
    m.ok_actions = in.Strings();
    m.alarm_actions = in.Strings();
    m.insufficient_data_actions = in.Strings();
    const std::string key = in.String();
    if (in.ok() && !engine::SeriesKey::Decode(key, &m.metric)) in.Fail();
    m.statistic = in.String();
    m.extended_statistic = in.String();
    m.period_s = static_cast<int64_t>(in.Varint());
    m.evaluation_periods = in.Varint();
    m.datapoints_to_alarm = in.Varint();
    m.threshold = in.Double();
    m.comparison_operator = in.String();
    m.treat_missing_data = in.String();
    m.evaluate_low_sample_count_percentile = in.String();
    const uint64_t queries = in.Varint();
    if (in.ok() && queries > value.size()) in.Fail();
    for (uint64_t i = 0; i < queries && in.ok(); ++i) {
      engine::MetricDataQuery q;
      q.id = in.String();
      q.expression = in.String();
      q.label = in.String();
      q.return_data = in.Bool();
      q.period_ms = in.Signed();
      if (in.Bool()) {
        engine::MetricStat st;
        const std::string k = in.String();
        if (in.ok() && !engine::SeriesKey::Decode(k, &st.key)) in.Fail();
        st.period_ms = in.Signed();
        st.stat = in.String();
        q.metric_stat = std::move(st);
      }
      m.metrics.push_back(std::move(q));
    }
  } else {
    CompositeAlarmConfig& c = r.composite;
    c.name = std::string(name);
    c.description = in.String();
    c.actions_enabled = in.Bool();
    c.ok_actions = in.Strings();
    c.alarm_actions = in.Strings();
    c.insufficient_data_actions = in.Strings();
    c.alarm_rule = in.String();
    c.actions_suppressor = in.String();
    c.actions_suppressor_wait_period_s = static_cast<int64_t>(in.Varint());
    c.actions_suppressor_extension_period_s = static_cast<int64_t>(in.Varint());
  }
  const uint64_t tags = in.Varint();
  if (in.ok() && tags > value.size()) in.Fail();
  for (uint64_t i = 0; i < tags && in.ok(); ++i) {
    std::string k = in.String();
    std::string v = in.String();
    r.tags.emplace_back(std::move(k), std::move(v));
  }
  r.state = State(in);
  if (version < 3) {
    r.state_reason = in.String();
    r.state_reason_data = in.String();
  }
  r.state_updated_ms = in.Signed();
  r.state_transitioned_ms = in.Signed();
  const uint8_t eval = in.Byte();
  if (eval > static_cast<uint8_t>(EvaluationState::kEvaluationError)) {
    in.Fail();
  }
  r.evaluation_state = static_cast<EvaluationState>(eval);
  if (version == 1) {
    // Version 1 kept the tick of the last transition (0 before one).
    const int64_t last_tick = in.Signed();
    if (last_tick != 0 && r.type == AlarmType::kMetric && in.ok()) {
      if (!ValidAlarmPeriod(r.metric.period_s)) {
        in.Fail();
      } else {
        r.next_tick_ms = NextTickAfter(
            last_tick, EvaluationIntervalMs(r.metric.period_s,
                                            r.metric.evaluation_periods));
      }
    }
  } else {
    r.next_tick_ms = in.Signed();
    r.behind_checkpoint = in.Bool();
  }
  if (in.Bool()) r.left_alarm_ms = in.Signed();
  const uint8_t suppressed = in.Byte();
  if (suppressed > static_cast<uint8_t>(SuppressedBy::kExtensionPeriod)) {
    in.Fail();
  }
  r.actions_suppressed_by = static_cast<SuppressedBy>(suppressed);
  r.actions_suppressed_reason = in.String();
  if (version >= 3) {
    if (reasons_at != nullptr) {
      *reasons_at = static_cast<size_t>(in.position() - value.data());
    }
    r.state_reason = in.String();
    r.state_reason_data = in.String();
    r.state_evidence = in.String();
  }
  if (!in.done()) {
    if (reasons_at != nullptr) *reasons_at = 0;
    return damaged("truncated, or bytes after its end");
  }
  return r;
}

std::string EncodeHistoryValue(const HistoryItem& item) {
  std::string out;
  out.reserve(3 + 2 * 5 + item.summary.size() + item.data.size());
  out.push_back(static_cast<char>(kHistoryVersion));
  out.push_back(static_cast<char>(item.alarm_type));
  out.push_back(static_cast<char>(item.type));
  PutString(&out, item.summary);
  PutString(&out, item.data);
  out.push_back(item.change.has_value() ? 1 : 0);
  if (const StateChange* c = item.change ? &*item.change : nullptr) {
    out.push_back(static_cast<char>(c->old_state));
    PutString(&out, c->old_reason);
    PutString(&out, c->old_evidence);
    out.push_back(static_cast<char>(c->new_state));
    PutString(&out, c->new_evidence);
    PutVarint64(&out, c->config_version);
  }
  return out;
}

absl::Status DecodeHistoryValue(absl::string_view value, HistoryItem* item) {
  Reader in(value);
  const uint8_t version = in.Byte();
  if (in.ok() && (version < 1 || version > kHistoryVersion)) {
    return absl::DataLossError(
        absl::StrCat("alarm history item: unknown version ", version));
  }
  const uint8_t alarm_type = in.Byte();
  if (alarm_type < 1 || alarm_type > 2) in.Fail();
  const uint8_t type = in.Byte();
  if (type < 1 || type > 3) in.Fail();
  item->alarm_type = static_cast<AlarmType>(alarm_type);
  item->type = static_cast<HistoryItemType>(type);
  item->summary = in.String();
  item->data = in.String();
  item->change.reset();
  if (version >= 2 && in.Bool()) {
    StateChange& c = item->change.emplace();
    c.old_state = State(in);
    c.old_reason = in.String();
    c.old_evidence = in.String();
    c.new_state = State(in);
    c.new_evidence = in.String();
    c.config_version = in.Varint();
  }
  if (!in.done()) {
    return absl::DataLossError(
        "alarm history item: truncated, or bytes after its end");
  }
  return absl::OkStatus();
}

std::string Truncate(std::string s, size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s;
}

const char* AlarmTypeName(AlarmType type) {
  return type == AlarmType::kMetric ? "MetricAlarm" : "CompositeAlarm";
}

const char* HistoryItemTypeName(HistoryItemType t) {
  switch (t) {
    case HistoryItemType::kConfigurationUpdate:
      return "ConfigurationUpdate";
    case HistoryItemType::kStateUpdate:
      return "StateUpdate";
    case HistoryItemType::kAction:
      break;
  }
  return "Action";
}

const char* EvaluationStateName(EvaluationState s) {
  switch (s) {
    case EvaluationState::kNone:
      return "";
    case EvaluationState::kPartialData:
      return "PARTIAL_DATA";
    case EvaluationState::kEvaluationError:
      break;
  }
  return "EVALUATION_ERROR";
}

const char* SuppressedByName(SuppressedBy s) {
  switch (s) {
    case SuppressedBy::kNone:
      return "";
    case SuppressedBy::kAlarm:
      return "Alarm";
    case SuppressedBy::kWaitPeriod:
      return "WaitPeriod";
    case SuppressedBy::kExtensionPeriod:
      break;
  }
  return "ExtensionPeriod";
}

std::optional<AlarmState> ParseAlarmState(absl::string_view name) {
  for (AlarmState s :
       {AlarmState::kOk, AlarmState::kAlarm, AlarmState::kInsufficientData}) {
    if (name == AlarmStateName(s)) return s;
  }
  return std::nullopt;
}

std::optional<AlarmType> ParseAlarmType(absl::string_view name) {
  for (AlarmType t : {AlarmType::kMetric, AlarmType::kComposite}) {
    if (name == AlarmTypeName(t)) return t;
  }
  return std::nullopt;
}

std::optional<HistoryItemType> ParseHistoryItemType(absl::string_view name) {
  for (HistoryItemType t :
       {HistoryItemType::kConfigurationUpdate, HistoryItemType::kStateUpdate,
        HistoryItemType::kAction}) {
    if (name == HistoryItemTypeName(t)) return t;
  }
  return std::nullopt;
}

}  // namespace nimbus::alarms
