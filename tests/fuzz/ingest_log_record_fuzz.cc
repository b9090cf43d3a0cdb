// Fuzz target for the ingest-log record (DecodeLogRecord).
//
// The input is decoded as a record. One that decodes must have no shorter
// prefix that decodes, re-encode (StartLogRecord, AppendLogEntry) to a
// record that decodes to the same entries bit for bit, be a fixed point
// after one re-encoding, and be written back byte for byte when it is as
// long as its re-encoding (a longer input can only differ by varints that
// are not in their shortest form). An error an entry callback returns must
// be what the decoder returns. The input is also read as entries to encode,
// which must decode back, and as a record of a version-2 store (no version
// byte), which must decode as the same bytes after a version byte do. A
// crash, a sanitizer report or a failed check is a finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/head_buffer.h"
#include "engine/ingest_log.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using nimbus::engine::AppendLogEntry;
using nimbus::engine::DecodeLegacyLogRecord;
using nimbus::engine::DecodeLogRecord;
using nimbus::engine::Sample;
using nimbus::engine::StartLogRecord;
using nimbus::fuzz::ByteReader;
using nimbus::fuzz::SameBits;

struct Entry {
  uint64_t series_id;
  std::vector<Sample> samples;
};

bool SameEntries(const std::vector<Entry>& a, const std::vector<Entry>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].series_id != b[i].series_id ||
        a[i].samples.size() != b[i].samples.size()) {
      return false;
    }
    for (size_t j = 0; j < a[i].samples.size(); ++j) {
      if (a[i].samples[j].ts_ms != b[i].samples[j].ts_ms ||
          !SameBits(a[i].samples[j].value, b[i].samples[j].value)) {
        return false;
      }
    }
  }
  return true;
}

absl::Status Decode(absl::string_view bytes, std::vector<Entry>* out) {
  return DecodeLogRecord(
      bytes, [out](uint64_t id, const std::vector<Sample>& samples) {
        out->push_back({id, samples});
        return absl::OkStatus();
      });
}

std::string Encode(const std::vector<Entry>& entries) {
  std::string out;
  StartLogRecord(entries.size(), &out);
  for (const Entry& e : entries) {
    AppendLogEntry(e.series_id, e.samples.data(), e.samples.size(), &out);
  }
  return out;
}

void FuzzBytes(absl::string_view bytes) {
  std::vector<Entry> entries;
  const absl::Status s = Decode(bytes, &entries);
  if (!s.ok()) {
    FUZZ_CHECK(s.code() == absl::StatusCode::kDataLoss);
    return;
  }
  FUZZ_CHECK(!bytes.empty());
  FUZZ_CHECK(static_cast<uint8_t>(bytes[0]) ==
             nimbus::engine::kLogRecordVersion);
  // A record ends with its last entry: no shorter prefix is one.
  std::vector<Entry> ignored;
  FUZZ_CHECK(!Decode(bytes.substr(0, bytes.size() - 1), &ignored).ok());

  const std::string once = Encode(entries);
  std::vector<Entry> again;
  FUZZ_CHECK(Decode(once, &again).ok());
  FUZZ_CHECK(SameEntries(again, entries));
  FUZZ_CHECK(Encode(again) == once);
  if (once.size() == bytes.size()) FUZZ_CHECK(once == bytes);

  // The first error of an entry callback ends decoding and is returned.
  if (!entries.empty()) {
    size_t calls = 0;
    const absl::Status stopped =
        DecodeLogRecord(bytes, [&](uint64_t, const std::vector<Sample>&) {
          ++calls;
          return calls == entries.size() ? absl::AbortedError("stop")
                                         : absl::OkStatus();
        });
    FUZZ_CHECK(stopped.code() == absl::StatusCode::kAborted);
    FUZZ_CHECK(calls == entries.size());
  }
}

// A record of a version-2 store is the same bytes without the version
// byte: it decodes where, and to what, the version-1 record does.
void FuzzLegacy(absl::string_view bytes) {
  std::vector<Entry> legacy, current;
  const absl::Status l = DecodeLegacyLogRecord(
      bytes, [&legacy](uint64_t id, const std::vector<Sample>& samples) {
        legacy.push_back({id, samples});
        return absl::OkStatus();
      });
  const absl::Status c = Decode(
      std::string(1, static_cast<char>(nimbus::engine::kLogRecordVersion)) +
          std::string(bytes),
      &current);
  FUZZ_CHECK(l.ok() == c.ok());
  if (!l.ok()) FUZZ_CHECK(l.code() == absl::StatusCode::kDataLoss);
  FUZZ_CHECK(SameEntries(legacy, current));
}

void FuzzBuild(const uint8_t* data, size_t size) {
  ByteReader in(data, size);
  std::vector<Entry> want;
  while (!in.empty()) {
    Entry e;
    e.series_id = in.Bool() ? in.U8() : in.U64();
    const int n = in.U8() % 8;
    int64_t ts = static_cast<int64_t>(in.U64());
    for (int i = 0; i < n; ++i) {
      // Mostly regular steps; now and then any timestamp at all (the
      // differences wrap modulo 2^64).
      ts = in.U8() % 8 == 0
               ? static_cast<int64_t>(in.U64())
               : static_cast<int64_t>(static_cast<uint64_t>(ts) +
                                      1000 * uint64_t{in.U8() % 61u});
      e.samples.push_back({ts, in.Double()});
    }
    want.push_back(std::move(e));
  }
  std::vector<Entry> got;
  FUZZ_CHECK(Decode(Encode(want), &got).ok());
  FUZZ_CHECK(SameEntries(got, want));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nimbus::fuzz::ExactCopy copy(data, size);
  FuzzBytes(copy.view());
  FuzzLegacy(copy.view());
  FuzzBuild(data, size);
  return 0;
}
