#include "command_service/command_processor.h"

#include "bus/ids.h"
#include "domain/event_codec.h"
#include "domain/stream_ids.h"
#include "domain/validation.h"
#include "domain/views.h"

namespace es::command {
namespace {

using es::v1::CommandOutcome;
using es::v1::CommandReply;

bool IsAccountStream(const std::string& stream) { return stream.rfind("account-", 0) == 0; }

CommandOutcome Refusal(es::v1::RefusalCode code, std::string message) {
  CommandOutcome outcome;
  outcome.set_accepted(false);
  outcome.set_refusal_code(code);
  outcome.set_message(std::move(message));
  return outcome;
}

CommandReply OutcomeReply(CommandOutcome outcome) {
  CommandReply reply;
  *reply.mutable_outcome() = std::move(outcome);
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
std::optional<es::v1::RefusalCode> RecordedRefusal(const std::string& type,
                                                   bool account_closed) {
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

void ApplyEvent(Aggregate& aggregate, const es::v1::EventRecord& record) {
  const bool was_closed = aggregate.account.closed;
  if (auto event = es::domain::DecodeEvent(record.type(), record.data())) {
    if (IsAccountStream(aggregate.stream_id)) {
      aggregate.account = es::domain::EvolveAccount(std::move(aggregate.account), *event);
    } else {
      aggregate.transfer = es::domain::EvolveTransfer(std::move(aggregate.transfer), *event);
    }
  }
  aggregate.version = record.stream_version();
  if (record.command_id().empty()) return;
  CommandOutcome& outcome = aggregate.outcomes[record.command_id()];
  if (outcome.events_written() == 0) outcome.set_accepted(true);
  if (auto refusal = RecordedRefusal(record.type(), was_closed)) {
    outcome.set_accepted(false);
    outcome.set_refusal_code(*refusal);
    outcome.set_message("recorded as " + record.type());
  }
  outcome.set_stream_id(record.stream_id());
  outcome.set_version(record.stream_version());
  outcome.set_global_position(record.global_position());
  outcome.set_events_written(outcome.events_written() + 1);
}

es::v1::RefusalCode RefusalForStoreError(const es::v1::Error& error) {
  if (error.code() == es::v1::ERROR_CODE_BAD_REQUEST ||
      error.code() == es::v1::ERROR_CODE_TOO_LARGE) {
    return es::v1::REFUSAL_CODE_INVALID_ARGUMENT;
  }
  return es::v1::REFUSAL_CODE_UNAVAILABLE;
}

}  // namespace

CommandProcessor::CommandProcessor(StoreRpc& store, size_t cache_capacity,
                                   int max_conflict_retries)
    : store_(store), cache_(cache_capacity), max_conflict_retries_(max_conflict_retries) {}

void CommandProcessor::Handle(const es::v1::CommandRequest& request, Reply reply) {
  switch (request.body_case()) {
    case es::v1::CommandRequest::kCommand: {
      const es::v1::Command& command = request.command();
      if (command.command_id().empty()) return reply(ErrorReply("command_id is required"));
      if (command.command_id().size() > es::domain::kMaxIdBytes) {
        return reply(ErrorReply("command_id is longer than " +
                                std::to_string(es::domain::kMaxIdBytes) + " bytes"));
      }
      auto stream = es::domain::StreamOfCommand(command);
      if (!stream) return reply(ErrorReply("the command has no body (unknown command type?)"));
      ++counters_.commands;
      // An id the domain would refuse must not become a cache key or a read.
      const std::string id = stream->substr(stream->find('-') + 1);
      if (auto bad = es::domain::CheckId("aggregate id", id)) {
        ++counters_.refused;
        return reply(OutcomeReply(Refusal(bad->code, bad->message)));
      }
      Aggregate* aggregate = cache_.Get(*stream);
      Serialize(aggregate, [this, aggregate, command, reply](Done done) {
        EnsureLoaded(aggregate, [this, aggregate, command, reply, done](bool ok) {
          if (!ok) {
            ++counters_.refused;
            reply(OutcomeReply(Refusal(es::v1::REFUSAL_CODE_UNAVAILABLE,
                                       "the store did not answer; retry with the same command id")));
            return done();
          }
          Execute(aggregate, command, 0, false, reply, done);
        });
      });
      return;
    }
    case es::v1::CommandRequest::kGetAccount:
    case es::v1::CommandRequest::kGetTransfer: {
      const bool account = request.has_get_account();
      const std::string& id =
          account ? request.get_account().account_id() : request.get_transfer().transfer_id();
      if (auto bad = es::domain::CheckId(account ? "account_id" : "transfer_id", id)) {
        return reply(OutcomeReply(Refusal(bad->code, bad->message)));
      }
      const std::string stream =
          account ? es::domain::AccountStreamId(id) : es::domain::TransferStreamId(id);
      Aggregate* aggregate = cache_.Get(stream);
      Serialize(aggregate, [this, aggregate, account, id, reply](Done done) {
        EnsureLoaded(aggregate, [aggregate, account, id, reply, done](bool ok) {
          CommandReply answer;
          if (!ok) {
            answer = OutcomeReply(
                Refusal(es::v1::REFUSAL_CODE_UNAVAILABLE, "the store did not answer"));
          } else if (account && !aggregate->account.exists) {
            answer = OutcomeReply(
                Refusal(es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT, "no account " + id));
          } else if (!account && !aggregate->transfer.exists) {
            answer = OutcomeReply(
                Refusal(es::v1::REFUSAL_CODE_UNKNOWN_TRANSFER, "no transfer " + id));
          } else if (account) {
            *answer.mutable_account() = es::domain::ToView(aggregate->account);
          } else {
            *answer.mutable_transfer() = es::domain::ToView(aggregate->transfer);
          }
          reply(std::move(answer));
          done();
        });
      });
      return;
    }
    default:
      return reply(ErrorReply("unknown request type"));
  }
}

void CommandProcessor::Serialize(Aggregate* aggregate, std::function<void(Done)> work) {
  auto run = [this, aggregate, work = std::move(work)] {
    work([this, aggregate] { Finish(aggregate); });
  };
  if (aggregate->busy) {
    aggregate->waiting.push_back(std::move(run));
    return;
  }
  aggregate->busy = true;
  run();
}

void CommandProcessor::Finish(Aggregate* aggregate) {
  if (aggregate->waiting.empty()) {
    aggregate->busy = false;
    return;
  }
  // Stays busy: the next item owns it now.
  deferred_.push_back(std::move(aggregate->waiting.front()));
  aggregate->waiting.pop_front();
}

void CommandProcessor::RunDeferred() {
  // Items may defer more; bound one turn so the loop stays responsive.
  for (size_t n = deferred_.size(); n > 0 && !deferred_.empty(); --n) {
    auto next = std::move(deferred_.front());
    deferred_.pop_front();
    next();
  }
  cache_.Trim();
}

void CommandProcessor::ReadWholeStream(const std::string& stream, uint64_t from,
                                       std::function<void(const es::v1::EventRecord&)> on_event,
                                       std::function<void(bool)> then) {
  es::v1::StoreRequest request;
  auto* read = request.mutable_read_stream();
  read->set_stream_id(stream);
  read->set_from_version(from);
  read->set_max_count(1000);
  ++counters_.stream_reads;
  store_.Call(request, [this, stream, on_event, then](std::optional<es::v1::StoreReply> reply) {
    if (!reply || !reply->has_read_stream()) return then(false);
    const auto& result = reply->read_stream();
    for (const auto& event : result.events()) on_event(event);
    if (result.end_of_stream() || result.events().empty()) return then(true);
    const uint64_t next = result.events(result.events_size() - 1).stream_version() + 1;
    ReadWholeStream(stream, next, on_event, then);
  });
}

void CommandProcessor::EnsureLoaded(Aggregate* aggregate, std::function<void(bool)> then) {
  if (aggregate->loaded) return then(true);
  aggregate->Reset();
  ReadWholeStream(
      aggregate->stream_id, 1, [aggregate](const es::v1::EventRecord& e) { ApplyEvent(*aggregate, e); },
      [aggregate, then](bool ok) {
        if (!ok) aggregate->Reset();
        aggregate->loaded = ok;
        then(ok);
      });
}

void CommandProcessor::LoadAccountState(
    const std::string& account_id,
    std::function<void(std::optional<es::domain::AccountState>)> then) {
  const std::string stream = es::domain::AccountStreamId(account_id);
  if (const Aggregate* cached = cache_.FindLoaded(stream)) return then(cached->account);
  auto scratch = std::make_shared<Aggregate>();
  scratch->stream_id = stream;
  ReadWholeStream(
      stream, 1, [scratch](const es::v1::EventRecord& e) { ApplyEvent(*scratch, e); },
      [scratch, then](bool ok) {
        if (!ok) return then(std::nullopt);
        then(scratch->account);
      });
}

void CommandProcessor::CheckTransferAccounts(
    const es::v1::CreateMoneyTransfer& create,
    std::function<void(std::optional<CommandOutcome>)> then) {
  LoadAccountState(create.from_account(), [this, create, then](auto from) {
    if (!from) {
      return then(Refusal(es::v1::REFUSAL_CODE_UNAVAILABLE, "the store did not answer"));
    }
    LoadAccountState(create.to_account(), [from, then](auto to) {
      if (!to) return then(Refusal(es::v1::REFUSAL_CODE_UNAVAILABLE, "the store did not answer"));
      if (auto bad = es::domain::ValidateTransferAccounts(*from, *to)) {
        return then(Refusal(bad->code, bad->message));
      }
      then(std::nullopt);
    });
  });
}

void CommandProcessor::Execute(Aggregate* aggregate, const es::v1::Command& command, int attempt,
                               bool accounts_checked, Reply reply, Done done) {
  if (auto it = aggregate->outcomes.find(command.command_id()); it != aggregate->outcomes.end()) {
    ++counters_.duplicates;
    CommandOutcome outcome = it->second;
    outcome.set_duplicate(true);
    reply(OutcomeReply(std::move(outcome)));
    return done();
  }
  es::domain::Decision decision = IsAccountStream(aggregate->stream_id)
                                      ? es::domain::DecideAccount(aggregate->account, command)
                                      : es::domain::DecideTransfer(aggregate->transfer, command);
  if (decision.events.empty()) {
    CommandOutcome outcome;
    if (decision.rejection) {
      ++counters_.refused;
      outcome = Refusal(decision.rejection->code, decision.rejection->message);
    } else {
      outcome.set_accepted(true);
    }
    outcome.set_stream_id(aggregate->stream_id);
    outcome.set_version(aggregate->version);
    // Remembered so a repeat returns this first outcome (until evicted).
    aggregate->outcomes[command.command_id()] = outcome;
    reply(OutcomeReply(std::move(outcome)));
    return done();
  }
  if (command.has_create_money_transfer() && !accounts_checked) {
    CheckTransferAccounts(command.create_money_transfer(),
                          [this, aggregate, command, attempt, reply, done](auto refusal) {
                            if (refusal) {
                              ++counters_.refused;
                              reply(OutcomeReply(std::move(*refusal)));
                              return done();
                            }
                            Execute(aggregate, command, attempt, true, reply, done);
                          });
    return;
  }
  Append(aggregate, command, std::move(decision), attempt, std::move(reply), std::move(done));
}

void CommandProcessor::Append(Aggregate* aggregate, const es::v1::Command& command,
                              es::domain::Decision decision, int attempt, Reply reply, Done done) {
  es::v1::StoreRequest request;
  auto* append = request.mutable_append();
  append->set_stream_id(aggregate->stream_id);
  append->mutable_expected_version()->set_exact(aggregate->version);
  append->set_command_id(command.command_id());
  for (const auto& event : decision.events) {
    auto encoded = es::domain::EncodeEvent(event);
    auto* added = append->add_events();
    added->set_event_id(es::bus::NewUuid());
    added->set_type(std::move(encoded.type));
    added->set_data(std::move(encoded.data));
  }
  auto shared_decision = std::make_shared<es::domain::Decision>(std::move(decision));
  store_.Call(request, [this, aggregate, command, attempt, reply, done,
                        shared_decision](std::optional<es::v1::StoreReply> answer) {
    if (!answer) {
      // Unknown whether it was written: forget the state, let the caller
      // retry with the same command id (the store deduplicates).
      aggregate->Reset();
      reply(OutcomeReply(Refusal(es::v1::REFUSAL_CODE_UNAVAILABLE,
                                 "the store did not answer; retry with the same command id")));
      return done();
    }
    if (answer->has_error()) {
      const auto& error = answer->error();
      if (error.code() == es::v1::ERROR_CODE_WRONG_EXPECTED_VERSION) {
        ++counters_.conflicts;
        return Retry(aggregate, command, attempt, reply, done);
      }
      ++counters_.refused;
      reply(OutcomeReply(Refusal(RefusalForStoreError(error), "store: " + error.message())));
      return done();
    }
    if (!answer->has_append()) {
      reply(OutcomeReply(Refusal(es::v1::REFUSAL_CODE_UNAVAILABLE, "unexpected store reply")));
      return done();
    }
    const auto& result = answer->append();
    if (result.duplicate()) {
      // Written before (by us before a restart, or by another instance): the
      // reloaded stream holds the first outcome.
      ++counters_.duplicates;
      aggregate->Reset();
      return EnsureLoaded(aggregate, [aggregate, command, result, reply, done](bool) {
        CommandOutcome outcome;
        if (auto it = aggregate->outcomes.find(command.command_id());
            it != aggregate->outcomes.end()) {
          outcome = it->second;
        } else {  // the id was used on another stream: report where
          outcome.set_accepted(true);
          outcome.set_stream_id(result.stream_id());
          outcome.set_version(result.last_version());
          outcome.set_global_position(result.last_position());
        }
        outcome.set_duplicate(true);
        reply(OutcomeReply(std::move(outcome)));
        done();
      });
    }
    const es::domain::Decision& decided = *shared_decision;
    for (const auto& event : decided.events) {
      if (IsAccountStream(aggregate->stream_id)) {
        aggregate->account = es::domain::EvolveAccount(std::move(aggregate->account), event);
      } else {
        aggregate->transfer = es::domain::EvolveTransfer(std::move(aggregate->transfer), event);
      }
    }
    aggregate->version = result.last_version();
    CommandOutcome outcome;
    outcome.set_accepted(decided.accepted());
    if (decided.rejection) {
      ++counters_.refused;
      outcome.set_refusal_code(decided.rejection->code);
      outcome.set_message(decided.rejection->message);
    }
    outcome.set_stream_id(aggregate->stream_id);
    outcome.set_version(result.last_version());
    outcome.set_global_position(result.last_position());
    outcome.set_events_written(static_cast<uint32_t>(decided.events.size()));
    aggregate->outcomes[command.command_id()] = outcome;
    reply(OutcomeReply(std::move(outcome)));
    done();
  });
}

void CommandProcessor::Retry(Aggregate* aggregate, const es::v1::Command& command, int attempt,
                             Reply reply, Done done) {
  if (attempt + 1 > max_conflict_retries_) {
    ++counters_.refused;
    reply(OutcomeReply(Refusal(es::v1::REFUSAL_CODE_CONFLICT,
                               "the stream kept changing; retry with the same command id")));
    return done();
  }
  aggregate->Reset();
  EnsureLoaded(aggregate, [this, aggregate, command, attempt, reply, done](bool ok) {
    if (!ok) {
      reply(OutcomeReply(Refusal(es::v1::REFUSAL_CODE_UNAVAILABLE, "the store did not answer")));
      return done();
    }
    Execute(aggregate, command, attempt + 1, false, reply, done);
  });
}

}  // namespace es::command
