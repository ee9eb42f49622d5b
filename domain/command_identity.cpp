#include "domain/command_identity.h"

#include <google/protobuf/util/message_differencer.h>

#include <functional>
#include <variant>

#include "domain/stream_ids.h"
#include "domain/validation.h"

namespace es::domain {
namespace {

using es::v1::Command;

// The command each domain event is decided from, id aside (the inverse of
// the deciders in account.cpp and money_transfer.cpp).
struct CommandOfEvent {
  Command operator()(const es::v1::AccountOpened& e) const {
    Command c;
    auto* open = c.mutable_open_account();
    open->set_account_id(e.account_id());
    open->set_owner(e.owner());
    open->set_initial_balance(e.initial_balance());
    return c;
  }
  Command operator()(const es::v1::AccountCredited& e) const {
    Command c;
    c.mutable_credit_account()->set_account_id(e.account_id());
    c.mutable_credit_account()->set_amount(e.amount());
    return c;
  }
  Command operator()(const es::v1::AccountDebited& e) const { return Debit(e); }
  Command operator()(const es::v1::AccountDebitFailed& e) const { return Debit(e); }
  Command operator()(const es::v1::AccountDebitedBecauseOfMoneyTransfer& e) const {
    return DebitForTransfer(e);
  }
  Command operator()(const es::v1::AccountDebitBecauseOfMoneyTransferFailed& e) const {
    return DebitForTransfer(e);
  }
  Command operator()(const es::v1::AccountCreditedBecauseOfMoneyTransfer& e) const {
    return CreditForTransfer(e);
  }
  Command operator()(const es::v1::AccountCreditBecauseOfMoneyTransferFailed& e) const {
    return CreditForTransfer(e);
  }
  Command operator()(const es::v1::AccountRefundedBecauseOfMoneyTransfer& e) const {
    Command c;
    auto* refund = c.mutable_refund_account_because_of_money_transfer();
    refund->set_account_id(e.account_id());
    refund->set_transfer_id(e.transfer_id());
    refund->set_amount(e.amount());
    return c;
  }
  Command operator()(const es::v1::AccountClosed& e) const {
    Command c;
    c.mutable_close_account()->set_account_id(e.account_id());
    return c;
  }
  Command operator()(const es::v1::MoneyTransferCreated& e) const {
    Command c;
    auto* create = c.mutable_create_money_transfer();
    create->set_transfer_id(e.transfer_id());
    create->set_from_account(e.from_account());
    create->set_to_account(e.to_account());
    create->set_amount(e.amount());
    return c;
  }
  Command operator()(const es::v1::MoneyTransferDebited& e) const {
    Command c;
    c.mutable_debit_money_transfer()->set_transfer_id(e.transfer_id());
    return c;
  }
  Command operator()(const es::v1::MoneyTransferCompleted& e) const {
    Command c;
    c.mutable_complete_money_transfer()->set_transfer_id(e.transfer_id());
    return c;
  }
  Command operator()(const es::v1::MoneyTransferFailedDueToLackOfFunds& e) const {
    return Fail(e.transfer_id(), es::v1::TRANSFER_FAILURE_REASON_LACK_OF_FUNDS);
  }
  Command operator()(const es::v1::MoneyTransferFailedDueToRefusedCredit& e) const {
    return Fail(e.transfer_id(), es::v1::TRANSFER_FAILURE_REASON_CREDIT_REFUSED);
  }

  template <typename Event>
  static Command Debit(const Event& e) {
    Command c;
    c.mutable_debit_account()->set_account_id(e.account_id());
    c.mutable_debit_account()->set_amount(e.amount());
    return c;
  }
  template <typename Event>
  static Command DebitForTransfer(const Event& e) {
    Command c;
    auto* debit = c.mutable_debit_account_because_of_money_transfer();
    debit->set_account_id(e.account_id());
    debit->set_transfer_id(e.transfer_id());
    debit->set_amount(e.amount());
    return c;
  }
  template <typename Event>
  static Command CreditForTransfer(const Event& e) {
    Command c;
    auto* credit = c.mutable_credit_account_because_of_money_transfer();
    credit->set_account_id(e.account_id());
    credit->set_transfer_id(e.transfer_id());
    credit->set_amount(e.amount());
    credit->set_source_account(e.source_account());
    return c;
  }
  static Command Fail(const std::string& transfer_id, es::v1::TransferFailureReason reason) {
    Command c;
    c.mutable_fail_money_transfer()->set_transfer_id(transfer_id);
    c.mutable_fail_money_transfer()->set_reason(reason);
    return c;
  }
};

}  // namespace

bool IsSagaStep(const Command& command) {
  switch (command.body_case()) {
    case Command::kDebitAccountBecauseOfMoneyTransfer:
    case Command::kCreditAccountBecauseOfMoneyTransfer:
    case Command::kRefundAccountBecauseOfMoneyTransfer:
    case Command::kDebitMoneyTransfer:
    case Command::kCompleteMoneyTransfer:
    case Command::kFailMoneyTransfer:
      return true;
    default:
      return false;
  }
}

std::optional<Rejection> CheckRequest(const Command& command) {
  const std::string& id = command.command_id();
  if (id.empty() || id.size() > kMaxIdBytes) {
    return Rejection{es::v1::REFUSAL_CODE_INVALID_ARGUMENT,
                     "command_id must be 1 to " + std::to_string(kMaxIdBytes) + " bytes"};
  }
  if (auto rejection = CheckArguments(command)) return rejection;
  const bool saga_id = id.starts_with(kSagaCommandIdPrefix);
  if (IsSagaStep(command) && !saga_id) {
    return Rejection{es::v1::REFUSAL_CODE_COMMAND_ID_CONFLICT,
                     "a transfer's steps are the saga's: their ids start \"" +
                         std::string(kSagaCommandIdPrefix) + "\""};
  }
  if (!IsSagaStep(command) && saga_id) {
    return Rejection{es::v1::REFUSAL_CODE_COMMAND_ID_CONFLICT,
                     "command ids starting \"" + std::string(kSagaCommandIdPrefix) +
                         "\" are reserved for the saga; choose another id"};
  }
  return std::nullopt;
}

uint64_t CommandDigest(const Command& command) {
  // The body alone: its field number says the verb, its bytes the target
  // and parameters (no maps, so serialization is deterministic).
  static const google::protobuf::OneofDescriptor* body =
      Command::descriptor()->FindOneofByName("body");
  const google::protobuf::Reflection* reflection = command.GetReflection();
  const google::protobuf::FieldDescriptor* field =
      reflection->GetOneofFieldDescriptor(command, body);
  if (field == nullptr) return 0;
  const std::string bytes = reflection->GetMessage(command, field).SerializeAsString();
  return std::hash<std::string>{}(bytes) ^ (uint64_t{static_cast<uint32_t>(field->number())} << 56);
}

std::optional<Command> CommandOfRecord(std::string_view type, std::string_view data) {
  if (type == AnsweredRecordType()) {
    es::v1::CommandAnswered answered;
    if (!answered.ParseFromArray(data.data(), static_cast<int>(data.size()))) return std::nullopt;
    Command command = std::move(*answered.mutable_command());
    command.clear_command_id();
    return command;
  }
  std::optional<DomainEvent> event = DecodeEvent(type, data);
  if (!event) return std::nullopt;
  return std::visit(CommandOfEvent{}, *event);
}

bool SameCommand(const Command& repeat, const Command& first) {
  Command a = repeat;
  Command b = first;
  a.clear_command_id();
  b.clear_command_id();
  // Fields this schema does not know (a newer client's) are not stored in
  // the record, so they cannot tell two commands apart.
  a.DiscardUnknownFields();
  b.DiscardUnknownFields();
  if (b.has_credit_account_because_of_money_transfer() &&
      b.credit_account_because_of_money_transfer().source_account().empty() &&
      a.has_credit_account_because_of_money_transfer()) {
    a.mutable_credit_account_because_of_money_transfer()->clear_source_account();
  }
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

Rejection CommandIdConflict(const Command& repeat, std::string_view first_stream,
                            uint64_t first_version) {
  std::string first = "stream " + std::string(first_stream);
  if (first_version != 0) first += " at version " + std::to_string(first_version);
  return Rejection{es::v1::REFUSAL_CODE_COMMAND_ID_CONFLICT,
                   "command id " + repeat.command_id() + " was first used for another command (" +
                       first + "); a repeat must be the same command"};
}

EncodedEvent AnsweredRecord(const Command& command, const Decision& decision) {
  es::v1::CommandAnswered answered;
  *answered.mutable_command() = command;
  answered.set_accepted(decision.accepted());
  if (decision.rejection) {
    answered.set_refusal_code(decision.rejection->code);
    answered.set_message(decision.rejection->message);
  }
  return EncodedEvent{AnsweredRecordType(), answered.SerializeAsString()};
}

const std::string& AnsweredRecordType() { return TypeNameOf<es::v1::CommandAnswered>(); }

}  // namespace es::domain
