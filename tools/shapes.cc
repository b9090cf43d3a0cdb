#include "tools/shapes.h"

#include <bit>
#include <cmath>
#include <numbers>

namespace nimbus::tools {
namespace {

uint64_t SplitMix64(uint64_t* x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Reflects v into [lo, hi] (a walk that bounces off its bounds).
int64_t Reflect(int64_t v, int64_t lo, int64_t hi) {
  if (v < lo) return lo + (lo - v);
  if (v > hi) return hi - (v - hi);
  return v;
}

constexpr int64_t kPage = 4096;
constexpr int64_t kGiB = int64_t{1} << 30;
constexpr int64_t kIntervalSeconds = 10;

}  // namespace

absl::string_view ShapeName(Shape shape) {
  switch (shape) {
    case Shape::kCpuUtilization:
      return "cpu_utilization";
    case Shape::kMemUsedBytes:
      return "mem_used_bytes";
    case Shape::kQueueDepth:
      return "queue_depth";
    case Shape::kRequestCount:
      return "request_count";
    case Shape::kErrorCount:
      return "error_count";
    case Shape::kNetworkInBytes:
      return "network_in_bytes";
    case Shape::kLatencyMs:
      return "latency_ms";
    case Shape::kMemTotalBytes:
      return "mem_total_bytes";
  }
  return "unknown";
}

Rng::Rng(uint64_t seed) {
  for (uint64_t& s : s_) s = SplitMix64(&seed);
}

uint64_t Rng::Next() {
  const uint64_t result = std::rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = std::rotl(s_[3], 45);
  return result;
}

int64_t Rng::Uniform(int64_t lo, int64_t hi) {
  const uint64_t range =
      static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo) + 1;
  if (range == 0) return static_cast<int64_t>(Next());  // the full 64 bits
  // Lemire's nearly-divisionless method, with rejection for exact uniformity.
  unsigned __int128 m = static_cast<unsigned __int128>(Next()) * range;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < range) {
    const uint64_t threshold = -range % range;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(Next()) * range;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<int64_t>(static_cast<uint64_t>(lo) +
                              static_cast<uint64_t>(m >> 64));
}

double Rng::UniformDouble() {
  return static_cast<double>(Next() >> 11) * 0x1.0p-53;
}

double Rng::Normal() {
  double u1 = UniformDouble();
  while (u1 == 0) u1 = UniformDouble();
  const double u2 = UniformDouble();
  return std::sqrt(-2 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
}

ShapeGenerator::ShapeGenerator(Shape shape, uint64_t series_seed)
    : shape_(shape), rng_(series_seed) {
  switch (shape_) {
    case Shape::kCpuUtilization:
      state_ = rng_.Uniform(0, 10000);  // hundredths of a percent
      break;
    case Shape::kMemUsedBytes:
      state_ = rng_.Uniform(kGiB / kPage, 16 * kGiB / kPage);  // pages
      break;
    case Shape::kQueueDepth:
      state_ = 0;
      break;
    case Shape::kRequestCount:
      rate_ = rng_.Uniform(1, 500) * kIntervalSeconds;
      state_ = rng_.Uniform(0, 1'000'000'000);
      break;
    case Shape::kErrorCount:
      state_ = rng_.Uniform(0, 1000);
      break;
    case Shape::kNetworkInBytes: {
      // Log-uniform in 10 KB/s .. 50 MB/s.
      const double lo = std::log(10e3), hi = std::log(50e6);
      const double bytes_per_second =
          std::exp(lo + (hi - lo) * rng_.UniformDouble());
      rate_ = static_cast<int64_t>(bytes_per_second) * kIntervalSeconds;
      state_ = rng_.Uniform(0, int64_t{1} << 40);
      break;
    }
    case Shape::kLatencyMs:
      median_ = 5.0 + 195.0 * rng_.UniformDouble();
      break;
    case Shape::kMemTotalBytes: {
      static constexpr int64_t kSizesGiB[] = {4, 8, 16, 32, 64};
      state_ = kSizesGiB[rng_.Uniform(0, 4)] * kGiB;
      break;
    }
  }
}

double ShapeGenerator::Next() {
  switch (shape_) {
    case Shape::kCpuUtilization: {
      state_ = Reflect(state_ + rng_.Uniform(-150, 150), 0, 10000);
      information_bits_ += std::log2(301.0);
      return static_cast<double>(state_) / 100;
    }
    case Shape::kMemUsedBytes: {
      state_ = Reflect(state_ + rng_.Uniform(-1024, 1024), kGiB / kPage,
                       16 * kGiB / kPage);
      information_bits_ += std::log2(2049.0);
      return static_cast<double>(state_ * kPage);
    }
    case Shape::kQueueDepth: {
      // 75%: unchanged; 10%: drained to 0; 15%: a step in -2..+3.
      const int64_t r = rng_.Uniform(0, 99);
      if (r < 75) {
        information_bits_ += -std::log2(0.75);
      } else if (r < 85) {
        state_ = 0;
        information_bits_ += -std::log2(0.10);
      } else {
        state_ = std::min<int64_t>(
            std::max<int64_t>(state_ + rng_.Uniform(-2, 3), 0), 50);
        information_bits_ += -std::log2(0.15 / 6);
      }
      return static_cast<double>(state_);
    }
    case Shape::kRequestCount:
    case Shape::kNetworkInBytes: {
      const int64_t jitter = rate_ / 10;
      state_ += rate_ + rng_.Uniform(-jitter, jitter);
      information_bits_ += std::log2(2.0 * jitter + 1);
      return static_cast<double>(state_);
    }
    case Shape::kErrorCount: {
      if (rng_.Uniform(0, 99) < 5) {
        state_ += rng_.Uniform(1, 3);
        information_bits_ += -std::log2(0.05 / 3);
      } else {
        information_bits_ += -std::log2(0.95);
      }
      return static_cast<double>(state_);
    }
    case Shape::kLatencyMs: {
      constexpr double kSigma = 0.5;
      const double z = rng_.Normal();
      const double x = median_ * std::exp(kSigma * z);
      // Density of the log-normal at x, times the spacing of doubles there.
      const double density = std::exp(-0.5 * z * z) /
                             (x * kSigma * std::sqrt(2 * std::numbers::pi));
      const double ulp = std::nextafter(x, INFINITY) - x;
      information_bits_ += -std::log2(density * ulp);
      return x;
    }
    case Shape::kMemTotalBytes:
      return static_cast<double>(state_);
  }
  return 0;
}

SeriesData GenerateSeries(Shape shape, uint64_t series_seed, int64_t start_ms,
                          int64_t interval_ms, size_t count) {
  SeriesData d;
  d.timestamps_ms.reserve(count);
  d.values.reserve(count);
  ShapeGenerator gen(shape, series_seed);
  for (size_t i = 0; i < count; ++i) {
    d.timestamps_ms.push_back(start_ms + static_cast<int64_t>(i) * interval_ms);
    d.values.push_back(gen.Next());
  }
  d.information_bits = gen.information_bits();
  return d;
}

uint64_t SeriesSeed(uint64_t dataset_seed, uint64_t index) {
  uint64_t x = dataset_seed ^ (index * 0xD1B54A32D192ED03ull);
  return SplitMix64(&x);
}

}  // namespace nimbus::tools
