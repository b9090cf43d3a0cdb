// Chunk codec benchmarks on the reference dataset's eight metric shapes.
//
//   BM_ChunkEncode/<shape>/<points per chunk>
//   BM_ChunkDecode/<shape>/<points per chunk>   (ChunkIterator, every point)
//   BM_GorillaEncode/..., BM_GorillaDecode/...  (plain Gorilla, same data)
//
// Counters: points_per_second (items/s), bytes_per_point (chunk bytes, header
// and checksum included, divided by points), info_bytes_per_point (the
// generator's self-information: what an ideal coder would need). "mix" is all
// eight shapes together, as in the reference dataset.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/gorilla.h"
#include "storage/chunk_codec.h"
#include "storage/internal/coding.h"
#include "tools/shapes.h"

namespace nimbus::bench {
namespace {

using storage::ChunkIterator;
using tools::Shape;

constexpr int64_t kStartMs = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
constexpr int64_t kIntervalMs = 10'000;
constexpr uint64_t kDatasetSeed = 42;
// Series per shape: enough that per-series parameters (rates, medians)
// average out, few enough that a benchmark's working set stays in cache.
constexpr int kSeriesPerShape = 64;

struct Dataset {
  std::vector<tools::SeriesData> series;
  size_t points = 0;
  double information_bits = 0;
};

// All series of `shapes`, kSeriesPerShape of each, `points` points each.
Dataset MakeDataset(const std::vector<Shape>& shapes, size_t points) {
  Dataset d;
  uint64_t index = 0;
  for (int s = 0; s < kSeriesPerShape; ++s) {
    for (Shape shape : shapes) {
      d.series.push_back(
          tools::GenerateSeries(shape, tools::SeriesSeed(kDatasetSeed, index++),
                                kStartMs, kIntervalMs, points));
      d.points += points;
      d.information_bits += d.series.back().information_bits;
    }
  }
  return d;
}

std::vector<std::string> EncodeAll(const Dataset& d) {
  std::vector<std::string> chunks(d.series.size());
  for (size_t i = 0; i < d.series.size(); ++i) {
    if (!storage::EncodeChunk(d.series[i].timestamps_ms, d.series[i].values,
                              &chunks[i])
             .ok()) {
      std::abort();
    }
  }
  return chunks;
}

size_t TotalBytes(const std::vector<std::string>& chunks) {
  size_t b = 0;
  for (const auto& c : chunks) b += c.size();
  return b;
}

void SetCounters(benchmark::State& state, const Dataset& d, size_t bytes) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * d.points));
  state.counters["bytes_per_point"] =
      static_cast<double>(bytes) / static_cast<double>(d.points);
  state.counters["info_bytes_per_point"] =
      d.information_bits / 8 / static_cast<double>(d.points);
}

void BM_ChunkEncode(benchmark::State& state, std::vector<Shape> shapes,
                    size_t points) {
  const Dataset d = MakeDataset(shapes, points);
  std::string out;
  size_t bytes = 0;
  for (auto _ : state) {
    bytes = 0;
    for (const auto& s : d.series) {
      benchmark::DoNotOptimize(
          storage::EncodeChunk(s.timestamps_ms, s.values, &out));
      bytes += out.size();
    }
  }
  SetCounters(state, d, bytes);
}

void BM_ChunkDecode(benchmark::State& state, std::vector<Shape> shapes,
                    size_t points) {
  const Dataset d = MakeDataset(shapes, points);
  const std::vector<std::string> chunks = EncodeAll(d);
  for (auto _ : state) {
    int64_t ts_sum = 0;
    double v_sum = 0;
    for (const auto& c : chunks) {
      ChunkIterator it(c);
      for (; it.Valid(); it.Next()) {
        ts_sum += it.timestamp_ms();
        v_sum += it.value();
      }
      if (!it.status().ok()) state.SkipWithError("decode failed");
    }
    benchmark::DoNotOptimize(ts_sum);
    benchmark::DoNotOptimize(v_sum);
  }
  SetCounters(state, d, TotalBytes(chunks));
}

void BM_GorillaEncode(benchmark::State& state, std::vector<Shape> shapes,
                      size_t points) {
  const Dataset d = MakeDataset(shapes, points);
  size_t bytes = 0;
  for (auto _ : state) {
    bytes = 0;
    for (const auto& s : d.series) {
      const std::string out = GorillaEncode(s.timestamps_ms, s.values);
      bytes += out.size();
      benchmark::DoNotOptimize(out.data());
    }
  }
  SetCounters(state, d, bytes);
}

void BM_GorillaDecode(benchmark::State& state, std::vector<Shape> shapes,
                      size_t points) {
  const Dataset d = MakeDataset(shapes, points);
  std::vector<std::string> streams;
  size_t bytes = 0;
  for (const auto& s : d.series) {
    streams.push_back(GorillaEncode(s.timestamps_ms, s.values));
    bytes += streams.back().size();
  }
  for (auto _ : state) {
    uint64_t sum = 0;
    for (const auto& s : streams) {
      GorillaDecode(s, points, [&](int64_t t, uint64_t v) { sum += t ^ v; });
    }
    benchmark::DoNotOptimize(sum);
  }
  SetCounters(state, d, bytes);
}

// Bytes of a chunk's timestamp section (the varint after version, count and
// mode).
size_t TimestampSectionBytes(const std::string& chunk) {
  const char* p = chunk.data() + 1;
  const char* limit = chunk.data() + chunk.size();
  uint64_t count = 0, ts_len = 0;
  storage::internal::GetVarint64(&p, limit, &count);
  ++p;  // mode
  storage::internal::GetVarint64(&p, limit, &ts_len);
  return ts_len;
}

// Timestamps alone: 720 points at `interval_ms` with uniform jitter of
// +-jitter_ms (values constant). Reports the timestamp section's bytes per
// point, and Gorilla's (Prometheus's millisecond buckets) on the same
// timestamps, whose constant values cost exactly one bit each.
void BM_Timestamps(benchmark::State& state, int64_t interval_ms,
                   int64_t jitter_ms) {
  constexpr size_t kPoints = 720;
  size_t nimbus_bytes = 0, gorilla_bits = 0, points = 0;
  std::vector<std::pair<std::vector<int64_t>, std::vector<double>>> series;
  for (int s = 0; s < kSeriesPerShape; ++s) {
    tools::Rng rng(tools::SeriesSeed(kDatasetSeed, s));
    std::vector<int64_t> ts(kPoints);
    for (size_t i = 0; i < kPoints; ++i) {
      ts[i] = kStartMs + static_cast<int64_t>(i) * interval_ms +
              rng.Uniform(-jitter_ms, jitter_ms);
    }
    series.push_back({ts, std::vector<double>(kPoints, 1.0)});
    std::string chunk;
    if (!storage::EncodeChunk(ts, series.back().second, &chunk).ok()) {
      std::abort();
    }
    nimbus_bytes += TimestampSectionBytes(chunk);
    gorilla_bits +=
        8 * GorillaEncode(ts, series.back().second).size() - 64 - (kPoints - 1);
    points += kPoints;
  }
  std::string out;
  for (auto _ : state) {
    for (const auto& [ts, vs] : series) {
      benchmark::DoNotOptimize(storage::EncodeChunk(ts, vs, &out));
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * points));
  state.counters["ts_bytes_per_point"] =
      static_cast<double>(nimbus_bytes) / static_cast<double>(points);
  state.counters["gorilla_ts_bytes_per_point"] =
      static_cast<double>(gorilla_bits) / 8 / static_cast<double>(points);
}

void RegisterAll() {
  for (int64_t interval : {1'000, 10'000, 60'000}) {
    for (int64_t jitter : {0, 5, 50}) {
      benchmark::RegisterBenchmark(
          absl::StrCat("BM_Timestamps/", interval, "ms/jitter", jitter, "ms")
              .c_str(),
          BM_Timestamps, interval, jitter);
    }
  }
  std::vector<std::pair<std::string, std::vector<Shape>>> sets;
  for (Shape s : tools::kAllShapes) {
    sets.push_back({std::string(tools::ShapeName(s)), {s}});
  }
  sets.push_back({"mix", std::vector<Shape>(tools::kAllShapes.begin(),
                                            tools::kAllShapes.end())});
  using Fn = void (*)(benchmark::State&, std::vector<Shape>, size_t);
  const std::pair<const char*, Fn> kinds[] = {
      {"BM_ChunkEncode", BM_ChunkEncode},
      {"BM_ChunkDecode", BM_ChunkDecode},
      {"BM_GorillaEncode", BM_GorillaEncode},
      {"BM_GorillaDecode", BM_GorillaDecode},
  };
  for (const auto& [kind, fn] : kinds) {
    for (size_t points : {size_t{120}, size_t{720}}) {
      for (const auto& [name, shapes] : sets) {
        benchmark::RegisterBenchmark(
            absl::StrCat(kind, "/", name, "/", points).c_str(), fn, shapes,
            points);
      }
    }
  }
}

}  // namespace
}  // namespace nimbus::bench

int main(int argc, char** argv) {
  nimbus::bench::RegisterAll();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
