#include "engine/series_index.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/validation.h"
#include "storage/keys.h"
#include "storage/status_macros.h"

namespace nimbus::engine {
namespace {

using storage::Column;

constexpr int64_t kRecentlyActiveMs = int64_t{3} * 3600 * 1000;

}  // namespace

SeriesKey Series::Key() const {
  SeriesKey k;
  SeriesKey::Decode(encoded(), &k);  // written by Encode(): always decodes
  return k;
}

absl::StatusOr<std::unique_ptr<SeriesIndex>> SeriesIndex::Load(
    storage::Store& store) {
  std::unique_ptr<SeriesIndex> index(new SeriesIndex(store));
  auto it = store.NewIterator(Column::kSeries);
  absl::MutexLock c(&index->create_mu_);
  absl::MutexLock l(&index->mu_);
  absl::flat_hash_map<uint64_t, uint64_t> sealed;
  absl::flat_hash_map<uint64_t, int64_t> last_write;
  uint64_t max_id = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const absl::string_view k = it->key();
    const absl::string_view v = it->value();
    uint64_t id;
    if (!k.empty() && k[0] == storage::kSeriesKeyTag && v.size() == 8) {
      Series& s = index->series_.emplace_back();
      s.id = storage::GetBigEndian64(v.data());
      s.encoded_at = index->StoreKey(k.substr(1));
      SeriesKey check;
      if (!SeriesKey::Decode(s.encoded(), &check)) {
        return absl::DataLossError(
            absl::StrCat("series ", s.id, ": undecodable series key"));
      }
      max_id = std::max(max_id, s.id);
    } else if (storage::DecodeSeriesIdKey(k, storage::kSeriesSealedTag, &id) &&
               v.size() == 8) {
      sealed[id] = storage::GetBigEndian64(v.data());
    } else if (storage::DecodeSeriesIdKey(k, storage::kSeriesLastWriteTag,
                                          &id) &&
               v.size() == 8) {
      last_write[id] = static_cast<int64_t>(storage::GetBigEndian64(v.data()));
    }
  }
  NIMBUS_RETURN_IF_ERROR(it->status());
  // Ids are dense (a failed creation leaves a gap of its batch), and
  // by_id_ is a vector of them: an id far beyond the series stored is a
  // damaged record, not a reason to allocate for it.
  if (max_id > 2 * index->series_.size() + (uint64_t{1} << 24)) {
    return absl::DataLossError(absl::StrCat(
        "series id ", max_id, " is far beyond the ", index->series_.size(),
        " series stored: a damaged series record"));
  }
  index->next_id_ = max_id + 1;
  index->by_id_.assign(max_id + 1, nullptr);
  index->by_key_.reserve(index->series_.size());
  for (Series& s : index->series_) {
    index->by_key_.insert(&s);
    index->by_id_[s.id] = &s;
    auto f = sealed.find(s.id);
    if (f != sealed.end()) s.sealed_seq = f->second;
    auto w = last_write.find(s.id);
    if (w != last_write.end()) {
      s.last_write_ms.store(w->second);
      s.persisted_write_ms = w->second;
    }
  }
  return index;
}

namespace {

constexpr size_t kIdentityHeader = 3 * sizeof(uint32_t);

// Whether `bytes` (IdentityEntry::bytes) holds exactly `id`.
bool IdentityBytesEqual(const char* bytes, const IdentityView& id) {
  uint32_t len[3];
  std::memcpy(len, bytes, sizeof(len));
  if (len[0] != id.namespace_name.size() || len[1] != id.fields.size() ||
      len[2] != id.unit.size()) {
    return false;
  }
  // As views: an empty view's data() may be null, which memcmp may not get.
  const char* p = bytes + kIdentityHeader;
  return absl::string_view(p, len[0]) == id.namespace_name &&
         absl::string_view(p + len[0], len[1]) == id.fields &&
         absl::string_view(p + len[0] + len[1], len[2]) == id.unit;
}

std::unique_ptr<char[]> IdentityBytes(const IdentityView& id) {
  const uint32_t len[3] = {static_cast<uint32_t>(id.namespace_name.size()),
                           static_cast<uint32_t>(id.fields.size()),
                           static_cast<uint32_t>(id.unit.size())};
  auto bytes =
      std::make_unique<char[]>(kIdentityHeader + len[0] + len[1] + len[2]);
  char* p = bytes.get();
  std::memcpy(p, len, sizeof(len));
  p += kIdentityHeader;
  // memcpy of an empty view's data() (possibly null) is not allowed.
  for (absl::string_view part : {id.namespace_name, id.fields, id.unit}) {
    if (!part.empty()) std::memcpy(p, part.data(), part.size());
    p += part.size();
  }
  return bytes;
}

}  // namespace

void SeriesIndex::FindByIdentity(absl::Span<const IdentityView> ids,
                                 absl::Span<const uint64_t> hashes,
                                 Series** out) {
  // A request names a thousand series at random places in memory: each
  // step is two cache misses (the slot, the remembered bytes) unless they
  // are fetched ahead. Two passes, prefetching kAhead items ahead in each.
  constexpr size_t kAhead = 8;
  const size_t n = ids.size();
  thread_local std::vector<const char*> bytes;
  bytes.assign(n, nullptr);
  absl::ReaderMutexLock l(&identity_mu_);
  for (size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) by_identity_.prefetch(hashes[i + kAhead]);
    out[i] = nullptr;
    if (hashes[i] == 0) continue;  // not to be looked up
    auto f = by_identity_.find(hashes[i]);
    if (f == by_identity_.end()) continue;
    out[i] = f->second.series;
    bytes[i] = f->second.bytes.get();
    __builtin_prefetch(bytes[i]);
  }
  for (size_t i = 0; i < n; ++i) {
    if (out[i] != nullptr && !IdentityBytesEqual(bytes[i], ids[i])) {
      out[i] = nullptr;
    }
  }
}

void SeriesIndex::RememberIdentities(
    absl::Span<const RememberedIdentity> remembered) {
  if (remembered.empty()) return;
  const size_t series = size();
  absl::MutexLock l(&identity_mu_);
  for (const RememberedIdentity& r : remembered) {
    auto f = by_identity_.find(r.hash);
    if (f != by_identity_.end()) {
      // Remembered already (two writers missed it at once), or a colliding
      // identity, which takes the slot over: a hit is checked either way.
      if (!IdentityBytesEqual(f->second.bytes.get(), r.id)) {
        f->second = {r.series, IdentityBytes(r.id)};
      }
      continue;
    }
    if (by_identity_.size() >= 2 * series + kIdentitySlack) return;
    by_identity_.emplace(r.hash, IdentityEntry{r.series, IdentityBytes(r.id)});
  }
}

absl::StatusOr<std::vector<Series*>> SeriesIndex::Resolve(
    absl::Span<const absl::string_view> encoded) {
  std::vector<Series*> out(encoded.size(), nullptr);
  bool missing = false;
  {
    absl::ReaderMutexLock l(&mu_);
    for (size_t i = 0; i < encoded.size(); ++i) {
      auto f = by_key_.find(encoded[i]);
      if (f != by_key_.end()) {
        out[i] = *f;
      } else {
        missing = true;
      }
    }
  }
  if (!missing) return out;
  // New series are written durably before any log record names them. One
  // creation at a time (create_mu_), with the index itself locked only to
  // look up and, after the write, to insert: readers and writers of
  // existing series never wait for the write (an fsync under
  // --sync=power).
  absl::MutexLock one_creation(&create_mu_);
  std::vector<std::string> fresh;  // distinct new encodings
  absl::flat_hash_map<absl::string_view, size_t> fresh_index;
  std::vector<std::pair<size_t, size_t>> wants;  // (i, fresh index)
  {
    absl::ReaderMutexLock l(&mu_);
    for (size_t i = 0; i < encoded.size(); ++i) {
      if (out[i] != nullptr) continue;
      auto f = by_key_.find(encoded[i]);
      if (f != by_key_.end()) {  // created meanwhile
        out[i] = *f;
        continue;
      }
      auto [g, inserted] = fresh_index.try_emplace(encoded[i], fresh.size());
      if (inserted) fresh.emplace_back(encoded[i]);
      wants.push_back({i, g->second});
    }
  }
  if (fresh.empty()) return out;
  storage::WriteBatch batch;
  for (size_t j = 0; j < fresh.size(); ++j) {
    std::string id_be;
    storage::PutBigEndian64(&id_be, next_id_ + j);
    batch.Put(Column::kSeries, storage::EncodeSeriesIndexKey(fresh[j]), id_be);
  }
  // Ids are not reused even when the write fails: a write reported failed
  // may still have reached the log and come back on the next open.
  const uint64_t first_id = next_id_;
  next_id_ += fresh.size();
  NIMBUS_RETURN_IF_ERROR(store_.Write(batch));
  std::vector<Series*> created(fresh.size());
  {
    absl::MutexLock l(&mu_);
    for (size_t j = 0; j < fresh.size(); ++j) {
      Series& s = series_.emplace_back();
      s.id = first_id + j;
      s.encoded_at = StoreKey(fresh[j]);
      s.run_chunks = 0;  // new: no chunk yet
      by_key_.insert(&s);
      if (by_id_.size() <= s.id) by_id_.resize(s.id + 1, nullptr);
      by_id_[s.id] = &s;
      created[j] = &s;
    }
    // Attached to the recent windows before another Resolve can find them
    // and commit to them (lock order: this index, then the heads, then the
    // windows, as HeadStore::Aged takes them).
    if (on_create_) on_create_(created);
  }
  for (const auto& [i, j] : wants) out[i] = created[j];
  return out;
}

const char* SeriesIndex::StoreKey(absl::string_view key) {
  char len[10];
  char* end = len;
  uint64_t v = key.size();
  for (; v >= 0x80; v >>= 7) *end++ = static_cast<char>(v | 0x80);
  *end++ = static_cast<char>(v);
  const size_t prefix = static_cast<size_t>(end - len);
  const size_t size = prefix + key.size();
  char* at;
  if (size > kKeyBlock) {
    // A block of its own, slipped in below the current one, which goes on.
    key_blocks_.emplace_back(new char[size]);
    at = key_blocks_.back().get();
    const size_t n = key_blocks_.size();
    if (key_block_left_ > 0) std::swap(key_blocks_[n - 1], key_blocks_[n - 2]);
  } else {
    if (size > key_block_left_) {
      key_blocks_.emplace_back(new char[kKeyBlock]);
      key_block_left_ = kKeyBlock;
    }
    at = key_blocks_.back().get() + (kKeyBlock - key_block_left_);
    key_block_left_ -= size;
  }
  std::memcpy(at, len, prefix);
  if (!key.empty()) std::memcpy(at + prefix, key.data(), key.size());
  return at;
}

Series* SeriesIndex::Find(uint64_t id) {
  absl::ReaderMutexLock l(&mu_);
  return id < by_id_.size() ? by_id_[id] : nullptr;
}

std::vector<Series*> SeriesIndex::Match(const SeriesKey& key) {
  std::vector<Series*> out;
  absl::ReaderMutexLock l(&mu_);
  if (!key.unit.empty()) {
    auto f = by_key_.find(absl::string_view(key.Encode()));
    if (f != by_key_.end()) out.push_back(*f);
    return out;
  }
  // Any unit: look the key up under each unit name.
  SeriesKey k = key;
  for (absl::string_view unit : kUnitNames) {
    k.unit = std::string(unit);
    auto f = by_key_.find(absl::string_view(k.Encode()));
    if (f != by_key_.end()) out.push_back(*f);
  }
  return out;
}

absl::StatusOr<ListResult> SeriesIndex::List(const ListQuery& q,
                                             int64_t now_ms) {
  std::string after;
  if (!q.next_token.empty() &&
      !absl::WebSafeBase64Unescape(q.next_token, &after)) {
    return absl::InvalidArgumentError(
        "next_token: not a token this server gave out");
  }
  const int64_t active_since = now_ms - kRecentlyActiveMs;
  struct Matched {
    const Series* series;
    SeriesKey key;
  };
  std::vector<Matched> matched;
  {
    absl::ReaderMutexLock l(&mu_);
    for (const Series& s : series_) {
      if (q.recently_active && s.last_write_ms.load() < active_since) continue;
      if (!after.empty() && s.encoded() <= after) continue;
      SeriesKey key = s.Key();
      if (!q.namespace_name.empty() && key.namespace_name != q.namespace_name)
        continue;
      if (!q.metric_name.empty() && key.metric_name != q.metric_name) continue;
      bool ok = true;
      for (const auto& f : q.dimensions) {
        auto d =
            std::find_if(key.dimensions.begin(), key.dimensions.end(),
                         [&](const Dimension& x) { return x.name == f.name; });
        if (d == key.dimensions.end() || (f.value && d->value != *f.value)) {
          ok = false;
          break;
        }
      }
      if (ok) matched.push_back({&s, std::move(key)});
    }
  }
  std::sort(matched.begin(), matched.end(),
            [](const Matched& a, const Matched& b) {
              return a.series->encoded() < b.series->encoded();
            });
  ListResult r;
  const size_t n = std::min(matched.size(), q.page_size);
  for (size_t i = 0; i < n; ++i) r.series.push_back(std::move(matched[i].key));
  if (matched.size() > n) {
    r.next_token = absl::WebSafeBase64Escape(matched[n - 1].series->encoded());
  }
  return r;
}

void SeriesIndex::ForEach(absl::FunctionRef<void(Series&)> visit) {
  absl::ReaderMutexLock l(&mu_);
  for (Series& s : series_) visit(s);
}

size_t SeriesIndex::size() {
  absl::ReaderMutexLock l(&mu_);
  return series_.size();
}

}  // namespace nimbus::engine
