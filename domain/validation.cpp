#include "domain/validation.h"

#include <string>

namespace es::domain {

std::optional<Rejection> CheckId(std::string_view field, std::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes) {
    return Rejection{
        es::v1::REFUSAL_CODE_INVALID_ARGUMENT,
        std::string(field) + " must be 1 to " + std::to_string(kMaxIdBytes) + " bytes"};
  }
  return std::nullopt;
}

std::optional<Rejection> CheckOwner(std::string_view owner) {
  if (owner.empty() || owner.size() > kMaxOwnerBytes) {
    return Rejection{es::v1::REFUSAL_CODE_INVALID_ARGUMENT,
                     "owner must be 1 to " + std::to_string(kMaxOwnerBytes) + " bytes"};
  }
  return std::nullopt;
}

std::optional<Rejection> CheckAmount(int64_t amount) {
  if (amount <= 0) {
    return Rejection{es::v1::REFUSAL_CODE_INVALID_AMOUNT,
                     "amount must be > 0, got " + std::to_string(amount)};
  }
  if (amount > kMaxAmount) {
    return Rejection{es::v1::REFUSAL_CODE_INVALID_AMOUNT, "amount must be at most " +
                                                              std::to_string(kMaxAmount) +
                                                              ", got " + std::to_string(amount)};
  }
  return std::nullopt;
}

std::optional<Rejection> CheckArguments(const es::v1::Command& command) {
  using es::v1::Command;
  switch (command.body_case()) {
    case Command::kOpenAccount: {
      const auto& c = command.open_account();
      std::optional<Rejection> initial_balance;
      if (c.initial_balance() < 0 || c.initial_balance() > kMaxAmount) {
        initial_balance = Rejection{es::v1::REFUSAL_CODE_INVALID_AMOUNT,
                                    "initial_balance must be 0 to " + std::to_string(kMaxAmount) +
                                        ", got " + std::to_string(c.initial_balance())};
      }
      return FirstRejection(
          {CheckId("account_id", c.account_id()), CheckOwner(c.owner()), initial_balance});
    }
    case Command::kCreditAccount:
      return FirstRejection({CheckId("account_id", command.credit_account().account_id()),
                             CheckAmount(command.credit_account().amount())});
    case Command::kDebitAccount:
      return FirstRejection({CheckId("account_id", command.debit_account().account_id()),
                             CheckAmount(command.debit_account().amount())});
    case Command::kCloseAccount:
      return CheckId("account_id", command.close_account().account_id());
    case Command::kDebitAccountBecauseOfMoneyTransfer: {
      const auto& c = command.debit_account_because_of_money_transfer();
      return FirstRejection({CheckId("account_id", c.account_id()),
                             CheckId("transfer_id", c.transfer_id()), CheckAmount(c.amount())});
    }
    case Command::kCreditAccountBecauseOfMoneyTransfer: {
      const auto& c = command.credit_account_because_of_money_transfer();
      return FirstRejection(
          {CheckId("account_id", c.account_id()), CheckId("transfer_id", c.transfer_id()),
           CheckId("source_account", c.source_account()), CheckAmount(c.amount())});
    }
    case Command::kRefundAccountBecauseOfMoneyTransfer: {
      const auto& c = command.refund_account_because_of_money_transfer();
      return FirstRejection({CheckId("account_id", c.account_id()),
                             CheckId("transfer_id", c.transfer_id()), CheckAmount(c.amount())});
    }
    case Command::kCreateMoneyTransfer: {
      const auto& c = command.create_money_transfer();
      if (auto rejection = FirstRejection(
              {CheckId("transfer_id", c.transfer_id()), CheckId("from_account", c.from_account()),
               CheckId("to_account", c.to_account()), CheckAmount(c.amount())})) {
        return rejection;
      }
      if (c.from_account() == c.to_account()) {
        return Rejection{es::v1::REFUSAL_CODE_SAME_ACCOUNT,
                         "transfer from account " + c.from_account() + " to itself"};
      }
      return std::nullopt;
    }
    case Command::kDebitMoneyTransfer:
      return CheckId("transfer_id", command.debit_money_transfer().transfer_id());
    case Command::kCompleteMoneyTransfer:
      return CheckId("transfer_id", command.complete_money_transfer().transfer_id());
    case Command::kFailMoneyTransfer: {
      const auto& c = command.fail_money_transfer();
      if (auto rejection = CheckId("transfer_id", c.transfer_id())) return rejection;
      if (c.reason() != es::v1::TRANSFER_FAILURE_REASON_LACK_OF_FUNDS &&
          c.reason() != es::v1::TRANSFER_FAILURE_REASON_CREDIT_REFUSED) {
        return Rejection{es::v1::REFUSAL_CODE_INVALID_ARGUMENT, "a failure needs a reason"};
      }
      return std::nullopt;
    }
    default:
      return Rejection{es::v1::REFUSAL_CODE_INVALID_ARGUMENT, "the command has no body"};
  }
}

std::optional<Rejection> FirstRejection(std::initializer_list<std::optional<Rejection>> checks) {
  for (const std::optional<Rejection>& check : checks) {
    if (check) return check;
  }
  return std::nullopt;
}

}  // namespace es::domain
