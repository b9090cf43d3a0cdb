// Period statistics: what a rollup record holds for one series and one
// period (sample count, sum, minimum, maximum and a quantile sketch), how it
// is built from raw points and from finer periods, and its byte form
// (storage/FORMAT.md, "Rollup record").
#ifndef NIMBUS_ENGINE_ROLLUP_H_
#define NIMBUS_ENGINE_ROLLUP_H_

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/quantile_sketch.h"
#include "storage/store.h"

namespace nimbus::engine {

// The rollup tiers, finest first, their column families, and how many
// periods of each an hour's block holds.
inline constexpr std::array<int, 3> kTierSlots = {60, 12, 1};
inline constexpr std::array<int64_t, 3> kTierPeriodsMs = {60'000, 300'000,
                                                          3'600'000};
inline constexpr std::array<storage::Column, 3> kTierColumns = {
    storage::Column::kRollup60, storage::Column::kRollup300,
    storage::Column::kRollup3600};

// Thread-compatible.
struct PeriodStatistics {
  double count = 0;
  double sum = 0;
  double minimum = std::numeric_limits<double>::infinity();
  double maximum = -std::numeric_limits<double>::infinity();
  QuantileSketch sketch;
  // False once a statistic set that is not exact (its samples are not all
  // equal) contributed: its values are unknown, so percentiles of the period
  // are too (docs/semantics.md), as over raw points.
  bool percentiles_known = true;

  bool empty() const { return count <= 0; }
  void AddSample(double v) {
    count += 1;
    sum += v;
    minimum = v < minimum ? v : minimum;
    maximum = v > maximum ? v : maximum;
    sketch.Add(v);
  }
  // A client's statistic set.
  void AddSet(double sample_count, double set_sum, double set_min,
              double set_max);
  void Merge(const PeriodStatistics& other);
  // Back to the empty statistics of a new period, keeping the sketch's
  // memory for reuse.
  void Clear();

  // Record version 1 (storage/FORMAT.md).
  std::string Encode() const;
  // Replaces *out with the record.
  void EncodeTo(std::string* out) const;
  // Returns DataLoss for bytes that are not a record this build reads. With
  // with_sketch false the sketch is left empty (cheaper).
  static absl::StatusOr<PeriodStatistics> Decode(absl::string_view bytes,
                                                 bool with_sketch);
};

// A rollup block: one series' records of one tier within one hour, by
// index in the hour (minute 0-59, five-minute period 0-11, or 0 for the
// hour). Version 1 (storage/FORMAT.md, "Rollup block").
//
// Replaces *out with a block of records[i] at index i, skipping nulls.
void EncodeRollupBlock(const PeriodStatistics* const* records, int n,
                       std::string* out);
// Calls visit(index, record) for each record, in index order. Returns
// DataLoss for bytes that are not a block this build reads, or whose
// indexes are not ascending and below `slots` (60, 12 or 1, the tier's
// periods in an hour); with_sketch as for PeriodStatistics::Decode.
absl::Status DecodeRollupBlock(
    absl::string_view bytes, int slots, bool with_sketch,
    absl::FunctionRef<void(int index, PeriodStatistics& record)> visit);

// A dirty record (rollup_dirty, keyed by the log sequence of its commit):
// the (series, hour) pairs of the commit's late points. Version 1: a version
// byte, a varint count, then per pair a varint series id and a zigzag
// varint hour index (hour start / 3600000) (storage/FORMAT.md).
inline constexpr uint8_t kDirtyRecordVersion = 1;
struct DirtyHour {
  uint64_t series_id;
  int64_t hour_ms;
  bool operator==(const DirtyHour&) const = default;
};
std::string EncodeDirtyRecord(const std::vector<DirtyHour>& hours);
// Returns DataLoss for bytes that are not a dirty record.
absl::Status DecodeDirtyRecord(absl::string_view bytes,
                               std::vector<DirtyHour>* out);
// The same for a record of a version-2 store, which has no version byte.
absl::Status DecodeLegacyDirtyRecord(absl::string_view bytes,
                                     std::vector<DirtyHour>* out);

// Whether a statistic set's samples are all equal, so that it can join
// percentiles with its count as weight.
bool IsExactSet(double sample_count, double sum, double minimum,
                double maximum);

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_ROLLUP_H_
