// A small leveled logger: one line per event on stderr,
//   2026-12-01T07:10:00.123Z W sealer: seal of 12 series failed: ...
// Background work (seals, sweeps, rollup passes) logs each failure once with
// its context, and counts it in EngineStats; nothing is dropped silently.
#ifndef NIMBUS_ENGINE_LOG_H_
#define NIMBUS_ENGINE_LOG_H_

#include "absl/strings/string_view.h"

namespace nimbus {

enum class LogLevel { kInfo = 0, kWarning = 1, kError = 2 };

// Writes one line. Thread-safe.
void Log(LogLevel level, absl::string_view component,
         absl::string_view message);

// Lines below `level` are dropped. Default kInfo. Thread-safe.
void SetMinLogLevel(LogLevel level);

}  // namespace nimbus

#endif  // NIMBUS_ENGINE_LOG_H_
