// The sealer: turns heads into chunks. A seal sorts a head's points, cuts
// them into chunks of at most storage::kMaxChunkSpanMs and kMaxSealPoints,
// extends the series' newest chunk when the points belong at its end and
// the two fit in kTargetChunkPoints, and writes the chunks to `points` with
// the series' new sealed log sequence, in one store write
// (storage/FORMAT.md, "Chunk keys and spans").
//
// Full heads are queued for a background thread, so writers never wait for
// chunk encoding; the sweeper seals aged heads through Seal() directly.
#ifndef NIMBUS_ENGINE_SEALER_H_
#define NIMBUS_ENGINE_SEALER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "engine/clock.h"
#include "engine/head_store.h"
#include "engine/series_index.h"
#include "storage/keys.h"
#include "storage/store.h"

namespace nimbus::engine {

// The most points the sealer puts in one chunk. Larger heads (a client can
// send a million points at one timestamp) become several chunks.
inline constexpr size_t kMaxSealPoints = 16384;

// A seal extends the series' newest chunk while the two together hold at most
// this many points (2 hours of 10-second data), so that chunks settle near
// the size the codec packs best (bench/RESULTS.md) however small the heads.
inline constexpr size_t kTargetChunkPoints = 720;

struct SealerOptions {
  // Seal queued heads on a background thread; false seals inside Queue().
  bool background = true;
  // Called by a seal after its chunk write, before its head trim, with
  // readers locked out. Default: none.
  std::function<void()> after_write_for_testing;
};

// Thread-safe.
class Sealer {
 public:
  Sealer(storage::Store& store, HeadStore& heads, Clock& clock,
         SealerOptions options);
  // Stop().
  ~Sealer();

  // Stops the background thread (what is unsealed stays in the log) and
  // lets writers waiting in AwaitBacklogBelow go. Idempotent.
  void Stop();
  Sealer(const Sealer&) = delete;
  Sealer& operator=(const Sealer&) = delete;

  // Seals the heads of `series`: the points they hold now go to chunks,
  // points appended meanwhile stay. One seal at a time; no lock that
  // readers or writers need is held across its store write. Returns the
  // store's error (logged and counted); the points then stay in the heads
  // and the log.
  absl::Status Seal(const std::vector<Series*>& series);

  // Hands full heads to the background thread (or seals them here).
  void Queue(std::vector<Series*> full);

  // Waits while `max` or more full heads are queued or being sealed (the
  // sealer lags); returns at once without a background thread.
  void AwaitBacklogBelow(size_t max);

  int64_t chunks_written() const {
    return chunks_written_.load(std::memory_order_relaxed);
  }
  // Seals that failed (logged, and their points kept).
  int64_t failures() const { return failures_.load(std::memory_order_relaxed); }
  // Calls of AwaitBacklogBelow that waited.
  int64_t throttled() const {
    return throttled_.load(std::memory_order_relaxed);
  }

 private:
  absl::Status SealOnce(const std::vector<Series*>& series);
  void Loop();

  storage::Store& store_;
  HeadStore& heads_;
  Clock& clock_;
  const SealerOptions options_;
  absl::Mutex seal_mu_;  // one seal at a time
  absl::Mutex queue_mu_;
  std::vector<Series*> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  // Series taken from the queue by the running seal.
  size_t in_progress_ ABSL_GUARDED_BY(queue_mu_) = 0;
  std::atomic<int64_t> chunks_written_{0};
  std::atomic<int64_t> failures_{0};
  std::atomic<int64_t> throttled_{0};
  std::thread thread_;
};

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_SEALER_H_
