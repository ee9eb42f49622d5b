// The log engine's own threads under load, for ThreadSanitizer
// (ES_SANITIZE=thread builds this with the rest of store_tsan_test; it runs
// in the normal build too). The loop thread submits batches, takes their
// outcomes and reads while the writer thread writes, syncs and rolls
// segments, and while the index's growth helper maps the next slot arrays:
// every piece of state the threads share is touched from both sides.
#include <gtest/gtest.h>
#include <poll.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "store_service/log_event_storage.h"
#include "store_service/string_table.h"
#include "tests/support/store_requests.h"
#include "tests/support/temp_dir.h"

namespace es::store {
namespace {

using es::testing::ExpectAny;
using es::testing::ExpectExact;
using es::testing::MakeAppend;

constexpr int64_t kRecordedAt = 1'700'000'000'000'000;

class LogConcurrencyTest : public ::testing::Test {
 protected:
  void Open(uint64_t segment_bytes) {
    storage_.reset();
    LogStorageOptions options;
    options.directory = dir_.File("log");
    options.segment_bytes = segment_bytes;
    storage_ = std::make_unique<LogEventStorage>(options);
    Status status = storage_->Open();
    ASSERT_TRUE(status.ok()) << status.ToString();
  }

  // Waits on the completion descriptor (as the store's loop does) and takes
  // the oldest batch's outcomes.
  std::vector<AppendOutcome> TakeNext() {
    for (;;) {
      if (auto outcomes = storage_->TakeCompleted()) return *outcomes;
      pollfd item{storage_->CompletionFd(), POLLIN, 0};
      ::poll(&item, 1, 1000);
    }
  }

  es::testing::TempDir dir_;
  std::unique_ptr<LogEventStorage> storage_;
};

// Batches kept in flight while the writer syncs earlier ones; reads of what
// is committed in between; small segments so the writer rolls over (and
// drops sealed segments from the page cache) many times; thousands of new
// streams and command ids so the index grows several times with its helper.
TEST_F(LogConcurrencyTest, PipelinedBatchesReadsRollOversAndIndexGrowthAgree) {
  Open(/*segment_bytes=*/64 * 1024);
  constexpr int kBatches = 600;
  constexpr int kAppendsPerBatch = 8;
  constexpr size_t kInFlight = 6;
  std::deque<std::vector<es::v1::AppendRequest>> in_flight;
  uint64_t expected_first = 1;
  int submitted = 0;
  int taken = 0;
  auto submit = [&] {
    std::vector<es::v1::AppendRequest>& batch = in_flight.emplace_back();
    for (int a = 0; a < kAppendsPerBatch; ++a) {
      const int n = submitted * kAppendsPerBatch + a;
      // Most appends open a new stream (index growth); every fourth goes to
      // a shared stream at any version.
      const std::string stream =
          n % 4 == 0 ? "shared-" + std::to_string(n % 3) : "s-" + std::to_string(n);
      batch.push_back(MakeAppend(stream, "c-" + std::to_string(n), ExpectAny(), 1 + n % 3));
    }
    std::vector<const es::v1::AppendRequest*> pointers;
    for (const auto& request : batch) pointers.push_back(&request);
    storage_->Submit(pointers, kRecordedAt);
    ++submitted;
  };
  while (taken < kBatches) {
    while (submitted < kBatches && in_flight.size() < kInFlight) submit();
    std::vector<AppendOutcome> outcomes = TakeNext();
    ASSERT_EQ(outcomes.size(), static_cast<size_t>(kAppendsPerBatch));
    for (const AppendOutcome& outcome : outcomes) {
      ASSERT_TRUE(outcome.status.ok()) << outcome.status.ToString();
      ASSERT_FALSE(outcome.result.duplicate());
      ASSERT_EQ(outcome.result.first_position(), expected_first);
      expected_first = outcome.result.last_position() + 1;
    }
    in_flight.pop_front();
    ++taken;
    // Reads while the writer works on the batches still in flight.
    es::v1::ReadAllResult page;
    ReadLimits limits;
    limits.max_count = 50;
    const uint64_t from = expected_first > 40 ? expected_first - 40 : 1;
    ASSERT_TRUE(storage_->ReadAll(from, "", limits, &page).ok());
    ASSERT_FALSE(page.events().empty());
    EXPECT_EQ(page.events(page.events_size() - 1).global_position(), expected_first - 1);
    // A repeat of a taken command is a duplicate, even with batches in flight.
    const std::string repeated = "c-" + std::to_string((taken - 1) * kAppendsPerBatch);
    ASSERT_TRUE(storage_->FindCommand(repeated).has_value()) << repeated;
  }
  EXPECT_GT(storage_->segment_count(), 10u);
  const uint64_t head = storage_->Head();
  EXPECT_EQ(head, expected_first - 1);

  // What the threads wrote is what a fresh scan finds.
  Open(64 * 1024);
  EXPECT_EQ(storage_->Head(), head);
  es::v1::ReadStreamResult shared;
  ASSERT_TRUE(storage_->ReadStream("shared-0", 1, ReadLimits{}, &shared).ok());
  EXPECT_GT(shared.stream_version(), 0u);
}

// Appends through Append (submit and wait) and Submit, mixed, with a stale
// expected version refused in between: outcomes stay in order.
TEST_F(LogConcurrencyTest, MixedAppendAndSubmitKeepTheirOrder) {
  Open(32 * 1024);
  uint64_t version = 0;
  for (int i = 0; i < 300; ++i) {
    const es::v1::AppendRequest next =
        MakeAppend("one", "m-" + std::to_string(i), ExpectExact(version), 2);
    const es::v1::AppendRequest stale =
        MakeAppend("one", "stale-" + std::to_string(i), ExpectExact(version));
    const es::v1::AppendRequest* batch[] = {&next, &stale};
    if (i % 2 == 0) {
      std::vector<AppendOutcome> outcomes = storage_->Append(batch, kRecordedAt);
      ASSERT_EQ(outcomes.size(), 2u);
      ASSERT_TRUE(outcomes[0].status.ok()) << outcomes[0].status.ToString();
      EXPECT_EQ(outcomes[1].status.code(), es::v1::ERROR_CODE_WRONG_EXPECTED_VERSION);
    } else {
      storage_->Submit(batch, kRecordedAt);
      std::vector<AppendOutcome> outcomes = TakeNext();
      ASSERT_TRUE(outcomes[0].status.ok()) << outcomes[0].status.ToString();
      EXPECT_EQ(outcomes[1].status.code(), es::v1::ERROR_CODE_WRONG_EXPECTED_VERSION);
    }
    version += 2;
  }
  EXPECT_EQ(storage_->StreamVersion("one"), version);
}

// The string table's growth helper (std::async maps the next slot array
// while inserts go on) under many growths, with lookups between.
TEST(StringTableConcurrencyTest, GrowthWithItsHelperKeepsEveryEntry) {
  StringTable<uint64_t> table;
  constexpr uint64_t kEntries = 200'000;
  for (uint64_t i = 0; i < kEntries; ++i) {
    table.Insert("key-" + std::to_string(i), i);
    if (i % 997 == 0) {
      const uint64_t probe = i / 2;
      const auto* found = table.Find("key-" + std::to_string(probe));
      ASSERT_NE(found, nullptr) << probe;
      ASSERT_EQ(found->value, probe);
    }
  }
  for (uint64_t i = 0; i < kEntries; i += 101) {
    const auto* found = table.Find("key-" + std::to_string(i));
    ASSERT_NE(found, nullptr) << i;
    EXPECT_EQ(found->value, i);
  }
}

}  // namespace
}  // namespace es::store
