// nimbusd: the Nimbus server.
//
//   nimbusd [--listen=127.0.0.1:50051] [--data_dir=./nimbus-data]
//           [--sync=process|power] [--raw_retention=360h]
//           [--retention_60s=360h] [--retention_300s=1512h]
//           [--retention_3600s=10920h] [--high_resolution_reach=3h]
//           [--rollup_interval=10s] [--norollups] [--insecure]
//           [--port_file=PATH]
//           [--head_seal_points=120] [--background_nice=0] [--compact]
//
// Flags, defaults, exit codes and operation: docs/operations.md.
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/clock.h"
#include "engine/engine.h"
#include "rpc/server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "host:port to serve gRPC on; port 0 picks a free one");
ABSL_FLAG(std::string, data_dir, "./nimbus-data", "data directory");
ABSL_FLAG(std::string, sync, "process",
          "durability of an acknowledged point: 'process' (survives a crash "
          "or kill -9 of nimbusd) or 'power' (fsync'ed, survives power loss)");
ABSL_FLAG(absl::Duration, raw_retention, absl::Hours(24 * 15),
          "how long raw points are kept, e.g. 15d is written 360h");
ABSL_FLAG(absl::Duration, retention_60s, absl::Hours(24 * 15),
          "how long 60-second statistics are kept and answer queries");
ABSL_FLAG(absl::Duration, retention_300s, absl::Hours(24 * 63),
          "how long 300-second statistics are kept and answer queries");
ABSL_FLAG(absl::Duration, retention_3600s, absl::Hours(24 * 455),
          "how long 3600-second statistics are kept and answer queries");
ABSL_FLAG(absl::Duration, high_resolution_reach, absl::Hours(3),
          "how far back periods under 60 s answer queries");
ABSL_FLAG(absl::Duration, rollup_interval, absl::Seconds(10),
          "how often the rollup scheduler runs a pass");
ABSL_FLAG(absl::Duration, rollup_quiet, absl::Seconds(60),
          "a late hour is rolled up again once no point has arrived in it "
          "for this long (0 to 1h); until then queries read it raw");
ABSL_FLAG(bool, rollups, true,
          "run rollup passes; --norollups runs none, so that the watermark "
          "stays where the store has it and queries read raw points above "
          "it (for tests and diagnosis)");
ABSL_FLAG(absl::Duration, alarm_evaluation_delay, absl::ZeroDuration(),
          "how long after each evaluation tick alarms are evaluated, so that "
          "points sent just before it count (0 to 5m; a point arriving after "
          "its tick's evaluation counts from the next tick)");
ABSL_FLAG(absl::Duration, alarm_catch_up, absl::Minutes(10),
          "evaluation ticks missed while the server was down are evaluated "
          "late, back to this long ago (0 to 1h); older ones are skipped");
ABSL_FLAG(int, alarm_evaluation_threads, 2,
          "threads one round of alarm evaluations runs on, at most (1 to 64; "
          "a round gives each at least 4,096 alarms)");
ABSL_FLAG(absl::Duration, alarm_history_retention, absl::Hours(24 * 30),
          "alarm history items are kept this long (0: forever)");
ABSL_FLAG(std::string, testing_clock_file, "",
          "for tests: read the time (ms since the epoch) from this file "
          "instead of the system clock, so that a test moves it");
ABSL_FLAG(bool, insecure, false,
          "allow a non-loopback --listen address without authentication");
ABSL_FLAG(std::string, port_file, "",
          "if set, write the bound port to this file once serving");
ABSL_FLAG(
    int, head_seal_points, 120,
    "seal a series' in-memory points into a chunk once it holds this many "
    "(more: fewer, larger seals and more to replay after a crash)");
ABSL_FLAG(int, ingest_threads, 0,
          "no effect (accepted so that existing command lines start): "
          "PutMetricData is served on gRPC's threads, none of which waits "
          "for another request's commit");
ABSL_FLAG(int64_t, ingest_queue_bytes, int64_t{256} << 20,
          "PutMetricData bytes that may be in progress (decoded, or waiting "
          "for their group commit); beyond it requests are answered "
          "RESOURCE_EXHAUSTED at once");
ABSL_FLAG(int, background_nice, 0,
          "nice levels (0-19) below the serving threads at which sealing, "
          "sweeps and rollup passes run (a smaller share of contended cores)");
ABSL_FLAG(bool, compact, false,
          "do not serve: seal every head into chunks, compact the store, print "
          "what it holds, and exit");

int main(int argc, char** argv) {
  // Debian builds Abseil without NDEBUG, so every Mutex::Lock would also
  // check a process-wide lock graph for cycles, under a global lock: a debug
  // aid (tests keep it), not for the server.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::SetProgramUsageMessage("The Nimbus metrics server.");
  absl::ParseCommandLine(argc, argv);

  nimbus::rpc::ServerOptions options;
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.insecure = absl::GetFlag(FLAGS_insecure);
  options.engine.data_dir = absl::GetFlag(FLAGS_data_dir);
  if (absl::GetFlag(FLAGS_ingest_threads) < 0) {
    std::fprintf(stderr, "nimbusd: --ingest_threads must be 0 or more\n");
    return 2;
  }
  if (absl::GetFlag(FLAGS_ingest_threads) != 0) {
    std::fprintf(stderr,
                 "nimbusd: --ingest_threads has no effect: PutMetricData is "
                 "served on gRPC's threads, none of which waits for another "
                 "request's commit\n");
  }
  if (absl::GetFlag(FLAGS_ingest_queue_bytes) < 1) {
    std::fprintf(stderr, "nimbusd: --ingest_queue_bytes must be at least 1\n");
    return 2;
  }
  options.max_queued_ingest_bytes =
      static_cast<size_t>(absl::GetFlag(FLAGS_ingest_queue_bytes));
  if (absl::GetFlag(FLAGS_head_seal_points) < 1) {
    std::fprintf(stderr, "nimbusd: --head_seal_points must be at least 1\n");
    return 2;
  }
  if (absl::GetFlag(FLAGS_background_nice) < 0 ||
      absl::GetFlag(FLAGS_background_nice) > 19) {
    std::fprintf(stderr, "nimbusd: --background_nice must be 0 to 19\n");
    return 2;
  }
  options.engine.background_nice = absl::GetFlag(FLAGS_background_nice);
  options.engine.head_seal_points =
      static_cast<size_t>(absl::GetFlag(FLAGS_head_seal_points));
  options.engine.raw_retention_ms =
      absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_raw_retention));
  options.engine.reach.tier_ms = {
      absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_retention_60s)),
      absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_retention_300s)),
      absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_retention_3600s))};
  options.engine.reach.high_resolution_ms =
      absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_high_resolution_reach));
  options.engine.rollup_interval_ms =
      absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_rollup_interval));
  for (int64_t ms : options.engine.reach.tier_ms) {
    if (ms <= 0) {
      std::fprintf(stderr, "nimbusd: --retention_* must be positive\n");
      return 2;
    }
  }
  if (options.engine.rollup_interval_ms <= 0) {
    std::fprintf(stderr, "nimbusd: --rollup_interval must be positive\n");
    return 2;
  }
  if (!absl::GetFlag(FLAGS_rollups)) options.engine.rollup_interval_ms = 0;
  // Its range (0 to 1 h) is checked by the engine, which names the rule.
  options.engine.rollup.dirty_quiet_ms =
      absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_rollup_quiet));
  options.alarms.evaluation_delay_ms =
      absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_alarm_evaluation_delay));
  options.alarms.max_catch_up_ms =
      absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_alarm_catch_up));
  options.alarms.evaluation_threads =
      absl::GetFlag(FLAGS_alarm_evaluation_threads);
  if (options.alarms.evaluation_threads < 1 ||
      options.alarms.evaluation_threads > 64) {
    std::fprintf(stderr,
                 "nimbusd: --alarm_evaluation_threads must be 1 to 64\n");
    return 2;
  }
  options.engine.alarm_history_retention_ms =
      absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_alarm_history_retention));
  if (options.alarms.evaluation_delay_ms < 0 ||
      options.alarms.evaluation_delay_ms > 5 * 60'000) {
    std::fprintf(stderr, "nimbusd: --alarm_evaluation_delay must be 0 to 5m\n");
    return 2;
  }
  if (options.alarms.max_catch_up_ms < 0 ||
      options.alarms.max_catch_up_ms > 3'600'000) {
    std::fprintf(stderr, "nimbusd: --alarm_catch_up must be 0 to 1h\n");
    return 2;
  }
  if (options.engine.alarm_history_retention_ms < 0) {
    std::fprintf(stderr,
                 "nimbusd: --alarm_history_retention must not be negative\n");
    return 2;
  }
  const std::string sync = absl::GetFlag(FLAGS_sync);
  if (sync == "process") {
    options.engine.sync = nimbus::storage::SyncMode::kProcessCrash;
  } else if (sync == "power") {
    options.engine.sync = nimbus::storage::SyncMode::kPowerLoss;
  } else {
    std::fprintf(stderr,
                 "nimbusd: --sync must be 'process' or 'power', got '%s'\n",
                 sync.c_str());
    return 2;
  }

  // SIGINT and SIGTERM stop the server cleanly; a thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  nimbus::engine::SystemClock system_clock;
  std::unique_ptr<nimbus::engine::FileClock> file_clock;
  if (!absl::GetFlag(FLAGS_testing_clock_file).empty()) {
    file_clock = std::make_unique<nimbus::engine::FileClock>(
        absl::GetFlag(FLAGS_testing_clock_file));
    // A test moves the clock and waits for the evaluator: look often.
    options.alarms.max_sleep_ms = 10;
  }
  nimbus::engine::Clock& clock =
      file_clock ? static_cast<nimbus::engine::Clock&>(*file_clock)
                 : system_clock;
  if (absl::GetFlag(FLAGS_compact)) {
    options.engine.sweep_interval_ms = 0;
    auto engine = nimbus::engine::Engine::Open(options.engine, clock);
    absl::Status s = engine.ok() ? (*engine)->SealAllHeads() : engine.status();
    if (s.ok()) s = (*engine)->Compact();
    if (!s.ok()) {
      std::fprintf(stderr, "nimbusd: %s\n", s.ToString().c_str());
      return 1;
    }
    const auto st = (*engine)->Stats();
    std::printf("compacted %s: %lld series, %lld bytes on disk\n",
                options.engine.data_dir.c_str(),
                static_cast<long long>(st.series_count),
                static_cast<long long>(st.bytes_on_disk));
    return 0;
  }
  auto server = nimbus::rpc::Server::Start(options, clock);
  if (!server.ok()) {
    std::fprintf(stderr, "nimbusd: %s\n", server.status().ToString().c_str());
    return 1;
  }
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    std::ofstream(port_file) << (*server)->port() << "\n";
  }
  std::printf("nimbusd listening on %s (port %d), data in %s, sync=%s\n",
              options.listen_address.c_str(), (*server)->port(),
              options.engine.data_dir.c_str(), sync.c_str());
  std::fflush(stdout);

  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    std::printf("nimbusd: signal %d, shutting down\n", sig);
    std::fflush(stdout);
    (*server)->Shutdown();
  });
  (*server)->Wait();
  waiter.join();
  return 0;
}
