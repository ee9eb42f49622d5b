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
//
// Snapshots: every `snapshot_every` events an account's state is appended to
// "snapshot-account-<id>", and an account loads from its newest snapshot plus
// the events after it — a bounded read however long the account. Such an
// aggregate knows only the command ids after the snapshot, so before it
// answers a command that writes nothing (a refusal), or after the store
// reports a duplicate it cannot place, it asks the store which append
// carried the id (find_command) and answers with that append's outcome.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bus/async_rpc.h"
#include "command_service/aggregate_cache.h"
#include "domain/account.h"
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
  uint64_t events_loaded = 0;  // events read to load aggregates
  uint64_t snapshots_loaded = 0;
  uint64_t snapshots_written = 0;
  uint64_t command_lookups = 0;  // find_command requests
  uint64_t appends_sent = 0;     // commands' appends sent
  uint64_t append_requests = 0;  // store requests carrying them
};

class CommandProcessor {
 public:
  using Reply = std::function<void(es::v1::CommandReply)>;

  // snapshot_every: append an account snapshot every this many events (0:
  // never; accounts then load their whole stream).
  CommandProcessor(StoreRpc& store, size_t cache_capacity, int max_conflict_retries,
                   uint64_t snapshot_every = 0);
  ~CommandProcessor();

  // Handles one request (command or query); `reply` is called exactly once,
  // possibly before Handle returns. request_id is left for the caller to set.
  void Handle(es::v1::CommandRequest request, Reply reply);

  // Runs requests made ready by finished ones (kept off the call stack so a
  // long queue cannot recurse). Call it once per loop turn.
  void RunDeferred();
  bool has_deferred() const { return !deferred_.empty(); }
  // Sends the appends this turn's commands decided: one alone as an append,
  // several as append_many messages (one frame set and one group-commit
  // entry for all of them instead of one per command). Call it once per
  // loop turn, after RunDeferred.
  void FlushAppends();

  const ProcessorCounters& counters() const { return counters_; }
  size_t cached_aggregates() const { return cache_.size(); }

 private:
  // Takes the aggregate for `job` (or queues it), then runs it.
  void Enqueue(Job* job);
  void Run(Job* job);
  // Answers `job`, frees it, and hands its aggregate to the next waiter.
  void Finish(Job* job, es::v1::CommandReply reply);
  void FinishWithOutcome(Job* job, const StoredOutcome& outcome, bool duplicate);
  void FinishRefused(Job* job, es::v1::RefusalCode code, std::string message);

  // Reads `stream` from version `from` to its end, page by page, feeding
  // `into`, then calls `then(ok)` (false: the store failed).
  void ReadWholeStream(const std::string& stream, uint64_t from, Aggregate* into,
                       std::function<void(bool)> then);
  // Loads `into` (reset) from its newest snapshot, if snapshots are on and
  // it is an account, and the events after it; then `then(ok)`.
  void LoadStream(Aggregate* into, std::function<void(bool)> then);
  // Loads the aggregate from its stream unless it is loaded; then `then(ok)`.
  void EnsureLoaded(Aggregate* aggregate, std::function<void(bool)> then);
  // Appends a snapshot of the account if `snapshot_every` events have
  // passed since the last one (fire and forget: a lost one costs load time).
  void MaybeSnapshot(Aggregate* aggregate);
  // Asks the store which append carried the job's command id: answers the
  // job with that append's outcome, or calls `not_found`.
  void LookUpCommand(Job* job, std::function<void()> not_found);
  // The command id was used on another stream: say where.
  void FinishUsedElsewhere(Job* job, const es::v1::AppendResult& result);
  void Query(Job* job);
  // Decides and appends a command against its loaded aggregate.
  void Execute(Job* job);
  // Answers a command whose decision wrote nothing (a refusal or a no-op).
  void FinishUnwritten(Job* job);
  // Queues the job's append for FlushAppends.
  void Append(Job* job);
  void OnAppended(Job* job, std::optional<es::v1::StoreReply> answer);
  // Hands each job its own reply out of an append_many's answer.
  void OnAppendedMany(const std::vector<Job*>& jobs, std::optional<es::v1::StoreReply> answer);
  // After a conflict: reload, then decide again.
  void Retry(Job* job);
  // CreateMoneyTransfer needs both accounts as they are now.
  void CheckTransferAccounts(Job* job);
  void LoadAccountState(const std::string& account_id,
                        std::function<void(std::optional<es::domain::AccountState>)> then);

  StoreRpc& store_;
  AggregateCache cache_;
  int max_conflict_retries_;
  uint64_t snapshot_every_;
  ProcessorCounters counters_;
  std::deque<Job*> deferred_;
  struct QueuedAppend {
    Job* job;
    es::v1::AppendRequest append;
  };
  std::vector<QueuedAppend> queued_appends_;
};

}  // namespace es::command
