#include "domain/stream_ids.h"

namespace es::domain {

std::string AccountStreamId(std::string_view account_id) {
  return std::string(kAccountStreamPrefix) + std::string(account_id);
}

std::string TransferStreamId(std::string_view transfer_id) {
  return std::string(kTransferStreamPrefix) + std::string(transfer_id);
}

std::string SnapshotStreamId(std::string_view account_stream) {
  return std::string(kSnapshotStreamPrefix) + std::string(account_stream);
}

std::optional<std::string> StreamOfCommand(const es::v1::Command& command) {
  using es::v1::Command;
  switch (command.body_case()) {
    case Command::kOpenAccount:
      return AccountStreamId(command.open_account().account_id());
    case Command::kCreditAccount:
      return AccountStreamId(command.credit_account().account_id());
    case Command::kDebitAccount:
      return AccountStreamId(command.debit_account().account_id());
    case Command::kCloseAccount:
      return AccountStreamId(command.close_account().account_id());
    case Command::kDebitAccountBecauseOfMoneyTransfer:
      return AccountStreamId(command.debit_account_because_of_money_transfer().account_id());
    case Command::kCreditAccountBecauseOfMoneyTransfer:
      return AccountStreamId(command.credit_account_because_of_money_transfer().account_id());
    case Command::kRefundAccountBecauseOfMoneyTransfer:
      return AccountStreamId(command.refund_account_because_of_money_transfer().account_id());
    case Command::kCreateMoneyTransfer:
      return TransferStreamId(command.create_money_transfer().transfer_id());
    case Command::kDebitMoneyTransfer:
      return TransferStreamId(command.debit_money_transfer().transfer_id());
    case Command::kCompleteMoneyTransfer:
      return TransferStreamId(command.complete_money_transfer().transfer_id());
    case Command::kFailMoneyTransfer:
      return TransferStreamId(command.fail_money_transfer().transfer_id());
    case Command::BODY_NOT_SET:
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace es::domain
