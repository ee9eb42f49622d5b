#include "tests/support/command_test_client.h"


namespace es::testing {

es::v1::CommandRequest CommandRequestWith(es::v1::Command command) {
  es::v1::CommandRequest request;
  *request.mutable_command() = std::move(command);
  return request;
}

es::v1::Command OpenAccountWith(const std::string& command_id, const std::string& account_id,
                                const std::string& owner, int64_t initial_balance) {
  es::v1::Command command;
  command.set_command_id(command_id);
  auto* open = command.mutable_open_account();
  open->set_account_id(account_id);
  open->set_owner(owner);
  open->set_initial_balance(initial_balance);
  return command;
}

es::v1::Command CloseAccountWith(const std::string& command_id, const std::string& account_id) {
  es::v1::Command command;
  command.set_command_id(command_id);
  command.mutable_close_account()->set_account_id(account_id);
  return command;
}

es::v1::Command CreditWith(const std::string& command_id, const std::string& account_id,
                           int64_t amount) {
  es::v1::Command command;
  command.set_command_id(command_id);
  command.mutable_credit_account()->set_account_id(account_id);
  command.mutable_credit_account()->set_amount(amount);
  return command;
}

es::v1::Command DebitWith(const std::string& command_id, const std::string& account_id,
                          int64_t amount) {
  es::v1::Command command;
  command.set_command_id(command_id);
  command.mutable_debit_account()->set_account_id(account_id);
  command.mutable_debit_account()->set_amount(amount);
  return command;
}

es::v1::Command TransferWith(const std::string& command_id, const std::string& transfer_id,
                             const std::string& from, const std::string& to, int64_t amount) {
  es::v1::Command command;
  command.set_command_id(command_id);
  auto* create = command.mutable_create_money_transfer();
  create->set_transfer_id(transfer_id);
  create->set_from_account(from);
  create->set_to_account(to);
  create->set_amount(amount);
  return command;
}

es::v1::Command DebitForTransferWith(const std::string& command_id, const std::string& account_id,
                                     const std::string& transfer_id, int64_t amount) {
  es::v1::Command command;
  command.set_command_id(command_id);
  auto* debit = command.mutable_debit_account_because_of_money_transfer();
  debit->set_account_id(account_id);
  debit->set_transfer_id(transfer_id);
  debit->set_amount(amount);
  return command;
}

es::v1::Command CreditForTransferWith(const std::string& command_id,
                                      const std::string& account_id,
                                      const std::string& transfer_id, int64_t amount,
                                      const std::string& source_account) {
  es::v1::Command command;
  command.set_command_id(command_id);
  auto* credit = command.mutable_credit_account_because_of_money_transfer();
  credit->set_account_id(account_id);
  credit->set_transfer_id(transfer_id);
  credit->set_amount(amount);
  credit->set_source_account(source_account);
  return command;
}

es::v1::Command RefundForTransferWith(const std::string& command_id,
                                      const std::string& account_id,
                                      const std::string& transfer_id, int64_t amount) {
  es::v1::Command command;
  command.set_command_id(command_id);
  auto* refund = command.mutable_refund_account_because_of_money_transfer();
  refund->set_account_id(account_id);
  refund->set_transfer_id(transfer_id);
  refund->set_amount(amount);
  return command;
}

}  // namespace es::testing
