// Status propagation helpers shared by every Nimbus module.
//
// Debian's Abseil (20220623) ships no status macros, so Nimbus keeps these two
// here. They are the only macros the project defines for control flow.
#ifndef NIMBUS_STORAGE_STATUS_MACROS_H_
#define NIMBUS_STORAGE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Evaluates `expr` (an absl::Status); returns it from the enclosing function
// if it is not OK.
#define NIMBUS_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::absl::Status nimbus_status_ = (expr);          \
    if (!nimbus_status_.ok()) return nimbus_status_; \
  } while (0)

#define NIMBUS_STATUS_CONCAT_INNER_(a, b) a##b
#define NIMBUS_STATUS_CONCAT_(a, b) NIMBUS_STATUS_CONCAT_INNER_(a, b)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status from
// the enclosing function, otherwise moves the value into `lhs`, which may be a
// declaration (`auto x`) or an existing variable.
#define NIMBUS_ASSIGN_OR_RETURN(lhs, rexpr) \
  NIMBUS_ASSIGN_OR_RETURN_IMPL_(            \
      NIMBUS_STATUS_CONCAT_(nimbus_statusor_, __LINE__), lhs, rexpr)

#define NIMBUS_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                  \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = std::move(statusor).value()

#endif  // NIMBUS_STORAGE_STATUS_MACROS_H_
