// The series index: every series the store knows, by encoded key and by id.
//
// A series is created durably (its 'k' record in the `series` column family)
// before any ingest-log record names it, and lives as long as the engine:
// `Series*` handed out stay valid until the index is destroyed.
//
// Per-series head state lives in Series too (it is what the ingest path
// touches per point), but belongs to HeadStore (engine/head_store.h), which
// guards it.
#ifndef NIMBUS_ENGINE_SERIES_INDEX_H_
#define NIMBUS_ENGINE_SERIES_INDEX_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "engine/head_buffer.h"
#include "engine/series_key.h"
#include "storage/store.h"

namespace nimbus::engine {

// One series. The key is held only in its encoded form (decoded when a
// query needs its fields), and the index maps views of it.
struct SeriesWatchers;

struct Series {
  uint64_t id = 0;
  // SeriesKey::Encode(), in the index's key arena after its length (a
  // varint): a pointer rather than a view, eight bytes a series fewer.
  const char* encoded_at = nullptr;
  absl::string_view encoded() const {
    const auto* p = reinterpret_cast<const unsigned char*>(encoded_at);
    size_t n = 0;
    for (int shift = 0;; shift += 7) {
      const unsigned char b = *p++;
      n |= static_cast<size_t>(b & 0x7f) << shift;
      if (b < 0x80) break;
    }
    return absl::string_view(reinterpret_cast<const char*>(p), n);
  }
  SeriesKey Key() const;

  // When a point or statistic set was last written (ms since the epoch).
  std::atomic<int64_t> last_write_ms{0};
  // The value last persisted ('a' record). Sweeper only.
  int64_t persisted_write_ms = 0;

  // Head state: guarded by HeadStore's lock (engine/head_store.h).
  HeadBuffer head;
  uint64_t head_first_seq = 0;  // log sequence of the oldest head point
  uint64_t head_last_seq = 0;
  int64_t head_first_wall_ms = 0;
  uint64_t sealed_seq = 0;   // every log record <= this is in chunks
  bool seal_queued = false;  // waiting for the sealer
  // The recent windows this series feeds (engine/recent_window.h), or
  // nullptr: guarded by HeadStore's lock.
  SeriesWatchers* watchers = nullptr;
  // The series' open run: the chunks the sealer wrote for it since it last
  // merged them into one (engine/sealer.h), all starting at or after
  // run_first_ms, run_points points in all. Sealer only (one seal at a
  // time), and the index, which marks a series it creates as having no
  // chunk (0) and a series it loads as not known yet (kRunUnknown).
  static constexpr uint16_t kRunUnknown = 0xffff;
  uint16_t run_chunks = kRunUnknown;
  uint16_t run_points = 0;
  int64_t run_first_ms = 0;
};

struct ListQuery {
  std::string namespace_name;  // empty: any
  std::string metric_name;     // empty: any
  struct Filter {
    std::string name;
    std::optional<std::string> value;
  };
  std::vector<Filter> dimensions;
  bool recently_active = false;  // written to in the last 3 hours
  std::string next_token;
  size_t page_size = 500;
};

struct ListResult {
  std::vector<SeriesKey> series;
  std::string next_token;  // empty on the last page
};

// Thread-safe.
class SeriesIndex {
 public:
  // Reads every series record of `store`. Returns DataLoss for a series key
  // that does not decode, or the store's error.
  static absl::StatusOr<std::unique_ptr<SeriesIndex>> Load(
      storage::Store& store);
  SeriesIndex(const SeriesIndex&) = delete;
  SeriesIndex& operator=(const SeriesIndex&) = delete;

  // The series of each encoded key, in order, creating the missing ones
  // (one store write for all of them, with no lock held that lookups,
  // queries or writers of existing series need). Returns the store's error
  // if that write failed; then no series of the call was created.
  absl::StatusOr<std::vector<Series*>> Resolve(
      absl::Span<const absl::string_view> encoded);

  // Series by the identity a client sent, so that a datum of a series seen
  // before skips validation, encoding and the key lookup: out[i] is the
  // series an earlier RememberIdentities() recorded for exactly the bytes of
  // ids[i] (whose hash is hashes[i]; 0: not looked up), or nullptr. A hit is
  // checked against the remembered bytes, never taken on the hash alone.
  void FindByIdentity(absl::Span<const IdentityView> ids,
                      absl::Span<const uint64_t> hashes, Series** out);
  // Records that identity `id` (of hash `hash`) is series `s`, keeping a
  // copy of its bytes; callers do so only for identities that passed
  // validation and resolved to `s`. At most twice as many identities as
  // series (plus kIdentitySlack) are kept, so a client that sends one series
  // in many forms cannot grow it without bound.
  struct RememberedIdentity {
    uint64_t hash;
    IdentityView id;
    Series* series;
  };
  void RememberIdentities(absl::Span<const RememberedIdentity> remembered);
  static constexpr size_t kIdentitySlack = 1024;

  // Called when Resolve() creates series, with the index locked, before any
  // other call can find them (the recent windows attach them); it must not
  // call back into the index. Set once, before any Resolve().
  void set_on_create(std::function<void(absl::Span<Series* const>)> f) {
    on_create_ = std::move(f);
  }

  // nullptr if there is no series with that id.
  Series* Find(uint64_t id);

  // The series of `key`; with an empty unit, the series of every unit.
  std::vector<Series*> Match(const SeriesKey& key);

  // Series matching the query, ordered by encoded key, a page at a time.
  // `now_ms` judges recently_active. Returns InvalidArgument if next_token
  // is not one this index gave out.
  absl::StatusOr<ListResult> List(const ListQuery& query, int64_t now_ms);

  // Calls visit for every series, in creation order, with the index locked
  // shared: visit must not call back into the index.
  void ForEach(absl::FunctionRef<void(Series&)> visit);

  size_t size();

 private:
  explicit SeriesIndex(storage::Store& store) : store_(store) {}

  // Copies `key`, after its length (a varint), into the key arena, whose
  // bytes never move or go away (Series::encoded_at).
  const char* StoreKey(absl::string_view key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(create_mu_);

  storage::Store& store_;
  // Serializes series creation; taken before mu_.
  std::function<void(absl::Span<Series* const>)> on_create_;
  absl::Mutex create_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(create_mu_) = 1;
  // Every series' encoded key, back to back in blocks of kKeyBlock bytes (a
  // larger key gets a block of its own): no allocation and no string header
  // per series.
  static constexpr size_t kKeyBlock = size_t{64} << 10;
  std::vector<std::unique_ptr<char[]>> key_blocks_ ABSL_GUARDED_BY(create_mu_);
  size_t key_block_left_ ABSL_GUARDED_BY(create_mu_) = 0;
  absl::Mutex mu_;
  // Series by encoded key, looked up by the key's bytes: a set of pointers
  // (8 bytes a slot) rather than a map from a view (24).
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(absl::string_view k) const {
      return absl::Hash<absl::string_view>{}(k);
    }
    size_t operator()(const Series* s) const { return (*this)(s->encoded()); }
  };
  struct KeyEq {
    using is_transparent = void;
    static absl::string_view K(absl::string_view k) { return k; }
    static absl::string_view K(const Series* s) { return s->encoded(); }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return K(a) == K(b);
    }
  };
  absl::flat_hash_set<Series*, KeyHash, KeyEq> by_key_ ABSL_GUARDED_BY(mu_);
  // Series never move (deque elements).
  std::deque<Series> series_ ABSL_GUARDED_BY(mu_);
  // By id; ids are dense (a failed creation leaves a null slot).
  std::vector<Series*> by_id_ ABSL_GUARDED_BY(mu_);
  // Series by the hash of an identity as sent (FindByIdentity). Its own
  // lock: ingest reads it once per request.
  absl::Mutex identity_mu_;
  struct IdentityEntry {
    Series* series;
    // The identity's three field lengths (uint32_t each), then its bytes.
    std::unique_ptr<char[]> bytes;
  };
  absl::flat_hash_map<uint64_t, IdentityEntry> by_identity_
      ABSL_GUARDED_BY(identity_mu_);
};

}  // namespace nimbus::engine

#endif  // NIMBUS_ENGINE_SERIES_INDEX_H_
