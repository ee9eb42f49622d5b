// The original Go example's tests (botchniaque/eventsourcing-cqrs-go,
// src/eventsourcing/{account,money_transfer,services}_test.go), ported to the
// deciders, plus the compensation path the original did not have.
//
// Full transfers run as in the original's wiring (command handlers, an event
// store with a single-subscriber channel, an event handler sending commands),
// but synchronously and in memory: InMemoryBank below.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "domain/account.h"
#include "domain/event_codec.h"
#include "domain/money_transfer.h"
#include "domain/stream_ids.h"
#include "domain/transfer_saga.h"
#include "domain_test_support.h"

namespace es::domain {
namespace {

using namespace es::domain::testing;  // NOLINT: test builders

// A pure stand-in for the store, the command handlers and the saga: streams
// in a map, one global log the saga reads in order, and command ids
// remembered so a repeated command has no second effect (as the command
// service guarantees).
class InMemoryBank {
 public:
  // Loads the command's stream, decides, appends what the decision records
  // (through the codec, as the store would keep it). CreateMoneyTransfer
  // first checks the two accounts, as its handler does.
  Decision Execute(const es::v1::Command& command) {
    if (!command.command_id().empty() &&
        !applied_command_ids_.insert(command.command_id()).second) {
      return Decision::AlreadyDone();
    }
    std::optional<std::string> stream_id = StreamOfCommand(command);
    if (!stream_id) {
      return Decision::Refuse(es::v1::REFUSAL_CODE_INVALID_ARGUMENT, "no body");
    }
    Decision decision;
    if (stream_id->starts_with("account-")) {
      decision = DecideAccount(FoldAccount(streams_[*stream_id]), command);
    } else if (command.has_create_money_transfer()) {
      const auto& create = command.create_money_transfer();
      auto rejection =
          ValidateTransferAccounts(Account(create.from_account()), Account(create.to_account()));
      decision = rejection ? Decision::Refuse(*rejection)
                           : DecideTransfer(Transfer(create.transfer_id()), command);
    } else {
      decision = DecideTransfer(FoldTransfer(streams_[*stream_id]), command);
    }
    for (const DomainEvent& event : decision.events) Append(*stream_id, event);
    return decision;
  }

  // The saga as the original's single subscriber: every event not yet seen,
  // in log order, and the command it calls for, until nothing is left.
  void RunSaga() {
    for (int steps = 0; saga_position_ < log_.size(); ++steps) {
      ASSERT_LT(steps, 1000) << "the saga does not settle";
      const LoggedEvent& logged = log_[saga_position_++];
      SagaReaction reaction = ReactToEvent(logged.event_id, logged.event);
      if (reaction) Execute(*reaction);
    }
  }

  // A crash of the saga before it saved its position: it reads from the
  // start again.
  void ForgetSagaPosition() { saga_position_ = 0; }

  AccountState Account(const std::string& account_id) {
    return FoldAccount(streams_[AccountStreamId(account_id)]);
  }
  TransferState Transfer(const std::string& transfer_id) {
    return FoldTransfer(streams_[TransferStreamId(transfer_id)]);
  }
  std::vector<std::string> EventTypes(const std::string& stream_id) {
    std::vector<std::string> types;
    for (const DomainEvent& event : streams_[stream_id]) {
      types.push_back(EventTypeName(event));
    }
    return types;
  }
  std::size_t LogSize() const { return log_.size(); }

 private:
  struct LoggedEvent {
    std::string event_id;
    DomainEvent event;
  };

  void Append(const std::string& stream_id, const DomainEvent& event) {
    EncodedEvent stored = EncodeEvent(event);
    std::optional<DomainEvent> loaded = DecodeEvent(stored.type, stored.data);
    ASSERT_TRUE(loaded) << stored.type;
    streams_[stream_id].push_back(*loaded);
    log_.push_back({"ev-" + std::to_string(log_.size() + 1), *loaded});
  }

  std::map<std::string, std::vector<DomainEvent>> streams_;
  std::vector<LoggedEvent> log_;
  std::size_t saga_position_ = 0;
  std::set<std::string> applied_command_ids_;
};

// ---- account_test.go ----

// TestAccountRestore: an account is its events folded.
TEST(OriginalExample, AccountRestore) {
  es::v1::AccountOpened opened;
  opened.set_account_id("a1");
  opened.set_initial_balance(100);
  es::v1::AccountCredited credited;
  credited.set_amount(100);
  es::v1::AccountDebited debited;
  debited.set_amount(50);
  AccountState account = FoldAccount({opened, credited, debited, es::v1::AccountDebitFailed{}});
  EXPECT_EQ(account.balance, 150);
  EXPECT_EQ(account.version, 4u);
}

// TestAccountCommand: opening an account yields AccountOpened.
TEST(OriginalExample, AccountCommand) {
  Decision decision = DecideAccount({}, OpenAccountCommand("a1", "Ann", 100));
  ASSERT_TRUE(decision.accepted());
  const auto* opened = SingleEventAs<es::v1::AccountOpened>(decision);
  ASSERT_NE(opened, nullptr);
  EXPECT_EQ(opened->initial_balance(), 100);
}

// ---- money_transfer_test.go ----

es::v1::MoneyTransferCreated TransferOf100() {
  es::v1::MoneyTransferCreated created;
  created.set_transfer_id("t1");
  created.set_from_account("a1");
  created.set_to_account("a2");
  created.set_amount(100);
  return created;
}

// TestOkTransfer
TEST(OriginalExample, OkTransfer) {
  TransferState transfer = FoldTransfer(
      {TransferOf100(), es::v1::MoneyTransferDebited{}, es::v1::MoneyTransferCompleted{}});
  EXPECT_EQ(transfer.status, TransferStatus::kCompleted);
}

// TestFailedTransfer
TEST(OriginalExample, FailedTransfer) {
  TransferState transfer =
      FoldTransfer({TransferOf100(), es::v1::MoneyTransferFailedDueToLackOfFunds{}});
  EXPECT_EQ(transfer.status, TransferStatus::kFailed);
}

// TestEventsOutOfOrder. The original's event handler and command handlers ran
// as goroutines, so a transfer's events were not trusted to come in order:
// applying an event that is not a legal move from the current state leaves
// the state as it is. Here: Completed before Debited is ignored, repeated
// Debited events count once, and a lack-of-funds failure after completion is
// ignored. Every event still counts as a version of the stream.
TEST(OriginalExample, EventsOutOfOrder) {
  TransferState transfer = FoldTransfer(
      {TransferOf100(), es::v1::MoneyTransferCompleted{}, es::v1::MoneyTransferDebited{},
       es::v1::MoneyTransferDebited{}, es::v1::MoneyTransferDebited{}});
  EXPECT_EQ(transfer.status, TransferStatus::kDebited);

  transfer = FoldTransfer(
      {es::v1::MoneyTransferCompleted{}, es::v1::MoneyTransferFailedDueToLackOfFunds{}}, transfer);
  EXPECT_EQ(transfer.status, TransferStatus::kCompleted);
  EXPECT_EQ(transfer.failure_reason, TransferFailure::kNone);
  EXPECT_EQ(transfer.version, 7u);
}

// The same intent one step earlier, where this port enforces it: commands
// arriving in that order never write an out-of-order event. The early
// Complete is refused, the repeated Debits are accepted without an event,
// the late Fail is refused.
TEST(OriginalExample, EventsOutOfOrderAsCommandsWriteOnlyLegalMoves) {
  TransferState transfer =
      FoldTransfer(DecideTransfer({}, CreateTransferCommand("t1", "a1", "a2", 100)).events);
  auto apply = [&transfer](const es::v1::Command& command) {
    Decision decision = DecideTransfer(transfer, command);
    transfer = FoldTransfer(decision.events, transfer);
    return decision;
  };
  EXPECT_EQ(RefusalOf(apply(CompleteTransferCommand("t1"))), es::v1::REFUSAL_CODE_INVALID_STATE);
  EXPECT_EQ(apply(DebitTransferCommand("t1")).events.size(), 1u);
  EXPECT_TRUE(apply(DebitTransferCommand("t1")).events.empty());
  EXPECT_TRUE(apply(DebitTransferCommand("t1")).events.empty());
  EXPECT_EQ(transfer.status, TransferStatus::kDebited);

  EXPECT_EQ(apply(CompleteTransferCommand("t1")).events.size(), 1u);
  EXPECT_EQ(
      RefusalOf(apply(FailTransferCommand("t1", es::v1::TRANSFER_FAILURE_REASON_LACK_OF_FUNDS))),
      es::v1::REFUSAL_CODE_INVALID_STATE);
  EXPECT_EQ(transfer.status, TransferStatus::kCompleted);
  EXPECT_EQ(transfer.version, 3u);  // Created, Debited, Completed
}

// TestFullTransfer: 67 from an account of 100 to one of 10.
TEST(OriginalExample, FullTransfer) {
  InMemoryBank bank;
  ASSERT_TRUE(bank.Execute(OpenAccountCommand("a1", "one", 100)).accepted());
  ASSERT_TRUE(bank.Execute(OpenAccountCommand("a2", "two", 10)).accepted());

  ASSERT_TRUE(bank.Execute(CreateTransferCommand("t1", "a1", "a2", 67)).accepted());
  EXPECT_EQ(bank.Transfer("t1").status, TransferStatus::kCreated);
  bank.RunSaga();

  EXPECT_EQ(bank.Account("a1").balance, 33);
  EXPECT_EQ(bank.Account("a2").balance, 77);
  EXPECT_EQ(bank.Transfer("t1").status, TransferStatus::kCompleted);
}

// TestFullTransfer_Failed: 67 from the account of 10 fails, nothing moves.
TEST(OriginalExample, FullTransferFailed) {
  InMemoryBank bank;
  ASSERT_TRUE(bank.Execute(OpenAccountCommand("a1", "one", 100)).accepted());
  ASSERT_TRUE(bank.Execute(OpenAccountCommand("a2", "two", 10)).accepted());

  ASSERT_TRUE(bank.Execute(CreateTransferCommand("t1", "a2", "a1", 67)).accepted());
  EXPECT_EQ(bank.Transfer("t1").status, TransferStatus::kCreated);
  bank.RunSaga();

  EXPECT_EQ(bank.Account("a1").balance, 100);
  EXPECT_EQ(bank.Account("a2").balance, 10);
  EXPECT_EQ(bank.Transfer("t1").status, TransferStatus::kFailed);
  EXPECT_EQ(bank.Transfer("t1").failure_reason, TransferFailure::kLackOfFunds);
}

// ---- services_test.go (TestServicesScenario; also example/main.go) ----

TEST(OriginalExample, ServicesScenario) {
  InMemoryBank bank;
  ASSERT_TRUE(bank.Execute(OpenAccountCommand("a1", "one", 10)).accepted());
  ASSERT_TRUE(bank.Execute(OpenAccountCommand("a2", "two", 10)).accepted());
  ASSERT_TRUE(bank.Execute(CreditAccountCommand("a1", 190)).accepted());
  ASSERT_TRUE(bank.Execute(DebitAccountCommand("a1", 100)).accepted());
  Decision overdraft = bank.Execute(DebitAccountCommand("a2", 100));
  EXPECT_EQ(RefusalOf(overdraft), es::v1::REFUSAL_CODE_INSUFFICIENT_FUNDS);
  EXPECT_EQ(overdraft.events.size(), 1u);  // AccountDebitFailed, recorded
  // Both transfers are requested before the saga runs, as the original sent
  // both to its handler goroutines at once.
  ASSERT_TRUE(bank.Execute(CreateTransferCommand("t1", "a1", "a2", 10)).accepted());
  ASSERT_TRUE(bank.Execute(CreateTransferCommand("t2", "a2", "a1", 100)).accepted());
  bank.RunSaga();

  AccountState account1 = bank.Account("a1");
  EXPECT_EQ(account1.balance, 90);
  EXPECT_EQ(account1.version, 4u);
  AccountState account2 = bank.Account("a2");
  EXPECT_EQ(account2.balance, 20);
  EXPECT_EQ(account2.version, 4u);

  TransferState transfer1 = bank.Transfer("t1");
  EXPECT_EQ(transfer1.version, 3u);
  EXPECT_EQ(transfer1.amount, 10);
  EXPECT_EQ(transfer1.from_account, "a1");
  EXPECT_EQ(transfer1.to_account, "a2");
  EXPECT_EQ(transfer1.status, TransferStatus::kCompleted);
  EXPECT_EQ(bank.EventTypes(TransferStreamId("t1")),
            (std::vector<std::string>{"es.v1.MoneyTransferCreated", "es.v1.MoneyTransferDebited",
                                      "es.v1.MoneyTransferCompleted"}));

  TransferState transfer2 = bank.Transfer("t2");
  EXPECT_EQ(transfer2.version, 2u);
  EXPECT_EQ(transfer2.amount, 100);
  EXPECT_EQ(transfer2.from_account, "a2");
  EXPECT_EQ(transfer2.to_account, "a1");
  EXPECT_EQ(transfer2.status, TransferStatus::kFailed);
  EXPECT_EQ(bank.EventTypes(TransferStreamId("t2")),
            (std::vector<std::string>{"es.v1.MoneyTransferCreated",
                                      "es.v1.MoneyTransferFailedDueToLackOfFunds"}));
}

// ---- Beyond the original: failure needs ----

TEST(BankScenario, RefundsTheSourceWhenTheTargetClosedBeforeTheCredit) {
  InMemoryBank bank;
  ASSERT_TRUE(bank.Execute(OpenAccountCommand("a1", "one", 100)).accepted());
  ASSERT_TRUE(bank.Execute(OpenAccountCommand("a2", "two", 0)).accepted());
  ASSERT_TRUE(bank.Execute(CreateTransferCommand("t1", "a1", "a2", 30)).accepted());
  ASSERT_TRUE(bank.Execute(CloseAccountCommand("a2")).accepted());
  bank.RunSaga();

  EXPECT_EQ(bank.Account("a1").balance, 100);
  EXPECT_EQ(bank.Account("a2").balance, 0);
  TransferState transfer = bank.Transfer("t1");
  EXPECT_EQ(transfer.status, TransferStatus::kFailed);
  EXPECT_EQ(transfer.failure_reason, TransferFailure::kCreditRefused);
  EXPECT_EQ(
      bank.EventTypes(AccountStreamId("a1")),
      (std::vector<std::string>{"es.v1.AccountOpened", "es.v1.AccountDebitedBecauseOfMoneyTransfer",
                                "es.v1.AccountRefundedBecauseOfMoneyTransfer"}));
  EXPECT_EQ(bank.EventTypes(AccountStreamId("a2")),
            (std::vector<std::string>{"es.v1.AccountOpened", "es.v1.AccountClosed",
                                      "es.v1.AccountCreditBecauseOfMoneyTransferFailed"}));
  EXPECT_EQ(bank.EventTypes(TransferStreamId("t1")),
            (std::vector<std::string>{"es.v1.MoneyTransferCreated", "es.v1.MoneyTransferDebited",
                                      "es.v1.MoneyTransferFailedDueToRefusedCredit"}));
}

TEST(BankScenario, RefusesTransferInvolvingUnknownOrClosedAccount) {
  InMemoryBank bank;
  ASSERT_TRUE(bank.Execute(OpenAccountCommand("a1", "one", 100)).accepted());
  ASSERT_TRUE(bank.Execute(OpenAccountCommand("a2", "two", 0)).accepted());
  ASSERT_TRUE(bank.Execute(CloseAccountCommand("a2")).accepted());
  EXPECT_EQ(RefusalOf(bank.Execute(CreateTransferCommand("t1", "a1", "a9", 5))),
            es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT);
  EXPECT_EQ(RefusalOf(bank.Execute(CreateTransferCommand("t1", "a1", "a2", 5))),
            es::v1::REFUSAL_CODE_ACCOUNT_CLOSED);
  EXPECT_FALSE(bank.Transfer("t1").exists);
}

TEST(BankScenario, ReplayingTheSagaFromTheStartChangesNothing) {
  InMemoryBank bank;
  ASSERT_TRUE(bank.Execute(OpenAccountCommand("a1", "one", 100)).accepted());
  ASSERT_TRUE(bank.Execute(OpenAccountCommand("a2", "two", 10)).accepted());
  ASSERT_TRUE(bank.Execute(CreateTransferCommand("t1", "a1", "a2", 67)).accepted());
  bank.RunSaga();
  const std::size_t events_before = bank.LogSize();

  bank.ForgetSagaPosition();
  bank.RunSaga();

  EXPECT_EQ(bank.LogSize(), events_before);
  EXPECT_EQ(bank.Account("a1").balance, 33);
  EXPECT_EQ(bank.Account("a2").balance, 77);
  EXPECT_EQ(bank.Transfer("t1").version, 3u);
}

}  // namespace
}  // namespace es::domain
