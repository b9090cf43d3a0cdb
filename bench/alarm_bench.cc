// The alarm engine at fleet scale (issue 11's targets): N single-metric
// alarms on N series with 10-second periods, evaluated every 10 s while
// points arrive; the memory alarms hold; how long a restart takes to load
// them. Time is a manual clock moved 10 s per round; each round writes one
// point per series (not timed) and evaluates every alarm (timed).
//
//   build-release/bench/alarm_bench --benchmark_filter=Evaluate
//
// Reported: process CPU per round, "core_share" (that over the 10 s a round
// stands for), the time from the tick to the round's transitions persisted,
// and the window and store reads; with 1 and 2 evaluation threads, and
// with one alarm in 10 or one in 100 transitioning in the rounds that
// have transitions.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "alarms/alarm_engine.h"
#include "benchmark/benchmark.h"
#include "engine/clock.h"
#include "engine/engine.h"

#if __has_include(<gperftools/malloc_extension.h>)
#include <gperftools/malloc_extension.h>
#define NIMBUS_HAVE_MALLOC_EXTENSION 1
#endif

namespace nimbus {
namespace {

constexpr int64_t kT0 = 1796119200000;  // 2026-12-01 10:00:00 UTC

std::string Dir(const char* name) {
  auto d = std::filesystem::temp_directory_path() /
           absl::StrCat("alarm_bench_", name, "_", ::getpid());
  std::filesystem::remove_all(d);
  return d.string();
}

engine::SeriesKey Key(int i) {
  engine::SeriesKey k;
  k.namespace_name = "Fleet";
  k.metric_name = "CPU";
  k.dimensions = {{"Host", absl::StrCat("host-", i)}};
  k.unit = "Percent";
  return k;
}

alarms::MetricAlarmConfig Alarm(int i) {
  alarms::MetricAlarmConfig c;
  c.name = absl::StrCat("cpu-high-", i);
  c.metric = Key(i);
  c.statistic = "Average";
  c.period_s = 10;
  c.evaluation_periods = 3;
  c.datapoints_to_alarm = 2;
  c.threshold = 80;
  c.comparison_operator = "GreaterThanThreshold";
  return c;
}

engine::EngineOptions EngineOpts(const std::string& dir) {
  engine::EngineOptions o;
  o.data_dir = dir;
  o.rollup_interval_ms = 0;
  o.sweep_interval_ms = 0;
  return o;
}

// One point for each series at `ts`; one host in `hot_every` runs hot in
// alternate minutes, so that alarms transition.
void WriteRound(engine::Engine& e, int n, int64_t ts, int hot_every = 10) {
  const bool hot_minute = (ts / 60'000) % 2 == 0;
  std::vector<engine::SeriesWrite> w;
  w.reserve(1000);
  for (int i = 0; i < n; ++i) {
    const double v = (i % hot_every == 0 && hot_minute) ? 95 : 40 + (i % 7);
    w.push_back({Key(i), {{ts, v}}, {}, {}});
    if (w.size() == 1000 || i == n - 1) {
      if (!e.Write(w).ok()) std::abort();
      w.clear();
    }
  }
}

// CPU of the whole process: a round's evaluation threads, and whatever
// RocksDB does meanwhile.
double ProcessCpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + t.tv_nsec / 1e9;
}

int64_t RssBytes() {
  std::ifstream f("/proc/self/statm");
  int64_t pages = 0, rss = 0;
  f >> pages >> rss;
  return rss * 4096;
}

// Bytes the allocator has handed out and not had back (tcmalloc's count;
// -1 without it). Unlike RSS it does not move with pages the allocator
// keeps or returns.
int64_t AllocatedBytes() {
#ifdef NIMBUS_HAVE_MALLOC_EXTENSION
  size_t v = 0;
  if (MallocExtension::instance()->GetNumericProperty(
          "generic.current_allocated_bytes", &v)) {
    return static_cast<int64_t>(v);
  }
#endif
  return -1;
}

void BM_EvaluateEvery10s(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  // One alarm in this many transitions in the rounds that have any.
  const int hot_every = static_cast<int>(state.range(2));
  const std::string dir = Dir("evaluate");
  engine::ManualClock clock(kT0);
  auto e = engine::Engine::Open(EngineOpts(dir), clock);
  if (!e.ok()) std::abort();
  WriteRound(**e, n, kT0 - 10'000);
  alarms::AlarmEngineOptions ao;
  ao.evaluation_thread = false;
  ao.evaluation_threads = static_cast<int>(state.range(1));
  auto a = alarms::AlarmEngine::Open(**e, clock, ao);
  if (!a.ok()) std::abort();
  for (int i = 0; i < n; ++i) {
    if (!(*a)->PutMetricAlarm(Alarm(i), {}).ok()) std::abort();
  }
  const alarms::AlarmEngineStats before = (*a)->Stats();
  int64_t rounds = 0, transition_rounds = 0;
  double cpu_s = 0, wall_s = 0, worst_s = 0, transition_wall_s = 0;
  // Phase sums (AlarmEngineStats::last_round), quiet and transition rounds.
  alarms::AlarmEngineStats::Round phases[2];
  for (auto _ : state) {
    state.PauseTiming();
    clock.Advance(10'000);
    WriteRound(**e, n, clock.NowMs() - 5'000, hot_every);
    const int64_t transitions0 = (*a)->Stats().transitions;
    state.ResumeTiming();
    const double cpu0 = ProcessCpuSeconds();
    const auto wall0 = std::chrono::steady_clock::now();
    if (!(*a)->EvaluateDue().ok()) std::abort();
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0)
            .count();
    cpu_s += ProcessCpuSeconds() - cpu0;
    wall_s += wall;
    worst_s = std::max(worst_s, wall);
    ++rounds;
    state.PauseTiming();
    const alarms::AlarmEngineStats after_round = (*a)->Stats();
    const bool transitioned = after_round.transitions != transitions0;
    if (transitioned) {
      ++transition_rounds;
      transition_wall_s += wall;
    }
    alarms::AlarmEngineStats::Round& p = phases[transitioned ? 1 : 0];
    p.look_us += after_round.last_round.look_us;
    p.evaluate_us += after_round.last_round.evaluate_us;
    p.apply_us += after_round.last_round.apply_us;
    p.write_us += after_round.last_round.write_us;
    state.ResumeTiming();
  }
  const alarms::AlarmEngineStats after = (*a)->Stats();
  state.counters["evaluations/round"] =
      static_cast<double>(after.evaluations - before.evaluations) / rounds;
  state.counters["transitions/round"] =
      static_cast<double>(after.transitions - before.transitions) / rounds;
  state.counters["store_reads"] =
      static_cast<double>(after.store_reads - before.store_reads);
  state.counters["window_reads"] =
      static_cast<double>(after.window_reads - before.window_reads);
  // The share of one core that evaluating every 10 s takes.
  state.counters["cpu_ms/round"] = cpu_s * 1000 / rounds;
  state.counters["core_share"] = cpu_s / rounds / 10.0;
  // The round's transitions are persisted when EvaluateDue returns: from
  // the tick (the clock's move) to then, on average and at worst.
  state.counters["tick_to_persisted_ms"] = wall_s * 1000 / rounds;
  state.counters["worst_tick_to_persisted_ms"] = worst_s * 1000;
  // Apart: the rounds where alarms transition together, and the others,
  // each with its phases: finding the due alarms, evaluating, applying,
  // writing (ms).
  const auto report = [&](const char* name, int64_t n, double total_s,
                          const alarms::AlarmEngineStats::Round& p) {
    if (n == 0) return;
    const double d = static_cast<double>(n) * 1000;
    state.counters[absl::StrCat(name, "_round_ms")] = total_s * 1000 / n;
    state.counters[absl::StrCat(name, "_look_ms")] = p.look_us / d;
    state.counters[absl::StrCat(name, "_evaluate_ms")] = p.evaluate_us / d;
    state.counters[absl::StrCat(name, "_apply_ms")] = p.apply_us / d;
    state.counters[absl::StrCat(name, "_write_ms")] = p.write_us / d;
  };
  report("transition", transition_rounds, transition_wall_s, phases[1]);
  report("quiet", rounds - transition_rounds, wall_s - transition_wall_s,
         phases[0]);
  a->reset();
  e->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_EvaluateEvery10s)
    ->ArgNames({"alarms", "threads", "hot_every"})
    ->Args({10'000, 1, 10})
    ->Args({100'000, 1, 10})
    ->Args({100'000, 2, 10})
    ->Args({100'000, 2, 100})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(12);

// Resident memory of N alarms (and their windows) over N series, and the
// time a restart takes to load them and build their windows.
void BM_MemoryAndRestart(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const std::string dir = Dir("memory");
  engine::ManualClock clock(kT0);
  for (auto _ : state) {
    {
      auto e = engine::Engine::Open(EngineOpts(dir), clock);
      if (!e.ok()) std::abort();
      WriteRound(**e, n, kT0 - 10'000);
      const int64_t rss0 = RssBytes();
      const int64_t heap0 = AllocatedBytes();
      alarms::AlarmEngineOptions ao;
      ao.evaluation_thread = false;
      auto a = alarms::AlarmEngine::Open(**e, clock, ao);
      if (!a.ok()) std::abort();
      for (int i = 0; i < n; ++i) {
        if (!(*a)->PutMetricAlarm(Alarm(i), {}).ok()) std::abort();
      }
      state.counters["rss_bytes/alarm"] =
          static_cast<double>(RssBytes() - rss0) / n;
      state.counters["heap_bytes/alarm"] =
          static_cast<double>(AllocatedBytes() - heap0) / n;
    }
    auto start = std::chrono::steady_clock::now();
    auto e = engine::Engine::Open(EngineOpts(dir), clock);
    if (!e.ok()) std::abort();
    auto opened = std::chrono::steady_clock::now();
    alarms::AlarmEngineOptions ao;
    ao.evaluation_thread = false;
    auto a = alarms::AlarmEngine::Open(**e, clock, ao);
    if (!a.ok()) std::abort();
    clock.Advance(10'000);
    if (!(*a)->EvaluateDue().ok()) std::abort();
    auto done = std::chrono::steady_clock::now();
    state.counters["engine_open_s"] =
        std::chrono::duration<double>(opened - start).count();
    state.counters["alarms_open_and_evaluate_s"] =
        std::chrono::duration<double>(done - opened).count();
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_MemoryAndRestart)
    ->Arg(100'000)
    ->Arg(1'000'000)
    ->Unit(benchmark::kSecond)
    ->Iterations(1);

}  // namespace
}  // namespace nimbus

BENCHMARK_MAIN();
