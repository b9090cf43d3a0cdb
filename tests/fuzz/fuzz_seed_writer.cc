// Writes the generated seeds of the fuzz targets: valid encodings made by
// the real encoders, and edge cases derived from them by hand (truncations,
// unknown versions, out-of-order indexes, long varints). Each file is named
// gen_<what>; hand-picked seeds (findings included) have other names and are
// left alone.
//
//   build-fz/tests/fuzz/fuzz_seed_writer tests/fuzz/seeds
//
// Run it again after a format change, so that the seeds stay valid inputs.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "engine/head_buffer.h"
#include "engine/ingest_log.h"
#include "engine/quantile_sketch.h"
#include "engine/rollup.h"
#include "engine/series_key.h"

namespace {

using nimbus::engine::AppendLogEntry;
using nimbus::engine::DirtyHour;
using nimbus::engine::EncodeDirtyRecord;
using nimbus::engine::EncodeRollupBlock;
using nimbus::engine::PeriodStatistics;
using nimbus::engine::QuantileSketch;
using nimbus::engine::Sample;
using nimbus::engine::SeriesKey;
using nimbus::engine::StartLogRecord;

std::filesystem::path root;
int written = 0;

// A file name for a text seed: letters and digits kept, the rest '_'.
std::string NameOf(absl::string_view text) {
  std::string out;
  for (char c : text.substr(0, 40)) {
    out += absl::ascii_isalnum(static_cast<unsigned char>(c)) ? c : '_';
  }
  return out;
}

void Write(const std::string& target, const std::string& name,
           const std::string& bytes) {
  const std::filesystem::path dir = root / target;
  std::filesystem::create_directories(dir);
  std::ofstream out(dir / ("gen_" + name), std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ++written;
}

// The same bytes with a varint made one byte longer: `at` is the offset of a
// one-byte varint (below 0x80), rewritten as two bytes (x | 0x80, 0x00).
std::string LongVarintAt(const std::string& bytes, size_t at) {
  std::string out = bytes;
  out[at] = static_cast<char>(static_cast<unsigned char>(out[at]) | 0x80);
  out.insert(at + 1, 1, '\0');
  return out;
}

PeriodStatistics Stats(const std::vector<double>& values) {
  PeriodStatistics p;
  for (double v : values) p.AddSample(v);
  return p;
}

void Sketches() {
  const std::string t = "quantile_sketch_fuzz";
  QuantileSketch empty;
  Write(t, "empty", empty.Serialize());
  QuantileSketch one;
  one.Add(12.5);
  Write(t, "one_value", one.Serialize());
  QuantileSketch spread;
  for (double v : {3.0, 10.0, 42.0, 100.0, 420.0, 1000.0}) spread.Add(v);
  Write(t, "six_between_3_and_1000", spread.Serialize());
  QuantileSketch mixed;
  for (double v : {-7.5, -0.001, 0.0, 0.0, 5e-324, 1.0, 2.0, 1e300}) {
    mixed.Add(v);
  }
  Write(t, "signs_zeros_subnormal", mixed.Serialize());
  QuantileSketch weighted;
  weighted.Add(4, 0.25);
  weighted.Add(8, 3);
  weighted.Add(-2, 1e20);  // a count that is not below 2^52: f64 form
  Write(t, "weighted_counts", weighted.Serialize());
  QuantileSketch folded;  // more than 2048 buckets: the low ones fold
  for (double v = 1e-30; v < 1e30; v *= 1.5) {
    folded.Add(v);
    folded.Add(-v);
  }
  Write(t, "folded_stores", folded.Serialize());
  // Version 1 (read, no longer written): zero count 1; positive store at
  // offset 3 with buckets 2, 0, 1; negative store empty at offset 0.
  Write(t, "version1", std::string("\x01\x02\x06\x03\x04\x00\x02\x00\x00", 9));
  std::string v3 = spread.Serialize();
  v3[0] = 3;
  Write(t, "unknown_version", v3);
  const std::string s = spread.Serialize();
  Write(t, "truncated", s.substr(0, s.size() - 1));
  Write(t, "trailing_byte", s + '\0');
  Write(t, "long_varint_count", LongVarintAt(s, 2));
}

void Records() {
  const std::string t = "rollup_record_fuzz";
  Write(t, "three_samples", Stats({1, 2, 3}).Encode());
  Write(t, "one_negative", Stats({-5.5}).Encode());
  PeriodStatistics set;
  set.AddSet(4, 10, 1, 4);  // not exact: percentiles unknown
  Write(t, "inexact_set", set.Encode());
  PeriodStatistics exact;
  exact.AddSet(5, 35, 7, 7);
  exact.AddSample(0);
  Write(t, "exact_set_and_zero", exact.Encode());
  Write(t, "empty", PeriodStatistics().Encode());
  const std::string r = Stats({1, 2, 3}).Encode();
  Write(t, "header_only", r.substr(0, 34));
  Write(t, "too_short", r.substr(0, 33));
  std::string flags = r;
  flags[1] = 0x02;  // a flag bit this version does not define
  Write(t, "reserved_flag", flags);
  std::string v2 = r;
  v2[0] = 2;
  Write(t, "unknown_version", v2);
  // A record whose sketch is in version 1 bytes.
  Write(
      t, "version1_sketch",
      r.substr(0, 34) + std::string("\x01\x00\x00\x03\x02\x02\x02\x00\x00", 9));
}

void Blocks() {
  const std::string t = "rollup_block_fuzz";
  const PeriodStatistics a = Stats({1, 2, 3}), b = Stats({-5.5});
  PeriodStatistics c;
  c.AddSet(4, 10, 1, 4);
  const PeriodStatistics* minutes[60] = {};
  minutes[0] = &a;
  minutes[17] = &b;
  minutes[59] = &c;
  std::string block;
  EncodeRollupBlock(minutes, 60, &block);
  Write(t, "minutes_0_17_59", block);
  const PeriodStatistics* fives[12] = {};
  fives[3] = &a;
  fives[4] = &b;
  EncodeRollupBlock(fives, 12, &block);
  Write(t, "five_minutes_3_4", block);
  // Swapped entries: indexes out of order.
  const size_t len0 = 2 + static_cast<uint8_t>(block[3]);
  Write(t, "indexes_descending",
        block.substr(0, 2) + block.substr(2 + len0) + block.substr(2, len0));
  Write(t, "trailing_byte", block + '\x07');
  Write(t, "truncated", block.substr(0, block.size() - 3));
  const PeriodStatistics* hour[1] = {&a};
  EncodeRollupBlock(hour, 1, &block);
  Write(t, "hour", block);
  EncodeRollupBlock(fives, 0, &block);
  Write(t, "no_records", block);
}

void DirtyRecords() {
  const std::string t = "dirty_record_fuzz";
  Write(t, "empty", EncodeDirtyRecord({}));
  const int64_t hour = 3'600'000;
  const std::string r = EncodeDirtyRecord(
      {{1, 493'000 * hour}, {1, 493'001 * hour}, {70'000, 493'000 * hour}});
  Write(t, "three_pairs", r);
  Write(t, "far_hours",
        EncodeDirtyRecord({{~uint64_t{0}, -(int64_t{1} << 40) * hour},
                           {0, (int64_t{1} << 40) * hour}}));
  Write(t, "truncated", r.substr(0, r.size() - 1));
  Write(t, "trailing_byte", r + '\0');
  // The pair count (the last byte of an empty record) in two bytes.
  Write(t, "long_varint_count",
        LongVarintAt(r, EncodeDirtyRecord({}).size() - 1));
}

void SeriesKeys() {
  const std::string t = "series_key_fuzz";
  const SeriesKey key{
      "AWS/EC2",
      "CPUUtilization",
      {{"AutoScalingGroupName", "web"}, {"InstanceId", "i-123"}},
      "Percent"};
  Write(t, "two_dimensions", key.Encode());
  Write(t, "no_dimensions", SeriesKey{"MyApp", "Latency", {}, "None"}.Encode());
  SeriesKey many{"NS", "M", {}, "Count"};
  for (char c = 'a'; c < 'a' + 30; ++c) {
    many.dimensions.push_back({std::string(1, c), std::string(3, c)});
  }
  Write(t, "thirty_dimensions", many.Encode());
  Write(t, "empty_fields", SeriesKey{}.Encode());
  const std::string k = key.Encode();
  Write(t, "truncated", k.substr(0, k.size() - 1));
  Write(t, "trailing_byte", k + 'x');
  Write(t, "long_varint_length", LongVarintAt(k, 0));
}

void LogRecords() {
  const std::string t = "ingest_log_record_fuzz";
  std::string r;
  StartLogRecord(0, &r);
  Write(t, "no_entries", r);
  const int64_t t0 = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
  const Sample regular[] = {{t0, 12.5}, {t0 + 10'000, 13}, {t0 + 20'000, -0.0}};
  const Sample odd[] = {{t0 + 5, 1e300}, {t0 + 5, 5e-324}, {t0 - 3'600'000, 7}};
  const Sample far[] = {{INT64_MIN, 0}, {INT64_MAX, -1}, {0, 2}};
  r.clear();
  StartLogRecord(4, &r);
  AppendLogEntry(1, regular, 3, &r);
  AppendLogEntry(70'000, odd, 3, &r);        // equal and falling timestamps
  AppendLogEntry(~uint64_t{0}, far, 3, &r);  // differences wrap
  AppendLogEntry(2, nullptr, 0, &r);
  Write(t, "four_entries", r);
  Write(t, "truncated", r.substr(0, r.size() - 1));
  Write(t, "trailing_byte", r + '\0');
  r.clear();
  StartLogRecord(1, &r);
  AppendLogEntry(5, regular, 1, &r);
  Write(t, "one_point", r);
  // The entry count (the last byte StartLogRecord wrote) in two bytes.
  std::string start;
  StartLogRecord(1, &start);
  Write(t, "long_varint_count", LongVarintAt(r, start.size() - 1));
}

void Expressions() {
  const std::string t = "metric_math_fuzz";
  const char* const kExpressions[] = {
      "m1 + m2",
      "100 * e1 / (m1 + m2)",
      "-m1 ^ 2 + 2 ^ -1 - 1.5e3",
      "m1 >= 2 AND m2 != 0 OR e1 < 1",
      "IF(m1 > 1, m1, m2)",
      "IF(m2 == 0, 1)",
      "FILL(m1, REPEAT)",
      "FILL(m2, LINEAR) * 2",
      "FILL(METRICS(), 0)",
      "FILL(e1, m1)",
      "SUM(METRICS('Requests'))",
      "AVG(METRICS()) - MIN(m1) + MAX(m2) + STDDEV(m1)",
      "RATE(m1) + DIFF(m2) + DIFF_TIME(e1)",
      "RUNNING_SUM(m1) / DATAPOINT_COUNT(m2)",
      "PERIOD(e1) * TIME_SERIES(3)",
      "FIRST(METRICS(\"web\")) + LAST(METRICS())",
      "ABS(m1 - m2) / 0",
      "METRICS() * 2",
      "((((m1))))",
      "m1 +",
      "FOO(m1)",
      "'text'",
      "a",
  };
  for (const char* e : kExpressions) Write(t, NameOf(e), e);
}

void ExtendedStatistics() {
  const std::string t = "extended_statistic_fuzz";
  // The name, a newline, then bytes read as (value, weight) pairs.
  const std::string values(
      "\x10\x27\x00\xf0\xd8\x01\x05\x00\x00\x64\x00\x02"
      "\xe8\x03\x01\x9c\xff\x00",
      18);
  const char* const kNames[] = {
      "p99",       "p99.99",      "p0",       "p100",     "tm99",
      "IQM",       "TM(10%:90%)", "WM(:95%)", "PR(:300)", "TC(10:20)",
      "TS(5%:)",   "tc90",        "wm50",     "ts10",     "TM(150:1000)",
      "PR(1%:2%)", "p100.001",    "TM(9:1)",  "pr50",     "TM(:)",
  };
  for (const char* n : kNames) {
    Write(t, NameOf(n), std::string(n) + "\n" + values);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s SEEDS_DIR (e.g. tests/fuzz/seeds)\n",
                 argv[0]);
    return 2;
  }
  root = argv[1];
  Sketches();
  Records();
  Blocks();
  DirtyRecords();
  LogRecords();
  SeriesKeys();
  Expressions();
  ExtendedStatistics();
  std::printf("wrote %d seeds under %s\n", written, root.c_str());
  return 0;
}
