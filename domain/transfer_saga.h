// The transfer saga's decision: which command, if any, an event calls for.
// It is the Decider shape turned around (events in, commands out) and keeps
// no state: every event it reacts to carries what the next command needs.
//
//   on MoneyTransferCreated:
//     DebitAccountBecauseOfMoneyTransfer (the source)
//   on AccountDebitedBecauseOfMoneyTransfer:
//     DebitMoneyTransfer
//   on MoneyTransferDebited:
//     CreditAccountBecauseOfMoneyTransfer (the target, naming the source)
//   on AccountCreditedBecauseOfMoneyTransfer:
//     CompleteMoneyTransfer
//   on AccountDebitBecauseOfMoneyTransferFailed:
//     FailMoneyTransfer (LACK_OF_FUNDS)
//   on AccountCreditBecauseOfMoneyTransferFailed:
//     RefundAccountBecauseOfMoneyTransfer (the source: compensation)
//   on AccountRefundedBecauseOfMoneyTransfer:
//     FailMoneyTransfer (CREDIT_REFUSED)
//   on anything else: nothing
//
// The command id is derived from the causing event's id, so reacting again
// to the same event after a crash yields the identical command, which the
// command service then recognises as a duplicate.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "domain/domain_event.h"
#include "es/v1/command.pb.h"
#include "es/v1/event.pb.h"

namespace es::domain {

// Zero or one command to send.
using SagaReaction = std::optional<es::v1::Command>;

// The id of the command caused by the event `event_id`: "saga-<event_id>".
std::string SagaCommandId(std::string_view event_id);

// The reaction to `event`, stored with id `event_id`.
SagaReaction ReactToEvent(std::string_view event_id, const DomainEvent& event);

// The reaction to a stored event: decodes `record` (see event_codec.h) and
// reacts to it. An event of a type the domain does not know, or whose data
// does not parse, calls for nothing.
SagaReaction ReactToEvent(const es::v1::EventRecord& record);

}  // namespace es::domain
