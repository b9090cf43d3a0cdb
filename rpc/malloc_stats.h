// The process's allocator, as far as Nimbus asks it anything: heap in use,
// and giving freed pages back. gperftools' tcmalloc answers when the binary
// links it (the symbols are weak); otherwise glibc's figures, and nothing to
// give back.
#ifndef NIMBUS_RPC_MALLOC_STATS_H_
#define NIMBUS_RPC_MALLOC_STATS_H_

#include <cstddef>
#include <cstdint>

namespace nimbus::rpc {

// Bytes the program has allocated and not freed.
int64_t HeapBytesInUse();

// True if the allocator can give freed pages back (tcmalloc is linked).
bool CanReleaseFreeMemory();

// Gives the allocator's free pages back to the OS if they are more than
// `above_bytes`: so that steady work, which reuses what it frees, does not
// return pages only to fault them in again. REQUIRES: CanReleaseFreeMemory().
void ReleaseFreeMemoryAbove(size_t above_bytes);

}  // namespace nimbus::rpc

#endif  // NIMBUS_RPC_MALLOC_STATS_H_
