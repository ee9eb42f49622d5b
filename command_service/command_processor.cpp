#include "command_service/command_processor.h"

#include <utility>

#include "bus/ids.h"
#include "domain/command_identity.h"
#include "domain/event_codec.h"
#include "domain/stream_ids.h"
#include "domain/validation.h"
#include "domain/views.h"

namespace es::command {

// One request in progress. Owned by the processor's job list from Handle()
// to Finish(); callbacks capture only its address.
struct Job {
  es::v1::CommandRequest request;
  CommandProcessor::Reply reply;
  Aggregate* aggregate = nullptr;
  int attempt = 0;
  bool accounts_checked = false;
  es::domain::Decision decision{};
  Job* next_waiting = nullptr;  // the aggregate's queue (aggregate_cache.h)
  std::list<std::unique_ptr<Job>>::iterator self;

  const es::v1::Command& command() const { return request.command(); }
};

namespace {

using es::v1::CommandOutcome;
using es::v1::CommandReply;

CommandReply RefusalReply(es::v1::RefusalCode code, std::string message) {
  CommandReply reply;
  auto* outcome = reply.mutable_outcome();
  outcome->set_accepted(false);
  outcome->set_refusal_code(code);
  outcome->set_message(std::move(message));
  return reply;
}

CommandReply ErrorReply(std::string message) {
  CommandReply reply;
  reply.mutable_error()->set_code(es::v1::ERROR_CODE_BAD_REQUEST);
  reply.mutable_error()->set_message(std::move(message));
  return reply;
}

// Folds one stored record into the aggregate, and into the outcome of the
// command that wrote it.
void ApplyRecord(Aggregate& aggregate, const es::v1::EventRecord& record) {
  es::domain::RecordedAnswer answer =
      es::domain::Apply(aggregate.state, record.type(), record.data(), record.stream_version());
  if (record.command_id().empty()) return;
  StoredOutcome& outcome = aggregate.outcomes[record.command_id()];
  if (outcome.version == 0) outcome.accepted = true;
  if (!answer.accepted) {
    outcome.accepted = false;
    outcome.refusal_code = answer.refusal_code;
    outcome.message = std::move(answer.message);
  }
  outcome.version = record.stream_version();
  outcome.global_position = record.global_position();
  if (record.type() != es::domain::AnsweredRecordType()) ++outcome.events_written;
}

es::v1::RefusalCode RefusalForStoreError(const es::v1::Error& error) {
  if (error.code() == es::v1::ERROR_CODE_BAD_REQUEST ||
      error.code() == es::v1::ERROR_CODE_TOO_LARGE) {
    return es::v1::REFUSAL_CODE_INVALID_ARGUMENT;
  }
  return es::v1::REFUSAL_CODE_UNAVAILABLE;
}

constexpr const char* kStoreSilent = "the store did not answer; retry with the same command id";

}  // namespace

CommandProcessor::CommandProcessor(StoreCall store, size_t cache_capacity, int max_conflict_retries,
                                   uint64_t snapshot_every)
    : store_(std::move(store)),
      cache_(cache_capacity),
      max_conflict_retries_(max_conflict_retries),
      snapshot_every_(snapshot_every) {}

CommandProcessor::~CommandProcessor() = default;

void CommandProcessor::Handle(es::v1::CommandRequest request, Reply reply) {
  std::string stream;
  switch (request.body_case()) {
    case es::v1::CommandRequest::kCommand: {
      // What this schema does not know is not stored, so it is not part of
      // the command (its digest, its repeats).
      request.mutable_command()->DiscardUnknownFields();
      const es::v1::Command& command = request.command();
      if (command.command_id().empty()) return reply(ErrorReply("command_id is required"));
      if (command.command_id().size() > es::domain::kMaxIdBytes) {
        return reply(ErrorReply("command_id is longer than " +
                                std::to_string(es::domain::kMaxIdBytes) + " bytes"));
      }
      if (command.body_case() == es::v1::Command::BODY_NOT_SET) {
        return reply(ErrorReply("the command has no body (unknown command type?)"));
      }
      ++counters_.commands;
      // Refused before any state is read: nothing is written, no id used.
      if (auto bad = es::domain::CheckRequest(command)) {
        ++counters_.refused;
        return reply(RefusalReply(bad->code, bad->message));
      }
      stream = *es::domain::StreamOfCommand(command);
      break;
    }
    case es::v1::CommandRequest::kGetAccount:
    case es::v1::CommandRequest::kGetTransfer: {
      const bool account = request.has_get_account();
      const std::string& id =
          account ? request.get_account().account_id() : request.get_transfer().transfer_id();
      if (auto bad = es::domain::CheckId(account ? "account_id" : "transfer_id", id)) {
        return reply(RefusalReply(bad->code, bad->message));
      }
      stream = account ? es::domain::AccountStreamId(id) : es::domain::TransferStreamId(id);
      break;
    }
    default:
      return reply(ErrorReply("unknown request type"));
  }
  jobs_.push_front(std::make_unique<Job>());
  Job* job = jobs_.front().get();
  job->self = jobs_.begin();
  job->request = std::move(request);
  job->reply = std::move(reply);
  job->aggregate = cache_.Get(stream);
  Enqueue(job);
}

void CommandProcessor::Enqueue(Job* job) {
  Aggregate* aggregate = job->aggregate;
  if (aggregate->busy) {
    if (aggregate->waiting_tail != nullptr) {
      aggregate->waiting_tail->next_waiting = job;
    } else {
      aggregate->waiting_head = job;
    }
    aggregate->waiting_tail = job;
    return;
  }
  aggregate->busy = true;
  Run(job);
}

void CommandProcessor::Run(Job* job) {
  const bool was_loaded = job->aggregate->loaded;
  EnsureLoaded(job->aggregate, [this, job, was_loaded](bool ok) {
    if (!ok) {
      if (job->request.has_command()) ++counters_.refused;
      return FinishRefused(job, es::v1::REFUSAL_CODE_UNAVAILABLE, kStoreSilent);
    }
    if (!job->request.has_command()) {
      // A query answers from the store's state, not the cache's: another
      // instance may have written since (a fresh load is current).
      if (!was_loaded) return Query(job);
      return Refresh(job->aggregate, [this, job](bool ok) {
        if (!ok) return FinishRefused(job, es::v1::REFUSAL_CODE_UNAVAILABLE, kStoreSilent);
        Query(job);
      });
    }
    Execute(job);
  });
}

void CommandProcessor::Finish(Job* job, CommandReply reply) {
  Aggregate* aggregate = job->aggregate;
  Reply answer = std::move(job->reply);
  jobs_.erase(job->self);  // destroys the job
  answer(std::move(reply));
  if (!aggregate->has_waiting()) {
    aggregate->busy = false;
    // A finished transfer takes no more commands but a saga's replays; it
    // leaves the cache at once (a repeat reloads it).
    if (aggregate->state.kind == es::domain::AggregateKind::kTransfer && aggregate->loaded &&
        aggregate->state.transfer.exists &&
        es::domain::IsTerminal(aggregate->state.transfer.status)) {
      cache_.Erase(aggregate);
    }
    return;
  }
  // Stays busy: the next request owns it now.
  Job* next = aggregate->waiting_head;
  aggregate->waiting_head = next->next_waiting;
  if (aggregate->waiting_head == nullptr) aggregate->waiting_tail = nullptr;
  next->next_waiting = nullptr;
  deferred_.push_back(next);
}

void CommandProcessor::FinishWithOutcome(Job* job, const StoredOutcome& stored, bool duplicate) {
  CommandReply reply;
  CommandOutcome* outcome = reply.mutable_outcome();
  outcome->set_accepted(stored.accepted);
  outcome->set_refusal_code(stored.refusal_code);
  outcome->set_message(stored.message);
  outcome->set_stream_id(job->aggregate->stream_id);
  outcome->set_version(stored.version);
  outcome->set_global_position(stored.global_position);
  outcome->set_events_written(stored.events_written);
  outcome->set_duplicate(duplicate);
  Finish(job, std::move(reply));
}

void CommandProcessor::FinishRefused(Job* job, es::v1::RefusalCode code, std::string message) {
  Finish(job, RefusalReply(code, std::move(message)));
}

void CommandProcessor::RunDeferred() {
  // Requests may defer more; bound one turn so the loop stays responsive.
  for (size_t n = deferred_.size(); n > 0 && !deferred_.empty(); --n) {
    Job* next = deferred_.front();
    deferred_.pop_front();
    Run(next);
  }
  cache_.Trim();
}

void CommandProcessor::ReadStreamTail(Aggregate* into, uint64_t from, Then then) {
  es::v1::StoreRequest request;
  auto* read = request.mutable_read_stream();
  read->set_stream_id(into->stream_id);
  read->set_from_version(from);
  read->set_max_count(1000);
  ++counters_.stream_reads;
  store_(request,
              [this, into, then = std::move(then)](std::optional<es::v1::StoreReply> reply) mutable {
                if (!reply || !reply->has_read_stream()) return then(false);
                const auto& result = reply->read_stream();
                for (const auto& record : result.events()) ApplyRecord(*into, record);
                counters_.events_loaded += static_cast<uint64_t>(result.events_size());
                if (result.end_of_stream() || result.events().empty()) return then(true);
                const uint64_t next = result.events(result.events_size() - 1).stream_version() + 1;
                ReadStreamTail(into, next, std::move(then));
              });
}

void CommandProcessor::LoadStream(Aggregate* into, Then then) {
  into->Reset();
  if (snapshot_every_ == 0 || !es::domain::HasSnapshots(into->state.kind)) {
    return ReadStreamTail(into, 1, std::move(then));
  }
  es::v1::StoreRequest request;
  auto* read = request.mutable_read_stream();
  read->set_stream_id(es::domain::SnapshotStreamId(into->stream_id));
  read->set_from_end(true);
  read->set_max_count(1);
  ++counters_.stream_reads;
  store_(request,
              [this, into, then = std::move(then)](std::optional<es::v1::StoreReply> reply) mutable {
                if (!reply || !reply->has_read_stream()) return then(false);
                const auto& events = reply->read_stream().events();
                if (!events.empty() && es::domain::Restore(into->state, into->stream_id,
                                                           events[0].type(), events[0].data())) {
                  ++counters_.snapshots_loaded;
                  into->snapshot_version = into->state.version;
                  // The commands before the snapshot are the store's to tell.
                  into->outcomes_partial = true;
                } else {
                  into->Reset();  // no usable snapshot: the whole stream
                }
                ReadStreamTail(into, into->state.version + 1, std::move(then));
              });
}

void CommandProcessor::EnsureLoaded(Aggregate* aggregate, Then then) {
  if (aggregate->loaded) return then(true);
  LoadStream(aggregate, [aggregate, then = std::move(then)](bool ok) {
    if (!ok) aggregate->Reset();
    aggregate->loaded = ok;
    then(ok);
  });
}

void CommandProcessor::Refresh(Aggregate* aggregate, Then then) {
  ProbeVersion(aggregate->stream_id, [this, aggregate, then = std::move(then)](
                                         std::optional<uint64_t> version) mutable {
    if (version && *version == aggregate->state.version) return then(true);  // current
    if (!version) {
      aggregate->Reset();
      return then(false);
    }
    ReadStreamTail(aggregate, aggregate->state.version + 1,
                   [aggregate, then = std::move(then)](bool ok) {
                     if (!ok) aggregate->Reset();  // half-read: load afresh next time
                     then(ok);
                   });
  });
}

void CommandProcessor::ProbeVersion(const std::string& stream_id, VersionProbe::Done done) {
  probes_.Add(stream_id, std::move(done));
}

void CommandProcessor::MaybeSnapshot(Aggregate* aggregate) {
  const es::domain::AggregateState& state = aggregate->state;
  if (snapshot_every_ == 0 || !es::domain::HasSnapshots(state.kind)) return;
  if (!state.corruption().empty()) return;
  if (state.version < aggregate->snapshot_version + snapshot_every_) return;
  aggregate->snapshot_version = state.version;
  // Outcomes up to here are forgotten, as a load from this snapshot would
  // not have them: a repeat of one of those commands is looked up in the
  // store. An account's memory stays bounded however many commands it took.
  std::erase_if(aggregate->outcomes, [&](const auto& entry) {
    return entry.second.version <= aggregate->snapshot_version;
  });
  aggregate->outcomes_partial = true;
  es::v1::StoreRequest request;
  auto* append = request.mutable_append();
  const std::string snapshot_stream = es::domain::SnapshotStreamId(aggregate->stream_id);
  append->set_stream_id(snapshot_stream);
  append->mutable_expected_version()->set_any(true);
  // One id per snapshot version: a resent append is not written twice.
  append->set_command_id(snapshot_stream + "@" + std::to_string(state.version));
  auto* event = append->add_events();
  event->set_event_id(es::bus::NewUuid());
  event->set_type(es::domain::SnapshotType());
  event->set_data(es::domain::SnapshotOf(state));
  store_(request, [this](std::optional<es::v1::StoreReply> reply) {
    if (reply && reply->has_append() && !reply->append().duplicate()) ++counters_.snapshots_written;
  });
}

void CommandProcessor::AnswerRepeat(Job* job, const StoredOutcome& outcome) {
  if (outcome.command_digest == 0) return LookUpCommand(job);  // folded: compare with the record
  if (outcome.command_digest != es::domain::CommandDigest(job->command())) {
    return FinishConflict(job, job->aggregate->stream_id, outcome.version);
  }
  ++counters_.duplicates;
  FinishWithOutcome(job, outcome, /*duplicate=*/true);
}

void CommandProcessor::LookUpCommand(Job* job) {
  es::v1::StoreRequest request;
  request.mutable_find_command()->set_command_id(job->command().command_id());
  ++counters_.command_lookups;
  store_(request, [this, job](std::optional<es::v1::StoreReply> reply) {
    if (!reply || !reply->has_find_command()) {
      return FinishRefused(job, es::v1::REFUSAL_CODE_UNAVAILABLE, kStoreSilent);
    }
    const es::v1::FindCommandResult& found = reply->find_command();
    if (!found.found() || found.events().empty()) {
      // The store said "duplicate" but cannot find it: never guess.
      return FinishRefused(job, es::v1::REFUSAL_CODE_UNAVAILABLE,
                           "the store could not place command id " + job->command().command_id() +
                               "; retry with the same command id");
    }
    const es::v1::AppendResult& first = found.append();
    const es::v1::EventRecord& record = found.events(0);
    std::optional<es::v1::Command> original = es::domain::CommandOfRecord(record.type(), record.data());
    if (first.stream_id() != job->aggregate->stream_id || !original ||
        !es::domain::SameCommand(job->command(), *original)) {
      return FinishConflict(job, first.stream_id(), first.last_version());
    }
    Aggregate* aggregate = job->aggregate;
    const auto kind = aggregate->state.kind;
    const uint64_t closed_version = aggregate->loaded ? aggregate->state.closed_version : 0;
    StoredOutcome outcome;
    outcome.accepted = true;
    for (const auto& event : found.events()) {
      const bool was_closed = closed_version != 0 && event.stream_version() > closed_version;
      auto answer = es::domain::AnswerOfRecord(kind, event.type(), event.data(), was_closed);
      if (!answer.accepted) {
        outcome.accepted = false;
        outcome.refusal_code = answer.refusal_code;
        outcome.message = std::move(answer.message);
      }
      if (event.type() != es::domain::AnsweredRecordType()) ++outcome.events_written;
    }
    outcome.version = first.last_version();
    outcome.global_position = first.last_position();
    outcome.command_digest = es::domain::CommandDigest(job->command());
    ++counters_.duplicates;
    if (aggregate->loaded) aggregate->outcomes[job->command().command_id()] = outcome;
    FinishWithOutcome(job, outcome, /*duplicate=*/true);
  });
}

void CommandProcessor::FinishConflict(Job* job, const std::string& first_stream,
                                      uint64_t first_version) {
  ++counters_.refused;
  ++counters_.id_conflicts;
  es::domain::Rejection conflict =
      es::domain::CommandIdConflict(job->command(), first_stream, first_version);
  FinishRefused(job, conflict.code, std::move(conflict.message));
}

void CommandProcessor::Query(Job* job) {
  const Aggregate& aggregate = *job->aggregate;
  const es::domain::AggregateState& state = aggregate.state;
  CommandReply answer;
  if (!state.corruption().empty()) {
    return FinishRefused(job, es::v1::REFUSAL_CODE_STREAM_CORRUPT,
                         "stream " + aggregate.stream_id + " is corrupt: " + state.corruption());
  }
  if (job->request.has_get_account()) {
    if (!state.account.exists) {
      return FinishRefused(job, es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT,
                           "no account " + job->request.get_account().account_id());
    }
    *answer.mutable_account() = es::domain::ToView(state.account);
    answer.mutable_account()->set_version(state.version);
  } else {
    if (!state.transfer.exists) {
      return FinishRefused(job, es::v1::REFUSAL_CODE_UNKNOWN_TRANSFER,
                           "no transfer " + job->request.get_transfer().transfer_id());
    }
    *answer.mutable_transfer() = es::domain::ToView(state.transfer);
    answer.mutable_transfer()->set_version(state.version);
  }
  Finish(job, std::move(answer));
}

void CommandProcessor::LoadAccountState(
    const std::string& account_id,
    std::function<void(std::optional<es::domain::AccountState>)> then) {
  // Into a scratch aggregate: the cached one may be another job's, mid-append.
  const std::string stream = es::domain::AccountStreamId(account_id);
  auto scratch = std::make_shared<Aggregate>();
  scratch->stream_id = stream;
  scratch->state = es::domain::AggregateOfStream(stream);
  auto done = [scratch, then = std::move(then)](bool ok) {
    if (!ok) return then(std::nullopt);
    then(scratch->state.account);
  };
  if (const Aggregate* cached = cache_.FindLoaded(stream)) {
    // What the cache holds, and whatever the stream gained since (most often
    // nothing: one version probe, shared by the turn's commands, says so).
    scratch->state = cached->state;
    return ProbeVersion(stream, [this, scratch, done = std::move(done)](
                                    std::optional<uint64_t> version) mutable {
      if (!version) return done(false);
      if (*version == scratch->state.version) return done(true);
      ReadStreamTail(scratch.get(), scratch->state.version + 1, std::move(done));
    });
  }
  LoadStream(scratch.get(), std::move(done));
}

void CommandProcessor::CheckTransferAccounts(Job* job) {
  // Both accounts at once: their probes (or loads) go out in the same turn.
  struct Pair {
    std::optional<es::domain::AccountState> from, to;
    int pending = 2;
    bool failed = false;
  };
  auto pair = std::make_shared<Pair>();
  auto arrived = [this, job, pair](std::optional<es::domain::AccountState>& slot,
                                   std::optional<es::domain::AccountState> state) {
    if (!state) pair->failed = true;
    slot = std::move(state);
    if (--pair->pending > 0) return;
    if (pair->failed) return FinishRefused(job, es::v1::REFUSAL_CODE_UNAVAILABLE, kStoreSilent);
    job->accounts_checked = true;
    if (auto bad = es::domain::ValidateTransferAccounts(*pair->from, *pair->to)) {
      // A refusal like any other: recorded, so it stays this id's answer.
      job->decision = es::domain::Decision::Refuse(*bad);
    }
    Append(job);
  };
  const auto& create = job->command().create_money_transfer();
  LoadAccountState(create.from_account(),
                   [pair, arrived](auto state) { arrived(pair->from, std::move(state)); });
  LoadAccountState(create.to_account(),
                   [pair, arrived](auto state) { arrived(pair->to, std::move(state)); });
}

void CommandProcessor::Execute(Job* job) {
  Aggregate* aggregate = job->aggregate;
  const es::v1::Command& command = job->command();
  if (auto it = aggregate->outcomes.find(command.command_id()); it != aggregate->outcomes.end()) {
    return AnswerRepeat(job, it->second);
  }
  job->decision = es::domain::Decide(aggregate->state, command);
  if (command.has_create_money_transfer() && job->decision.accepted() && !job->accounts_checked) {
    return CheckTransferAccounts(job);
  }
  Append(job);
}

void CommandProcessor::Append(Job* job) {
  const Aggregate& aggregate = *job->aggregate;
  es::v1::AppendRequest append;
  append.set_stream_id(aggregate.stream_id);
  // Also for a CommandAnswered: an answer decided on a stale state is then
  // refused by the store, and decided again on the current one.
  append.mutable_expected_version()->set_exact(aggregate.state.version);
  append.set_command_id(job->command().command_id());
  auto add = [&append](es::domain::EncodedEvent encoded) {
    auto* added = append.add_events();
    added->set_event_id(es::bus::NewUuid());
    added->set_type(std::move(encoded.type));
    added->set_data(std::move(encoded.data));
  };
  if (job->decision.events.empty()) {
    add(es::domain::AnsweredRecord(job->command(), job->decision));
  } else {
    for (const auto& event : job->decision.events) add(es::domain::EncodeEvent(event));
  }
  appends_.Add(std::move(append), [this, job](std::optional<es::v1::StoreReply> answer) {
    OnAppended(job, std::move(answer));
  });
}

void CommandProcessor::FlushStoreRequests() {
  auto send = [this](es::v1::StoreRequest request, StoreReplyCallback reply) {
    store_(request, std::move(reply));
  };
  counters_.version_probes += probes_.queued();
  counters_.probe_requests += probes_.Flush(send);
  counters_.appends_sent += appends_.queued();
  counters_.append_requests += appends_.Flush(send);
}

void CommandProcessor::OnAppended(Job* job, std::optional<es::v1::StoreReply> answer) {
  Aggregate* aggregate = job->aggregate;
  if (!answer) {
    // Unknown whether it was written: forget the state, let the caller
    // retry with the same command id (the store deduplicates).
    aggregate->Reset();
    return FinishRefused(job, es::v1::REFUSAL_CODE_UNAVAILABLE, kStoreSilent);
  }
  if (answer->has_error()) {
    const auto& error = answer->error();
    if (error.code() == es::v1::ERROR_CODE_WRONG_EXPECTED_VERSION) {
      ++counters_.conflicts;
      return Retry(job);
    }
    ++counters_.refused;
    return FinishRefused(job, RefusalForStoreError(error), "store: " + error.message());
  }
  if (!answer->has_append()) {
    return FinishRefused(job, es::v1::REFUSAL_CODE_UNAVAILABLE, "unexpected store reply");
  }
  const es::v1::AppendResult& result = answer->append();
  if (result.duplicate()) {
    // The id was used before (by us before a restart, by another instance,
    // or for another command): our state may be stale; the store's record
    // of the first use answers.
    aggregate->Reset();
    return EnsureLoaded(aggregate, [this, job](bool ok) {
      // Without the stream the record cannot be read back right (a refusal
      // reads as one only against the account's state): never guess.
      if (!ok) return FinishRefused(job, es::v1::REFUSAL_CODE_UNAVAILABLE, kStoreSilent);
      LookUpCommand(job);
    });
  }
  const es::domain::Decision& decided = job->decision;
  if (decided.events.empty()) {
    aggregate->state.version = result.last_version();
  } else {
    uint64_t version = result.first_version();
    for (const auto& event : decided.events) {
      es::domain::ApplyDecided(aggregate->state, event, version++);
    }
  }
  if (decided.rejection) ++counters_.refused;
  StoredOutcome outcome;
  const es::domain::RecordedAnswer answered = es::domain::AnswerOf(decided);
  outcome.accepted = answered.accepted;
  outcome.refusal_code = answered.refusal_code;
  outcome.message = answered.message;
  outcome.version = result.last_version();
  outcome.global_position = result.last_position();
  outcome.events_written = static_cast<uint32_t>(decided.events.size());
  outcome.command_digest = es::domain::CommandDigest(job->command());
  aggregate->outcomes[job->command().command_id()] = outcome;
  MaybeSnapshot(aggregate);
  FinishWithOutcome(job, outcome, /*duplicate=*/false);
}

void CommandProcessor::Retry(Job* job) {
  if (job->attempt + 1 > max_conflict_retries_) {
    ++counters_.refused;
    return FinishRefused(job, es::v1::REFUSAL_CODE_CONFLICT,
                         "the stream kept changing; retry with the same command id");
  }
  ++job->attempt;
  job->accounts_checked = false;
  job->aggregate->Reset();
  Run(job);
}

}  // namespace es::command
