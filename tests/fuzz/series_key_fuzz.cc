// Fuzz target for the encoded series key (SeriesKey::Decode).
//
// The input is decoded as a series key. One that decodes must list its
// dimensions sorted by name, each once, re-encode to a key that decodes equal,
// and be written back byte for byte when it is as long as its re-encoding (a
// longer input can only differ by varints that are not in their shortest form).
// Decoding must replace whatever the key held before. The input is also read as
// two keys: each must round-trip, and their encodings must be equal exactly
// when the keys are. A crash, a sanitizer report or a failed check is a
// finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/series_key.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using nimbus::engine::Dimension;
using nimbus::engine::SeriesKey;
using nimbus::engine::SortDimensions;
using nimbus::fuzz::ByteReader;

void FuzzBytes(absl::string_view bytes) {
  SeriesKey key;
  if (!SeriesKey::Decode(bytes, &key)) return;
  // An encoding lists dimensions sorted by name, each name once.
  for (size_t i = 1; i < key.dimensions.size(); ++i) {
    FUZZ_CHECK(key.dimensions[i - 1].name < key.dimensions[i].name);
  }
  // A key ends with its last dimension: no shorter prefix is one.
  if (!bytes.empty()) {
    SeriesKey prefix;
    FUZZ_CHECK(!SeriesKey::Decode(bytes.substr(0, bytes.size() - 1), &prefix));
  }
  const std::string once = key.Encode();
  if (once.size() == bytes.size()) FUZZ_CHECK(once == bytes);
  SeriesKey again;
  FUZZ_CHECK(SeriesKey::Decode(once, &again));
  FUZZ_CHECK(again == key);
  // A key that held other fields (more dimensions) decodes to the same.
  SeriesKey used;
  used.namespace_name = "Used";
  used.dimensions.resize(70, Dimension{"n", "v"});
  FUZZ_CHECK(SeriesKey::Decode(bytes, &used));
  FUZZ_CHECK(used == key);
  (void)key.DebugString();
}

SeriesKey ReadKey(ByteReader& in) {
  SeriesKey k;
  k.namespace_name = in.String(12);
  k.metric_name = in.String(12);
  k.unit = in.String(8);
  const int dims = in.U8() % 5;
  for (int i = 0; i < dims; ++i) {
    std::string name = in.String(6);
    std::string value = in.String(6);
    k.dimensions.push_back({std::move(name), std::move(value)});
  }
  size_t duplicate;
  if (!SortDimensions(&k.dimensions, &duplicate)) {
    // Keys hold unique names: drop the repeats.
    std::vector<Dimension> unique;
    for (Dimension& d : k.dimensions) {
      if (unique.empty() || unique.back().name != d.name) {
        unique.push_back(std::move(d));
      }
    }
    k.dimensions = std::move(unique);
  }
  return k;
}

void FuzzKeys(const uint8_t* data, size_t size) {
  ByteReader in(data, size);
  const SeriesKey a = ReadKey(in);
  const SeriesKey b = ReadKey(in);
  for (const SeriesKey* k : {&a, &b}) {
    SeriesKey decoded;
    FUZZ_CHECK(SeriesKey::Decode(k->Encode(), &decoded));
    FUZZ_CHECK(decoded == *k);
  }
  FUZZ_CHECK((a.Encode() == b.Encode()) == (a == b));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nimbus::fuzz::ExactCopy copy(data, size);
  FuzzBytes(copy.view());
  FuzzKeys(data, size);
  return 0;
}
