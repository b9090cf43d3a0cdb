// A Store for tests that forwards to another and fails or holds chosen
// writes, so that every write-error path, and every reader that must not
// wait behind a write, can be tested deterministically.
#ifndef NIMBUS_STORAGE_FAULT_INJECTION_STORE_H_
#define NIMBUS_STORAGE_FAULT_INJECTION_STORE_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/store.h"

namespace nimbus::storage {

// Thread-safe.
class FaultInjectionStore : public Store {
 public:
  explicit FaultInjectionStore(std::unique_ptr<Store> base)
      : base_(std::move(base)) {}

  // The next `count` writes whose batch touches `column`, after `skip` such
  // writes let through, return `status` and write nothing.
  void FailWrites(Column column, int count, absl::Status status, int skip = 0);

  // The next `count` point reads (Get) of `column` return `status`.
  void FailReads(Column column, int count, absl::Status status);
  // The next `count` iterators of `column` hold nothing and report
  // `status`.
  void FailIterators(Column column, int count, absl::Status status);

  // From now on, writes whose batch touches `column` wait, before anything
  // is written, until ReleaseHeld().
  void HoldWrites(Column column);
  // Waits until at least `n` writes are held, at most `timeout`. Returns
  // whether they were.
  bool AwaitHeld(int n, absl::Duration timeout);
  // Lets the held writes through and stops holding.
  void ReleaseHeld();

  // Writes failed so far by FailWrites.
  int64_t failed_writes();

  absl::Status Write(WriteBatch& batch) override;
  absl::StatusOr<std::optional<std::string>> Get(
      Column column, absl::string_view key) override;
  std::unique_ptr<StoreIterator> NewIterator(Column column) override;
  int64_t BytesOnDisk() override { return base_->BytesOnDisk(); }
  int64_t MemtableBytes() override { return base_->MemtableBytes(); }
  absl::Status CompactAll() override { return base_->CompactAll(); }
  int format_version() const override { return base_->format_version(); }

 private:
  const std::unique_ptr<Store> base_;
  absl::Mutex mu_;
  // One kind of failure to inject: the next `count` operations on
  // `column`, after `skip` let through, get `status`.
  struct Fault {
    Column column = Column::kMeta;
    int count = 0;
    int skip = 0;
    absl::Status status;
    // Whether an operation that `touches` the column fails (counted).
    bool Take(bool touches);
  };
  Fault writes_ ABSL_GUARDED_BY(mu_);
  Fault reads_ ABSL_GUARDED_BY(mu_);
  Fault iterators_ ABSL_GUARDED_BY(mu_);
  int64_t failed_ ABSL_GUARDED_BY(mu_) = 0;
  bool holding_ ABSL_GUARDED_BY(mu_) = false;
  Column hold_column_ ABSL_GUARDED_BY(mu_) = Column::kMeta;
  int held_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace nimbus::storage

#endif  // NIMBUS_STORAGE_FAULT_INJECTION_STORE_H_
