// command_service's aggregate cache: one aggregate per stream, and a bound
// kept by dropping the least recently used idle aggregates.
#include <gtest/gtest.h>

#include <string>

#include "command_service/aggregate_cache.h"

namespace es::command {
namespace {

Aggregate* GetLoaded(AggregateCache& cache, const std::string& stream) {
  Aggregate* aggregate = cache.Get(stream);
  aggregate->loaded = true;
  return aggregate;
}

TEST(AggregateCache, GivesOneAggregatePerStream) {
  AggregateCache cache(10);
  Aggregate* a = cache.Get("account-a");
  EXPECT_EQ(a->stream_id, "account-a");
  EXPECT_EQ(cache.Get("account-a"), a);
  EXPECT_NE(cache.Get("account-b"), a);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.FindLoaded("account-a"), nullptr) << "not loaded yet";
  a->loaded = true;
  EXPECT_EQ(cache.FindLoaded("account-a"), a);
}

TEST(AggregateCache, TrimDropsTheLeastRecentlyUsedFirst) {
  AggregateCache cache(2);
  GetLoaded(cache, "a");
  GetLoaded(cache, "b");
  GetLoaded(cache, "c");
  cache.Get("a");  // a is now the most recent; b the least
  cache.Trim();
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.FindLoaded("b"), nullptr);
  EXPECT_NE(cache.FindLoaded("a"), nullptr);
  EXPECT_NE(cache.FindLoaded("c"), nullptr);
  // A dropped aggregate comes back empty, to be loaded again.
  EXPECT_FALSE(cache.Get("b")->loaded);
  cache.Trim();
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.FindLoaded("c"), nullptr) << "c was the least recent after a";
}

TEST(AggregateCache, TrimNeverDropsABusyAggregate) {
  AggregateCache cache(1);
  Aggregate* busy = GetLoaded(cache, "busy");
  busy->busy = true;
  GetLoaded(cache, "idle-1");
  GetLoaded(cache, "idle-2");
  cache.Trim();
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.FindLoaded("busy"), busy);
  busy->busy = false;
  GetLoaded(cache, "next");
  cache.Trim();
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.FindLoaded("busy"), nullptr);
  EXPECT_NE(cache.FindLoaded("next"), nullptr);
}

}  // namespace
}  // namespace es::command
