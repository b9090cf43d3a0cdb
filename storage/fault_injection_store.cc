#include "storage/fault_injection_store.h"

namespace nimbus::storage {

void FaultInjectionStore::FailWrites(Column column, int count,
                                     absl::Status status, int skip) {
  absl::MutexLock l(&mu_);
  fail_column_ = column;
  fail_count_ = count;
  fail_skip_ = skip;
  fail_status_ = std::move(status);
}

void FaultInjectionStore::FailReads(Column column, int count,
                                    absl::Status status) {
  absl::MutexLock l(&mu_);
  fail_read_column_ = column;
  fail_reads_ = count;
  fail_read_status_ = std::move(status);
}

absl::StatusOr<std::optional<std::string>> FaultInjectionStore::Get(
    Column column, absl::string_view key) {
  {
    absl::MutexLock l(&mu_);
    if (fail_reads_ > 0 && column == fail_read_column_) {
      --fail_reads_;
      return fail_read_status_;
    }
  }
  return base_->Get(column, key);
}

void FaultInjectionStore::FailIterators(Column column, int count,
                                        absl::Status status) {
  absl::MutexLock l(&mu_);
  fail_iterator_column_ = column;
  fail_iterators_ = count;
  fail_iterator_status_ = std::move(status);
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
    if (fail_iterators_ > 0 && column == fail_iterator_column_) {
      --fail_iterators_;
      return std::make_unique<FailedIterator>(fail_iterator_status_);
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
    if (fail_count_ > 0 && batch.Touches(fail_column_)) {
      if (fail_skip_ > 0) {
        --fail_skip_;
      } else {
        --fail_count_;
        ++failed_;
        return fail_status_;
      }
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
