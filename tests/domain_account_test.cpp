// The Account decider: every rule of DecideAccount and EvolveAccount.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "domain/account.h"
#include "domain/aggregate.h"
#include "domain/event_codec.h"
#include "domain/validation.h"
#include "domain_test_support.h"

namespace es::domain {
namespace {

using namespace es::domain::testing;  // NOLINT: test builders
using es::v1::RefusalCode;

constexpr int64_t kMaxBalance = std::numeric_limits<int64_t>::max();

AccountState ClosedAccount(const std::string& account_id) {
  return AfterAccountCommand(OpenedAccount(account_id, 0), CloseAccountCommand(account_id));
}

// ---- OpenAccount ----

TEST(AccountDecider, OpensAccountWithOwnerAndInitialBalance) {
  Decision decision = DecideAccount({}, OpenAccountCommand("a1", "Ann", 10));
  ASSERT_TRUE(decision.accepted());
  const auto* opened = SingleEventAs<es::v1::AccountOpened>(decision);
  ASSERT_NE(opened, nullptr);
  EXPECT_EQ(opened->account_id(), "a1");
  EXPECT_EQ(opened->owner(), "Ann");
  EXPECT_EQ(opened->initial_balance(), 10);
}

TEST(AccountDecider, OpensAccountWithZeroInitialBalance) {
  EXPECT_TRUE(DecideAccount({}, OpenAccountCommand("a1", "Ann", 0)).accepted());
}

TEST(AccountDecider, RefusesOpenOfExistingAccount) {
  Decision decision = DecideAccount(OpenedAccount("a1", 10), OpenAccountCommand("a1", "Ann", 10));
  EXPECT_EQ(RefusalOf(decision), es::v1::REFUSAL_CODE_ALREADY_EXISTS);
  EXPECT_TRUE(decision.events.empty());
}

TEST(AccountDecider, RefusesNegativeInitialBalance) {
  Decision decision = DecideAccount({}, OpenAccountCommand("a1", "Ann", -1));
  EXPECT_EQ(RefusalOf(decision), es::v1::REFUSAL_CODE_INVALID_AMOUNT);
  EXPECT_TRUE(decision.events.empty());
}

TEST(AccountDecider, RefusesEmptyOwner) {
  EXPECT_EQ(RefusalOf(DecideAccount({}, OpenAccountCommand("a1", "", 10))),
            es::v1::REFUSAL_CODE_INVALID_ARGUMENT);
}

TEST(AccountDecider, AcceptsOwnerOf200BytesAndRefusesOwnerOf201) {
  EXPECT_TRUE(DecideAccount({}, OpenAccountCommand("a1", std::string(200, 'o'), 10)).accepted());
  EXPECT_EQ(RefusalOf(DecideAccount({}, OpenAccountCommand("a1", std::string(201, 'o'), 10))),
            es::v1::REFUSAL_CODE_INVALID_ARGUMENT);
}

TEST(AccountDecider, RefusesEmptyAccountId) {
  EXPECT_EQ(RefusalOf(DecideAccount({}, OpenAccountCommand("", "Ann", 10))),
            es::v1::REFUSAL_CODE_INVALID_ARGUMENT);
}

TEST(AccountDecider, AcceptsIdOf128BytesAndRefusesIdOf129) {
  EXPECT_TRUE(DecideAccount({}, OpenAccountCommand(std::string(128, 'i'), "Ann", 10)).accepted());
  EXPECT_EQ(RefusalOf(DecideAccount({}, OpenAccountCommand(std::string(129, 'i'), "Ann", 10))),
            es::v1::REFUSAL_CODE_INVALID_ARGUMENT);
}

// ---- CreditAccount ----

TEST(AccountDecider, CreditsAccountAndRecordsBalanceAfter) {
  Decision decision = DecideAccount(OpenedAccount("a1", 10), CreditAccountCommand("a1", 190));
  ASSERT_TRUE(decision.accepted());
  const auto* credited = SingleEventAs<es::v1::AccountCredited>(decision);
  ASSERT_NE(credited, nullptr);
  EXPECT_EQ(credited->account_id(), "a1");
  EXPECT_EQ(credited->amount(), 190);
  EXPECT_EQ(credited->balance(), 200);
}

TEST(AccountDecider, RefusesCreditOfUnknownAccount) {
  // The original created the account on the fly; here it must be opened.
  Decision decision = DecideAccount({}, CreditAccountCommand("a1", 5));
  EXPECT_EQ(RefusalOf(decision), es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT);
  EXPECT_TRUE(decision.events.empty());
}

TEST(AccountDecider, RefusesCreditOfZeroOrNegativeAmount) {
  for (int64_t amount : {int64_t{0}, int64_t{-5}}) {
    EXPECT_EQ(RefusalOf(DecideAccount(OpenedAccount("a1", 10), CreditAccountCommand("a1", amount))),
              es::v1::REFUSAL_CODE_INVALID_AMOUNT)
        << amount;
  }
}

TEST(AccountDecider, RefusesCreditOfClosedAccount) {
  Decision decision = DecideAccount(ClosedAccount("a1"), CreditAccountCommand("a1", 5));
  EXPECT_EQ(RefusalOf(decision), es::v1::REFUSAL_CODE_ACCOUNT_CLOSED);
  EXPECT_TRUE(decision.events.empty());
}

// An opened account holding `balance`, with `transfers_out` debited by
// transfers and not refunded (built directly: reaching INT64_MAX by commands
// would take 9,000 credits of the largest amount).
AccountState AccountHolding(int64_t balance, int64_t transfers_out = 0) {
  AccountState account = OpenedAccount("a1", 0);
  account.balance = balance;
  account.transfers_out = transfers_out;
  return account;
}

TEST(AccountDecider, RefusesCreditThatWouldOverflow) {
  Decision decision = DecideAccount(AccountHolding(kMaxBalance), CreditAccountCommand("a1", 1));
  EXPECT_EQ(RefusalOf(decision), es::v1::REFUSAL_CODE_OVERFLOW);
  EXPECT_TRUE(decision.events.empty());
}

TEST(AccountDecider, CreditsUpToTheLargestBalance) {
  Decision decision =
      DecideAccount(AccountHolding(kMaxBalance - 9), CreditAccountCommand("a1", 9));
  ASSERT_TRUE(decision.accepted());
  EXPECT_EQ(SingleEventAs<es::v1::AccountCredited>(decision)->balance(), kMaxBalance);
}

TEST(AccountDecider, CountsMoneyOutOnTransfersAgainstTheCeiling) {
  // balance + transfers_out may not pass kMaxBalance: what keeps a refund of
  // that money possible.
  AccountState account = AccountHolding(kMaxBalance - 100, 90);
  EXPECT_TRUE(DecideAccount(account, CreditAccountCommand("a1", 10)).accepted());
  EXPECT_EQ(RefusalOf(DecideAccount(account, CreditAccountCommand("a1", 11))),
            es::v1::REFUSAL_CODE_OVERFLOW);
  Decision credit = DecideAccount(account, CreditForTransferCommand("a1", "t9", 11, "a2"));
  EXPECT_EQ(RefusalOf(credit), es::v1::REFUSAL_CODE_OVERFLOW);
  EXPECT_NE(SingleEventAs<es::v1::AccountCreditBecauseOfMoneyTransferFailed>(credit), nullptr);
}

TEST(AccountDecider, RefusesAmountsAboveTheLargestAmount) {
  EXPECT_EQ(RefusalOf(DecideAccount(OpenedAccount("a1", 0),
                                    CreditAccountCommand("a1", es::domain::kMaxAmount + 1))),
            es::v1::REFUSAL_CODE_INVALID_AMOUNT);
  EXPECT_TRUE(DecideAccount(OpenedAccount("a1", 0),
                            CreditAccountCommand("a1", es::domain::kMaxAmount))
                  .accepted());
  EXPECT_EQ(RefusalOf(DecideAccount({}, OpenAccountCommand("a1", "Ann",
                                                           es::domain::kMaxAmount + 1))),
            es::v1::REFUSAL_CODE_INVALID_AMOUNT);
}

// ---- DebitAccount ----

TEST(AccountDecider, DebitsAccountAndRecordsBalanceAfter) {
  Decision decision = DecideAccount(OpenedAccount("a1", 200), DebitAccountCommand("a1", 100));
  ASSERT_TRUE(decision.accepted());
  const auto* debited = SingleEventAs<es::v1::AccountDebited>(decision);
  ASSERT_NE(debited, nullptr);
  EXPECT_EQ(debited->amount(), 100);
  EXPECT_EQ(debited->balance(), 100);
}

TEST(AccountDecider, DebitsWholeBalance) {
  Decision decision = DecideAccount(OpenedAccount("a1", 100), DebitAccountCommand("a1", 100));
  ASSERT_TRUE(decision.accepted());
  EXPECT_EQ(SingleEventAs<es::v1::AccountDebited>(decision)->balance(), 0);
}

TEST(AccountDecider, RecordsAndRefusesDebitBeyondBalance) {
  Decision decision = DecideAccount(OpenedAccount("a1", 10), DebitAccountCommand("a1", 100));
  EXPECT_EQ(RefusalOf(decision), es::v1::REFUSAL_CODE_INSUFFICIENT_FUNDS);
  const auto* failed = SingleEventAs<es::v1::AccountDebitFailed>(decision);
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->account_id(), "a1");
  EXPECT_EQ(failed->amount(), 100);
  EXPECT_EQ(failed->balance(), 10);
}

TEST(AccountDecider, RefusesDebitOfUnknownAccount) {
  EXPECT_EQ(RefusalOf(DecideAccount({}, DebitAccountCommand("a1", 5))),
            es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT);
}

TEST(AccountDecider, RefusesDebitOfZeroOrNegativeAmount) {
  for (int64_t amount : {int64_t{0}, int64_t{-5}}) {
    EXPECT_EQ(RefusalOf(DecideAccount(OpenedAccount("a1", 10), DebitAccountCommand("a1", amount))),
              es::v1::REFUSAL_CODE_INVALID_AMOUNT)
        << amount;
  }
}

TEST(AccountDecider, RefusesDebitOfClosedAccount) {
  Decision decision = DecideAccount(ClosedAccount("a1"), DebitAccountCommand("a1", 5));
  EXPECT_EQ(RefusalOf(decision), es::v1::REFUSAL_CODE_ACCOUNT_CLOSED);
  EXPECT_TRUE(decision.events.empty());
}

// ---- CloseAccount ----

TEST(AccountDecider, ClosesAccountAtZeroBalance) {
  Decision decision = DecideAccount(OpenedAccount("a1", 0), CloseAccountCommand("a1"));
  ASSERT_TRUE(decision.accepted());
  const auto* closed = SingleEventAs<es::v1::AccountClosed>(decision);
  ASSERT_NE(closed, nullptr);
  EXPECT_EQ(closed->account_id(), "a1");
}

TEST(AccountDecider, RefusesCloseWithNonzeroBalance) {
  Decision decision = DecideAccount(OpenedAccount("a1", 1), CloseAccountCommand("a1"));
  EXPECT_EQ(RefusalOf(decision), es::v1::REFUSAL_CODE_NONZERO_BALANCE);
  EXPECT_TRUE(decision.events.empty());
}

TEST(AccountDecider, ClosingClosedAccountIsAcceptedWithoutEvent) {
  Decision decision = DecideAccount(ClosedAccount("a1"), CloseAccountCommand("a1"));
  EXPECT_TRUE(decision.accepted());
  EXPECT_TRUE(decision.events.empty());
}

TEST(AccountDecider, RefusesCloseOfUnknownAccount) {
  EXPECT_EQ(RefusalOf(DecideAccount({}, CloseAccountCommand("a1"))),
            es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT);
}

// ---- DebitAccountBecauseOfMoneyTransfer ----

TEST(AccountDecider, DebitsAccountBecauseOfTransfer) {
  Decision decision =
      DecideAccount(OpenedAccount("a1", 100), DebitForTransferCommand("a1", "t1", 10));
  ASSERT_TRUE(decision.accepted());
  const auto* debited = SingleEventAs<es::v1::AccountDebitedBecauseOfMoneyTransfer>(decision);
  ASSERT_NE(debited, nullptr);
  EXPECT_EQ(debited->account_id(), "a1");
  EXPECT_EQ(debited->transfer_id(), "t1");
  EXPECT_EQ(debited->amount(), 10);
  EXPECT_EQ(debited->balance(), 90);
}

TEST(AccountDecider, RecordsAndRefusesTransferDebitBeyondBalance) {
  Decision decision =
      DecideAccount(OpenedAccount("a2", 20), DebitForTransferCommand("a2", "t2", 100));
  EXPECT_EQ(RefusalOf(decision), es::v1::REFUSAL_CODE_INSUFFICIENT_FUNDS);
  const auto* failed = SingleEventAs<es::v1::AccountDebitBecauseOfMoneyTransferFailed>(decision);
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->transfer_id(), "t2");
  EXPECT_EQ(failed->amount(), 100);
  EXPECT_EQ(failed->balance(), 20);
}

TEST(AccountDecider, RecordsAndRefusesTransferDebitOfClosedAccount) {
  // Recorded, so that the saga fails the transfer instead of waiting forever.
  Decision decision = DecideAccount(ClosedAccount("a1"), DebitForTransferCommand("a1", "t1", 10));
  EXPECT_EQ(RefusalOf(decision), es::v1::REFUSAL_CODE_ACCOUNT_CLOSED);
  EXPECT_NE(SingleEventAs<es::v1::AccountDebitBecauseOfMoneyTransferFailed>(decision), nullptr);
}

TEST(AccountDecider, RefusesTransferDebitOfUnknownAccount) {
  Decision decision = DecideAccount({}, DebitForTransferCommand("a1", "t1", 10));
  EXPECT_EQ(RefusalOf(decision), es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT);
  EXPECT_TRUE(decision.events.empty());
}

TEST(AccountDecider, RefusesTransferDebitWithoutTransferId) {
  EXPECT_EQ(
      RefusalOf(DecideAccount(OpenedAccount("a1", 100), DebitForTransferCommand("a1", "", 10))),
      es::v1::REFUSAL_CODE_INVALID_ARGUMENT);
}

TEST(AccountDecider, RefusesTransferDebitOfZeroAmount) {
  EXPECT_EQ(
      RefusalOf(DecideAccount(OpenedAccount("a1", 100), DebitForTransferCommand("a1", "t1", 0))),
      es::v1::REFUSAL_CODE_INVALID_AMOUNT);
}

// ---- CreditAccountBecauseOfMoneyTransfer ----

TEST(AccountDecider, CreditsAccountBecauseOfTransfer) {
  Decision decision =
      DecideAccount(OpenedAccount("a2", 10), CreditForTransferCommand("a2", "t1", 10, "a1"));
  ASSERT_TRUE(decision.accepted());
  const auto* credited = SingleEventAs<es::v1::AccountCreditedBecauseOfMoneyTransfer>(decision);
  ASSERT_NE(credited, nullptr);
  EXPECT_EQ(credited->account_id(), "a2");
  EXPECT_EQ(credited->transfer_id(), "t1");
  EXPECT_EQ(credited->amount(), 10);
  EXPECT_EQ(credited->balance(), 20);
}

TEST(AccountDecider, RecordsAndRefusesTransferCreditOfClosedAccount) {
  Decision decision =
      DecideAccount(ClosedAccount("a2"), CreditForTransferCommand("a2", "t1", 10, "a1"));
  EXPECT_EQ(RefusalOf(decision), es::v1::REFUSAL_CODE_ACCOUNT_CLOSED);
  const auto* failed = SingleEventAs<es::v1::AccountCreditBecauseOfMoneyTransferFailed>(decision);
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->account_id(), "a2");
  EXPECT_EQ(failed->transfer_id(), "t1");
  EXPECT_EQ(failed->amount(), 10);
  EXPECT_EQ(failed->reason(), "account closed");
  EXPECT_EQ(failed->source_account(), "a1");  // where the refund goes
}

TEST(AccountDecider, RecordsAndRefusesTransferCreditThatWouldOverflow) {
  // Recorded (not merely refused): the source was debited already, so the
  // saga must learn of the refusal to refund it.
  AccountState full = OpenedAccount("a2", 0);
  full.balance = kMaxBalance;
  Decision decision = DecideAccount(full, CreditForTransferCommand("a2", "t1", 1, "a1"));
  EXPECT_EQ(RefusalOf(decision), es::v1::REFUSAL_CODE_OVERFLOW);
  const auto* failed = SingleEventAs<es::v1::AccountCreditBecauseOfMoneyTransferFailed>(decision);
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->reason(), "balance would overflow");
  EXPECT_EQ(failed->source_account(), "a1");
}

TEST(AccountDecider, RefusesTransferCreditWithoutSourceAccount) {
  EXPECT_EQ(RefusalOf(DecideAccount(OpenedAccount("a2", 10),
                                    CreditForTransferCommand("a2", "t1", 10, ""))),
            es::v1::REFUSAL_CODE_INVALID_ARGUMENT);
}

TEST(AccountDecider, RefusesTransferCreditOfUnknownAccount) {
  EXPECT_EQ(RefusalOf(DecideAccount({}, CreditForTransferCommand("a2", "t1", 10, "a1"))),
            es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT);
}

// ---- RefundAccountBecauseOfMoneyTransfer ----

// The account after a transfer debited `amount` from it.
AccountState DebitedForTransfer(AccountState account, int64_t amount) {
  return AfterAccountCommand(account, DebitForTransferCommand("a1", "t1", amount));
}

TEST(AccountDecider, RefundsAccountBecauseOfTransfer) {
  AccountState account = DebitedForTransfer(OpenedAccount("a1", 100), 10);
  ASSERT_EQ(account.balance, 90);
  ASSERT_EQ(account.transfers_out, 10);
  Decision decision = DecideAccount(account, RefundForTransferCommand("a1", "t1", 10));
  ASSERT_TRUE(decision.accepted());
  const auto* refunded = SingleEventAs<es::v1::AccountRefundedBecauseOfMoneyTransfer>(decision);
  ASSERT_NE(refunded, nullptr);
  EXPECT_EQ(refunded->transfer_id(), "t1");
  EXPECT_EQ(refunded->amount(), 10);
  EXPECT_EQ(refunded->balance(), 100);
  EXPECT_EQ(FoldAccount(decision.events, account).transfers_out, 0);
}

TEST(AccountDecider, RefundsClosedAccountSoMoneyNeverVanishes) {
  AccountState debited = DebitedForTransfer(OpenedAccount("a1", 10), 10);
  AccountState closed = AfterAccountCommand(debited, CloseAccountCommand("a1"));
  ASSERT_TRUE(closed.closed);
  Decision decision = DecideAccount(closed, RefundForTransferCommand("a1", "t1", 10));
  ASSERT_TRUE(decision.accepted());
  AccountState after = FoldAccount(decision.events, closed);
  EXPECT_TRUE(after.closed);
  EXPECT_EQ(after.balance, 10);
}

TEST(AccountDecider, RefundIsNeverRefusedForOverflow) {
  // The case: after the debit the source is credited up to the
  // ceiling; the refund of the debit must still fit.
  AccountState account = DebitedForTransfer(AccountHolding(es::domain::kMaxAmount), 1000);
  const int64_t room = kMaxBalance - account.balance - account.transfers_out;
  ASSERT_LT(room, kMaxBalance);
  account.balance += room;  // as many credits as the ceiling allows
  EXPECT_EQ(RefusalOf(DecideAccount(account, CreditAccountCommand("a1", 1))),
            es::v1::REFUSAL_CODE_OVERFLOW);
  Decision refund = DecideAccount(account, RefundForTransferCommand("a1", "t1", 1000));
  ASSERT_TRUE(refund.accepted());
  AccountState after = FoldAccount(refund.events, account);
  EXPECT_EQ(after.balance, kMaxBalance);
  EXPECT_TRUE(after.corrupt.empty());
}

TEST(AccountDecider, RefusesRefundOfMoneyNoTransferTook) {
  Decision decision =
      DecideAccount(OpenedAccount("a1", 90), RefundForTransferCommand("a1", "t1", 10));
  EXPECT_EQ(RefusalOf(decision), es::v1::REFUSAL_CODE_INVALID_AMOUNT);
  EXPECT_TRUE(decision.events.empty());
}

TEST(AccountDecider, RefusesRefundOfUnknownAccount) {
  EXPECT_EQ(RefusalOf(DecideAccount({}, RefundForTransferCommand("a1", "t1", 10))),
            es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT);
}

TEST(AccountDecider, RefusesRefundOfZeroAmount) {
  EXPECT_EQ(
      RefusalOf(DecideAccount(OpenedAccount("a1", 10), RefundForTransferCommand("a1", "t1", 0))),
      es::v1::REFUSAL_CODE_INVALID_AMOUNT);
}

// ---- Misrouted commands ----

TEST(AccountDecider, RefusesTransferCommand) {
  EXPECT_EQ(RefusalOf(DecideAccount(OpenedAccount("a1", 10), DebitTransferCommand("t1"))),
            es::v1::REFUSAL_CODE_INVALID_ARGUMENT);
}

TEST(AccountDecider, RefusesCommandWithoutBody) {
  EXPECT_EQ(RefusalOf(DecideAccount({}, es::v1::Command{})), es::v1::REFUSAL_CODE_INVALID_ARGUMENT);
}

TEST(AccountDecider, RefusesCommandForAnotherAccountThanTheLoadedOne) {
  EXPECT_EQ(RefusalOf(DecideAccount(OpenedAccount("a1", 10), CreditAccountCommand("a2", 5))),
            es::v1::REFUSAL_CODE_INVALID_ARGUMENT);
}

// ---- EvolveAccount ----

TEST(AccountEvolution, OpenedAccountHasOwnerBalanceAndVersionOne) {
  AccountState account = OpenedAccount("a1", 10);
  EXPECT_TRUE(account.exists);
  EXPECT_EQ(account.account_id, "a1");
  EXPECT_EQ(account.owner, "owner of a1");
  EXPECT_EQ(account.balance, 10);
  EXPECT_EQ(account.version, 1u);
  EXPECT_FALSE(account.closed);
}

TEST(AccountEvolution, MovementsChangeTheBalanceByTheirAmount) {
  AccountState account = OpenedAccount("a1", 100);
  account = AfterAccountCommand(account, CreditAccountCommand("a1", 50));
  account = AfterAccountCommand(account, DebitAccountCommand("a1", 30));
  account = AfterAccountCommand(account, DebitForTransferCommand("a1", "t1", 20));
  account = AfterAccountCommand(account, CreditForTransferCommand("a1", "t2", 7, "a9"));
  account = AfterAccountCommand(account, RefundForTransferCommand("a1", "t1", 20));
  EXPECT_EQ(account.balance, 100 + 50 - 30 - 20 + 7 + 20);
  EXPECT_EQ(account.version, 6u);
}

TEST(AccountEvolution, RecordedRefusalsKeepTheBalanceButCountAsVersions) {
  AccountState account = OpenedAccount("a1", 10);
  account = AfterAccountCommand(account, DebitAccountCommand("a1", 11));
  account = AfterAccountCommand(account, DebitForTransferCommand("a1", "t1", 11));
  EXPECT_EQ(account.balance, 10);
  EXPECT_EQ(account.version, 3u);
}

TEST(AccountEvolution, RefusedCreditKeepsTheBalance) {
  AccountState account = ClosedAccount("a1");
  account = AfterAccountCommand(account, CreditForTransferCommand("a1", "t1", 5, "a9"));
  EXPECT_EQ(account.balance, 0);
  EXPECT_EQ(account.version, 3u);
}

TEST(AccountEvolution, ClosedEventClosesTheAccount) {
  AccountState account = ClosedAccount("a1");
  EXPECT_TRUE(account.closed);
  EXPECT_EQ(account.version, 2u);
}

TEST(AccountEvolution, IgnoresTransferEvents) {
  AccountState account = OpenedAccount("a1", 10);
  es::v1::MoneyTransferCreated created;
  created.set_transfer_id("t1");
  created.set_amount(5);
  AccountState after = EvolveAccount(account, created);
  EXPECT_EQ(after.balance, 10);
  EXPECT_EQ(after.version, 1u);
}

TEST(AccountEvolution, BalanceAfterEveryDecidedEventMatchesWhatItRecords) {
  AccountState account = OpenedAccount("a1", 10);
  for (const es::v1::Command& command :
       {CreditAccountCommand("a1", 190), DebitAccountCommand("a1", 100),
        DebitForTransferCommand("a1", "t1", 10), CreditForTransferCommand("a1", "t2", 3, "a2"),
        RefundForTransferCommand("a1", "t1", 10)}) {
    Decision decision = DecideAccount(account, command);
    ASSERT_TRUE(decision.accepted());
    account = FoldAccount(decision.events, account);
    int64_t recorded = std::visit(
        [](const auto& e) -> int64_t {
          if constexpr (requires { e.balance(); }) {
            return e.balance();
          } else {
            return -1;
          }
        },
        decision.events.front());
    EXPECT_EQ(account.balance, recorded);
  }
}


// ---- Folding validates the log (a raw append can hold anything) ----

es::v1::AccountCredited CreditedEvent(const std::string& account_id, int64_t amount) {
  es::v1::AccountCredited credited;
  credited.set_account_id(account_id);
  credited.set_amount(amount);
  return credited;
}

TEST(AccountFold, MarksStreamCorruptInsteadOfOverflowing) {
  // The case: a raw AccountCredited of INT64_MAX to an account with
  // money (UBSan reported signed overflow here, and the balance wrapped).
  AccountState account = OpenedAccount("a1", 100);
  AccountState after = FoldAccount({CreditedEvent("a1", kMaxBalance)}, account);
  EXPECT_EQ(after.balance, 100);
  EXPECT_NE(after.corrupt.find("overflowing balance 100"), std::string::npos) << after.corrupt;
  EXPECT_EQ(after.version, account.version + 1);
  // Every later event is only counted.
  after = FoldAccount({CreditedEvent("a1", 5)}, after);
  EXPECT_EQ(after.balance, 100);
  Decision decision = DecideAccount(after, CreditAccountCommand("a1", 5));
  EXPECT_EQ(RefusalOf(decision), es::v1::REFUSAL_CODE_STREAM_CORRUPT);
  EXPECT_NE(decision.rejection->message.find("overflowing"), std::string::npos);
}

TEST(AccountFold, MarksEventsThatCannotApplyCorrupt) {
  es::v1::AccountDebited debited;
  debited.set_account_id("a1");
  debited.set_amount(101);
  EXPECT_FALSE(FoldAccount({debited}, OpenedAccount("a1", 100)).corrupt.empty());
  EXPECT_FALSE(FoldAccount({CreditedEvent("a2", 1)}, OpenedAccount("a1", 100)).corrupt.empty());
  EXPECT_FALSE(FoldAccount({CreditedEvent("a1", -5)}, OpenedAccount("a1", 100)).corrupt.empty());
  EXPECT_FALSE(FoldAccount({CreditedEvent("a1", 1)}).corrupt.empty());  // before the opening
  es::v1::AccountOpened again;
  again.set_account_id("a1");
  EXPECT_FALSE(FoldAccount({again}, OpenedAccount("a1", 100)).corrupt.empty());
  es::v1::AccountRefundedBecauseOfMoneyTransfer refund;
  refund.set_account_id("a1");
  refund.set_transfer_id("t1");
  refund.set_amount(1);
  EXPECT_FALSE(FoldAccount({refund}, OpenedAccount("a1", 100)).corrupt.empty());
  EXPECT_TRUE(FoldAccount({CreditedEvent("a1", 1)}, OpenedAccount("a1", 100)).corrupt.empty());
}

// A stream "account-X" whose AccountOpened names another account (a raw
// append can write anything) is corrupt, not account Y under X's stream:
// found by the command_requests fuzzer.
TEST(AccountFold, AnOpeningOfAnotherAggregateOnAStreamMarksItCorrupt) {
  es::domain::AggregateState state = es::domain::AggregateOfStream("account-X");
  EXPECT_EQ(state.id, "X");
  es::v1::AccountOpened other;
  other.set_account_id("Y");
  other.set_owner("Mallory");
  other.set_initial_balance(1000);
  const es::domain::EncodedEvent opened = es::domain::EncodeEvent(other);
  es::domain::Apply(state, opened.type, opened.data, 1);
  EXPECT_FALSE(state.account.exists);
  EXPECT_NE(state.corruption().find("opens 'Y' on the stream of 'X'"), std::string::npos)
      << state.corruption();
  Decision decision = es::domain::Decide(state, CreditAccountCommand("X", 5));
  EXPECT_EQ(RefusalOf(decision), es::v1::REFUSAL_CODE_STREAM_CORRUPT);

  es::domain::AggregateState transfer = es::domain::AggregateOfStream("transfer-T1");
  es::v1::MoneyTransferCreated created;
  created.set_transfer_id("T2");
  created.set_from_account("A");
  created.set_to_account("B");
  created.set_amount(5);
  const es::domain::EncodedEvent encoded = es::domain::EncodeEvent(created);
  es::domain::Apply(transfer, encoded.type, encoded.data, 1);
  EXPECT_FALSE(transfer.corruption().empty());

  es::domain::AggregateState own = es::domain::AggregateOfStream("account-X");
  other.set_account_id("X");
  const es::domain::EncodedEvent mine = es::domain::EncodeEvent(other);
  es::domain::Apply(own, mine.type, mine.data, 1);
  EXPECT_TRUE(own.corruption().empty()) << own.corruption();
  EXPECT_EQ(own.account.balance, 1000);
}

TEST(AccountFold, TransferStepsOnACorruptAccountStillEndTheTransfer) {
  AccountState corrupt = FoldAccount({CreditedEvent("a1", kMaxBalance)}, OpenedAccount("a1", 100));
  ASSERT_FALSE(corrupt.corrupt.empty());
  Decision debit = DecideAccount(corrupt, DebitForTransferCommand("a1", "t1", 10));
  // The code its record reads back as on any instance (found by the
  // command_requests fuzzer); the message says the stream is corrupt.
  EXPECT_EQ(RefusalOf(debit), es::v1::REFUSAL_CODE_INSUFFICIENT_FUNDS);
  EXPECT_NE(debit.rejection->message.find("cannot be used"), std::string::npos)
      << debit.rejection->message;
  EXPECT_NE(SingleEventAs<es::v1::AccountDebitBecauseOfMoneyTransferFailed>(debit), nullptr);
  Decision credit = DecideAccount(corrupt, CreditForTransferCommand("a1", "t1", 10, "a2"));
  EXPECT_EQ(RefusalOf(credit), es::v1::REFUSAL_CODE_STREAM_CORRUPT);
  EXPECT_NE(SingleEventAs<es::v1::AccountCreditBecauseOfMoneyTransferFailed>(credit), nullptr);
  EXPECT_TRUE(DecideAccount(corrupt, RefundForTransferCommand("a1", "t1", 10)).accepted());
}

}  // namespace
}  // namespace es::domain
