// Fuzz target for the dirty record (DecodeDirtyRecord).
//
// The input is decoded as a dirty record. One that decodes must name whole
// hours, re-encode (EncodeDirtyRecord) to a record that decodes to the same
// pairs, be a fixed point after one re-encoding, and be written back byte
// for byte when it is as long as its re-encoding (a longer input can only
// differ by varints that are not in their shortest form). The input is also
// read as (series, hour) pairs to encode, which must decode back, and as a
// record of a version-2 store (no version byte), which must decode as the
// same bytes after a version byte do. A crash,
// a sanitizer report or a failed check is a finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/rollup.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using nimbus::engine::DecodeDirtyRecord;
using nimbus::engine::DecodeLegacyDirtyRecord;
using nimbus::engine::DirtyHour;
using nimbus::engine::EncodeDirtyRecord;
using nimbus::fuzz::ByteReader;

constexpr int64_t kHourMs = 3'600'000;

void FuzzBytes(absl::string_view bytes) {
  std::vector<DirtyHour> hours;
  const absl::Status s = DecodeDirtyRecord(bytes, &hours);
  if (!s.ok()) {
    FUZZ_CHECK(s.code() == absl::StatusCode::kDataLoss);
    return;
  }
  FUZZ_CHECK(!bytes.empty());
  FUZZ_CHECK(static_cast<uint8_t>(bytes[0]) ==
             nimbus::engine::kDirtyRecordVersion);
  for (const DirtyHour& h : hours) FUZZ_CHECK(h.hour_ms % kHourMs == 0);
  // A record ends with its last pair: no shorter prefix is one.
  if (!bytes.empty()) {
    std::vector<DirtyHour> prefix;
    FUZZ_CHECK(
        !DecodeDirtyRecord(bytes.substr(0, bytes.size() - 1), &prefix).ok());
  }
  const std::string once = EncodeDirtyRecord(hours);
  std::vector<DirtyHour> again;
  FUZZ_CHECK(DecodeDirtyRecord(once, &again).ok());
  FUZZ_CHECK(again == hours);
  FUZZ_CHECK(EncodeDirtyRecord(again) == once);
  if (once.size() == bytes.size()) FUZZ_CHECK(once == bytes);
}

// A record of a version-2 store is the same bytes without the version
// byte: it decodes where, and to what, the version-1 record does.
void FuzzLegacy(absl::string_view bytes) {
  std::vector<DirtyHour> legacy, current;
  const absl::Status l = DecodeLegacyDirtyRecord(bytes, &legacy);
  const absl::Status c = DecodeDirtyRecord(
      std::string(1, static_cast<char>(nimbus::engine::kDirtyRecordVersion)) +
          std::string(bytes),
      &current);
  FUZZ_CHECK(l.ok() == c.ok());
  if (!l.ok()) FUZZ_CHECK(l.code() == absl::StatusCode::kDataLoss);
  FUZZ_CHECK(legacy == current);
}

void FuzzBuild(const uint8_t* data, size_t size) {
  ByteReader in(data, size);
  std::vector<DirtyHour> want;
  while (!in.empty()) {
    const uint64_t id = in.Bool() ? in.U8() : in.U64();
    // Hours around now, or anywhere within the record's range (2^40 hours
    // either side of the epoch).
    const int64_t hour =
        in.Bool() ? 490'000 + static_cast<int16_t>(in.U16())
                  : static_cast<int64_t>(in.U64() % (uint64_t{1} << 41)) -
                        (int64_t{1} << 40);
    want.push_back({id, hour * kHourMs});
  }
  const std::string record = EncodeDirtyRecord(want);
  std::vector<DirtyHour> got;
  FUZZ_CHECK(DecodeDirtyRecord(record, &got).ok());
  FUZZ_CHECK(got == want);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nimbus::fuzz::ExactCopy copy(data, size);
  FuzzBytes(copy.view());
  FuzzLegacy(copy.view());
  FuzzBuild(data, size);
  return 0;
}
