// The part of EventStorage::Append that every engine shares: the rules that
// decide, request by request, what a batch writes (validation, duplicate
// command ids, expected versions, placement in the LogIndex), and the undo
// when the engine's commit fails. An engine supplies only how accepted
// appends are written (BatchWriter) and how the batch is made durable.
//
//   PlannedBatch plan = PlanBatch(index, limits, batch, precondition, writer);
//   Status commit = plan.failure;
//   if (commit.ok() && plan.opened) commit = <write and sync the batch>;
//   return FinishBatch(index, std::move(plan), commit);
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "es/v1/store.pb.h"
#include "store_service/append_validation.h"
#include "store_service/event_storage.h"
#include "store_service/log_index.h"
#include "store_service/status.h"

namespace es::store {

// How an engine writes the appends a batch accepted.
class BatchWriter {
 public:
  virtual ~BatchWriter() = default;
  // Called once per batch, before its first accepted append is placed.
  virtual Status Begin() = 0;
  // Writes (or stages) one accepted append, placed at `placed`.
  virtual Status Place(const es::v1::AppendRequest& request,
                       const es::v1::AppendResult& placed) = 0;
};

struct PlannedBatch {
  // One per request. Final for refusals and for repeats of commands
  // committed before the batch; the others depend on the commit.
  std::vector<AppendOutcome> outcomes;
  // The outcomes that stand or fall with the commit: new appends, and
  // repeats of a command id first seen in this batch.
  std::vector<size_t> in_transaction;
  // Requests from here on were not tried (a failure stopped the batch).
  size_t not_tried = 0;
  // The index holds the batch's placements (LogIndex::BeginBatch was
  // called): FinishBatch commits or undoes them.
  bool opened = false;
  // Why the batch stopped early (not ok: `precondition`, or Begin or
  // Place failed); ok otherwise.
  Status failure;
};

// Applies, in batch order, the per-request rules of EventStorage::Append:
// ValidateAppend; a command id already in `index` (committed, or placed
// earlier in this batch) is a duplicate; CheckExpectedVersion; then the
// append is placed in `index` and handed to `writer`. A `precondition`
// that is not ok (the engine cannot write) fails the whole batch untried.
PlannedBatch PlanBatch(LogIndex& index, const AppendLimits& limits,
                       std::span<const es::v1::AppendRequest* const> batch, Status precondition,
                       BatchWriter& writer);

// Ends a planned batch given the engine's commit status: keeps the index's
// placements when it is ok; otherwise undoes them and gives every outcome
// in the transaction, and every request not tried, the commit's status.
std::vector<AppendOutcome> FinishBatch(LogIndex& index, PlannedBatch plan, const Status& commit);

}  // namespace es::store
