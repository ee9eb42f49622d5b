// The imperative shell around the pure domain (domain/aggregate.h): for each
// command, check it, load the aggregate (from the cache, or by reading its
// stream), decide, append what the decision wrote with the version read
// (optimistic concurrency), and answer.
//
// Asynchronous: all store traffic goes through one pipelined AsyncRpc, so
// thousands of commands to different aggregates are in flight at once, while
// commands to one aggregate run one after the other (its queue).
//
// A command id's first outcome is its only one (guarantees 4 and 9):
//   - every decided command writes its stream under its id: its events, or,
//     when it changes nothing (a refusal, an accepted no-op), a
//     CommandAnswered record of the answer. The store's command-id
//     uniqueness then makes that the id's outcome for every instance and
//     across restarts, evictions and snapshots; what CheckRequest refuses
//     before any state is read writes nothing;
//   - a repeat is answered from the stream's records (cached outcomes, or
//     the store's find_command), and only if it is the same command: another
//     command under a used id is refused COMMAND_ID_CONFLICT.
// No answer comes from state older than the store's when the command
// arrived: unwritten answers are appends too, checked against the stream's
// version (a conflict reloads and decides again); queries and a transfer's
// account check first ask the store for the stream's version (one batched
// probe per loop turn) and read whatever it gained since it was cached.
//
// Snapshots: every `snapshot_every` events an account's state is appended to
// "snapshot-account-<id>", and an account loads from its newest snapshot plus
// the events after it — a bounded read however long the account.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>

#include "bus/async_rpc.h"
#include "command_service/aggregate_cache.h"
#include "command_service/append_batcher.h"
#include "command_service/version_probe.h"
#include "es/v1/command.pb.h"
#include "es/v1/store.pb.h"

namespace es::command {

using StoreRpc = es::bus::AsyncRpc<es::v1::StoreRequest, es::v1::StoreReply>;
// How the processor reaches the store: sends one request, and `reply` is
// called once, later, with its answer (nullopt: none in time). The server
// passes its StoreRpc; tests pass an in-memory store, without a socket.
using StoreReplyCallback = std::function<void(std::optional<es::v1::StoreReply>)>;
using StoreCall = std::function<void(es::v1::StoreRequest& request, StoreReplyCallback reply)>;

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
  uint64_t id_conflicts = 0;     // repeats of an id that were another command
  uint64_t version_probes = 0;   // cached streams checked against the store
  uint64_t probe_requests = 0;   // stream_versions requests carrying them
};

class CommandProcessor {
 public:
  using Reply = std::function<void(es::v1::CommandReply)>;

  // snapshot_every: append an account snapshot every this many events (0:
  // never; accounts then load their whole stream).
  CommandProcessor(StoreCall store, size_t cache_capacity, int max_conflict_retries,
                   uint64_t snapshot_every = 0);
  ~CommandProcessor();

  // Handles one request (command or query); `reply` is called exactly once,
  // possibly before Handle returns. request_id is left for the caller to set.
  void Handle(es::v1::CommandRequest request, Reply reply);

  // Runs requests made ready by finished ones (kept off the call stack so a
  // long queue cannot recurse). Call it once per loop turn.
  void RunDeferred();
  bool has_deferred() const { return !deferred_.empty(); }
  // Sends the version probes and appends this turn's requests queued
  // (VersionProbe, AppendBatcher). Call it once per loop turn, after
  // RunDeferred.
  void FlushStoreRequests();

  const ProcessorCounters& counters() const { return counters_; }
  size_t cached_aggregates() const { return cache_.size(); }

 private:
  using Then = std::function<void(bool ok)>;

  // Takes the aggregate for `job` (or queues it), then runs it.
  void Enqueue(Job* job);
  void Run(Job* job);
  // Answers `job`, destroys it, and hands its aggregate to the next waiter.
  void Finish(Job* job, es::v1::CommandReply reply);
  void FinishWithOutcome(Job* job, const StoredOutcome& outcome, bool duplicate);
  void FinishRefused(Job* job, es::v1::RefusalCode code, std::string message);

  // Reads `into`'s stream from version `from` to its end, page by page,
  // folding it in, then `then(ok)` (false: the store failed).
  void ReadStreamTail(Aggregate* into, uint64_t from, Then then);
  // Loads `into` (reset) from its newest snapshot, if it has snapshots, and
  // the records after it; then `then(ok)`.
  void LoadStream(Aggregate* into, Then then);
  // Loads the aggregate unless it is loaded; then `then(ok)`.
  void EnsureLoaded(Aggregate* aggregate, Then then);
  // Brings a loaded aggregate up to the store's version of its stream: a
  // version probe, and a tail read only if the stream moved.
  void Refresh(Aggregate* aggregate, Then then);
  // Queues a version probe, sent with this turn's others.
  void ProbeVersion(const std::string& stream_id, VersionProbe::Done done);
  // Appends a snapshot of the account if `snapshot_every` events have
  // passed since the last one (fire and forget: a lost one costs load time).
  void MaybeSnapshot(Aggregate* aggregate);
  void Query(Job* job);
  // Decides and appends a command against its loaded aggregate.
  void Execute(Job* job);
  // A repeat of a command id the aggregate knows: the first outcome, if it
  // is the same command.
  void AnswerRepeat(Job* job, const StoredOutcome& outcome);
  // Asks the store which append carried the job's command id, and answers
  // with its outcome if the job repeats that command, else a conflict.
  void LookUpCommand(Job* job);
  void FinishConflict(Job* job, const std::string& first_stream, uint64_t first_version);
  // Queues the job's append (its events, or its CommandAnswered record).
  void Append(Job* job);
  void OnAppended(Job* job, std::optional<es::v1::StoreReply> answer);
  // After a conflict: reload, then decide again.
  void Retry(Job* job);
  // CreateMoneyTransfer needs both accounts as the store has them now.
  void CheckTransferAccounts(Job* job);
  void LoadAccountState(const std::string& account_id,
                        std::function<void(std::optional<es::domain::AccountState>)> then);

  StoreCall store_;
  AggregateCache cache_;
  int max_conflict_retries_;
  uint64_t snapshot_every_;
  ProcessorCounters counters_;
  // Every request in progress, owned here from Handle() to Finish().
  std::list<std::unique_ptr<Job>> jobs_;
  std::deque<Job*> deferred_;
  AppendBatcher appends_;
  VersionProbe probes_;
};

}  // namespace es::command
