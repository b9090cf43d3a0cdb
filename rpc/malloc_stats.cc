#include "rpc/malloc_stats.h"

#include <malloc.h>

extern "C" int MallocExtension_GetNumericProperty(const char* property,
                                                  size_t* value)
    __attribute__((weak));
extern "C" void MallocExtension_ReleaseToSystem(size_t bytes)
    __attribute__((weak));

namespace nimbus::rpc {

int64_t HeapBytesInUse() {
  size_t bytes = 0;
  if (MallocExtension_GetNumericProperty != nullptr &&
      MallocExtension_GetNumericProperty("generic.current_allocated_bytes",
                                         &bytes)) {
    return static_cast<int64_t>(bytes);
  }
  const struct mallinfo2 mi = mallinfo2();
  return static_cast<int64_t>(mi.uordblks + mi.hblkhd);
}

bool CanReleaseFreeMemory() {
  return MallocExtension_GetNumericProperty != nullptr &&
         MallocExtension_ReleaseToSystem != nullptr;
}

void ReleaseFreeMemoryAbove(size_t above_bytes) {
  size_t free_bytes = 0;
  if (MallocExtension_GetNumericProperty("tcmalloc.pageheap_free_bytes",
                                         &free_bytes) &&
      free_bytes > above_bytes) {
    MallocExtension_ReleaseToSystem(free_bytes);
  }
}

}  // namespace nimbus::rpc
