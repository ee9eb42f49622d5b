// The MoneyTransfer aggregate as a decider. A transfer moves through
//
//   Created --DebitMoneyTransfer--> Debited
//   Debited --CompleteMoneyTransfer--> Completed
//   Created --FailMoneyTransfer(LACK_OF_FUNDS)--> Failed
//   Debited --FailMoneyTransfer(CREDIT_REFUSED)--> Failed (source refunded)
//
// driven by the transfer saga (transfer_saga.h). Any other move is refused
// INVALID_STATE. A command whose effect is already there is accepted with no
// event (idempotent): DebitMoneyTransfer on a Debited transfer,
// CompleteMoneyTransfer on a Completed one, FailMoneyTransfer on a transfer
// Failed for the same reason. This lets a saga that replays its reactions
// after a crash get "accepted" rather than a spurious refusal.
//
// Whether the two accounts exist and are open is checked by the command
// handler, which loads them, with ValidateTransferAccounts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "domain/account.h"
#include "domain/decision.h"
#include "domain/domain_event.h"
#include "es/v1/command.pb.h"

namespace es::domain {

enum class TransferStatus { kCreated, kDebited, kCompleted, kFailed };

enum class TransferFailure { kNone, kLackOfFunds, kCreditRefused };

struct TransferState {
  bool exists = false;  // a MoneyTransferCreated has been applied
  std::string transfer_id;
  std::string from_account;
  std::string to_account;
  int64_t amount = 0;
  TransferStatus status = TransferStatus::kCreated;  // meaningful if exists
  TransferFailure failure_reason = TransferFailure::kNone;
  uint64_t version = 0;  // events applied
  // Why the stream cannot be folded (empty: it can): a transfer event naming
  // another transfer, or a MoneyTransferCreated with an
  // amount <= 0. Every command is then refused STREAM_CORRUPT.
  std::string corrupt;
};

// "Created", "Debited", "Completed", "Failed" (TransferView.state).
std::string_view TransferStatusName(TransferStatus status);
// "", "LackOfFunds", "CreditRefused" (TransferView.failure_reason).
std::string_view TransferFailureName(TransferFailure failure);

// Completed and Failed are final: no command moves the transfer on.
bool IsTerminal(TransferStatus status);

// The decision for `command` against the transfer in `state` (a default
// TransferState for a transfer never created). CreateMoneyTransfer is refused
// for an invalid id (INVALID_ARGUMENT), amount <= 0 (INVALID_AMOUNT), from ==
// to (SAME_ACCOUNT), an existing transfer (ALREADY_EXISTS); the others for an
// unknown transfer (UNKNOWN_TRANSFER) or a move the state machine above does
// not allow (INVALID_STATE). Not a transfer command, or a command naming
// another transfer than a loaded `state`: INVALID_ARGUMENT.
Decision DecideTransfer(const TransferState& state, const es::v1::Command& command);

// `state` after `event`. As in the original example, an event that is not a
// legal move from the current status leaves the status unchanged (the
// original's TestEventsOutOfOrder); DecideTransfer never emits one, so only a
// foreign writer could. Every transfer event increments the version (it is
// the stream's version); events of other aggregates leave `state` unchanged.
TransferState EvolveTransfer(TransferState state, const DomainEvent& event);

// The rule CreateMoneyTransfer's handler applies to the loaded accounts:
// both must exist (UNKNOWN_ACCOUNT) and be open (ACCOUNT_CLOSED). Nothing if
// the transfer may be created. A default AccountState stands for an account
// that does not exist.
std::optional<Rejection> ValidateTransferAccounts(const AccountState& from, const AccountState& to);

}  // namespace es::domain
