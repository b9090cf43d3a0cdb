// Rollup and statistics-query benchmarks (issue 5), through the engine.
//
// Data: 1000 series of the reference dataset's eight shapes (tools/shapes.h,
// seed 42, series i has shape i % 8), 10,000 points each at 10 s (27.8 hours,
// 10 M points). They are written as an ingest client would, an hour of 100
// series per request in time order, sealed inline (chunks settle at 720
// points), then SealAllHeads and a full compaction. That store is built once
// per process and copied for each measurement that needs a fresh one.
//
//   BM_RunRollups: Engine::RunRollups() over all 10 M points into the three
//     tiers (60 s, 300 s, 3600 s), on a fresh copy of the store each
//     iteration (the copy and the open are not timed). The pass runs on one
//     thread; RocksDB's flush threads may use the second core. "CPU" is the
//     whole process's CPU time (pass and RocksDB threads), so
//     items_per_second is raw points per second of CPU: per core. "Time" is
//     wall time.
//   BM_GetStatistics/<range>@<period>/<source>: one series per call, the
//     next of the 1000 each iteration; `rollups` asks for SampleCount, Sum,
//     Minimum, Maximum (served from rollup records, the range being wholly
//     below the rollup watermark); `p99` also asks for the 99th percentile,
//     which is exact over raw points (docs/semantics.md), so raw chunks are
//     read.
//
// No background work: sweep_interval_ms = 0, rollup_interval_ms = 0 and
// inline sealing; the clock is a manual one.
#include <benchmark/benchmark.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/clock.h"
#include "engine/engine.h"
#include "engine/metric_data.h"
#include "tools/shapes.h"

namespace nimbus::bench {
namespace {

using engine::Engine;
using engine::EngineOptions;
using engine::SeriesKey;
using engine::SeriesWrite;
using engine::StatisticsDatapoint;
using engine::StatisticsQuery;

constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kStartMs = 1'795'914'000'000;  // 2026-11-29 00:00 UTC
constexpr int64_t kIntervalMs = 10'000;
constexpr uint64_t kDatasetSeed = 42;
constexpr int kSeries = 1000;
constexpr size_t kPointsPerSeries = 10'000;
constexpr int64_t kDataEndMs =
    kStartMs + static_cast<int64_t>(kPointsPerSeries) * kIntervalMs;
// Points per series per request (an hour), and series per request.
constexpr size_t kPointsPerRequest = 360;
constexpr int kSeriesPerRequest = 100;
// The clock when rolling up and querying: an hour after the last point, so
// every minute with data has settled.
constexpr int64_t kNowMs = kDataEndMs + kHourMs;

SeriesKey Key(int i) {
  SeriesKey k;
  k.namespace_name = "Bench";
  k.metric_name = std::string(tools::ShapeName(tools::kAllShapes[i % 8]));
  k.dimensions = {{"Host", absl::StrCat("host-", i)}};
  k.unit = "None";
  return k;
}

EngineOptions Options(const std::string& dir) {
  EngineOptions o;
  o.data_dir = dir;
  o.sweep_interval_ms = 0;   // no sweeper thread
  o.rollup_interval_ms = 0;  // no roller thread: RunRollups() only
  o.background_sealing = false;
  // The first pass starts at the hour of the first point: the engine is
  // opened with the clock there, and looks back one hour.
  o.rollup.initial_lookback_ms = kHourMs;
  return o;
}

void Die(const std::string& what) {
  std::fprintf(stderr, "rollup_bench: %s\n", what.c_str());
  std::abort();
}

std::unique_ptr<Engine> OpenOrDie(const std::string& dir,
                                  engine::Clock& clock) {
  auto e = Engine::Open(Options(dir), clock);
  if (!e.ok()) Die(absl::StrCat("open ", dir, ": ", e.status().ToString()));
  return std::move(*e);
}

// The process's scratch directory, removed at exit.
class Scratch {
 public:
  Scratch() {
    const char* tmp = std::getenv("TMPDIR");
    root_ = std::filesystem::path(tmp != nullptr && *tmp ? tmp : "/tmp") /
            absl::StrCat("nimbus_rollup_bench_", ::getpid());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  ~Scratch() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  std::string Path(const std::string& name) const {
    return (root_ / name).string();
  }

 private:
  std::filesystem::path root_;
};

Scratch* scratch = nullptr;  // created in main()

Scratch& TheScratch() { return *scratch; }

// The written, sealed and compacted store, not rolled up. Built on first use.
const std::string& Pristine() {
  static const std::string* dir = [] {
    auto* d = new std::string(TheScratch().Path("pristine"));
    std::vector<tools::SeriesData> data;
    data.reserve(kSeries);
    for (int i = 0; i < kSeries; ++i) {
      data.push_back(tools::GenerateSeries(
          tools::kAllShapes[i % 8],
          tools::SeriesSeed(kDatasetSeed, static_cast<uint64_t>(i)), kStartMs,
          kIntervalMs, kPointsPerSeries));
    }
    std::vector<std::string> encoded(kSeries);
    for (int i = 0; i < kSeries; ++i) encoded[i] = Key(i).Encode();
    engine::ManualClock clock(kStartMs);
    std::unique_ptr<Engine> e = OpenOrDie(*d, clock);
    for (size_t first = 0; first < kPointsPerSeries;
         first += kPointsPerRequest) {
      const size_t last = std::min(first + kPointsPerRequest, kPointsPerSeries);
      // Written as they arrive: the clock is just past the newest point.
      clock.Set(kStartMs + static_cast<int64_t>(last) * kIntervalMs);
      for (int s0 = 0; s0 < kSeries; s0 += kSeriesPerRequest) {
        std::vector<SeriesWrite> writes;
        for (int i = s0; i < s0 + kSeriesPerRequest && i < kSeries; ++i) {
          SeriesWrite& w = writes.emplace_back();
          w.key = Key(i);
          w.encoded_key = encoded[i];
          for (size_t p = first; p < last; ++p) {
            w.samples.push_back({data[i].timestamps_ms[p], data[i].values[p]});
          }
        }
        absl::Status st = e->Write(writes);
        if (!st.ok()) Die(absl::StrCat("write: ", st.ToString()));
      }
    }
    if (absl::Status st = e->SealAllHeads(); !st.ok()) {
      Die(absl::StrCat("seal: ", st.ToString()));
    }
    if (absl::Status st = e->Compact(); !st.ok()) {
      Die(absl::StrCat("compact: ", st.ToString()));
    }
    const engine::EngineStats stats = e->Stats();
    if (stats.points_accepted !=
            static_cast<int64_t>(kSeries * kPointsPerSeries) ||
        stats.head_points != 0) {
      Die("the store does not hold every point sealed");
    }
    return d;
  }();
  return *dir;
}

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) +
         1e-9 * static_cast<double>(ts.tv_nsec);
}

void CopyStore(const std::string& from, const std::string& to) {
  std::filesystem::remove_all(to);
  std::filesystem::copy(from, to, std::filesystem::copy_options::recursive);
}

void BM_RunRollups(benchmark::State& state) {
  const std::string& pristine = Pristine();
  const std::string work = TheScratch().Path("rollup_work");
  int64_t points = 0, records = 0;
  double thread_cpu = 0;
  for (auto _ : state) {
    state.PauseTiming();
    CopyStore(pristine, work);
    // Opened as of the first point (the watermark starts an hour before
    // it), then rolled up as of an hour after the last.
    engine::ManualClock clock(kStartMs);
    std::unique_ptr<Engine> e = OpenOrDie(work, clock);
    clock.Set(kNowMs);
    state.ResumeTiming();
    const double thread_cpu_before = ThreadCpuSeconds();
    absl::Status st = e->RunRollups();
    thread_cpu += ThreadCpuSeconds() - thread_cpu_before;
    state.PauseTiming();
    if (!st.ok()) {
      state.SkipWithError(st.ToString().c_str());
      break;
    }
    const engine::EngineStats stats = e->Stats();
    points += stats.rollups.raw_points_read;
    records += stats.rollups.records_written;
    if (stats.rollups.raw_points_read !=
        static_cast<int64_t>(kSeries * kPointsPerSeries)) {
      state.SkipWithError("the pass did not read every point once");
      break;
    }
    e.reset();
    std::filesystem::remove_all(work);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(points);
  state.counters["pass_thread_points_per_second"] =
      static_cast<double>(points) / thread_cpu;
  state.counters["records_per_pass"] = benchmark::Counter(
      static_cast<double>(records), benchmark::Counter::kAvgIterations);
}

// An engine over the store, rolled up, shared by the query benchmarks;
// closed in main().
engine::ManualClock query_clock(kStartMs);
std::unique_ptr<Engine> query_engine;

Engine& RolledUp() {
  if (query_engine == nullptr) {
    const std::string dir = TheScratch().Path("queries");
    CopyStore(Pristine(), dir);
    std::unique_ptr<Engine> engine = OpenOrDie(dir, query_clock);
    query_clock.Set(kNowMs);
    if (absl::Status st = engine->RunRollups(); !st.ok()) {
      Die(absl::StrCat("rollups: ", st.ToString()));
    }
    if (engine->Stats().rollup_watermark_ms < kDataEndMs) {
      Die("the rollup watermark is not past the data");
    }
    // Rollup records settle as a server's would have by then.
    if (absl::Status st = engine->Compact(); !st.ok()) {
      Die(absl::StrCat("compact: ", st.ToString()));
    }
    query_engine = std::move(engine);
  }
  return *query_engine;
}

// `range_ms` ending at the last whole hour of data, `period_ms` periods.
void BM_GetStatistics(benchmark::State& state, int64_t range_ms,
                      int64_t period_ms, bool p99) {
  Engine& e = RolledUp();
  const int64_t end = kDataEndMs / kHourMs * kHourMs;
  const size_t periods = static_cast<size_t>(range_ms / period_ms);
  std::vector<StatisticsQuery> queries(kSeries);
  for (int i = 0; i < kSeries; ++i) {
    queries[i].key = Key(i);
    queries[i].start_ms = end - range_ms;
    queries[i].end_ms = end;
    queries[i].period_ms = period_ms;
    if (p99) queries[i].percentiles = {99};
  }
  int next = 0;
  for (auto _ : state) {
    absl::StatusOr<std::vector<StatisticsDatapoint>> r =
        e.GetStatistics(queries[next]);
    if (!r.ok() || r->size() != periods) {
      state.SkipWithError(r.ok() ? "wrong number of datapoints"
                                 : r.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(r->data());
    next = (next + 1) % kSeries;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["datapoints"] = static_cast<double>(periods);
}

// An engine over the store without rollups: every query reads raw points,
// as queries of the open hour do. Closed in main().
engine::ManualClock raw_clock(kStartMs);
std::unique_ptr<Engine> raw_engine;

Engine& NotRolledUp() {
  if (raw_engine == nullptr) {
    const std::string dir = TheScratch().Path("raw_queries");
    CopyStore(Pristine(), dir);
    raw_engine = OpenOrDie(dir, raw_clock);
    raw_clock.Set(kNowMs);
  }
  return *raw_engine;
}

// GetMetricData: SUM over the 1000 series, the last whole hour of data at
// 60 s. A call takes at most 500 queries, expressions included (CloudWatch's
// limit), so it is three calls, each of up to 499 metric queries (Sum,
// returnData false) and SUM(METRICS()), added; one iteration is all three.
void BM_GetMetricData(benchmark::State& state, bool rolled_up) {
  Engine& e = rolled_up ? RolledUp() : NotRolledUp();
  engine::Clock& clock =
      rolled_up ? static_cast<engine::Clock&>(query_clock) : raw_clock;
  const int64_t end = kDataEndMs / kHourMs * kHourMs;
  std::vector<engine::MetricDataRequest> req;
  for (int first = 0; first < kSeries; first += 499) {
    engine::MetricDataRequest& r = req.emplace_back();
    r.start_ms = end - kHourMs;
    r.end_ms = end;
    for (int i = first; i < std::min(first + 499, kSeries); ++i) {
      engine::MetricDataQuery& q = r.queries.emplace_back();
      q.id = absl::StrCat("m", i);
      q.return_data = false;
      q.metric_stat = engine::MetricStat{Key(i), kMinuteMs, "Sum"};
    }
    engine::MetricDataQuery& sum = r.queries.emplace_back();
    sum.id = "total";
    sum.expression = "SUM(METRICS())";
  }
  std::vector<double> total(60);
  for (auto _ : state) {
    std::fill(total.begin(), total.end(), 0.0);
    for (const engine::MetricDataRequest& r : req) {
      auto out = engine::GetMetricData(e, clock, r);
      if (!out.ok() || out->results.size() != 1 ||
          out->results[0].values.size() != total.size()) {
        state.SkipWithError(out.ok() ? "wrong result shape"
                                     : out.status().ToString().c_str());
        return;
      }
      for (size_t k = 0; k < total.size(); ++k) {
        total[k] += out->results[0].values[k];
      }
    }
    benchmark::DoNotOptimize(total.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void RegisterAll() {
  benchmark::RegisterBenchmark("BM_RunRollups/1000x10000", BM_RunRollups)
      ->Unit(benchmark::kMillisecond)
      ->MeasureProcessCPUTime()
      ->Iterations(2);
  struct Q {
    const char* name;
    int64_t range_ms, period_ms;
  };
  for (const Q& q : {Q{"24h@60s", 24 * kHourMs, kMinuteMs},
                     Q{"1h@300s", kHourMs, 5 * kMinuteMs}}) {
    for (bool p99 : {false, true}) {
      benchmark::RegisterBenchmark(absl::StrCat("BM_GetStatistics/", q.name,
                                                "/", p99 ? "p99" : "rollups")
                                       .c_str(),
                                   BM_GetStatistics, q.range_ms, q.period_ms,
                                   p99)
          ->Unit(benchmark::kMicrosecond);
    }
  }
  benchmark::RegisterBenchmark("BM_GetMetricData/sum1000/1h@60s/rollups",
                               BM_GetMetricData, true)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_GetMetricData/sum1000/1h@60s/raw",
                               BM_GetMetricData, false)
      ->Unit(benchmark::kMillisecond);
}

}  // namespace
}  // namespace nimbus::bench

int main(int argc, char** argv) {
  nimbus::bench::RegisterAll();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  nimbus::bench::scratch = new nimbus::bench::Scratch();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  nimbus::bench::query_engine.reset();
  nimbus::bench::raw_engine.reset();
  delete nimbus::bench::scratch;  // removes the stores
  return 0;
}
