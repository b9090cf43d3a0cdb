// Fuzz target for the rollup block (DecodeRollupBlock).
//
// The input is decoded as a block of each tier (60, 12 and 1 periods an
// hour), with and without sketches. Indexes handed to the visitor must be
// ascending and below the tier's count; a block that decodes must decode to
// the same indexes without sketches, re-encode (EncodeRollupBlock) to a
// block that decodes to the same records, and be a fixed point after one
// re-encoding. The input is also read as a tier and records to encode, which
// must decode back at their indexes. A crash, a sanitizer report or a
// failed check is a finding.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/rollup.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using nimbus::engine::DecodeRollupBlock;
using nimbus::engine::EncodeRollupBlock;
using nimbus::engine::kTierSlots;
using nimbus::engine::PeriodStatistics;
using nimbus::fuzz::ByteReader;

// The records of a block by index (at most 60), as their encodings.
struct Decoded {
  absl::Status status;
  std::vector<int> indexes;
  std::vector<std::optional<PeriodStatistics>> records;
};

Decoded Decode(absl::string_view bytes, int slots, bool with_sketch) {
  Decoded d;
  d.records.resize(static_cast<size_t>(slots));
  d.status = DecodeRollupBlock(
      bytes, slots, with_sketch, [&](int index, PeriodStatistics& record) {
        FUZZ_CHECK(index >= 0 && index < slots);
        FUZZ_CHECK(d.indexes.empty() || d.indexes.back() < index);
        d.indexes.push_back(index);
        d.records[static_cast<size_t>(index)] = record;
      });
  return d;
}

std::string Encode(const Decoded& d, int slots) {
  std::vector<const PeriodStatistics*> ptrs(static_cast<size_t>(slots));
  for (int i = 0; i < slots; ++i) {
    const auto& r = d.records[static_cast<size_t>(i)];
    ptrs[static_cast<size_t>(i)] = r ? &*r : nullptr;
  }
  std::string out;
  EncodeRollupBlock(ptrs.data(), slots, &out);
  return out;
}

bool SameRecords(const Decoded& a, const Decoded& b) {
  if (a.indexes != b.indexes) return false;
  for (int i : a.indexes) {
    if (a.records[static_cast<size_t>(i)]->Encode() !=
        b.records[static_cast<size_t>(i)]->Encode()) {
      return false;
    }
  }
  return true;
}

void FuzzBytes(absl::string_view bytes, int slots) {
  const Decoded full = Decode(bytes, slots, /*with_sketch=*/true);
  const Decoded light = Decode(bytes, slots, /*with_sketch=*/false);
  if (!full.status.ok()) {
    FUZZ_CHECK(full.status.code() == absl::StatusCode::kDataLoss);
  }
  if (!light.status.ok()) {
    FUZZ_CHECK(light.status.code() == absl::StatusCode::kDataLoss);
    FUZZ_CHECK(!full.status.ok());
  }
  if (!full.status.ok()) return;
  FUZZ_CHECK(light.indexes == full.indexes);
  // A block ends with its last record: no shorter prefix is one.
  FUZZ_CHECK(
      !Decode(bytes.substr(0, bytes.size() - 1), slots, true).status.ok());

  const std::string once = Encode(full, slots);
  const Decoded again = Decode(once, slots, true);
  FUZZ_CHECK(again.status.ok());
  FUZZ_CHECK(SameRecords(again, full));
  FUZZ_CHECK(Encode(again, slots) == once);
  // A block of fewer periods than the tier's count reads in a wider tier.
  for (int wider : kTierSlots) {
    if (wider <= slots) continue;
    const Decoded wide = Decode(once, wider, true);
    FUZZ_CHECK(wide.status.ok());
    FUZZ_CHECK(wide.indexes == full.indexes);
  }
}

void FuzzBuild(const uint8_t* data, size_t size) {
  ByteReader in(data, size);
  const int slots = kTierSlots[in.U8() % kTierSlots.size()];
  Decoded want;
  want.records.resize(static_cast<size_t>(slots));
  while (!in.empty()) {
    const int index = in.U8() % slots;
    auto& r = want.records[static_cast<size_t>(index)];
    if (!r) r.emplace();
    const int samples = 1 + in.U8() % 4;
    for (int k = 0; k < samples; ++k) r->AddSample(in.Double());
    if (in.U8() % 8 == 0) r->AddSet(3, 10, 1, 5);  // percentiles unknown
  }
  for (int i = 0; i < slots; ++i) {
    if (want.records[static_cast<size_t>(i)]) want.indexes.push_back(i);
  }
  const std::string block = Encode(want, slots);
  const Decoded got = Decode(block, slots, true);
  FUZZ_CHECK(got.status.ok());
  FUZZ_CHECK(SameRecords(got, want));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nimbus::fuzz::ExactCopy copy(data, size);
  for (int slots : kTierSlots) FuzzBytes(copy.view(), slots);
  FuzzBuild(data, size);
  return 0;
}
