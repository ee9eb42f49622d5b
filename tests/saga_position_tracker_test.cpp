// The saga's low-water mark: every event at or below the checkpoint is
// handled, whatever order the commands finish in.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "saga_service/position_tracker.h"

namespace es::saga {
namespace {

constexpr TransferTally kNone{};
constexpr TransferTally kCreated{.created = 1};
constexpr TransferTally kCompleted{.completed = 1};
constexpr TransferTally kFailed{.failed = 1};

TEST(SagaPositionTracker, StartsAtTheGivenCheckpoint) {
  const SagaCheckpoint start{.position = 41, .transfers = {.created = 3, .completed = 2}};
  PositionTracker tracker(start);
  EXPECT_EQ(tracker.checkpoint(), start);
  EXPECT_EQ(tracker.seen(), start.transfers);
  EXPECT_EQ(tracker.newest(), 41u);
  EXPECT_EQ(tracker.pending(), 0u);
}

TEST(SagaPositionTracker, HandledEventsMoveTheCheckpointAtOnce) {
  PositionTracker tracker(SagaCheckpoint{});
  EXPECT_TRUE(tracker.AddHandled(1, kNone));
  EXPECT_TRUE(tracker.AddHandled(2, kCompleted));
  EXPECT_EQ(tracker.checkpoint().position, 2u);
  EXPECT_EQ(tracker.checkpoint().transfers, kCompleted);
  EXPECT_EQ(tracker.window_spans(), 0u);
}

TEST(SagaPositionTracker, OutOfOrderCompletionHoldsTheCheckpointAtTheOldestPending) {
  PositionTracker tracker(SagaCheckpoint{});
  ASSERT_TRUE(tracker.AddPending(1, kCreated));
  ASSERT_TRUE(tracker.AddPending(2, kCreated));
  ASSERT_TRUE(tracker.AddPending(3, kCreated));
  EXPECT_EQ(tracker.pending(), 3u);

  EXPECT_TRUE(tracker.Complete(3));
  EXPECT_EQ(tracker.checkpoint().position, 0u);
  EXPECT_TRUE(tracker.Complete(1));
  EXPECT_EQ(tracker.checkpoint().position, 1u);
  EXPECT_EQ(tracker.checkpoint().transfers, kCreated);
  EXPECT_TRUE(tracker.Complete(2));
  EXPECT_EQ(tracker.checkpoint().position, 3u);
  EXPECT_EQ(tracker.checkpoint().transfers.created, 3u);
  EXPECT_EQ(tracker.pending(), 0u);
  EXPECT_EQ(tracker.window_spans(), 0u);
}

TEST(SagaPositionTracker, HandledEventsBehindAPendingOneWaitForIt) {
  PositionTracker tracker(SagaCheckpoint{.position = 4, .transfers = {}});
  ASSERT_TRUE(tracker.AddPending(5, kCreated));
  ASSERT_TRUE(tracker.AddHandled(6, kCompleted));
  ASSERT_TRUE(tracker.AddHandled(7, kFailed));
  ASSERT_TRUE(tracker.AddPending(8, kNone));
  EXPECT_TRUE(tracker.Complete(8));
  EXPECT_EQ(tracker.checkpoint().position, 4u);
  EXPECT_EQ(tracker.checkpoint().transfers, kNone);
  // The tally of what was seen does not wait.
  EXPECT_EQ(tracker.seen(), (TransferTally{.created = 1, .completed = 1, .failed = 1}));

  EXPECT_TRUE(tracker.Complete(5));
  EXPECT_EQ(tracker.checkpoint().position, 8u);
  EXPECT_EQ(tracker.checkpoint().transfers, tracker.seen());
}

TEST(SagaPositionTracker, SkippedPositionsCountAsHandled) {
  PositionTracker tracker(SagaCheckpoint{});
  tracker.SkipThrough(10);
  EXPECT_EQ(tracker.checkpoint().position, 10u);
  ASSERT_TRUE(tracker.AddPending(11, kNone));
  tracker.SkipThrough(20);
  EXPECT_EQ(tracker.checkpoint().position, 10u);
  EXPECT_EQ(tracker.newest(), 20u);
  EXPECT_TRUE(tracker.Complete(11));
  EXPECT_EQ(tracker.checkpoint().position, 20u);
  tracker.SkipThrough(15);  // behind: ignored
  EXPECT_EQ(tracker.newest(), 20u);
}

TEST(SagaPositionTracker, RefusesPositionsOutOfOrderAndUnknownCompletions) {
  PositionTracker tracker(SagaCheckpoint{.position = 5, .transfers = {}});
  EXPECT_FALSE(tracker.AddHandled(5, kCreated));
  EXPECT_FALSE(tracker.AddPending(3, kCreated));
  ASSERT_TRUE(tracker.AddPending(7, kCreated));
  EXPECT_FALSE(tracker.AddPending(7, kCreated));
  EXPECT_FALSE(tracker.AddHandled(6, kCreated));
  EXPECT_FALSE(tracker.Complete(6));
  EXPECT_TRUE(tracker.Complete(7));
  EXPECT_FALSE(tracker.Complete(7));  // twice
  EXPECT_EQ(tracker.seen().created, 1u);
  EXPECT_EQ(tracker.checkpoint().position, 7u);
}

TEST(SagaPositionTracker, TheWindowStaysSmallWhileOneCommandIsStuck) {
  PositionTracker tracker(SagaCheckpoint{});
  ASSERT_TRUE(tracker.AddPending(1, kCreated));  // never completes
  uint64_t position = 1;
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(tracker.AddPending(++position, kCreated));
    ASSERT_TRUE(tracker.AddHandled(++position, kCompleted));
    ASSERT_TRUE(tracker.Complete(position - 1));
  }
  EXPECT_EQ(tracker.checkpoint().position, 0u);
  EXPECT_LE(tracker.window_spans(), 2u);
  ASSERT_TRUE(tracker.Complete(1));
  EXPECT_EQ(tracker.checkpoint().position, position);
  EXPECT_EQ(tracker.checkpoint().transfers, (TransferTally{.created = 10001, .completed = 10000}));
}

// Against a model that recomputes the mark from scratch: random events,
// random completion order.
TEST(SagaPositionTracker, AgreesWithABruteForceModel) {
  std::mt19937_64 random(20240501);
  for (int round = 0; round < 50; ++round) {
    PositionTracker tracker(SagaCheckpoint{});
    std::set<uint64_t> model_pending;
    std::vector<uint64_t> completable;
    std::vector<TransferTally> tally_at(1);  // tally_at[p]: the event at p's tally
    uint64_t newest = 0;
    for (int step = 0; step < 2000; ++step) {
      const int action = static_cast<int>(random() % 4);
      if (action == 0 && !completable.empty()) {
        const size_t pick = random() % completable.size();
        std::swap(completable[pick], completable.back());
        const uint64_t position = completable.back();
        completable.pop_back();
        model_pending.erase(position);
        ASSERT_TRUE(tracker.Complete(position));
      } else {
        const uint64_t position = newest + 1 + random() % 3;  // gaps: skipped positions
        tally_at.resize(position + 1);
        tally_at[position] = TransferTally{.created = random() % 2, .completed = random() % 2};
        if (position > newest + 1) tracker.SkipThrough(position - 1);
        if (action == 1) {
          ASSERT_TRUE(tracker.AddHandled(position, tally_at[position]));
        } else {
          ASSERT_TRUE(tracker.AddPending(position, tally_at[position]));
          model_pending.insert(position);
          completable.push_back(position);
        }
        newest = position;
      }
      const uint64_t expected_mark = model_pending.empty() ? newest : *model_pending.begin() - 1;
      TransferTally expected_tally;
      for (uint64_t p = 1; p <= expected_mark; ++p) expected_tally += tally_at[p];
      ASSERT_EQ(tracker.checkpoint().position, expected_mark) << "round " << round;
      ASSERT_EQ(tracker.checkpoint().transfers, expected_tally) << "round " << round;
      ASSERT_EQ(tracker.pending(), model_pending.size());
      ASSERT_LE(tracker.window_spans(), 2 * model_pending.size());
    }
  }
}

}  // namespace
}  // namespace es::saga
