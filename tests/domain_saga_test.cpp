// The transfer saga's reactions: one command per step event, none for the
// rest, with command ids derived from the causing event.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "domain/event_codec.h"
#include "domain/stream_ids.h"
#include "domain/transfer_saga.h"
#include "domain_test_support.h"

namespace es::domain {
namespace {

using es::v1::Command;

template <typename Event>
Event TransferEventOf(const std::string& transfer_id) {
  Event event;
  event.set_transfer_id(transfer_id);
  event.set_from_account("a1");
  event.set_to_account("a2");
  event.set_amount(10);
  return event;
}

template <typename Event>
Event AccountEventOf(const std::string& account_id) {
  Event event;
  event.set_account_id(account_id);
  event.set_transfer_id("t1");
  event.set_amount(10);
  return event;
}

es::v1::AccountCreditBecauseOfMoneyTransferFailed CreditRefusedEvent() {
  auto event = AccountEventOf<es::v1::AccountCreditBecauseOfMoneyTransferFailed>("a2");
  event.set_reason("account closed");
  event.set_source_account("a1");
  return event;
}

TEST(TransferSaga, DebitsTheSourceWhenTransferCreated) {
  SagaReaction reaction = ReactToEvent("e1", TransferEventOf<es::v1::MoneyTransferCreated>("t1"));
  ASSERT_TRUE(reaction);
  ASSERT_TRUE(reaction->has_debit_account_because_of_money_transfer());
  const auto& debit = reaction->debit_account_because_of_money_transfer();
  EXPECT_EQ(debit.account_id(), "a1");
  EXPECT_EQ(debit.transfer_id(), "t1");
  EXPECT_EQ(debit.amount(), 10);
}

TEST(TransferSaga, MarksTransferDebitedWhenSourceDebited) {
  SagaReaction reaction =
      ReactToEvent("e2", AccountEventOf<es::v1::AccountDebitedBecauseOfMoneyTransfer>("a1"));
  ASSERT_TRUE(reaction);
  ASSERT_TRUE(reaction->has_debit_money_transfer());
  EXPECT_EQ(reaction->debit_money_transfer().transfer_id(), "t1");
}

TEST(TransferSaga, CreditsTheTargetNamingTheSourceWhenTransferDebited) {
  SagaReaction reaction = ReactToEvent("e3", TransferEventOf<es::v1::MoneyTransferDebited>("t1"));
  ASSERT_TRUE(reaction);
  ASSERT_TRUE(reaction->has_credit_account_because_of_money_transfer());
  const auto& credit = reaction->credit_account_because_of_money_transfer();
  EXPECT_EQ(credit.account_id(), "a2");
  EXPECT_EQ(credit.transfer_id(), "t1");
  EXPECT_EQ(credit.amount(), 10);
  EXPECT_EQ(credit.source_account(), "a1");
}

TEST(TransferSaga, CompletesTransferWhenTargetCredited) {
  SagaReaction reaction =
      ReactToEvent("e4", AccountEventOf<es::v1::AccountCreditedBecauseOfMoneyTransfer>("a2"));
  ASSERT_TRUE(reaction);
  ASSERT_TRUE(reaction->has_complete_money_transfer());
  EXPECT_EQ(reaction->complete_money_transfer().transfer_id(), "t1");
}

TEST(TransferSaga, FailsTransferForLackOfFundsWhenSourceDebitFailed) {
  SagaReaction reaction =
      ReactToEvent("e5", AccountEventOf<es::v1::AccountDebitBecauseOfMoneyTransferFailed>("a1"));
  ASSERT_TRUE(reaction);
  ASSERT_TRUE(reaction->has_fail_money_transfer());
  EXPECT_EQ(reaction->fail_money_transfer().transfer_id(), "t1");
  EXPECT_EQ(reaction->fail_money_transfer().reason(),
            es::v1::TRANSFER_FAILURE_REASON_LACK_OF_FUNDS);
}

TEST(TransferSaga, RefundsTheSourceWhenTargetCreditFailed) {
  SagaReaction reaction = ReactToEvent("e6", CreditRefusedEvent());
  ASSERT_TRUE(reaction);
  ASSERT_TRUE(reaction->has_refund_account_because_of_money_transfer());
  const auto& refund = reaction->refund_account_because_of_money_transfer();
  EXPECT_EQ(refund.account_id(), "a1");  // the source, not the target
  EXPECT_EQ(refund.transfer_id(), "t1");
  EXPECT_EQ(refund.amount(), 10);
  EXPECT_EQ(StreamOfCommand(*reaction), AccountStreamId("a1"));
}

TEST(TransferSaga, FailsTransferForRefusedCreditWhenSourceRefunded) {
  SagaReaction reaction =
      ReactToEvent("e7", AccountEventOf<es::v1::AccountRefundedBecauseOfMoneyTransfer>("a1"));
  ASSERT_TRUE(reaction);
  ASSERT_TRUE(reaction->has_fail_money_transfer());
  EXPECT_EQ(reaction->fail_money_transfer().transfer_id(), "t1");
  EXPECT_EQ(reaction->fail_money_transfer().reason(),
            es::v1::TRANSFER_FAILURE_REASON_CREDIT_REFUSED);
}

TEST(TransferSaga, IgnoresEventsThatEndNoStep) {
  es::v1::AccountOpened opened;
  opened.set_account_id("a1");
  es::v1::AccountClosed closed;
  closed.set_account_id("a1");
  const std::vector<DomainEvent> ignored = {
      opened,
      es::v1::AccountCredited{},
      es::v1::AccountDebited{},
      es::v1::AccountDebitFailed{},
      closed,
      TransferEventOf<es::v1::MoneyTransferCompleted>("t1"),
      TransferEventOf<es::v1::MoneyTransferFailedDueToLackOfFunds>("t1"),
      TransferEventOf<es::v1::MoneyTransferFailedDueToRefusedCredit>("t1"),
  };
  for (const DomainEvent& event : ignored) {
    EXPECT_FALSE(ReactToEvent("e", event)) << EventTypeName(event);
  }
}

TEST(TransferSaga, CommandIdIsDerivedFromTheCausingEventId) {
  SagaReaction reaction =
      ReactToEvent("3f1c-77", TransferEventOf<es::v1::MoneyTransferCreated>("t1"));
  ASSERT_TRUE(reaction);
  EXPECT_EQ(reaction->command_id(), "saga-3f1c-77");
  EXPECT_EQ(SagaCommandId("3f1c-77"), "saga-3f1c-77");
}

TEST(TransferSaga, ReactingAgainToTheSameEventYieldsTheIdenticalCommand) {
  // What a saga replaying after a crash relies on: the command service then
  // sees a known command id and does not apply it twice.
  const DomainEvent event = TransferEventOf<es::v1::MoneyTransferDebited>("t1");
  SagaReaction first = ReactToEvent("e9", event);
  SagaReaction again = ReactToEvent("e9", event);
  ASSERT_TRUE(first && again);
  EXPECT_EQ(first->SerializeAsString(), again->SerializeAsString());
}

TEST(TransferSaga, DistinctEventsYieldDistinctCommandIds) {
  const DomainEvent event = TransferEventOf<es::v1::MoneyTransferCreated>("t1");
  EXPECT_NE(ReactToEvent("e1", event)->command_id(), ReactToEvent("e2", event)->command_id());
}

TEST(TransferSaga, ReactsToAStoredRecord) {
  EncodedEvent encoded = EncodeEvent(TransferEventOf<es::v1::MoneyTransferCreated>("t1"));
  es::v1::EventRecord record;
  record.set_event_id("e1");
  record.set_stream_id(TransferStreamId("t1"));
  record.set_type(encoded.type);
  record.set_data(encoded.data);
  SagaReaction reaction = ReactToEvent(record);
  ASSERT_TRUE(reaction);
  EXPECT_EQ(reaction->command_id(), "saga-e1");
  EXPECT_TRUE(reaction->has_debit_account_because_of_money_transfer());
}

TEST(TransferSaga, IgnoresStoredRecordsItCannotDecode) {
  es::v1::EventRecord unknown_type;
  unknown_type.set_event_id("e1");
  unknown_type.set_type("es.v1.SomethingElse");
  EXPECT_FALSE(ReactToEvent(unknown_type));

  es::v1::EventRecord bad_data;
  bad_data.set_event_id("e2");
  bad_data.set_type("es.v1.MoneyTransferCreated");
  bad_data.set_data(
      std::string("\x0a\x05"
                  "ab",
                  4));  // truncated field
  EXPECT_FALSE(ReactToEvent(bad_data));
}

}  // namespace
}  // namespace es::domain
