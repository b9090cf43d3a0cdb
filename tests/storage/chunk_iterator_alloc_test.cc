// ChunkIterator allocates nothing: not per point, not per block, not at all
// for a valid chunk. This binary replaces the global operator new to count.
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "gtest/gtest.h"
#include "storage/chunk_codec.h"
#include "tools/shapes.h"

namespace {
std::atomic<size_t> g_allocations{0};
}  // namespace

void* operator new(size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace nimbus::storage {
namespace {

TEST(ChunkIterator, AllocatesNothingWhileDecoding) {
  for (tools::Shape shape : tools::kAllShapes) {
    const auto d = tools::GenerateSeries(shape, 1, 0, 10'000, 7200);
    std::string chunk;
    ASSERT_TRUE(EncodeChunk(d.timestamps_ms, d.values, &chunk).ok());

    const size_t before = g_allocations.load();
    size_t points = 0;
    double sum = 0;
    {
      ChunkIterator it(chunk);
      for (; it.Valid(); it.Next()) {
        sum += it.value();
        ++points;
      }
      ASSERT_TRUE(it.status().ok());
    }
    EXPECT_EQ(g_allocations.load() - before, 0u) << tools::ShapeName(shape);
    EXPECT_EQ(points, 7200u);
    EXPECT_NE(sum, -1.0);  // keep the loop
  }
}

TEST(ChunkIterator, CountingAllocatorSeesAllocations) {
  // The counter works: a string that does not fit inline allocates.
  const size_t before = g_allocations.load();
  std::string s(1000, 'x');
  EXPECT_GT(g_allocations.load() - before, 0u);
  EXPECT_EQ(s.size(), 1000u);
}

}  // namespace
}  // namespace nimbus::storage
