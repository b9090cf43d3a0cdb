// Fuzz target for the rollup record (PeriodStatistics::Decode).
//
// The input is decoded as a record, with and without its sketch. A record
// that decodes must decode the same way both ways, re-encode to bytes that
// decode to the same figures, and re-encode byte for byte where its flags
// and sketch are in their canonical form. The input is also read as samples
// and statistic sets to build a record from, whose encoding must decode to
// the same figures bit for bit. A crash, a sanitizer report or a failed
// check is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/quantile_sketch.h"
#include "engine/rollup.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using nimbus::engine::PeriodStatistics;
using nimbus::engine::QuantileSketch;
using nimbus::fuzz::ByteReader;
using nimbus::fuzz::SameBits;

constexpr size_t kHeader = 2 + 4 * 8;  // version, flags, four f64

// Same figures, bit for bit, and the same sketch bytes when with_sketch.
bool SameRecord(const PeriodStatistics& a, const PeriodStatistics& b,
                bool with_sketch) {
  return SameBits(a.count, b.count) && SameBits(a.sum, b.sum) &&
         SameBits(a.minimum, b.minimum) && SameBits(a.maximum, b.maximum) &&
         a.percentiles_known == b.percentiles_known &&
         (!with_sketch || a.sketch.Serialize() == b.sketch.Serialize());
}

void FuzzBytes(absl::string_view bytes) {
  auto full = PeriodStatistics::Decode(bytes, /*with_sketch=*/true);
  auto light = PeriodStatistics::Decode(bytes, /*with_sketch=*/false);
  if (!light.ok()) {
    FUZZ_CHECK(light.status().code() == absl::StatusCode::kDataLoss);
    FUZZ_CHECK(!full.ok());
  } else {
    FUZZ_CHECK(light->sketch.empty());
  }
  if (!full.ok()) {
    FUZZ_CHECK(full.status().code() == absl::StatusCode::kDataLoss);
    return;
  }
  FUZZ_CHECK(light.ok());
  FUZZ_CHECK(SameRecord(*full, *light, /*with_sketch=*/false));
  // The sketch runs to the end of the record: no shorter prefix is one.
  FUZZ_CHECK(
      !PeriodStatistics::Decode(bytes.substr(0, bytes.size() - 1), true).ok());

  const std::string once = full->Encode();
  auto again = PeriodStatistics::Decode(once, true);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(SameRecord(*again, *full, true));
  FUZZ_CHECK(again->Encode() == once);

  // The header is written back as it was read (flags 0 or 1: bits 1-7 are
  // not kept), and the rest is the sketch's own byte form.
  if (static_cast<uint8_t>(bytes[1]) <= 1) {
    FUZZ_CHECK(once.substr(0, kHeader) == bytes.substr(0, kHeader));
  }
  FUZZ_CHECK(once.substr(kHeader) == full->sketch.Serialize());
  const absl::string_view sketch_bytes = bytes.substr(kHeader);
  if (static_cast<uint8_t>(bytes[1]) <= 1 &&
      QuantileSketch::Parse(sketch_bytes)->Serialize() == sketch_bytes) {
    FUZZ_CHECK(once == bytes);
  }
}

void FuzzBuild(const uint8_t* data, size_t size) {
  ByteReader in(data, size);
  PeriodStatistics built;
  while (!in.empty()) {
    if (in.U8() % 4 != 0) {
      built.AddSample(in.Double());
      continue;
    }
    // A statistic set: an exact one (all samples equal) or any.
    const double n = 1 + in.U8();
    const double v = in.Double();
    if (in.Bool()) {
      built.AddSet(n, v * n, v, v);
    } else {
      // Read in sequence: the order of evaluation of arguments is unset.
      const double sum = in.Double();
      const double lo = in.Double();
      const double hi = in.Double();
      built.AddSet(n, sum, lo, hi);
    }
  }
  for (bool with_sketch : {true, false}) {
    auto decoded = PeriodStatistics::Decode(built.Encode(), with_sketch);
    FUZZ_CHECK(decoded.ok());
    FUZZ_CHECK(SameRecord(*decoded, built, with_sketch));
  }
  // Merging with a decoded copy of itself doubles the figures exactly.
  auto copy = PeriodStatistics::Decode(built.Encode(), true);
  PeriodStatistics merged = built;
  merged.Merge(*copy);
  FUZZ_CHECK(SameBits(merged.count, built.count * 2));
  FUZZ_CHECK(SameBits(merged.sum, built.sum + built.sum));
  FUZZ_CHECK(merged.percentiles_known == built.percentiles_known);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nimbus::fuzz::ExactCopy copy(data, size);
  FuzzBytes(copy.view());
  FuzzBuild(data, size);
  return 0;
}
