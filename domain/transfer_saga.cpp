#include "domain/transfer_saga.h"

#include <string>

#include "domain/event_codec.h"

namespace es::domain {
namespace {

using es::v1::Command;

// Builds the command each event calls for; the id is set by the caller.
struct SagaStep {
  SagaReaction operator()(const es::v1::MoneyTransferCreated& e) const {
    Command command;
    auto* debit = command.mutable_debit_account_because_of_money_transfer();
    debit->set_account_id(e.from_account());
    debit->set_transfer_id(e.transfer_id());
    debit->set_amount(e.amount());
    return command;
  }
  SagaReaction operator()(const es::v1::AccountDebitedBecauseOfMoneyTransfer& e) const {
    Command command;
    command.mutable_debit_money_transfer()->set_transfer_id(e.transfer_id());
    return command;
  }
  SagaReaction operator()(const es::v1::MoneyTransferDebited& e) const {
    Command command;
    auto* credit = command.mutable_credit_account_because_of_money_transfer();
    credit->set_account_id(e.to_account());
    credit->set_transfer_id(e.transfer_id());
    credit->set_amount(e.amount());
    credit->set_source_account(e.from_account());
    return command;
  }
  SagaReaction operator()(const es::v1::AccountCreditedBecauseOfMoneyTransfer& e) const {
    Command command;
    command.mutable_complete_money_transfer()->set_transfer_id(e.transfer_id());
    return command;
  }
  SagaReaction operator()(const es::v1::AccountDebitBecauseOfMoneyTransferFailed& e) const {
    return Fail(e.transfer_id(), es::v1::TRANSFER_FAILURE_REASON_LACK_OF_FUNDS);
  }
  // Compensation: the source was debited, the target refused the credit.
  SagaReaction operator()(const es::v1::AccountCreditBecauseOfMoneyTransferFailed& e) const {
    Command command;
    auto* refund = command.mutable_refund_account_because_of_money_transfer();
    refund->set_account_id(e.source_account());
    refund->set_transfer_id(e.transfer_id());
    refund->set_amount(e.amount());
    return command;
  }
  SagaReaction operator()(const es::v1::AccountRefundedBecauseOfMoneyTransfer& e) const {
    return Fail(e.transfer_id(), es::v1::TRANSFER_FAILURE_REASON_CREDIT_REFUSED);
  }
  // Every other event ends a step the saga does not drive.
  template <typename OtherEvent>
  SagaReaction operator()(const OtherEvent&) const {
    return std::nullopt;
  }

  static SagaReaction Fail(const std::string& transfer_id, es::v1::TransferFailureReason reason) {
    Command command;
    auto* fail = command.mutable_fail_money_transfer();
    fail->set_transfer_id(transfer_id);
    fail->set_reason(reason);
    return command;
  }
};

}  // namespace

std::string SagaCommandId(std::string_view event_id) { return "saga-" + std::string(event_id); }

SagaReaction ReactToEvent(std::string_view event_id, const DomainEvent& event) {
  SagaReaction reaction = std::visit(SagaStep{}, event);
  if (reaction) reaction->set_command_id(SagaCommandId(event_id));
  return reaction;
}

SagaReaction ReactToEvent(const es::v1::EventRecord& record) {
  std::optional<DomainEvent> event = DecodeEvent(record.type(), record.data());
  if (!event) return std::nullopt;
  return ReactToEvent(record.event_id(), *event);
}

}  // namespace es::domain
