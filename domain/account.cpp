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

std::optional<Rejection> CheckNotCorrupt(const AccountState& state) {
  if (!state.corrupt.empty()) {
    return Rejection{es::v1::REFUSAL_CODE_STREAM_CORRUPT,
                     "account " + state.account_id + " cannot be used: " + state.corrupt};
  }
  return std::nullopt;
}

// The balance after crediting `amount`, if balance + transfers_out stays
// within kMaxBalance (account.h: what keeps every refund possible).
std::optional<int64_t> CreditedBalance(const AccountState& state, int64_t amount) {
  std::optional<int64_t> balance = CheckedAdd(state.balance, amount);
  if (!balance || !CheckedAdd(*balance, state.transfers_out)) return std::nullopt;
  return balance;
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
          FirstRejection({CheckOpened(state, c.account_id()), CheckNotClosed(state)})) {
    return Decision::Refuse(*rejection);
  }
  std::optional<int64_t> balance = CreditedBalance(state, c.amount());
  if (!balance) return Overflow(state);
  return Decision::Accept(Movement<es::v1::AccountCredited>(c.account_id(), c.amount(), *balance));
}

Decision DecideDebit(const AccountState& state, const es::v1::DebitAccount& c) {
  if (auto rejection =
          FirstRejection({CheckOpened(state, c.account_id()), CheckNotClosed(state)})) {
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
  if (auto rejection = CheckOpened(state, c.account_id())) return Decision::Refuse(*rejection);
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
  if (auto rejection = CheckOpened(state, c.account_id())) return Decision::Refuse(*rejection);
  using Failed = es::v1::AccountDebitBecauseOfMoneyTransferFailed;
  // A corrupt source has no trustworthy balance: the transfer fails as for
  // lack of funds, and nothing is taken. The refusal's code is the one its
  // record reads back as, on any instance (lack of funds, or closed); the
  // message says why.
  if (auto corrupt = CheckNotCorrupt(state)) {
    return Decision::RecordAndRefuse(TransferMovement<Failed>(c, state.balance),
                                     state.closed ? es::v1::REFUSAL_CODE_ACCOUNT_CLOSED
                                                  : es::v1::REFUSAL_CODE_INSUFFICIENT_FUNDS,
                                     std::move(corrupt->message));
  }
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
  if (auto rejection = CheckOpened(state, c.account_id())) return Decision::Refuse(*rejection);
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
  if (!state.corrupt.empty()) {
    return refused("account stream corrupt", es::v1::REFUSAL_CODE_STREAM_CORRUPT);
  }
  if (state.closed) {
    return refused("account closed", es::v1::REFUSAL_CODE_ACCOUNT_CLOSED);
  }
  std::optional<int64_t> balance = CreditedBalance(state, c.amount());
  if (!balance) {
    return refused("balance would overflow", es::v1::REFUSAL_CODE_OVERFLOW);
  }
  auto credited = TransferMovement<es::v1::AccountCreditedBecauseOfMoneyTransfer>(c, *balance);
  credited.set_source_account(c.source_account());
  return Decision::Accept(std::move(credited));
}

Decision DecideRefundForTransfer(const AccountState& state,
                                 const es::v1::RefundAccountBecauseOfMoneyTransfer& c) {
  if (auto rejection = CheckOpened(state, c.account_id())) return Decision::Refuse(*rejection);
  // No closed-account check: see the contract in account.h. A corrupt
  // account takes its refund as an event (counted, not folded), so that the
  // transfer ends; its balance is the operator's to repair.
  if (!state.corrupt.empty()) {
    return Decision::Accept(
        TransferMovement<es::v1::AccountRefundedBecauseOfMoneyTransfer>(c, state.balance));
  }
  if (c.amount() > state.transfers_out) {
    return Decision::Refuse(es::v1::REFUSAL_CODE_INVALID_AMOUNT,
                            "refund of " + std::to_string(c.amount()) + " to account " +
                                state.account_id + ", which transfers debited only " +
                                std::to_string(state.transfers_out) + " not yet refunded");
  }
  // Cannot overflow: balance + transfers_out <= kMaxBalance (account.h).
  std::optional<int64_t> balance = CheckedAdd(state.balance, c.amount());
  if (!balance) return Overflow(state);
  return Decision::Accept(
      TransferMovement<es::v1::AccountRefundedBecauseOfMoneyTransfer>(c, *balance));
}

// Applies one account event, validating it (account.h); events of transfers
// are not this aggregate's. Sets state.corrupt instead of applying an event
// that cannot apply.
struct AccountEvolution {
  AccountState& state;

  void operator()(const es::v1::AccountOpened& e) {
    if (state.exists) return Corrupt("a second AccountOpened");
    if (e.account_id().empty() || e.initial_balance() < 0) {
      return Corrupt("AccountOpened with initial balance " + std::to_string(e.initial_balance()));
    }
    state.exists = true;
    state.account_id = e.account_id();
    state.owner = e.owner();
    state.balance = e.initial_balance();
    state.closed = false;
  }
  void operator()(const es::v1::AccountCredited& e) { Credit(e, e.amount()); }
  void operator()(const es::v1::AccountCreditedBecauseOfMoneyTransfer& e) { Credit(e, e.amount()); }
  void operator()(const es::v1::AccountRefundedBecauseOfMoneyTransfer& e) {
    if (!Applies(e, e.amount())) return;
    if (e.amount() > state.transfers_out) {
      return Corrupt(Named(e) + " beyond the " + std::to_string(state.transfers_out) +
                     " transfers took");
    }
    std::optional<int64_t> balance = CheckedAdd(state.balance, e.amount());
    if (!balance) return Corrupt(Named(e) + " overflowing balance " + std::to_string(state.balance));
    state.balance = *balance;
    state.transfers_out -= e.amount();
  }
  void operator()(const es::v1::AccountDebited& e) { Debit(e, e.amount()); }
  void operator()(const es::v1::AccountDebitedBecauseOfMoneyTransfer& e) {
    if (!Debit(e, e.amount())) return;
    // Cannot overflow: the debit took it from the balance (sum unchanged).
    state.transfers_out += e.amount();
  }
  // Recorded refusals: history, no change of balance.
  void operator()(const es::v1::AccountDebitFailed& e) { Applies(e, e.amount()); }
  void operator()(const es::v1::AccountDebitBecauseOfMoneyTransferFailed& e) {
    Applies(e, e.amount());
  }
  void operator()(const es::v1::AccountCreditBecauseOfMoneyTransferFailed& e) {
    Applies(e, e.amount());
  }
  void operator()(const es::v1::AccountClosed& e) {
    if (Owned(e)) state.closed = true;
  }

  // "AccountCredited of 5".
  template <typename Event>
  static std::string Named(const Event& e) {
    return std::string(Event::descriptor()->name()) + " of " + std::to_string(e.amount());
  }

  // The event is this opened account's.
  template <typename Event>
  bool Owned(const Event& e) {
    const std::string type(Event::descriptor()->name());
    if (!state.exists) return Corrupt(type + " before AccountOpened"), false;
    // (Events without an id are the original example's; they are this
    // stream's by where they are.)
    if (!e.account_id().empty() && e.account_id() != state.account_id) {
      return Corrupt(type + " of account " + e.account_id()), false;
    }
    return true;
  }
  // ... and it moves an amount > 0.
  template <typename Event>
  bool Applies(const Event& e, int64_t amount) {
    if (!Owned(e)) return false;
    if (amount <= 0) return Corrupt(Named(e)), false;
    return true;
  }
  template <typename Event>
  void Credit(const Event& e, int64_t amount) {
    if (!Applies(e, amount)) return;
    std::optional<int64_t> balance = CheckedAdd(state.balance, amount);
    if (!balance) return Corrupt(Named(e) + " overflowing balance " + std::to_string(state.balance));
    // The ceiling holds for the log, not only for this service's decisions:
    // past it, a refund of transfers_out could overflow.
    if (!CheckedAdd(*balance, state.transfers_out)) {
      return Corrupt(Named(e) + " past the ceiling (balance + money out on transfers)");
    }
    state.balance = *balance;
  }
  template <typename Event>
  bool Debit(const Event& e, int64_t amount) {
    if (!Applies(e, amount)) return false;
    if (amount > state.balance) {
      Corrupt(Named(e) + " beyond balance " + std::to_string(state.balance));
      return false;
    }
    state.balance -= amount;
    return true;
  }
  void Corrupt(std::string why) {
    state.corrupt = "event " + std::to_string(state.version + 1) + " of its stream is " +
                    std::move(why);
  }
};

}  // namespace

Decision DecideAccount(const AccountState& state, const Command& command) {
  // A transfer's steps are decided on a corrupt stream too (see each), so
  // that a transfer in flight still ends.
  if (auto rejection = CheckArguments(command)) return Decision::Refuse(*rejection);
  const bool transfer_step = command.has_debit_account_because_of_money_transfer() ||
                             command.has_credit_account_because_of_money_transfer() ||
                             command.has_refund_account_because_of_money_transfer();
  if (!transfer_step) {
    if (auto corrupt = CheckNotCorrupt(state)) return Decision::Refuse(*corrupt);
  }
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
          // A corrupt stream is only counted: nothing after the bad event
          // can be trusted to apply.
          if (state.corrupt.empty()) AccountEvolution{state}(e);
          ++state.version;
        }
      },
      event);
  return state;
}

}  // namespace es::domain
