// The Account aggregate as a decider: its state, the decision a command
// leads to, and how an event changes the state. Pure: no I/O, no clock.
//
// Rules (beyond the original example, which accepted everything but an
// overdraft):
//   - Every command but OpenAccount needs an opened account (UNKNOWN_ACCOUNT;
//     the original silently created one). OpenAccount on an opened account:
//     ALREADY_EXISTS.
//   - Ids are 1..128 bytes, the owner 1..200 bytes (INVALID_ARGUMENT); the
//     initial balance is >= 0 and every moved amount > 0 (INVALID_AMOUNT); a
//     balance never overflows int64 (OVERFLOW).
//   - A debit larger than the balance is recorded (AccountDebitFailed /
//     AccountDebitBecauseOfMoneyTransferFailed) and refused
//     (INSUFFICIENT_FUNDS), as the original records it.
//   - A closed account refuses CreditAccount and DebitAccount
//     (ACCOUNT_CLOSED, nothing recorded). Commands of a transfer in flight
//     are never left unanswered, so that the saga can always move on and
//     money never vanishes:
//       * DebitAccountBecauseOfMoneyTransfer on a closed account (closed
//         after the transfer was created) records
//         AccountDebitBecauseOfMoneyTransferFailed, so the transfer fails as
//         for lack of funds, and is refused ACCOUNT_CLOSED;
//       * CreditAccountBecauseOfMoneyTransfer on a closed account, or one
//         whose balance would overflow, records
//         AccountCreditBecauseOfMoneyTransferFailed (reason "account closed"
//         or "balance would overflow") and is refused ACCOUNT_CLOSED or
//         OVERFLOW; the saga then refunds the source;
//       * RefundAccountBecauseOfMoneyTransfer is accepted even on a closed
//         account: the money comes back to where it was taken from. The
//         account stays Closed and shows the refunded balance, so the money
//         is visible, not lost. Only an int64 overflow refuses a refund
//         (OVERFLOW); the transfer then stays Debited, visibly in flight.
//   - CloseAccount needs a zero balance (NONZERO_BALANCE); closing a closed
//     account is accepted with no event (idempotent).
// Each event, whatever it is, increments the version by 1: the version is the
// stream's version, which appends are checked against.
#pragma once

#include <cstdint>
#include <string>

#include "domain/decision.h"
#include "domain/domain_event.h"
#include "es/v1/command.pb.h"

namespace es::domain {

struct AccountState {
  bool exists = false;  // an AccountOpened has been applied
  std::string account_id;
  std::string owner;
  int64_t balance = 0;   // minor units (cents)
  uint64_t version = 0;  // events applied
  bool closed = false;
};

// The decision for `command` against the account in `state` (a default
// AccountState for an account never opened). A command that is not an
// account command, or that names another account than a loaded `state`, is
// refused INVALID_ARGUMENT.
Decision DecideAccount(const AccountState& state, const es::v1::Command& command);

// `state` after `event`. Events of other aggregates leave it unchanged.
// Balances fold the events' amounts, as the original does; DecideAccount
// never emits an event whose amount would overflow.
AccountState EvolveAccount(AccountState state, const DomainEvent& event);

}  // namespace es::domain
