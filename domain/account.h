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
//         is visible, not lost.
//   - Compensation can never be refused. An account keeps `transfers_out`,
//     the money transfers debited from it and did not refund, and holds
//     balance + transfers_out <= kMaxBalance (INT64_MAX): every credit and
//     transfer credit that would pass that ceiling is refused OVERFLOW (a
//     transfer credit is recorded, so the source is refunded). A debit for
//     a transfer moves money from balance to transfers_out, a refund moves
//     it back: neither changes the sum, so a refund — at most the
//     transfers_out its own debit added — always fits. (The account cannot
//     see a transfer complete, so completed outgoing transfers keep
//     counting against the ceiling: an account may send and hold 9.2 x
//     10^18 minor units over its life, over 9,000 transfers of the largest
//     amount.) A refund larger than transfers_out was never debited: it is
//     refused INVALID_AMOUNT.
//   - Amounts are 1..kMaxAmount (validation.h), initial balances 0..kMaxAmount.
//   - CloseAccount needs a zero balance (NONZERO_BALANCE); closing a closed
//     account is accepted with no event (idempotent).
// Each event, whatever it is, increments the version by 1: the version is the
// stream's version, which appends are checked against.
//
// The log is validated, never trusted: an event that cannot apply (another
// account's, before the opening, a second opening, an amount <= 0, a debit
// beyond the balance, a sum that would overflow) leaves the balance as it
// was and marks the state `corrupt`, with the reason; every later event is
// only counted, and every command is refused STREAM_CORRUPT. Folding has no
// undefined behaviour whatever the events.
#pragma once

#include <cstdint>
#include <climits>
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
  // Debited by transfers, not refunded: what refunds may still give back.
  int64_t transfers_out = 0;
  // Why the stream cannot be folded (empty: it can); see above.
  std::string corrupt;
};

// The ceiling of balance + transfers_out.
inline constexpr int64_t kMaxBalance = INT64_MAX;

// The decision for `command` against the account in `state` (a default
// AccountState for an account never opened). A command that is not an
// account command, or that names another account than a loaded `state`, is
// refused INVALID_ARGUMENT.
Decision DecideAccount(const AccountState& state, const es::v1::Command& command);

// `state` after `event`. Events of other aggregates leave it unchanged.
// Balances fold the events' amounts, as the original does; an event that
// cannot apply marks the state corrupt (see above).
AccountState EvolveAccount(AccountState state, const DomainEvent& event);

}  // namespace es::domain
