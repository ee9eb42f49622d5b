// The imperative shell around the pure deciders: for each command, load the
// aggregate (from the cache, or by reading its stream), decide, append the
// events with the version read (optimistic concurrency), and answer.
//
// Asynchronous: all store traffic goes through one pipelined AsyncRpc, so
// thousands of commands to different aggregates are in flight at once, while
// commands to one aggregate run one after the other (its queue).
//
// Idempotency: an aggregate knows the command id of every event in its
// stream. A command whose id is already there is answered with the first
// outcome and writes nothing; if the cache was stale, the store's own
// command-id check answers "duplicate" and the aggregate is reloaded.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include "bus/async_rpc.h"
#include "command_service/aggregate_cache.h"
#include "domain/decision.h"
#include "es/v1/command.pb.h"
#include "es/v1/store.pb.h"

namespace es::command {

using StoreRpc = es::bus::AsyncRpc<es::v1::StoreRequest, es::v1::StoreReply>;

struct ProcessorCounters {
  uint64_t commands = 0;
  uint64_t refused = 0;
  uint64_t duplicates = 0;
  uint64_t conflicts = 0;  // appends refused for a stale version, then retried
  uint64_t stream_reads = 0;
};

class CommandProcessor {
 public:
  using Reply = std::function<void(es::v1::CommandReply)>;

  CommandProcessor(StoreRpc& store, size_t cache_capacity, int max_conflict_retries);

  // Handles one request (command or query); `reply` is called exactly once,
  // possibly before Handle returns. request_id is left for the caller to set.
  void Handle(const es::v1::CommandRequest& request, Reply reply);

  // Runs work that was made ready by a finished command (kept off the call
  // stack so long queues cannot recurse). Call it once per loop turn.
  void RunDeferred();
  bool has_deferred() const { return !deferred_.empty(); }

  const ProcessorCounters& counters() const { return counters_; }
  size_t cached_aggregates() const { return cache_.size(); }

 private:
  using Done = std::function<void()>;

  // Runs `work` when `aggregate` is free; `work` must call the Done it gets
  // exactly once when it has finished with the aggregate.
  void Serialize(Aggregate* aggregate, std::function<void(Done)> work);
  void Finish(Aggregate* aggregate);
  // Reads `stream` from version `from` to its end, page by page, calling
  // `on_event` for each event, then `then(ok)` (false: the store failed).
  void ReadWholeStream(const std::string& stream, uint64_t from,
                       std::function<void(const es::v1::EventRecord&)> on_event,
                       std::function<void(bool)> then);
  // Loads the aggregate from its stream unless it is loaded; then `then(ok)`.
  void EnsureLoaded(Aggregate* aggregate, std::function<void(bool)> then);
  // Decides and appends `command` against a loaded aggregate.
  void Execute(Aggregate* aggregate, const es::v1::Command& command, int attempt,
               bool accounts_checked, Reply reply, Done done);
  void Append(Aggregate* aggregate, const es::v1::Command& command,
              es::domain::Decision decision, int attempt, Reply reply, Done done);
  // After a conflict or a stale cache: reload, then run the command again.
  void Retry(Aggregate* aggregate, const es::v1::Command& command, int attempt, Reply reply,
             Done done);
  // CreateMoneyTransfer needs both accounts as they are now.
  void CheckTransferAccounts(const es::v1::CreateMoneyTransfer& create,
                             std::function<void(std::optional<es::v1::CommandOutcome>)> then);
  void LoadAccountState(const std::string& account_id,
                        std::function<void(std::optional<es::domain::AccountState>)> then);

  StoreRpc& store_;
  AggregateCache cache_;
  int max_conflict_retries_;
  ProcessorCounters counters_;
  std::deque<std::function<void()>> deferred_;
};

}  // namespace es::command
