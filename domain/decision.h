// What a decider concludes from a command: the events to append, and whether
// the command is refused. The two are independent because a refusal can be
// recorded: an insufficient-funds debit appends AccountDebitFailed *and* is
// reported as refused (as in the original example, where the failed debit is
// an event).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "domain/domain_event.h"
#include "es/v1/command.pb.h"

namespace es::domain {

struct Rejection {
  es::v1::RefusalCode code = es::v1::REFUSAL_CODE_UNSPECIFIED;
  std::string message;  // one line, for humans
};

struct Decision {
  // To append to the command's stream, in order. May be empty for an
  // accepted command that is already satisfied (idempotent no-op).
  std::vector<DomainEvent> events;
  // Set when the command is refused; `events` then holds what the refusal
  // records (possibly nothing).
  std::optional<Rejection> rejection;

  bool accepted() const { return !rejection.has_value(); }

  static Decision Accept(DomainEvent event) {
    Decision decision;
    decision.events.push_back(std::move(event));
    return decision;
  }
  // Accepted, nothing to append: the command's effect is already there.
  static Decision AlreadyDone() { return Decision{}; }
  static Decision Refuse(Rejection rejection) { return Decision{{}, std::move(rejection)}; }
  static Decision Refuse(es::v1::RefusalCode code, std::string message) {
    return Refuse(Rejection{code, std::move(message)});
  }
  static Decision RecordAndRefuse(DomainEvent event, es::v1::RefusalCode code,
                                  std::string message) {
    Decision decision = Refuse(code, std::move(message));
    decision.events.push_back(std::move(event));
    return decision;
  }
};

}  // namespace es::domain
