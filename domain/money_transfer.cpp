#include "domain/money_transfer.h"

#include <string>
#include <string_view>

#include "domain/validation.h"

namespace es::domain {
namespace {

using es::v1::Command;

// The command names the transfer `state` was loaded for, and it exists.
std::optional<Rejection> CheckCreated(const TransferState& state, std::string_view transfer_id) {
  if (state.exists && state.transfer_id != transfer_id) {
    return Rejection{es::v1::REFUSAL_CODE_INVALID_ARGUMENT,
                     "command for transfer " + std::string(transfer_id) +
                         " decided against transfer " + state.transfer_id};
  }
  if (!state.exists) {
    return Rejection{es::v1::REFUSAL_CODE_UNKNOWN_TRANSFER,
                     "transfer " + std::string(transfer_id) + " does not exist"};
  }
  return std::nullopt;
}

Decision InvalidState(const TransferState& state, std::string_view action) {
  return Decision::Refuse(es::v1::REFUSAL_CODE_INVALID_STATE,
                          "transfer " + state.transfer_id + " is " +
                              std::string(TransferStatusName(state.status)) + "; cannot " +
                              std::string(action) + " it");
}

// Every transfer event carries the whole transfer.
template <typename Event>
Event Snapshot(const TransferState& state) {
  Event event;
  event.set_transfer_id(state.transfer_id);
  event.set_from_account(state.from_account);
  event.set_to_account(state.to_account);
  event.set_amount(state.amount);
  return event;
}

Decision DecideCreate(const TransferState& state, const es::v1::CreateMoneyTransfer& c) {
  if (state.exists) {
    return Decision::Refuse(es::v1::REFUSAL_CODE_ALREADY_EXISTS,
                            "transfer " + c.transfer_id() + " already exists");
  }
  es::v1::MoneyTransferCreated created;
  created.set_transfer_id(c.transfer_id());
  created.set_from_account(c.from_account());
  created.set_to_account(c.to_account());
  created.set_amount(c.amount());
  return Decision::Accept(std::move(created));
}

Decision DecideDebit(const TransferState& state, const es::v1::DebitMoneyTransfer& c) {
  if (auto rejection = CheckCreated(state, c.transfer_id())) return Decision::Refuse(*rejection);
  switch (state.status) {
    case TransferStatus::kCreated:
      return Decision::Accept(Snapshot<es::v1::MoneyTransferDebited>(state));
    case TransferStatus::kDebited:
      return Decision::AlreadyDone();
    default:
      return InvalidState(state, "debit");
  }
}

Decision DecideComplete(const TransferState& state, const es::v1::CompleteMoneyTransfer& c) {
  if (auto rejection = CheckCreated(state, c.transfer_id())) return Decision::Refuse(*rejection);
  switch (state.status) {
    case TransferStatus::kDebited:
      return Decision::Accept(Snapshot<es::v1::MoneyTransferCompleted>(state));
    case TransferStatus::kCompleted:
      return Decision::AlreadyDone();
    default:
      return InvalidState(state, "complete");
  }
}

Decision DecideFail(const TransferState& state, const es::v1::FailMoneyTransfer& c) {
  if (auto rejection = CheckCreated(state, c.transfer_id())) return Decision::Refuse(*rejection);
  // Each reason is the failure of one step, so it is legal from one status.
  TransferStatus failing_from;
  TransferFailure failure;
  switch (c.reason()) {
    case es::v1::TRANSFER_FAILURE_REASON_LACK_OF_FUNDS:
      failing_from = TransferStatus::kCreated;
      failure = TransferFailure::kLackOfFunds;
      break;
    case es::v1::TRANSFER_FAILURE_REASON_CREDIT_REFUSED:
      failing_from = TransferStatus::kDebited;
      failure = TransferFailure::kCreditRefused;
      break;
    default:  // CheckArguments refused it
      return Decision::Refuse(es::v1::REFUSAL_CODE_INVALID_ARGUMENT, "a failure needs a reason");
  }
  if (state.status == TransferStatus::kFailed && state.failure_reason == failure) {
    return Decision::AlreadyDone();
  }
  if (state.status != failing_from) return InvalidState(state, "fail");
  if (failure == TransferFailure::kLackOfFunds) {
    return Decision::Accept(Snapshot<es::v1::MoneyTransferFailedDueToLackOfFunds>(state));
  }
  return Decision::Accept(Snapshot<es::v1::MoneyTransferFailedDueToRefusedCredit>(state));
}

// Applies one transfer event where it is a legal move (see money_transfer.h).
struct TransferEvolution {
  TransferState& state;

  void operator()(const es::v1::MoneyTransferCreated& e) {
    if (state.exists) return;
    if (e.amount() <= 0) {
      state.corrupt = "event " + std::to_string(state.version + 1) +
                      " of its stream is a MoneyTransferCreated of amount " +
                      std::to_string(e.amount());
      return;
    }
    state.exists = true;
    state.transfer_id = e.transfer_id();
    state.from_account = e.from_account();
    state.to_account = e.to_account();
    state.amount = e.amount();
    state.status = TransferStatus::kCreated;
  }
  void operator()(const es::v1::MoneyTransferDebited&) {
    Move(TransferStatus::kCreated, TransferStatus::kDebited);
  }
  void operator()(const es::v1::MoneyTransferCompleted&) {
    Move(TransferStatus::kDebited, TransferStatus::kCompleted);
  }
  void operator()(const es::v1::MoneyTransferFailedDueToLackOfFunds&) {
    if (Move(TransferStatus::kCreated, TransferStatus::kFailed)) {
      state.failure_reason = TransferFailure::kLackOfFunds;
    }
  }
  void operator()(const es::v1::MoneyTransferFailedDueToRefusedCredit&) {
    if (Move(TransferStatus::kDebited, TransferStatus::kFailed)) {
      state.failure_reason = TransferFailure::kCreditRefused;
    }
  }

  // Moves `from` -> `to` if the transfer is in `from`; true if it moved.
  bool Move(TransferStatus from, TransferStatus to) {
    if (!state.exists || state.status != from) return false;
    state.status = to;
    return true;
  }
};

}  // namespace

std::string_view TransferStatusName(TransferStatus status) {
  switch (status) {
    case TransferStatus::kCreated:
      return "Created";
    case TransferStatus::kDebited:
      return "Debited";
    case TransferStatus::kCompleted:
      return "Completed";
    case TransferStatus::kFailed:
      return "Failed";
  }
  return "";
}

std::string_view TransferFailureName(TransferFailure failure) {
  switch (failure) {
    case TransferFailure::kNone:
      return "";
    case TransferFailure::kLackOfFunds:
      return "LackOfFunds";
    case TransferFailure::kCreditRefused:
      return "CreditRefused";
  }
  return "";
}

bool IsTerminal(TransferStatus status) {
  return status == TransferStatus::kCompleted || status == TransferStatus::kFailed;
}

Decision DecideTransfer(const TransferState& state, const Command& command) {
  if (auto rejection = CheckArguments(command)) return Decision::Refuse(*rejection);
  if (!state.corrupt.empty()) {
    return Decision::Refuse(es::v1::REFUSAL_CODE_STREAM_CORRUPT,
                            "transfer " + state.transfer_id + " cannot be used: " + state.corrupt);
  }
  switch (command.body_case()) {
    case Command::kCreateMoneyTransfer:
      return DecideCreate(state, command.create_money_transfer());
    case Command::kDebitMoneyTransfer:
      return DecideDebit(state, command.debit_money_transfer());
    case Command::kCompleteMoneyTransfer:
      return DecideComplete(state, command.complete_money_transfer());
    case Command::kFailMoneyTransfer:
      return DecideFail(state, command.fail_money_transfer());
    default:
      return Decision::Refuse(es::v1::REFUSAL_CODE_INVALID_ARGUMENT, "not a transfer command");
  }
}

TransferState EvolveTransfer(TransferState state, const DomainEvent& event) {
  std::visit(
      [&state](const auto& e) {
        using Event = std::decay_t<decltype(e)>;
        if constexpr (TransferEventMessage<Event>) {
          if (state.corrupt.empty()) {
            if (state.exists && !e.transfer_id().empty() && e.transfer_id() != state.transfer_id) {
              state.corrupt = "event " + std::to_string(state.version + 1) +
                              " of its stream names transfer " + e.transfer_id();
            } else {
              TransferEvolution{state}(e);
            }
          }
          ++state.version;
        }
      },
      event);
  return state;
}

std::optional<Rejection> ValidateTransferAccounts(const AccountState& from,
                                                  const AccountState& to) {
  auto check = [](const AccountState& account, std::string_view role) -> std::optional<Rejection> {
    if (!account.exists) {
      return Rejection{es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT,
                       std::string(role) + " account does not exist"};
    }
    if (account.closed) {
      return Rejection{es::v1::REFUSAL_CODE_ACCOUNT_CLOSED,
                       std::string(role) + " account " + account.account_id + " is closed"};
    }
    return std::nullopt;
  };
  return FirstRejection({check(from, "source"), check(to, "target")});
}

}  // namespace es::domain
