#include "storage/fault_injection_store.h"

namespace nimbus::storage {

bool FaultInjectionStore::Fault::Take(bool touches) {
  if (count <= 0 || !touches) return false;
  if (skip > 0) {
    --skip;
    return false;
  }
  --count;
  return true;
}

void FaultInjectionStore::FailWrites(Column column, int count,
                                     absl::Status status, int skip) {
  absl::MutexLock l(&mu_);
  writes_ = {column, count, skip, std::move(status)};
}

void FaultInjectionStore::FailReads(Column column, int count,
                                    absl::Status status) {
  absl::MutexLock l(&mu_);
  reads_ = {column, count, 0, std::move(status)};
}

void FaultInjectionStore::FailIterators(Column column, int count,
                                        absl::Status status) {
  absl::MutexLock l(&mu_);
  iterators_ = {column, count, 0, std::move(status)};
}

absl::StatusOr<std::optional<std::string>> FaultInjectionStore::Get(
    Column column, absl::string_view key) {
  {
    absl::MutexLock l(&mu_);
    if (reads_.Take(column == reads_.column)) return reads_.status;
  }
  return base_->Get(column, key);
}

namespace {

// An iterator over nothing whose status is an error.
class FailedIterator : public StoreIterator {
 public:
  explicit FailedIterator(absl::Status status) : status_(std::move(status)) {}
  void Seek(absl::string_view) override {}
  void SeekForPrev(absl::string_view) override {}
  void SeekToFirst() override {}
  bool Valid() const override { return false; }
  void Next() override {}
  void Prev() override {}
  absl::string_view key() const override { return {}; }
  absl::string_view value() const override { return {}; }
  absl::Status status() const override { return status_; }

 private:
  const absl::Status status_;
};

}  // namespace

std::unique_ptr<StoreIterator> FaultInjectionStore::NewIterator(Column column) {
  {
    absl::MutexLock l(&mu_);
    if (iterators_.Take(column == iterators_.column)) {
      return std::make_unique<FailedIterator>(iterators_.status);
    }
  }
  return base_->NewIterator(column);
}

void FaultInjectionStore::HoldWrites(Column column) {
  absl::MutexLock l(&mu_);
  holding_ = true;
  hold_column_ = column;
}

bool FaultInjectionStore::AwaitHeld(int n, absl::Duration timeout) {
  absl::MutexLock l(&mu_);
  struct Arg {
    FaultInjectionStore* store;
    int n;
  } arg{this, n};
  return mu_.AwaitWithTimeout(absl::Condition(
                                  +[](Arg* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                    return a->store->held_ >= a->n;
                                  },
                                  &arg),
                              timeout);
}

void FaultInjectionStore::ReleaseHeld() {
  absl::MutexLock l(&mu_);
  holding_ = false;
}

int64_t FaultInjectionStore::failed_writes() {
  absl::MutexLock l(&mu_);
  return failed_;
}

absl::Status FaultInjectionStore::Write(WriteBatch& batch) {
  {
    absl::MutexLock l(&mu_);
    if (writes_.Take(batch.Touches(writes_.column))) {
      ++failed_;
      return writes_.status;
    }
    if (holding_ && batch.Touches(hold_column_)) {
      ++held_;
      mu_.Await(absl::Condition(
          +[](bool* holding) { return !*holding; }, &holding_));
      --held_;
    }
  }
  return base_->Write(batch);
}

}  // namespace nimbus::storage
