// A mergeable quantile sketch with a relative-error guarantee, in the manner
// of DDSketch (Masson, Rim and Lee, VLDB 2019): values fall into logarithmic
// buckets of ratio gamma = (1 + a) / (1 - a), so any quantile it answers is
// within a relative error `a` of a value of the data set at that rank
// (nearest rank, as GetMetricStatistics uses over raw points).
//
// Rollups keep one per period (engine::RollupScheduler, a later step), merge
// them up the tiers, and answer percentiles once raw points have expired.
// Counts are doubles: CloudWatch's values-with-counts and exact statistic
// sets add weighted samples.
#ifndef NIMBUS_ENGINE_QUANTILE_SKETCH_H_
#define NIMBUS_ENGINE_QUANTILE_SKETCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/extended_statistics.h"

namespace nimbus::engine {

// Thread-compatible.
class QuantileSketch {
 public:
  // The relative accuracy of every sketch: 1%.
  static constexpr double kRelativeAccuracy = 0.01;
  // Buckets kept per sign; beyond it the lowest-magnitude buckets are
  // collapsed into one, which keeps the bound for the quantiles above them
  // (the upper percentiles users ask for). 2048 buckets span about 18 orders
  // of magnitude at 1%.
  static constexpr int kMaxBuckets = 2048;

  QuantileSketch() = default;

  // Adds `count` samples of `value`. Ignores NaN, infinities and counts that
  // are not positive and finite.
  void Add(double value, double count = 1);

  // Adds every sample of `other`.
  void Merge(const QuantileSketch& other);

  // Empties the sketch (as if default-constructed) but keeps its memory, so
  // that a sketch reused for period after period does not allocate.
  void Clear();

  // The buckets as weighted values, ascending: each bucket's representative
  // value (within kRelativeAccuracy of every sample in it) and its count.
  // Extended statistics over rollups evaluate over these.
  void AppendBuckets(std::vector<WeightedValue>* out) const;

  // Bucket slots allocated, both stores: at most about 2 x kMaxBuckets
  // whatever was added.
  size_t BucketsAllocated() const {
    return positive_.counts.capacity() + negative_.counts.capacity();
  }

  // Total weight of the samples added.
  double count() const { return count_; }
  bool empty() const { return count_ <= 0; }

  // The q-quantile (q in [0, 1]) by nearest rank: the smallest value whose
  // cumulative weight reaches q * count(), within kRelativeAccuracy of a
  // sample at that rank. NaN if empty.
  double Quantile(double q) const;

  // Versioned byte form (storage/FORMAT.md, "Quantile sketch").
  std::string Serialize() const;
  // Appends the byte form to *out.
  void SerializeTo(std::string* out) const;
  // Returns DataLoss if `bytes` is not a sketch this build can read.
  static absl::StatusOr<QuantileSketch> Parse(absl::string_view bytes);

 private:
  // Buckets of one sign: counts_[i] is bucket index offset_ + i.
  struct Store {
    int32_t offset = 0;
    std::vector<double> counts;
    // keep_high: past kMaxBuckets, fold the lowest indexes (the positive
    // store) rather than the highest (the negative store, by magnitude).
    void Add(int32_t index, double count, bool keep_high);
    void Merge(const Store& other, bool keep_high);
    double total() const;
  };

  static int32_t IndexOf(double magnitude);
  static double ValueOf(int32_t index);

  Store positive_;
  Store negative_;  // indexed by magnitude
  double zero_count_ = 0;
  double count_ = 0;
};

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_QUANTILE_SKETCH_H_
