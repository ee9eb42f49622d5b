#include "domain/account.h"

#include <optional>
#include <string>
#include <string_view>

#include "domain/validation.h"

namespace es::domain {
namespace {

using es::v1::Command;

// The command names the account `state` was loaded for, and it is opened.
std::optional<Rejection> CheckOpened(const AccountState& state, std::string_view account_id) {
  if (state.exists && state.account_id != account_id) {
    return Rejection{es::v1::REFUSAL_CODE_INVALID_ARGUMENT,
                     "command for account " + std::string(account_id) +
                         " decided against account " + state.account_id};
  }
  if (!state.exists) {
    return Rejection{es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT,
                     "account " + std::string(account_id) + " does not exist"};
  }
  return std::nullopt;
}

std::optional<Rejection> CheckNotClosed(const AccountState& state) {
  if (state.closed) {
    return Rejection{es::v1::REFUSAL_CODE_ACCOUNT_CLOSED,
                     "account " + state.account_id + " is closed"};
  }
  return std::nullopt;
}

std::string InsufficientFunds(const AccountState& state, int64_t amount) {
  return "insufficient funds: account " + state.account_id + " has " +
         std::to_string(state.balance) + ", debit of " + std::to_string(amount);
}

Decision Overflow(const AccountState& state) {
  return Decision::Refuse(es::v1::REFUSAL_CODE_OVERFLOW,
                          "balance of account " + state.account_id + " would overflow");
}

// Events shaped (account_id, amount, balance).
template <typename Event>
Event Movement(const std::string& account_id, int64_t amount, int64_t balance) {
  Event event;
  event.set_account_id(account_id);
  event.set_amount(amount);
  event.set_balance(balance);
  return event;
}

// Events shaped (account_id, transfer_id, amount, balance).
template <typename Event, typename TransferCommand>
Event TransferMovement(const TransferCommand& command, int64_t balance) {
  Event event;
  event.set_account_id(command.account_id());
  event.set_transfer_id(command.transfer_id());
  event.set_amount(command.amount());
  event.set_balance(balance);
  return event;
}

Decision DecideOpen(const AccountState& state, const es::v1::OpenAccount& c) {
  std::optional<Rejection> initial_balance_rejection;
  if (c.initial_balance() < 0) {
    initial_balance_rejection =
        Rejection{es::v1::REFUSAL_CODE_INVALID_AMOUNT,
                  "initial_balance must be >= 0, got " + std::to_string(c.initial_balance())};
  }
  if (auto rejection = FirstRejection({CheckId("account_id", c.account_id()), CheckOwner(c.owner()),
                                       initial_balance_rejection})) {
    return Decision::Refuse(*rejection);
  }
  if (state.exists) {
    return Decision::Refuse(es::v1::REFUSAL_CODE_ALREADY_EXISTS,
                            "account " + c.account_id() + " already exists");
  }
  es::v1::AccountOpened opened;
  opened.set_account_id(c.account_id());
  opened.set_owner(c.owner());
  opened.set_initial_balance(c.initial_balance());
  return Decision::Accept(std::move(opened));
}

Decision DecideCredit(const AccountState& state, const es::v1::CreditAccount& c) {
  if (auto rejection =
          FirstRejection({CheckId("account_id", c.account_id()), CheckAmount(c.amount()),
                          CheckOpened(state, c.account_id()), CheckNotClosed(state)})) {
    return Decision::Refuse(*rejection);
  }
  std::optional<int64_t> balance = CheckedAdd(state.balance, c.amount());
  if (!balance) return Overflow(state);
  return Decision::Accept(Movement<es::v1::AccountCredited>(c.account_id(), c.amount(), *balance));
}

Decision DecideDebit(const AccountState& state, const es::v1::DebitAccount& c) {
  if (auto rejection =
          FirstRejection({CheckId("account_id", c.account_id()), CheckAmount(c.amount()),
                          CheckOpened(state, c.account_id()), CheckNotClosed(state)})) {
    return Decision::Refuse(*rejection);
  }
  if (state.balance < c.amount()) {
    return Decision::RecordAndRefuse(
        Movement<es::v1::AccountDebitFailed>(c.account_id(), c.amount(), state.balance),
        es::v1::REFUSAL_CODE_INSUFFICIENT_FUNDS, InsufficientFunds(state, c.amount()));
  }
  return Decision::Accept(
      Movement<es::v1::AccountDebited>(c.account_id(), c.amount(), state.balance - c.amount()));
}

Decision DecideClose(const AccountState& state, const es::v1::CloseAccount& c) {
  if (auto rejection = FirstRejection(
          {CheckId("account_id", c.account_id()), CheckOpened(state, c.account_id())})) {
    return Decision::Refuse(*rejection);
  }
  if (state.closed) return Decision::AlreadyDone();
  if (state.balance != 0) {
    return Decision::Refuse(
        es::v1::REFUSAL_CODE_NONZERO_BALANCE,
        "account " + state.account_id + " has balance " + std::to_string(state.balance));
  }
  es::v1::AccountClosed closed;
  closed.set_account_id(c.account_id());
  return Decision::Accept(std::move(closed));
}

Decision DecideDebitForTransfer(const AccountState& state,
                                const es::v1::DebitAccountBecauseOfMoneyTransfer& c) {
  if (auto rejection = FirstRejection(
          {CheckId("account_id", c.account_id()), CheckId("transfer_id", c.transfer_id()),
           CheckAmount(c.amount()), CheckOpened(state, c.account_id())})) {
    return Decision::Refuse(*rejection);
  }
  using Failed = es::v1::AccountDebitBecauseOfMoneyTransferFailed;
  if (auto closed = CheckNotClosed(state)) {
    return Decision::RecordAndRefuse(TransferMovement<Failed>(c, state.balance), closed->code,
                                     std::move(closed->message));
  }
  if (state.balance < c.amount()) {
    return Decision::RecordAndRefuse(TransferMovement<Failed>(c, state.balance),
                                     es::v1::REFUSAL_CODE_INSUFFICIENT_FUNDS,
                                     InsufficientFunds(state, c.amount()));
  }
  return Decision::Accept(TransferMovement<es::v1::AccountDebitedBecauseOfMoneyTransfer>(
      c, state.balance - c.amount()));
}

Decision DecideCreditForTransfer(const AccountState& state,
                                 const es::v1::CreditAccountBecauseOfMoneyTransfer& c) {
  if (auto rejection = FirstRejection(
          {CheckId("account_id", c.account_id()), CheckId("transfer_id", c.transfer_id()),
           CheckId("source_account", c.source_account()), CheckAmount(c.amount()),
           CheckOpened(state, c.account_id())})) {
    return Decision::Refuse(*rejection);
  }
  auto refused = [&c](std::string reason, es::v1::RefusalCode code) {
    es::v1::AccountCreditBecauseOfMoneyTransferFailed failed;
    failed.set_account_id(c.account_id());
    failed.set_transfer_id(c.transfer_id());
    failed.set_amount(c.amount());
    failed.set_reason(reason);
    failed.set_source_account(c.source_account());
    return Decision::RecordAndRefuse(std::move(failed), code,
                                     "credit of account " + c.account_id() + " refused: " + reason);
  };
  if (state.closed) {
    return refused("account closed", es::v1::REFUSAL_CODE_ACCOUNT_CLOSED);
  }
  std::optional<int64_t> balance = CheckedAdd(state.balance, c.amount());
  if (!balance) {
    return refused("balance would overflow", es::v1::REFUSAL_CODE_OVERFLOW);
  }
  return Decision::Accept(
      TransferMovement<es::v1::AccountCreditedBecauseOfMoneyTransfer>(c, *balance));
}

Decision DecideRefundForTransfer(const AccountState& state,
                                 const es::v1::RefundAccountBecauseOfMoneyTransfer& c) {
  if (auto rejection = FirstRejection(
          {CheckId("account_id", c.account_id()), CheckId("transfer_id", c.transfer_id()),
           CheckAmount(c.amount()), CheckOpened(state, c.account_id())})) {
    return Decision::Refuse(*rejection);
  }
  // No closed-account check: see the contract in account.h.
  std::optional<int64_t> balance = CheckedAdd(state.balance, c.amount());
  if (!balance) return Overflow(state);
  return Decision::Accept(
      TransferMovement<es::v1::AccountRefundedBecauseOfMoneyTransfer>(c, *balance));
}

// Applies one account event; events of transfers are not this aggregate's.
struct AccountEvolution {
  AccountState& state;

  void operator()(const es::v1::AccountOpened& e) {
    state.exists = true;
    state.account_id = e.account_id();
    state.owner = e.owner();
    state.balance = e.initial_balance();
    state.closed = false;
  }
  void operator()(const es::v1::AccountCredited& e) { state.balance += e.amount(); }
  void operator()(const es::v1::AccountCreditedBecauseOfMoneyTransfer& e) {
    state.balance += e.amount();
  }
  void operator()(const es::v1::AccountRefundedBecauseOfMoneyTransfer& e) {
    state.balance += e.amount();
  }
  void operator()(const es::v1::AccountDebited& e) { state.balance -= e.amount(); }
  void operator()(const es::v1::AccountDebitedBecauseOfMoneyTransfer& e) {
    state.balance -= e.amount();
  }
  // Recorded refusals: history, no change of balance.
  void operator()(const es::v1::AccountDebitFailed&) {}
  void operator()(const es::v1::AccountDebitBecauseOfMoneyTransferFailed&) {}
  void operator()(const es::v1::AccountCreditBecauseOfMoneyTransferFailed&) {}
  void operator()(const es::v1::AccountClosed&) { state.closed = true; }
};

}  // namespace

Decision DecideAccount(const AccountState& state, const Command& command) {
  switch (command.body_case()) {
    case Command::kOpenAccount:
      return DecideOpen(state, command.open_account());
    case Command::kCreditAccount:
      return DecideCredit(state, command.credit_account());
    case Command::kDebitAccount:
      return DecideDebit(state, command.debit_account());
    case Command::kCloseAccount:
      return DecideClose(state, command.close_account());
    case Command::kDebitAccountBecauseOfMoneyTransfer:
      return DecideDebitForTransfer(state, command.debit_account_because_of_money_transfer());
    case Command::kCreditAccountBecauseOfMoneyTransfer:
      return DecideCreditForTransfer(state, command.credit_account_because_of_money_transfer());
    case Command::kRefundAccountBecauseOfMoneyTransfer:
      return DecideRefundForTransfer(state, command.refund_account_because_of_money_transfer());
    default:
      return Decision::Refuse(es::v1::REFUSAL_CODE_INVALID_ARGUMENT, "not an account command");
  }
}

AccountState EvolveAccount(AccountState state, const DomainEvent& event) {
  std::visit(
      [&state](const auto& e) {
        using Event = std::decay_t<decltype(e)>;
        if constexpr (AccountEventMessage<Event>) {
          AccountEvolution{state}(e);
          ++state.version;
        }
      },
      event);
  return state;
}

}  // namespace es::domain
