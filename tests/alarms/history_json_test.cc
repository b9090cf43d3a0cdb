// The JSON check for SetAlarmState's reason data, and the history data's
// size limit.
#include "alarms/history_json.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nimbus::alarms {
namespace {

using ::testing::HasSubstr;

TEST(CheckJsonObject, AcceptsObjects) {
  for (const char* ok :
       {"{}", " {\"a\": [1, -2.5e3, true, false, null, \"x\\u00e9\\n\"]} ",
        "{\"a\":{\"b\":{}}}", "{\"\":0}"}) {
    EXPECT_TRUE(CheckJsonObject(ok).ok()) << ok;
  }
}

TEST(CheckJsonObject, RefusesTheRestSayingWhere) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"", "must be a JSON object"},
      {"[1]", "must be a JSON object"},
      {"{\"a\":1", "expected ',' or '}' (at character 7)"},
      {"{\"a\" 1}", "expected ':'"},
      {"{a:1}", "expected a member name"},
      {"{\"a\":01}", "expected ',' or '}'"},
      {"{\"a\":1.}", "invalid number"},
      {"{\"a\":tru}", "invalid literal"},
      {"{\"a\":\"\\x\"}", "invalid escape"},
      {"{\"a\":\"\\u12\"}", "invalid \\u escape"},
      {"{\"a\":\"b\n\"}", "control character"},
      {"{\"a\":\"b}", "unterminated string"},
      {"{} {}", "unexpected text after the object"},
  };
  for (const Case& c : cases) {
    absl::Status s = CheckJsonObject(c.text);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(s.message(), HasSubstr(c.message)) << c.text;
  }
  std::string deep(100, '[');
  EXPECT_THAT(CheckJsonObject("{\"a\":" + deep).message(),
              HasSubstr("nested more than 64 deep"));
}

TEST(HistoryJson, ConfigurationsTooLargeAreShortenedAndMarked) {
  AlarmRecord r;
  r.type = AlarmType::kComposite;
  r.composite.name = "c";
  r.composite.alarm_rule = std::string(10000, 'x');
  r.composite.ok_actions = {std::string(1000, 'o')};
  const std::string created = ConfigurationUpdateData(nullptr, r);
  EXPECT_LE(created.size(), kMaxHistoryDataChars);
  EXPECT_THAT(created, HasSubstr("\"truncated\":true"));
  EXPECT_TRUE(CheckJsonObject(created).ok());
  AlarmRecord small = r;
  small.composite.alarm_rule = "TRUE";
  small.composite.ok_actions = {};
  const std::string updated = ConfigurationUpdateData(&small, small);
  EXPECT_THAT(updated, Not(HasSubstr("truncated")));
  EXPECT_THAT(updated, HasSubstr("\"alarmRule\":\"TRUE\""));
}

TEST(HistoryJson, StateUpdatesDropDetailToFit) {
  AlarmRecord r;
  r.state = AlarmState::kAlarm;
  r.state_reason = std::string(1023, 'r');
  r.state_reason_data = "{\"a\":\"" + std::string(3990, 'd') + "\"}";
  const std::string data =
      StateUpdateData(AlarmState::kOk, std::string(1023, 'p'), r, "{}");
  EXPECT_LE(data.size(), kMaxHistoryDataChars);
  EXPECT_THAT(data, HasSubstr("\"truncated\":true"));
  EXPECT_THAT(data, HasSubstr("\"evidence\":{}"));
  EXPECT_TRUE(CheckJsonObject(data).ok()) << data;
}

}  // namespace
}  // namespace nimbus::alarms
