#include "store_service/append_batch.h"

#include <optional>
#include <utility>

namespace es::store {

PlannedBatch PlanBatch(LogIndex& index, const AppendLimits& limits,
                       std::span<const es::v1::AppendRequest* const> batch, Status precondition,
                       BatchWriter& writer) {
  PlannedBatch plan;
  plan.outcomes.resize(batch.size());
  plan.failure = std::move(precondition);
  // A repeat of a command placed by a pending batch stands or falls with
  // that batch, hence with this one (a failure undoes both).
  const uint64_t committed_head = index.committed_head();
  // Each request looks up its command id and stream in tables far larger
  // than the cache: start loading those a few requests ahead, so that the
  // memory waits overlap instead of coming one after the other.
  constexpr size_t kPrefetchAhead = 8;
  auto prefetch = [&](size_t i) {
    if (i < batch.size()) index.Prefetch(batch[i]->stream_id(), batch[i]->command_id());
  };
  for (size_t i = 0; i < kPrefetchAhead; ++i) prefetch(i);
  size_t next = 0;
  for (; next < batch.size() && plan.failure.ok(); ++next) {
    prefetch(next + kPrefetchAhead);
    const es::v1::AppendRequest& request = *batch[next];
    AppendOutcome& outcome = plan.outcomes[next];
    outcome.status = ValidateAppend(request, limits);
    if (!outcome.status.ok()) continue;
    // The command id comes before the version: a retried command must get
    // its first result even though the stream has moved on since.
    if (std::optional<es::v1::AppendResult> stored = index.FindCommand(request.command_id())) {
      outcome.result = std::move(*stored);
      outcome.result.set_duplicate(true);
      if (outcome.result.first_position() > committed_head) plan.in_transaction.push_back(next);
      continue;
    }
    const uint64_t current_version = index.StreamVersion(request.stream_id());
    outcome.status =
        CheckExpectedVersion(request.expected_version(), request.stream_id(), current_version);
    if (!outcome.status.ok()) {
      outcome.current_version = current_version;
      continue;
    }
    plan.in_transaction.push_back(next);
    if (!plan.opened) {
      plan.failure = writer.Begin();
      if (!plan.failure.ok()) continue;
      index.BeginBatch();
      plan.opened = true;
    }
    // The index is updated as we go, so later appends of the batch see
    // this one; FinishBatch undoes it if the commit fails.
    outcome.result = index.Add(request.stream_id(), request.command_id(),
                               static_cast<uint64_t>(request.events_size()));
    plan.failure = writer.Place(request, outcome.result);
  }
  plan.not_tried = next;
  return plan;
}

std::vector<AppendOutcome> FinishBatch(LogIndex& index, PlannedBatch plan, const Status& commit) {
  if (commit.ok()) {
    if (plan.opened) index.CommitBatch();
    return std::move(plan.outcomes);
  }
  if (plan.opened) index.AbortBatch();
  for (size_t i : plan.in_transaction) plan.outcomes[i] = AppendOutcome{commit, 0, {}};
  for (size_t i = plan.not_tried; i < plan.outcomes.size(); ++i) {
    plan.outcomes[i] = AppendOutcome{commit, 0, {}};
  }
  return std::move(plan.outcomes);
}

}  // namespace es::store
