#include "alarms/reason.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace nimbus::alarms {
namespace {

const char* Phrase(ComparisonOperator op) {
  switch (op) {
    case ComparisonOperator::kGreaterThanOrEqualToThreshold:
      return "greater than or equal to";
    case ComparisonOperator::kGreaterThanThreshold:
      return "greater than";
    case ComparisonOperator::kLessThanThreshold:
      return "less than";
    case ComparisonOperator::kLessThanOrEqualToThreshold:
      return "less than or equal to";
  }
  return "?";
}

// The UTC calendar fields of `ms`, for years 1000 to 9999 (false outside,
// where absl prints years in other widths).
// Days to a civil date by the era arithmetic of the proleptic Gregorian
// calendar (eras of 400 years, 146,097 days, starting on 1 March); a
// transition's history formats a dozen times, and absl::FormatTime's
// general path was a tenth of a mass round's evaluation.
struct UtcFields {
  int64_t year;
  int month, day, hour, minute, second, millis;
};
bool SplitUtc(int64_t ms, UtcFields* f) {
  constexpr int64_t kMinMs = -30610224000000;  // 1000-01-01T00:00:00
  constexpr int64_t kMaxMs = 253402300799999;  // 9999-12-31T23:59:59.999
  if (ms < kMinMs || ms > kMaxMs) return false;
  constexpr int64_t kDayMs = 86'400'000;
  int64_t days = ms / kDayMs;
  int64_t rest = ms % kDayMs;
  if (rest < 0) {
    rest += kDayMs;
    --days;
  }
  f->millis = static_cast<int>(rest % 1000);
  f->second = static_cast<int>(rest / 1000 % 60);
  f->minute = static_cast<int>(rest / 60'000 % 60);
  f->hour = static_cast<int>(rest / 3'600'000);
  const int64_t z = days + 719'468;  // days since 0000-03-01
  const int64_t era = (z >= 0 ? z : z - 146'096) / 146'097;
  const int64_t doe = z - era * 146'097;  // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146'096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);  // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                       // March = 0
  f->day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  f->month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  f->year = yoe + era * 400 + (f->month <= 2 ? 1 : 0);
  return true;
}

// Appends `v` in exactly `width` digits (v >= 0, v < 10^width).
void Digits(char*& p, int64_t v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  p += width;
}

std::string Time(int64_t ms, const char* format) {
  return absl::FormatTime(format, absl::FromUnixMillis(ms),
                          absl::UTCTimeZone());
}

}  // namespace

std::string ReasonTime(int64_t ms) {
  UtcFields f;
  if (!SplitUtc(ms, &f)) return Time(ms, "%d/%m/%y %H:%M:%S");
  char buf[17];  // dd/mm/yy HH:MM:SS
  char* p = buf;
  Digits(p, f.day, 2);
  *p++ = '/';
  Digits(p, f.month, 2);
  *p++ = '/';
  Digits(p, f.year % 100, 2);
  *p++ = ' ';
  Digits(p, f.hour, 2);
  *p++ = ':';
  Digits(p, f.minute, 2);
  *p++ = ':';
  Digits(p, f.second, 2);
  return std::string(buf, p);
}

std::string JsonTime(int64_t ms) {
  UtcFields f;
  if (!SplitUtc(ms, &f)) return Time(ms, "%Y-%m-%dT%H:%M:%E3S+0000");
  char buf[28];  // yyyy-MM-ddTHH:mm:ss.SSS+0000
  char* p = buf;
  Digits(p, f.year, 4);
  *p++ = '-';
  Digits(p, f.month, 2);
  *p++ = '-';
  Digits(p, f.day, 2);
  *p++ = 'T';
  Digits(p, f.hour, 2);
  *p++ = ':';
  Digits(p, f.minute, 2);
  *p++ = ':';
  Digits(p, f.second, 2);
  *p++ = '.';
  Digits(p, f.millis, 3);
  for (const char c : {'+', '0', '0', '0', '0'}) *p++ = c;
  return std::string(buf, p);
}

namespace {

std::string Plural(size_t n, const char* word) {
  return absl::StrCat(n, " ", word, n == 1 ? "" : "s");
}

const char* WasWere(size_t n) { return n == 1 ? "was" : "were"; }

int64_t PeriodStart(const ReasonInput& in, size_t index) {
  return in.range_start_ms + static_cast<int64_t>(index) * in.period_ms;
}

// "[91.2 (01/12/26 10:02:00), ...]": the evaluated periods with data that
// breach (or, `breaching` false, do not), newest first.
std::string DatapointList(const ReasonInput& in, bool breaching) {
  std::string out = "[";
  const auto& ev = in.evaluation->evaluated;
  bool first = true;
  for (size_t k = ev.size(); k-- > 0;) {
    if (ev[k].source != EvaluatedPeriod::Source::kData ||
        ev[k].breaching != breaching) {
      continue;
    }
    if (!first) out += ", ";
    first = false;
    absl::StrAppend(&out, JavaDouble(*in.range[ev[k].index].value), " (",
                    ReasonTime(PeriodStart(in, ev[k].index)), ")");
  }
  out += "]";
  return out;
}

size_t RealCount(const Evaluation& e, bool breaching) {
  size_t n = 0;
  for (const EvaluatedPeriod& p : e.evaluated) {
    n += p.source == EvaluatedPeriod::Source::kData && p.breaching == breaching;
  }
  return n;
}

size_t Filled(const Evaluation& e) {
  size_t n = 0;
  for (const EvaluatedPeriod& p : e.evaluated) {
    n += p.source != EvaluatedPeriod::Source::kData;
  }
  return n;
}

const char* FillName(const AlarmRule& rule) {
  return rule.treat_missing_data == TreatMissingData::kBreaching
             ? "Breaching"
             : "NonBreaching";
}

}  // namespace

void AppendJsonString(std::string* out, absl::string_view s) {
  out->push_back('"');
  // Runs of characters that need no escape are appended whole.
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool quote = c == '"' || c == '\\';
    const bool control = static_cast<unsigned char>(c) < 0x20;
    if (!quote && !control) continue;
    out->append(s.data() + run, i - run);
    run = i + 1;
    if (quote) {
      out->push_back('\\');
      out->push_back(c);
    } else {
      absl::StrAppend(out, "\\u00", c < 0x10 ? "0" : "",
                      absl::Hex(static_cast<unsigned char>(c)));
    }
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

size_t FormatJavaDouble(double v, char* buf) {
  const auto put = [buf](absl::string_view s) {
    std::memcpy(buf, s.data(), s.size());
    return s.size();
  };
  if (std::isnan(v)) return put("NaN");
  if (std::isinf(v)) return put(v > 0 ? "Infinity" : "-Infinity");
  if (v == 0) return put(std::signbit(v) ? "-0.0" : "0.0");
  // The shortest digits that read back as v, and their exponent:
  // [-]d[.ddd]e(+|-)xx.
  char sci[32];
  const char* const sci_end =
      std::to_chars(sci, sci + sizeof(sci), v, std::chars_format::scientific)
          .ptr;
  const char* p = sci;
  const bool negative = *p == '-';
  if (negative) ++p;
  char digits[24];
  size_t n = 0;
  for (; p != sci_end && *p != 'e'; ++p) {
    if (*p != '.') digits[n++] = *p;
  }
  ++p;  // 'e'
  const bool negative_exp = *p == '-';
  ++p;  // its sign
  int exp = 0;
  std::from_chars(p, sci_end, exp);
  if (negative_exp) exp = -exp;
  char* out = buf;
  if (negative) *out++ = '-';
  const auto append = [&out](const char* from, size_t count) {
    std::memcpy(out, from, count);
    out += count;
  };
  const double a = std::abs(v);
  if (a >= 1e-3 && a < 1e7) {
    if (exp >= 0) {
      const size_t int_digits = static_cast<size_t>(exp) + 1;
      if (n <= int_digits) {
        append(digits, n);
        for (size_t k = n; k < int_digits; ++k) *out++ = '0';
        append(".0", 2);
      } else {
        append(digits, int_digits);
        *out++ = '.';
        append(digits + int_digits, n - int_digits);
      }
    } else {
      append("0.", 2);
      for (int k = 0; k < -exp - 1; ++k) *out++ = '0';
      append(digits, n);
    }
    return static_cast<size_t>(out - buf);
  }
  *out++ = digits[0];
  *out++ = '.';
  if (n > 1) {
    append(digits + 1, n - 1);
  } else {
    *out++ = '0';
  }
  *out++ = 'E';
  out = std::to_chars(out, buf + kJavaDoubleChars, exp).ptr;
  return static_cast<size_t>(out - buf);
}

void AppendJavaDouble(std::string* out, double v) {
  char buf[kJavaDoubleChars];
  out->append(buf, FormatJavaDouble(v, buf));
}

std::string JavaDouble(double v) {
  char buf[kJavaDoubleChars];
  return std::string(buf, FormatJavaDouble(v, buf));
}

std::string StateReason(const ReasonInput& in) {
  const Evaluation& e = *in.evaluation;
  const AlarmRule& rule = *in.rule;
  if (e.kept) return "";
  const size_t n = rule.evaluation_periods;
  const size_t filled = Filled(e);
  const std::string filled_text =
      filled == 0
          ? ""
          : absl::StrCat(" and ", Plural(filled, "missing datapoint"), " ",
                         WasWere(filled), " treated as [", FillName(rule), "]");
  if (e.reason == Evaluation::Reason::kNoData) {
    return absl::StrCat("Insufficient Data: ", Plural(n, "datapoint"), " ",
                        WasWere(n), " unknown.");
  }
  if (filled > 0 && filled == e.evaluated.size()) {
    return absl::StrCat("Threshold Crossed: no datapoints were received for ",
                        Plural(n, "period"), filled_text, ".");
  }
  // "B out of the last L datapoints": B the periods with data that make
  // the case, L the N periods less those filled in.
  const bool alarm = e.state == AlarmState::kAlarm;
  const size_t count = RealCount(e, alarm);
  const size_t minimum =
      alarm ? rule.datapoints_to_alarm : n - rule.datapoints_to_alarm + 1;
  return absl::StrCat(
      "Threshold Crossed: ", count, " out of the last ", n - filled,
      " datapoints ", DatapointList(in, alarm), " ", WasWere(count),
      alarm ? " " : " not ", Phrase(rule.comparison), " the threshold (",
      JavaDouble(rule.threshold), ")", filled_text, " (minimum ",
      Plural(minimum, "datapoint"), " for ", AlarmStateName(in.previous),
      " -> ", AlarmStateName(e.state), " transition).");
}

std::string StateReasonData(const ReasonInput& in) {
  const Evaluation& e = *in.evaluation;
  std::string out = "{\"version\":\"1.0\",\"queryDate\":";
  AppendJsonString(&out, JsonTime(in.query_ms));
  if (!e.evaluated.empty()) {
    out += ",\"startDate\":";
    AppendJsonString(&out,
                     JsonTime(PeriodStart(in, e.evaluated.front().index)));
  }
  out += ",\"statistic\":";
  AppendJsonString(&out, in.statistic);
  absl::StrAppend(&out, ",\"period\":", in.period_ms / 1000,
                  ",\"recentDatapoints\":[");
  bool first = true;
  for (const EvaluatedPeriod& p : e.evaluated) {
    if (p.source != EvaluatedPeriod::Source::kData) continue;
    if (!first) out += ",";
    first = false;
    AppendJavaDouble(&out, *in.range[p.index].value);
  }
  absl::StrAppend(&out, "],\"threshold\":", JavaDouble(in.rule->threshold),
                  ",\"evaluatedDatapoints\":[");
  // Newest first; with no data at all, the N newest periods, unknown.
  std::vector<std::pair<size_t, bool>> listed;  // index, has a value
  if (e.evaluated.empty()) {
    const size_t n = std::min(in.rule->evaluation_periods, in.range.size());
    for (size_t k = 0; k < n; ++k) {
      listed.push_back({in.range.size() - 1 - k, false});
    }
  } else {
    for (size_t k = e.evaluated.size(); k-- > 0;) {
      listed.push_back(
          {e.evaluated[k].index,
           e.evaluated[k].source == EvaluatedPeriod::Source::kData});
    }
  }
  for (size_t k = 0; k < listed.size(); ++k) {
    if (k > 0) out += ",";
    out += "{\"timestamp\":";
    AppendJsonString(&out, JsonTime(PeriodStart(in, listed[k].first)));
    if (listed[k].second) {
      out += ",\"value\":";
      AppendJavaDouble(&out, *in.range[listed[k].first].value);
    }
    out += "}";
  }
  out += "]}";
  return out;
}

}  // namespace nimbus::alarms
