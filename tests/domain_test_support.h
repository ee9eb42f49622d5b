// Builders and folds shared by the domain tests, so each test states only
// what it is about.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "domain/account.h"
#include "domain/decision.h"
#include "domain/domain_event.h"
#include "domain/money_transfer.h"
#include "es/v1/command.pb.h"

namespace es::domain::testing {

using es::v1::Command;

inline Command OpenAccountCommand(const std::string& account_id, const std::string& owner,
                                  int64_t initial_balance) {
  Command command;
  auto* open = command.mutable_open_account();
  open->set_account_id(account_id);
  open->set_owner(owner);
  open->set_initial_balance(initial_balance);
  return command;
}

inline Command CreditAccountCommand(const std::string& account_id, int64_t amount) {
  Command command;
  command.mutable_credit_account()->set_account_id(account_id);
  command.mutable_credit_account()->set_amount(amount);
  return command;
}

inline Command DebitAccountCommand(const std::string& account_id, int64_t amount) {
  Command command;
  command.mutable_debit_account()->set_account_id(account_id);
  command.mutable_debit_account()->set_amount(amount);
  return command;
}

inline Command CloseAccountCommand(const std::string& account_id) {
  Command command;
  command.mutable_close_account()->set_account_id(account_id);
  return command;
}

inline Command DebitForTransferCommand(const std::string& account_id,
                                       const std::string& transfer_id, int64_t amount) {
  Command command;
  auto* debit = command.mutable_debit_account_because_of_money_transfer();
  debit->set_account_id(account_id);
  debit->set_transfer_id(transfer_id);
  debit->set_amount(amount);
  return command;
}

inline Command CreditForTransferCommand(const std::string& account_id,
                                        const std::string& transfer_id, int64_t amount,
                                        const std::string& source_account) {
  Command command;
  auto* credit = command.mutable_credit_account_because_of_money_transfer();
  credit->set_account_id(account_id);
  credit->set_transfer_id(transfer_id);
  credit->set_amount(amount);
  credit->set_source_account(source_account);
  return command;
}

inline Command RefundForTransferCommand(const std::string& account_id,
                                        const std::string& transfer_id, int64_t amount) {
  Command command;
  auto* refund = command.mutable_refund_account_because_of_money_transfer();
  refund->set_account_id(account_id);
  refund->set_transfer_id(transfer_id);
  refund->set_amount(amount);
  return command;
}

inline Command CreateTransferCommand(const std::string& transfer_id,
                                     const std::string& from_account, const std::string& to_account,
                                     int64_t amount) {
  Command command;
  auto* create = command.mutable_create_money_transfer();
  create->set_transfer_id(transfer_id);
  create->set_from_account(from_account);
  create->set_to_account(to_account);
  create->set_amount(amount);
  return command;
}

inline Command DebitTransferCommand(const std::string& transfer_id) {
  Command command;
  command.mutable_debit_money_transfer()->set_transfer_id(transfer_id);
  return command;
}

inline Command CompleteTransferCommand(const std::string& transfer_id) {
  Command command;
  command.mutable_complete_money_transfer()->set_transfer_id(transfer_id);
  return command;
}

inline Command FailTransferCommand(const std::string& transfer_id,
                                   es::v1::TransferFailureReason reason) {
  Command command;
  command.mutable_fail_money_transfer()->set_transfer_id(transfer_id);
  command.mutable_fail_money_transfer()->set_reason(reason);
  return command;
}

inline AccountState FoldAccount(const std::vector<DomainEvent>& events, AccountState state = {}) {
  for (const DomainEvent& event : events) state = EvolveAccount(state, event);
  return state;
}

inline TransferState FoldTransfer(const std::vector<DomainEvent>& events,
                                  TransferState state = {}) {
  for (const DomainEvent& event : events) state = EvolveTransfer(state, event);
  return state;
}

// The account after `command` (which must be accepted) on `state`.
inline AccountState AfterAccountCommand(const AccountState& state, const Command& command) {
  return FoldAccount(DecideAccount(state, command).events, state);
}

// An account opened with `balance`, as its stream would rebuild it.
inline AccountState OpenedAccount(const std::string& account_id, int64_t balance) {
  return AfterAccountCommand({}, OpenAccountCommand(account_id, "owner of " + account_id, balance));
}

// A transfer created and then moved by `commands`, in order.
inline TransferState TransferAfter(const std::vector<Command>& commands,
                                   const std::string& transfer_id = "t1") {
  TransferState state =
      FoldTransfer(DecideTransfer({}, CreateTransferCommand(transfer_id, "a1", "a2", 25)).events);
  for (const Command& command : commands) {
    state = FoldTransfer(DecideTransfer(state, command).events, state);
  }
  return state;
}

// The decision's only event if it is an `Event`; nullptr otherwise.
template <typename Event>
const Event* SingleEventAs(const Decision& decision) {
  if (decision.events.size() != 1) return nullptr;
  return std::get_if<Event>(&decision.events.front());
}

inline es::v1::RefusalCode RefusalOf(const Decision& decision) {
  return decision.rejection ? decision.rejection->code : es::v1::REFUSAL_CODE_UNSPECIFIED;
}

}  // namespace es::domain::testing
