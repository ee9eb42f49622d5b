#include "command_service/command_processor.h"

#include <algorithm>
#include <memory>

#include "bus/ids.h"
#include "domain/decision.h"
#include "domain/event_codec.h"
#include "domain/money_transfer.h"
#include "domain/stream_ids.h"
#include "domain/validation.h"
#include "domain/views.h"

namespace es::command {

// One request in progress. Owned by the processor from Handle() to Finish();
// callbacks capture only its address, so they need no allocation of their own.
struct Job {
  es::v1::CommandRequest request;
  CommandProcessor::Reply reply;
  Aggregate* aggregate = nullptr;
  int attempt = 0;
  bool accounts_checked = false;
  es::domain::Decision decision{};
  Job* next_waiting = nullptr;  // the aggregate's queue (aggregate_cache.h)

  const es::v1::Command& command() const { return request.command(); }
};

namespace {

using es::v1::CommandOutcome;
using es::v1::CommandReply;

bool IsAccountStream(const std::string& stream) {
  return stream.starts_with(es::domain::kAccountStreamPrefix);
}

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

// The refusal an event records, for a command answered again from its
// events after a reload (recorded refusals are events; see account.h).
// `account_closed` is the account's state before the event: the deciders
// check closure first, so it tells a closed account's recorded refusal from
// one for lack of funds or an overflow, as the first answer told them.
std::optional<es::v1::RefusalCode> RecordedRefusal(const std::string& type, bool account_closed) {
  if (type == "es.v1.AccountDebitFailed") return es::v1::REFUSAL_CODE_INSUFFICIENT_FUNDS;
  if (type == "es.v1.AccountDebitBecauseOfMoneyTransferFailed") {
    return account_closed ? es::v1::REFUSAL_CODE_ACCOUNT_CLOSED
                          : es::v1::REFUSAL_CODE_INSUFFICIENT_FUNDS;
  }
  if (type == "es.v1.AccountCreditBecauseOfMoneyTransferFailed") {
    return account_closed ? es::v1::REFUSAL_CODE_ACCOUNT_CLOSED : es::v1::REFUSAL_CODE_OVERFLOW;
  }
  return std::nullopt;
}

void Evolve(Aggregate& aggregate, const es::domain::DomainEvent& event) {
  if (IsAccountStream(aggregate.stream_id)) {
    aggregate.account = es::domain::EvolveAccount(std::move(aggregate.account), event);
  } else {
    aggregate.transfer = es::domain::EvolveTransfer(std::move(aggregate.transfer), event);
  }
}

// Folds one stored event of a command into that command's outcome;
// `was_closed` is whether the account was closed before the event.
void FoldOutcome(StoredOutcome& outcome, const es::v1::EventRecord& record, bool was_closed) {
  if (outcome.events_written == 0) outcome.accepted = true;
  if (auto refusal = RecordedRefusal(record.type(), was_closed)) {
    outcome.accepted = false;
    outcome.refusal_code = *refusal;
    outcome.message = "recorded as " + record.type();
  }
  outcome.version = record.stream_version();
  outcome.global_position = record.global_position();
  ++outcome.events_written;
}

// Folds one stored event into the aggregate, and into the outcome of the
// command that wrote it.
void ApplyEvent(Aggregate& aggregate, const es::v1::EventRecord& record) {
  const bool was_closed = aggregate.account.closed;
  if (auto event = es::domain::DecodeEvent(record.type(), record.data())) Evolve(aggregate, *event);
  aggregate.version = record.stream_version();
  if (!was_closed && aggregate.account.closed) aggregate.closed_version = record.stream_version();
  if (record.command_id().empty()) return;
  FoldOutcome(aggregate.outcomes[record.command_id()], record, was_closed);
}

// The snapshot of a loaded account.
es::v1::AccountSnapshot SnapshotOf(const Aggregate& aggregate) {
  es::v1::AccountSnapshot snapshot;
  const es::domain::AccountState& account = aggregate.account;
  snapshot.set_version(aggregate.version);
  snapshot.set_exists(account.exists);
  snapshot.set_account_id(account.account_id);
  snapshot.set_owner(account.owner);
  snapshot.set_balance(account.balance);
  snapshot.set_closed(account.closed);
  snapshot.set_closed_version(aggregate.closed_version);
  return snapshot;
}

// Sets a reset aggregate to `snapshot`; false if it does not fit the stream.
bool Restore(Aggregate& aggregate, const es::v1::AccountSnapshot& snapshot) {
  if (snapshot.version() == 0 || !snapshot.exists()) return false;
  if (es::domain::AccountStreamId(snapshot.account_id()) != aggregate.stream_id) return false;
  es::domain::AccountState& account = aggregate.account;
  account.exists = true;
  account.account_id = snapshot.account_id();
  account.owner = snapshot.owner();
  account.balance = snapshot.balance();
  account.version = snapshot.version();
  account.closed = snapshot.closed();
  aggregate.version = snapshot.version();
  aggregate.closed_version = snapshot.closed_version();
  aggregate.snapshot_version = snapshot.version();
  aggregate.outcomes_partial = true;
  return true;
}

// What `decision` answers, as of stream version `version`.
StoredOutcome OutcomeOf(const es::domain::Decision& decision, uint64_t version) {
  StoredOutcome outcome;
  outcome.accepted = decision.accepted();
  if (decision.rejection) {
    outcome.refusal_code = decision.rejection->code;
    outcome.message = decision.rejection->message;
  }
  outcome.version = version;
  return outcome;
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

CommandProcessor::CommandProcessor(StoreRpc& store, size_t cache_capacity, int max_conflict_retries,
                                   uint64_t snapshot_every)
    : store_(store),
      cache_(cache_capacity),
      max_conflict_retries_(max_conflict_retries),
      snapshot_every_(snapshot_every) {}

CommandProcessor::~CommandProcessor() {
  for (Job* job : deferred_) delete job;
}

void CommandProcessor::Handle(es::v1::CommandRequest request, Reply reply) {
  std::string stream;
  switch (request.body_case()) {
    case es::v1::CommandRequest::kCommand: {
      const es::v1::Command& command = request.command();
      if (command.command_id().empty()) return reply(ErrorReply("command_id is required"));
      if (command.command_id().size() > es::domain::kMaxIdBytes) {
        return reply(ErrorReply("command_id is longer than " +
                                std::to_string(es::domain::kMaxIdBytes) + " bytes"));
      }
      auto target = es::domain::StreamOfCommand(command);
      if (!target) return reply(ErrorReply("the command has no body (unknown command type?)"));
      ++counters_.commands;
      // An id the domain would refuse must not become a cache key or a read.
      const std::string id = target->substr(target->find('-') + 1);
      if (auto bad = es::domain::CheckId("aggregate id", id)) {
        ++counters_.refused;
        return reply(RefusalReply(bad->code, bad->message));
      }
      stream = std::move(*target);
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
  Job* job = new Job{.request = std::move(request), .reply = std::move(reply)};
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
  EnsureLoaded(job->aggregate, [this, job](bool ok) {
    if (!ok) {
      if (job->request.has_command()) ++counters_.refused;
      return FinishRefused(job, es::v1::REFUSAL_CODE_UNAVAILABLE, kStoreSilent);
    }
    if (job->request.has_command()) {
      Execute(job);
    } else {
      Query(job);
    }
  });
}

void CommandProcessor::Finish(Job* job, es::v1::CommandReply reply) {
  Aggregate* aggregate = job->aggregate;
  job->reply(std::move(reply));
  delete job;
  if (!aggregate->has_waiting()) {
    aggregate->busy = false;
    // A finished transfer never changes again: keeping it would only crowd
    // the cache (one per transfer ever made). A later query or repeated
    // command reloads its few events.
    if (aggregate->loaded && aggregate->transfer.exists &&
        es::domain::IsTerminal(aggregate->transfer.status)) {
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

void CommandProcessor::ReadWholeStream(const std::string& stream, uint64_t from, Aggregate* into,
                                       std::function<void(bool)> then) {
  es::v1::StoreRequest request;
  auto* read = request.mutable_read_stream();
  read->set_stream_id(stream);
  read->set_from_version(from);
  read->set_max_count(1000);
  ++counters_.stream_reads;
  store_.Call(request, [this, stream, into,
                        then = std::move(then)](std::optional<es::v1::StoreReply> reply) mutable {
    if (!reply || !reply->has_read_stream()) return then(false);
    const auto& result = reply->read_stream();
    for (const auto& event : result.events()) ApplyEvent(*into, event);
    counters_.events_loaded += static_cast<uint64_t>(result.events_size());
    if (result.end_of_stream() || result.events().empty()) return then(true);
    const uint64_t next = result.events(result.events_size() - 1).stream_version() + 1;
    ReadWholeStream(stream, next, into, std::move(then));
  });
}

void CommandProcessor::LoadStream(Aggregate* into, std::function<void(bool)> then) {
  into->Reset();
  if (snapshot_every_ == 0 || !IsAccountStream(into->stream_id)) {
    return ReadWholeStream(into->stream_id, 1, into, std::move(then));
  }
  es::v1::StoreRequest request;
  auto* read = request.mutable_read_stream();
  read->set_stream_id(es::domain::SnapshotStreamId(into->stream_id));
  read->set_from_end(true);
  read->set_max_count(1);
  ++counters_.stream_reads;
  store_.Call(request, [this, into,
                        then = std::move(then)](std::optional<es::v1::StoreReply> reply) mutable {
    if (!reply || !reply->has_read_stream()) return then(false);
    const auto& events = reply->read_stream().events();
    es::v1::AccountSnapshot snapshot;
    if (!events.empty() && events[0].type() == es::domain::TypeNameOf<es::v1::AccountSnapshot>() &&
        snapshot.ParseFromString(events[0].data()) && Restore(*into, snapshot)) {
      ++counters_.snapshots_loaded;
    } else {
      into->Reset();  // no usable snapshot: the whole stream
    }
    ReadWholeStream(into->stream_id, into->version + 1, into, std::move(then));
  });
}

void CommandProcessor::EnsureLoaded(Aggregate* aggregate, std::function<void(bool)> then) {
  if (aggregate->loaded) return then(true);
  LoadStream(aggregate, [aggregate, then = std::move(then)](bool ok) {
    if (!ok) aggregate->Reset();
    aggregate->loaded = ok;
    then(ok);
  });
}

void CommandProcessor::MaybeSnapshot(Aggregate* aggregate) {
  if (snapshot_every_ == 0 || !IsAccountStream(aggregate->stream_id)) return;
  if (aggregate->version < aggregate->snapshot_version + snapshot_every_) return;
  aggregate->snapshot_version = aggregate->version;
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
  append->set_command_id(snapshot_stream + "@" + std::to_string(aggregate->version));
  auto* event = append->add_events();
  event->set_event_id(es::bus::NewUuid());
  event->set_type(es::domain::TypeNameOf<es::v1::AccountSnapshot>());
  event->set_data(SnapshotOf(*aggregate).SerializeAsString());
  store_.Call(request, [this](std::optional<es::v1::StoreReply> reply) {
    if (reply && reply->has_append() && !reply->append().duplicate()) ++counters_.snapshots_written;
  });
}

void CommandProcessor::LookUpCommand(Job* job, std::function<void()> not_found) {
  es::v1::StoreRequest request;
  request.mutable_find_command()->set_command_id(job->command().command_id());
  ++counters_.command_lookups;
  store_.Call(request, [this, job,
                        not_found = std::move(not_found)](std::optional<es::v1::StoreReply> reply) {
    if (!reply || !reply->has_find_command()) {
      return FinishRefused(job, es::v1::REFUSAL_CODE_UNAVAILABLE, kStoreSilent);
    }
    const es::v1::FindCommandResult& found = reply->find_command();
    if (!found.found()) return not_found();
    Aggregate* aggregate = job->aggregate;
    if (found.append().stream_id() != aggregate->stream_id) {
      return FinishUsedElsewhere(job, found.append());
    }
    StoredOutcome outcome;
    for (const auto& event : found.events()) {
      const bool was_closed =
          aggregate->closed_version != 0 && event.stream_version() > aggregate->closed_version;
      FoldOutcome(outcome, event, was_closed);
    }
    ++counters_.duplicates;
    aggregate->outcomes[job->command().command_id()] = outcome;
    FinishWithOutcome(job, outcome, /*duplicate=*/true);
  });
}

void CommandProcessor::FinishUsedElsewhere(Job* job, const es::v1::AppendResult& result) {
  CommandReply reply;
  auto* outcome = reply.mutable_outcome();
  outcome->set_accepted(true);
  outcome->set_stream_id(result.stream_id());
  outcome->set_version(result.last_version());
  outcome->set_global_position(result.last_position());
  outcome->set_duplicate(true);
  Finish(job, std::move(reply));
}

void CommandProcessor::Query(Job* job) {
  const Aggregate& aggregate = *job->aggregate;
  CommandReply answer;
  if (job->request.has_get_account()) {
    if (!aggregate.account.exists) {
      return FinishRefused(job, es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT,
                           "no account " + job->request.get_account().account_id());
    }
    *answer.mutable_account() = es::domain::ToView(aggregate.account);
  } else {
    if (!aggregate.transfer.exists) {
      return FinishRefused(job, es::v1::REFUSAL_CODE_UNKNOWN_TRANSFER,
                           "no transfer " + job->request.get_transfer().transfer_id());
    }
    *answer.mutable_transfer() = es::domain::ToView(aggregate.transfer);
  }
  Finish(job, std::move(answer));
}

void CommandProcessor::LoadAccountState(
    const std::string& account_id,
    std::function<void(std::optional<es::domain::AccountState>)> then) {
  const std::string stream = es::domain::AccountStreamId(account_id);
  if (const Aggregate* cached = cache_.FindLoaded(stream)) return then(cached->account);
  auto scratch = std::make_shared<Aggregate>();
  scratch->stream_id = stream;
  LoadStream(scratch.get(), [scratch, then = std::move(then)](bool ok) {
    if (!ok) return then(std::nullopt);
    then(scratch->account);
  });
}

void CommandProcessor::CheckTransferAccounts(Job* job) {
  const auto& create = job->command().create_money_transfer();
  LoadAccountState(create.from_account(), [this, job](auto from) {
    if (!from) return FinishRefused(job, es::v1::REFUSAL_CODE_UNAVAILABLE, kStoreSilent);
    const auto& create = job->command().create_money_transfer();
    LoadAccountState(create.to_account(), [this, job, from = *from](auto to) {
      if (!to) return FinishRefused(job, es::v1::REFUSAL_CODE_UNAVAILABLE, kStoreSilent);
      if (auto bad = es::domain::ValidateTransferAccounts(from, *to)) {
        ++counters_.refused;
        return FinishRefused(job, bad->code, bad->message);
      }
      job->accounts_checked = true;
      Execute(job);
    });
  });
}

void CommandProcessor::Execute(Job* job) {
  Aggregate* aggregate = job->aggregate;
  const es::v1::Command& command = job->command();
  if (auto it = aggregate->outcomes.find(command.command_id()); it != aggregate->outcomes.end()) {
    ++counters_.duplicates;
    return FinishWithOutcome(job, it->second, /*duplicate=*/true);
  }
  job->decision = IsAccountStream(aggregate->stream_id)
                      ? es::domain::DecideAccount(aggregate->account, command)
                      : es::domain::DecideTransfer(aggregate->transfer, command);
  const es::domain::Decision& decision = job->decision;
  if (decision.events.empty() && aggregate->outcomes_partial) {
    // Maybe a repeat of a command from before the snapshot, which wrote
    // then what is refused now (e.g. OpenAccount): the store knows.
    return LookUpCommand(job, [this, job] { FinishUnwritten(job); });
  }
  if (decision.events.empty()) return FinishUnwritten(job);
  if (command.has_create_money_transfer() && !job->accounts_checked) {
    return CheckTransferAccounts(job);
  }
  Append(job);
}

void CommandProcessor::FinishUnwritten(Job* job) {
  Aggregate* aggregate = job->aggregate;
  const es::v1::Command& command = job->command();
  const es::domain::Decision& decision = job->decision;
  if (decision.rejection) ++counters_.refused;
  const StoredOutcome outcome = OutcomeOf(decision, aggregate->version);
  // Remembered so a repeat returns this first outcome (until evicted).
  aggregate->outcomes[command.command_id()] = outcome;
  FinishWithOutcome(job, outcome, /*duplicate=*/false);
}

void CommandProcessor::Append(Job* job) {
  const Aggregate& aggregate = *job->aggregate;
  es::v1::AppendRequest* append = &queued_appends_.emplace_back(QueuedAppend{job, {}}).append;
  append->set_stream_id(aggregate.stream_id);
  append->mutable_expected_version()->set_exact(aggregate.version);
  append->set_command_id(job->command().command_id());
  for (const auto& event : job->decision.events) {
    auto encoded = es::domain::EncodeEvent(event);
    auto* added = append->add_events();
    added->set_event_id(es::bus::NewUuid());
    added->set_type(std::move(encoded.type));
    added->set_data(std::move(encoded.data));
  }
}

void CommandProcessor::FlushAppends() {
  // Well under the store's limits (10,000 appends, 4 MiB) for any command.
  constexpr size_t kMaxPerMessage = 256;
  std::vector<QueuedAppend> queued = std::move(queued_appends_);
  queued_appends_.clear();
  for (size_t first = 0; first < queued.size(); first += kMaxPerMessage) {
    const size_t count = std::min(kMaxPerMessage, queued.size() - first);
    counters_.appends_sent += count;
    ++counters_.append_requests;
    es::v1::StoreRequest request;
    if (count == 1) {
      Job* job = queued[first].job;
      *request.mutable_append() = std::move(queued[first].append);
      store_.Call(request, [this, job](std::optional<es::v1::StoreReply> answer) {
        OnAppended(job, std::move(answer));
      });
      continue;
    }
    std::vector<Job*> jobs;
    jobs.reserve(count);
    auto* many = request.mutable_append_many();
    for (size_t i = first; i < first + count; ++i) {
      jobs.push_back(queued[i].job);
      *many->add_appends() = std::move(queued[i].append);
    }
    store_.Call(request, [this, jobs = std::move(jobs)](std::optional<es::v1::StoreReply> answer) {
      OnAppendedMany(jobs, std::move(answer));
    });
  }
}

void CommandProcessor::OnAppendedMany(const std::vector<Job*>& jobs,
                                      std::optional<es::v1::StoreReply> answer) {
  if (!answer || !answer->has_append_many() ||
      answer->append_many().results_size() != static_cast<int>(jobs.size())) {
    // No answer, or the message refused whole: each append gets that.
    for (Job* job : jobs) OnAppended(job, answer);
    return;
  }
  auto* results = answer->mutable_append_many()->mutable_results();
  for (size_t i = 0; i < jobs.size(); ++i) {
    es::v1::AppendManyItem& item = (*results)[static_cast<int>(i)];
    es::v1::StoreReply reply;
    if (item.has_append()) {
      *reply.mutable_append() = std::move(*item.mutable_append());
    } else if (item.has_error()) {
      *reply.mutable_error() = std::move(*item.mutable_error());
    }
    OnAppended(jobs[i], std::move(reply));
  }
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
    // Written before (by us before a restart, or by another instance): the
    // reloaded stream holds the first outcome.
    ++counters_.duplicates;
    aggregate->Reset();
    return EnsureLoaded(aggregate, [this, job, result](bool) {
      auto it = job->aggregate->outcomes.find(job->command().command_id());
      if (it != job->aggregate->outcomes.end()) {
        return FinishWithOutcome(job, it->second, /*duplicate=*/true);
      }
      if (job->aggregate->outcomes_partial && result.stream_id() == job->aggregate->stream_id) {
        // Written before the snapshot the aggregate loaded from.
        return LookUpCommand(job, [this, job, result] { FinishUsedElsewhere(job, result); });
      }
      // The id was used on another stream: report where.
      FinishUsedElsewhere(job, result);
    });
  }
  const es::domain::Decision& decided = job->decision;
  const bool was_closed = aggregate->account.closed;
  for (const auto& event : decided.events) Evolve(*aggregate, event);
  aggregate->version = result.last_version();
  if (!was_closed && aggregate->account.closed) aggregate->closed_version = result.last_version();
  if (decided.rejection) ++counters_.refused;
  StoredOutcome outcome = OutcomeOf(decided, result.last_version());
  outcome.global_position = result.last_position();
  outcome.events_written = static_cast<uint32_t>(decided.events.size());
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
