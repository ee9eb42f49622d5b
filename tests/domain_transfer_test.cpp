// The MoneyTransfer decider: its state machine, refusals, idempotent
// repeats, and the account rule checked when a transfer is created.
#include <gtest/gtest.h>

#include <string>

#include "domain/money_transfer.h"
#include "domain_test_support.h"

namespace es::domain {
namespace {

using namespace es::domain::testing;  // NOLINT: test builders

constexpr auto kLackOfFunds = es::v1::TRANSFER_FAILURE_REASON_LACK_OF_FUNDS;
constexpr auto kCreditRefused = es::v1::TRANSFER_FAILURE_REASON_CREDIT_REFUSED;

TransferState Created() { return TransferAfter({}); }
TransferState Debited() { return TransferAfter({DebitTransferCommand("t1")}); }
TransferState Completed() {
  return TransferAfter({DebitTransferCommand("t1"), CompleteTransferCommand("t1")});
}
TransferState FailedForLackOfFunds() {
  return TransferAfter({FailTransferCommand("t1", kLackOfFunds)});
}
TransferState FailedForRefusedCredit() {
  return TransferAfter({DebitTransferCommand("t1"), FailTransferCommand("t1", kCreditRefused)});
}

// ---- CreateMoneyTransfer ----

TEST(TransferDecider, CreatesTransfer) {
  Decision decision = DecideTransfer({}, CreateTransferCommand("t1", "a1", "a2", 10));
  ASSERT_TRUE(decision.accepted());
  const auto* created = SingleEventAs<es::v1::MoneyTransferCreated>(decision);
  ASSERT_NE(created, nullptr);
  EXPECT_EQ(created->transfer_id(), "t1");
  EXPECT_EQ(created->from_account(), "a1");
  EXPECT_EQ(created->to_account(), "a2");
  EXPECT_EQ(created->amount(), 10);
}

TEST(TransferDecider, RefusesTransferToTheSameAccount) {
  EXPECT_EQ(RefusalOf(DecideTransfer({}, CreateTransferCommand("t1", "a1", "a1", 10))),
            es::v1::REFUSAL_CODE_SAME_ACCOUNT);
}

TEST(TransferDecider, RefusesZeroOrNegativeAmount) {
  for (int64_t amount : {int64_t{0}, int64_t{-10}}) {
    EXPECT_EQ(RefusalOf(DecideTransfer({}, CreateTransferCommand("t1", "a1", "a2", amount))),
              es::v1::REFUSAL_CODE_INVALID_AMOUNT)
        << amount;
  }
}

TEST(TransferDecider, RefusesEmptyIds) {
  EXPECT_EQ(RefusalOf(DecideTransfer({}, CreateTransferCommand("", "a1", "a2", 10))),
            es::v1::REFUSAL_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(RefusalOf(DecideTransfer({}, CreateTransferCommand("t1", "", "a2", 10))),
            es::v1::REFUSAL_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(RefusalOf(DecideTransfer({}, CreateTransferCommand("t1", "a1", "", 10))),
            es::v1::REFUSAL_CODE_INVALID_ARGUMENT);
}

TEST(TransferDecider, RefusesIdLongerThan128Bytes) {
  EXPECT_EQ(
      RefusalOf(DecideTransfer({}, CreateTransferCommand(std::string(129, 't'), "a1", "a2", 10))),
      es::v1::REFUSAL_CODE_INVALID_ARGUMENT);
}

TEST(TransferDecider, RefusesCreateOfExistingTransfer) {
  EXPECT_EQ(RefusalOf(DecideTransfer(Created(), CreateTransferCommand("t1", "a1", "a2", 25))),
            es::v1::REFUSAL_CODE_ALREADY_EXISTS);
}

// ---- DebitMoneyTransfer ----

TEST(TransferDecider, DebitsCreatedTransfer) {
  Decision decision = DecideTransfer(Created(), DebitTransferCommand("t1"));
  ASSERT_TRUE(decision.accepted());
  const auto* debited = SingleEventAs<es::v1::MoneyTransferDebited>(decision);
  ASSERT_NE(debited, nullptr);
  // Every transfer event carries the whole transfer.
  EXPECT_EQ(debited->transfer_id(), "t1");
  EXPECT_EQ(debited->from_account(), "a1");
  EXPECT_EQ(debited->to_account(), "a2");
  EXPECT_EQ(debited->amount(), 25);
}

TEST(TransferDecider, DebitOfDebitedTransferIsAcceptedWithoutEvent) {
  Decision decision = DecideTransfer(Debited(), DebitTransferCommand("t1"));
  EXPECT_TRUE(decision.accepted());
  EXPECT_TRUE(decision.events.empty());
}

TEST(TransferDecider, RefusesDebitOfFinishedTransfer) {
  for (const TransferState& finished :
       {Completed(), FailedForLackOfFunds(), FailedForRefusedCredit()}) {
    EXPECT_EQ(RefusalOf(DecideTransfer(finished, DebitTransferCommand("t1"))),
              es::v1::REFUSAL_CODE_INVALID_STATE);
  }
}

// ---- CompleteMoneyTransfer ----

TEST(TransferDecider, CompletesDebitedTransfer) {
  Decision decision = DecideTransfer(Debited(), CompleteTransferCommand("t1"));
  ASSERT_TRUE(decision.accepted());
  const auto* completed = SingleEventAs<es::v1::MoneyTransferCompleted>(decision);
  ASSERT_NE(completed, nullptr);
  EXPECT_EQ(completed->amount(), 25);
}

TEST(TransferDecider, CompleteOfCompletedTransferIsAcceptedWithoutEvent) {
  Decision decision = DecideTransfer(Completed(), CompleteTransferCommand("t1"));
  EXPECT_TRUE(decision.accepted());
  EXPECT_TRUE(decision.events.empty());
}

TEST(TransferDecider, RefusesCompleteOfTransferNotDebited) {
  EXPECT_EQ(RefusalOf(DecideTransfer(Created(), CompleteTransferCommand("t1"))),
            es::v1::REFUSAL_CODE_INVALID_STATE);
  EXPECT_EQ(RefusalOf(DecideTransfer(FailedForRefusedCredit(), CompleteTransferCommand("t1"))),
            es::v1::REFUSAL_CODE_INVALID_STATE);
}

// ---- FailMoneyTransfer ----

TEST(TransferDecider, FailsCreatedTransferForLackOfFunds) {
  Decision decision = DecideTransfer(Created(), FailTransferCommand("t1", kLackOfFunds));
  ASSERT_TRUE(decision.accepted());
  EXPECT_NE(SingleEventAs<es::v1::MoneyTransferFailedDueToLackOfFunds>(decision), nullptr);
}

TEST(TransferDecider, FailsDebitedTransferForRefusedCredit) {
  Decision decision = DecideTransfer(Debited(), FailTransferCommand("t1", kCreditRefused));
  ASSERT_TRUE(decision.accepted());
  EXPECT_NE(SingleEventAs<es::v1::MoneyTransferFailedDueToRefusedCredit>(decision), nullptr);
}

TEST(TransferDecider, RefusesLackOfFundsFailureOnceSourceWasDebited) {
  EXPECT_EQ(RefusalOf(DecideTransfer(Debited(), FailTransferCommand("t1", kLackOfFunds))),
            es::v1::REFUSAL_CODE_INVALID_STATE);
}

TEST(TransferDecider, RefusesRefusedCreditFailureBeforeSourceWasDebited) {
  EXPECT_EQ(RefusalOf(DecideTransfer(Created(), FailTransferCommand("t1", kCreditRefused))),
            es::v1::REFUSAL_CODE_INVALID_STATE);
}

TEST(TransferDecider, RefusesFailureOfCompletedTransfer) {
  EXPECT_EQ(RefusalOf(DecideTransfer(Completed(), FailTransferCommand("t1", kCreditRefused))),
            es::v1::REFUSAL_CODE_INVALID_STATE);
}

TEST(TransferDecider, RepeatedFailureForTheSameReasonIsAcceptedWithoutEvent) {
  Decision lack = DecideTransfer(FailedForLackOfFunds(), FailTransferCommand("t1", kLackOfFunds));
  EXPECT_TRUE(lack.accepted());
  EXPECT_TRUE(lack.events.empty());
  Decision refused =
      DecideTransfer(FailedForRefusedCredit(), FailTransferCommand("t1", kCreditRefused));
  EXPECT_TRUE(refused.accepted());
  EXPECT_TRUE(refused.events.empty());
}

TEST(TransferDecider, RefusesFailureForAnotherReasonOfFailedTransfer) {
  EXPECT_EQ(
      RefusalOf(DecideTransfer(FailedForLackOfFunds(), FailTransferCommand("t1", kCreditRefused))),
      es::v1::REFUSAL_CODE_INVALID_STATE);
}

TEST(TransferDecider, RefusesFailureWithoutReason) {
  EXPECT_EQ(RefusalOf(DecideTransfer(
                Created(), FailTransferCommand("t1", es::v1::TRANSFER_FAILURE_REASON_UNSPECIFIED))),
            es::v1::REFUSAL_CODE_INVALID_ARGUMENT);
}

// ---- Unknown and misrouted ----

TEST(TransferDecider, RefusesCommandsForUnknownTransfer) {
  for (const es::v1::Command& command : {DebitTransferCommand("t1"), CompleteTransferCommand("t1"),
                                         FailTransferCommand("t1", kLackOfFunds)}) {
    Decision decision = DecideTransfer({}, command);
    EXPECT_EQ(RefusalOf(decision), es::v1::REFUSAL_CODE_UNKNOWN_TRANSFER);
    EXPECT_TRUE(decision.events.empty());
  }
}

TEST(TransferDecider, RefusesAccountCommand) {
  EXPECT_EQ(RefusalOf(DecideTransfer(Created(), CloseAccountCommand("a1"))),
            es::v1::REFUSAL_CODE_INVALID_ARGUMENT);
}

TEST(TransferDecider, RefusesCommandForAnotherTransferThanTheLoadedOne) {
  EXPECT_EQ(RefusalOf(DecideTransfer(Created(), DebitTransferCommand("t2"))),
            es::v1::REFUSAL_CODE_INVALID_ARGUMENT);
}

// ---- EvolveTransfer ----

TEST(TransferEvolution, CreatedTransferHoldsItsDetails) {
  TransferState transfer = Created();
  EXPECT_TRUE(transfer.exists);
  EXPECT_EQ(transfer.transfer_id, "t1");
  EXPECT_EQ(transfer.from_account, "a1");
  EXPECT_EQ(transfer.to_account, "a2");
  EXPECT_EQ(transfer.amount, 25);
  EXPECT_EQ(transfer.status, TransferStatus::kCreated);
  EXPECT_EQ(transfer.failure_reason, TransferFailure::kNone);
  EXPECT_EQ(transfer.version, 1u);
}

TEST(TransferEvolution, SuccessfulTransferEndsCompletedAtVersionThree) {
  TransferState transfer = Completed();
  EXPECT_EQ(transfer.status, TransferStatus::kCompleted);
  EXPECT_EQ(transfer.version, 3u);
}

TEST(TransferEvolution, FailuresRecordTheirReason) {
  TransferState lack = FailedForLackOfFunds();
  EXPECT_EQ(lack.status, TransferStatus::kFailed);
  EXPECT_EQ(lack.failure_reason, TransferFailure::kLackOfFunds);
  EXPECT_EQ(lack.version, 2u);
  TransferState refused = FailedForRefusedCredit();
  EXPECT_EQ(refused.status, TransferStatus::kFailed);
  EXPECT_EQ(refused.failure_reason, TransferFailure::kCreditRefused);
  EXPECT_EQ(refused.version, 3u);
}

TEST(TransferEvolution, IgnoresAccountEvents) {
  TransferState transfer = Created();
  es::v1::AccountOpened opened;
  opened.set_account_id("a1");
  TransferState after = EvolveTransfer(transfer, opened);
  EXPECT_EQ(after.version, 1u);
  EXPECT_EQ(after.status, TransferStatus::kCreated);
}

TEST(TransferEvolution, OnlyCompletedAndFailedAreTerminal) {
  EXPECT_FALSE(IsTerminal(TransferStatus::kCreated));
  EXPECT_FALSE(IsTerminal(TransferStatus::kDebited));
  EXPECT_TRUE(IsTerminal(TransferStatus::kCompleted));
  EXPECT_TRUE(IsTerminal(TransferStatus::kFailed));
}

// ---- ValidateTransferAccounts ----

TEST(TransferAccountsRule, AcceptsTwoOpenAccounts) {
  EXPECT_FALSE(ValidateTransferAccounts(OpenedAccount("a1", 0), OpenedAccount("a2", 0)));
}

TEST(TransferAccountsRule, RefusesUnknownSourceOrTarget) {
  auto from_unknown = ValidateTransferAccounts({}, OpenedAccount("a2", 0));
  ASSERT_TRUE(from_unknown);
  EXPECT_EQ(from_unknown->code, es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT);
  auto to_unknown = ValidateTransferAccounts(OpenedAccount("a1", 0), {});
  ASSERT_TRUE(to_unknown);
  EXPECT_EQ(to_unknown->code, es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT);
}

TEST(TransferAccountsRule, RefusesClosedSourceOrTarget) {
  AccountState closed = AfterAccountCommand(OpenedAccount("a9", 0), CloseAccountCommand("a9"));
  auto from_closed = ValidateTransferAccounts(closed, OpenedAccount("a2", 0));
  ASSERT_TRUE(from_closed);
  EXPECT_EQ(from_closed->code, es::v1::REFUSAL_CODE_ACCOUNT_CLOSED);
  auto to_closed = ValidateTransferAccounts(OpenedAccount("a1", 0), closed);
  ASSERT_TRUE(to_closed);
  EXPECT_EQ(to_closed->code, es::v1::REFUSAL_CODE_ACCOUNT_CLOSED);
}

}  // namespace
}  // namespace es::domain
