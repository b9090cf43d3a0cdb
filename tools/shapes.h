// The eight metric shapes of the Nimbus reference dataset, generated from a
// fixed seed. The codec benchmarks, the codec's property tests and the load
// generator all draw their data from here, so a figure quoted for one is
// comparable with the others.
//
// Every shape is a pure function of (shape, series seed): the same seed gives
// the same points on every machine with the same libm (only latency_ms uses
// libm: exp, log, cos).
#ifndef NIMBUS_TOOLS_SHAPES_H_
#define NIMBUS_TOOLS_SHAPES_H_

#include <array>
#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"

namespace nimbus::tools {

enum class Shape {
  kCpuUtilization,  // bounded walk in 0..100, exactly 2 decimals, steps <= 1.5
  kMemUsedBytes,  // walk in multiples of 4096 within 1..16 GiB, steps <= 4 MiB
  kQueueDepth,    // small integer, mostly unchanged or back to 0
  kRequestCount,  // counter, 1..500 per second with +-10% jitter
  kErrorCount,    // counter with increments in about 5% of intervals
  kNetworkInBytes,  // counter, 10 KB/s..50 MB/s (log-uniform), +-10% jitter
  kLatencyMs,       // log-normal noise at full double precision
  kMemTotalBytes,   // constant
};

inline constexpr std::array<Shape, 8> kAllShapes = {
    Shape::kCpuUtilization, Shape::kMemUsedBytes, Shape::kQueueDepth,
    Shape::kRequestCount,   Shape::kErrorCount,   Shape::kNetworkInBytes,
    Shape::kLatencyMs,      Shape::kMemTotalBytes};

// snake_case name, as in "cpu_utilization".
absl::string_view ShapeName(Shape shape);

// Deterministic pseudo-random numbers (xoshiro256**, seeded by splitmix64).
// Its distributions are defined here, not by the standard library, so that
// they are the same everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t Next();
  // Uniform integer in [lo, hi]. REQUIRES: lo <= hi.
  int64_t Uniform(int64_t lo, int64_t hi);
  // Uniform double in [0, 1).
  double UniformDouble();
  // Standard normal (Box-Muller).
  double Normal();

 private:
  uint64_t s_[4];
};

// Produces one series of a shape: one value per call.
// Thread-compatible.
class ShapeGenerator {
 public:
  ShapeGenerator(Shape shape, uint64_t series_seed);

  double Next();

  // Self-information, in bits, of the random draws behind the values produced
  // so far: what an ideal coder that knows the generator would need. Its mean
  // over many points is the shape's entropy rate (an upper bound where two
  // draws give the same value). For latency_ms it counts the bits of the
  // double itself: -log2(density(x) * ulp(x)).
  double information_bits() const { return information_bits_; }

 private:
  Shape shape_;
  Rng rng_;
  int64_t state_ = 0;  // the walk's or counter's integer state
  int64_t rate_ = 0;   // per-interval increment of counters
  double median_ = 0;  // latency_ms
  double information_bits_ = 0;
};

// One series: `count` points starting at start_ms, one every interval_ms.
struct SeriesData {
  std::vector<int64_t> timestamps_ms;
  std::vector<double> values;
  double information_bits = 0;
};
SeriesData GenerateSeries(Shape shape, uint64_t series_seed, int64_t start_ms,
                          int64_t interval_ms, size_t count);

// The seed of series `index` of the reference dataset; series i has shape
// kAllShapes[i % 8].
uint64_t SeriesSeed(uint64_t dataset_seed, uint64_t index);

}  // namespace nimbus::tools

#endif  // NIMBUS_TOOLS_SHAPES_H_
