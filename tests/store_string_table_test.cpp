// StringTable, the open-addressing hash table behind the store's in-memory
// indexes: lookups and inserts, entries that stay findable (and in place)
// while the slots double past the point where they move to their own
// mapping, and EraseNewest undoing the newest inserts the way an aborted
// batch does, checked against a plain mirror of the table.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "store_service/string_table.h"

namespace es::store {
namespace {

TEST(StringTableTest, FindInsertAndFindOrInsertBehaveLikeAMap) {
  StringTable<std::string> table;
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.Find("missing"), nullptr);
  EXPECT_EQ(table.Find(""), nullptr);

  StringTable<std::string>::Entry& inserted = table.Insert("alpha", "one");
  EXPECT_EQ(inserted.key, "alpha");
  EXPECT_EQ(inserted.value, "one");
  EXPECT_EQ(table.size(), 1u);

  StringTable<std::string>::Entry* found = table.Find("alpha");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found, &inserted);
  EXPECT_EQ(found->key, "alpha");
  EXPECT_EQ(found->value, "one");
  EXPECT_EQ(table.Find("alph"), nullptr);
  EXPECT_EQ(table.Find("alphabet"), nullptr);

  const StringTable<std::string>& const_table = table;
  const StringTable<std::string>::Entry* const_found = const_table.Find("alpha");
  ASSERT_NE(const_found, nullptr);
  EXPECT_EQ(const_found, &inserted);

  bool was_inserted = false;
  StringTable<std::string>::Entry& first = table.FindOrInsert("beta", "two", &was_inserted);
  EXPECT_TRUE(was_inserted);
  EXPECT_EQ(first.key, "beta");
  EXPECT_EQ(first.value, "two");
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(&table.newest(), &first);

  was_inserted = true;
  StringTable<std::string>::Entry& second = table.FindOrInsert("beta", "other", &was_inserted);
  EXPECT_FALSE(was_inserted);
  EXPECT_EQ(&second, &first);
  EXPECT_EQ(second.value, "two");
  EXPECT_EQ(table.size(), 2u);

  was_inserted = true;
  StringTable<std::string>::Entry& existing = table.FindOrInsert("alpha", "ignored", &was_inserted);
  EXPECT_FALSE(was_inserted);
  EXPECT_EQ(&existing, &inserted);
  EXPECT_EQ(existing.value, "one");

  // The empty string is a key like any other.
  table.Insert("", "empty");
  ASSERT_NE(table.Find(""), nullptr);
  EXPECT_EQ(table.Find("")->value, "empty");
  EXPECT_EQ(table.size(), 3u);
}

TEST(StringTableTest, GrowthKeepsEveryEntryFindableAndInPlace) {
  // 200,000 entries need 2^19 slots of 8 bytes (4 MiB): the table doubles
  // from 1024 slots nine times, the last ones past the 2 MiB point where
  // HugePageArray maps its own memory.
  constexpr uint64_t kCount = 200'000;
  StringTable<uint64_t> table;
  std::vector<StringTable<uint64_t>::Entry*> pointers;
  pointers.reserve(kCount);
  for (uint64_t i = 0; i < kCount; ++i) {
    StringTable<uint64_t>::Entry& entry = table.Insert("command-" + std::to_string(i), i * 7 + 1);
    pointers.push_back(&entry);
  }
  ASSERT_EQ(table.size(), kCount);

  for (uint64_t i = 0; i < kCount; ++i) {
    const std::string key = "command-" + std::to_string(i);
    StringTable<uint64_t>::Entry* found = table.Find(key);
    ASSERT_NE(found, nullptr) << key;
    EXPECT_EQ(found, pointers[i]) << key;
    EXPECT_EQ(found->key, key);
    ASSERT_EQ(found->value, i * 7 + 1) << key;
  }
  for (uint64_t i = 0; i < kCount; ++i) {
    ASSERT_EQ(table.Find("absent-" + std::to_string(i)), nullptr) << i;
  }
  ASSERT_EQ(table.Find("command-" + std::to_string(kCount)), nullptr);
}

TEST(StringTableTest, EraseNewestUndoesInsertsLikeAnAbortedBatch) {
  std::mt19937_64 rng(20240611);
  StringTable<uint64_t> table;
  // The mirror: keys in insertion order, their values, and keys erased
  // since (and not inserted again).
  std::vector<std::string> order;
  std::unordered_map<std::string, uint64_t> values;
  std::unordered_set<std::string> erased;
  uint64_t next_value = 1;  // every insert gets a value of its own

  auto check_all = [&](int round) {
    ASSERT_EQ(table.size(), order.size()) << "round " << round;
    for (const std::string& key : order) {
      const StringTable<uint64_t>::Entry* found = table.Find(key);
      ASSERT_NE(found, nullptr) << "round " << round << " key " << key;
      ASSERT_EQ(found->key, key);
      ASSERT_EQ(found->value, values.at(key)) << "round " << round << " key " << key;
    }
    for (const std::string& key : erased) {
      ASSERT_EQ(table.Find(key), nullptr) << "round " << round << " key " << key;
    }
  };

  // Keys come from a limited space, so a batch often names a key already in
  // the table (FindOrInsert must find it) or one erased earlier (inserted
  // again, with a new value). About 16 net inserts a round take the table
  // past 16,000 entries: it grows from 1024 slots to 32,768, and batches
  // are erased on both sides of each doubling.
  constexpr int kRounds = 1000;
  constexpr uint64_t kKeySpace = 200'000;
  size_t total_inserts = 0;
  size_t total_erases = 0;
  for (int round = 0; round < kRounds; ++round) {
    const size_t batch = 1 + rng() % 64;
    size_t inserted_in_batch = 0;
    for (size_t i = 0; i < batch; ++i) {
      std::string key = "k" + std::to_string(rng() % kKeySpace);
      const bool use_find_or_insert = rng() % 2 == 0;
      const auto it = values.find(key);
      if (it != values.end()) {
        bool was_inserted = true;
        StringTable<uint64_t>::Entry& entry = table.FindOrInsert(key, 0, &was_inserted);
        ASSERT_FALSE(was_inserted) << key;
        ASSERT_EQ(entry.value, it->second) << key;
        continue;
      }
      const uint64_t value = next_value++;
      if (use_find_or_insert) {
        bool was_inserted = false;
        StringTable<uint64_t>::Entry& entry = table.FindOrInsert(key, value, &was_inserted);
        ASSERT_TRUE(was_inserted) << key;
        ASSERT_EQ(entry.value, value);
      } else {
        ASSERT_EQ(table.Find(key), nullptr) << key;
        StringTable<uint64_t>::Entry& entry = table.Insert(key, value);
        ASSERT_EQ(entry.value, value);
      }
      ASSERT_EQ(&table.newest(), table.Find(key));
      erased.erase(key);
      values.emplace(key, value);
      order.push_back(std::move(key));
      ++inserted_in_batch;
    }
    total_inserts += inserted_in_batch;

    // Abort part of the batch (sometimes all of it, sometimes none),
    // newest first; now and then reach further back, into earlier batches.
    size_t to_erase = rng() % (inserted_in_batch + 1);
    if (rng() % 16 == 0) to_erase = std::min(order.size(), to_erase + rng() % 200);
    for (size_t i = 0; i < to_erase; ++i) {
      const std::string& key = order.back();
      ASSERT_EQ(&table.newest(), table.Find(key));
      table.EraseNewest();
      ASSERT_EQ(table.Find(key), nullptr) << "round " << round << " key " << key;
      values.erase(key);
      erased.insert(key);
      order.pop_back();
    }
    total_erases += to_erase;
    ASSERT_EQ(table.size(), order.size());

    if (round % 10 == 0 || round == kRounds - 1) {
      check_all(round);
      if (testing::Test::HasFatalFailure()) return;
    }
  }
  EXPECT_GT(total_inserts, 10'000u);
  EXPECT_GT(total_erases, 5'000u);
  EXPECT_GT(order.size(), 8'192u);  // past several doublings

  // Undo everything: the table ends empty, and usable again.
  while (!order.empty()) {
    table.EraseNewest();
    erased.insert(order.back());
    order.pop_back();
  }
  values.clear();
  check_all(kRounds);
  if (testing::Test::HasFatalFailure()) return;
  EXPECT_EQ(table.size(), 0u);
  table.Insert("again", 42);
  ASSERT_NE(table.Find("again"), nullptr);
  EXPECT_EQ(table.Find("again")->value, 42u);
}

// Keys whose std::hash (the table's hash) satisfies `wanted`: their home
// slot is the hash's low bits.
std::vector<std::string> KeysWhere(const std::string& prefix, size_t count, auto wanted) {
  std::vector<std::string> keys;
  for (uint64_t i = 0; keys.size() < count; ++i) {
    std::string key = prefix + std::to_string(i);
    if (wanted(std::hash<std::string_view>{}(key))) keys.push_back(std::move(key));
  }
  return keys;
}

// Inserting in order and erasing newest first, simply emptying the newest
// entry's slot would do, but Grow places the slots again in old-slot order:
// an entry whose probe run wrapped from the end of the old slots to the
// start is placed before an older entry of the same run. Erasing it must
// then shift the older one back, or the older one is lost.
TEST(StringTableTest, EraseNewestAfterGrowthRepairsARunThatHadWrapped) {
  // 1024 slots hold 716 entries; the 717th insert doubles them to 2048.
  // 714 fillers with homes in [1, 700] stay clear of both ends.
  const std::vector<std::string> fillers = KeysWhere(
      "filler-", 714, [](uint64_t hash) { return (hash & 1023) >= 1 && (hash & 1023) <= 700; });
  // Two keys at home 1023 of the small table, and both at 1023 of the big.
  const std::vector<std::string> last =
      KeysWhere("last-", 2, [](uint64_t hash) { return (hash & 2047) == 1023; });
  const std::string& older = last[0];    // slot 1023
  const std::string& wrapped = last[1];  // wraps to slot 0

  StringTable<uint64_t> table;
  for (size_t i = 0; i < fillers.size(); ++i) table.Insert(fillers[i], i);
  table.Insert(older, 1000);
  table.Insert(wrapped, 1001);
  ASSERT_EQ(table.size(), 716u);
  // This one grows the table: `wrapped` is placed at 1023 and `older`
  // after it, at 1024.
  table.Insert("grows-the-table", 1002);
  ASSERT_NE(table.Find(older), nullptr);
  ASSERT_NE(table.Find(wrapped), nullptr);

  table.EraseNewest();  // "grows-the-table"
  table.EraseNewest();  // `wrapped`
  EXPECT_EQ(table.Find("grows-the-table"), nullptr);
  EXPECT_EQ(table.Find(wrapped), nullptr);
  const StringTable<uint64_t>::Entry* found = table.Find(older);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->value, 1000u);
  for (size_t i = 0; i < fillers.size(); ++i) {
    const StringTable<uint64_t>::Entry* filler = table.Find(fillers[i]);
    ASSERT_NE(filler, nullptr) << fillers[i];
    ASSERT_EQ(filler->value, i);
  }
  EXPECT_EQ(table.size(), 715u);
}

TEST(StringTableTest, PrefetchChangesNothing) {
  StringTable<int> table;
  table.Prefetch("anything");
  table.Prefetch("");
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.Find("anything"), nullptr);

  constexpr int kCount = 5'000;
  for (int i = 0; i < kCount; ++i) table.Insert("key-" + std::to_string(i), i);
  for (int i = 0; i < 2 * kCount; ++i) table.Prefetch("key-" + std::to_string(i));
  EXPECT_EQ(table.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    const auto* found = table.Find("key-" + std::to_string(i));
    ASSERT_NE(found, nullptr) << i;
    ASSERT_EQ(found->value, i);
  }
  for (int i = kCount; i < 2 * kCount; ++i) {
    ASSERT_EQ(table.Find("key-" + std::to_string(i)), nullptr) << i;
  }
}

}  // namespace
}  // namespace es::store
