// A command id's first outcome is its only one, whatever clients send and
// however many command_service instances answer (the trust issue, parts 1,
// 2, 3 and 4): refusals are durable, an id reused for another command is
// refused COMMAND_ID_CONFLICT, the saga's ids are reserved, a refund cannot
// be refused, and two instances answer as one would. Real store_service and
// command_service processes (BankSystem); the tests play the saga where the
// order of its steps matters.
#include <gtest/gtest.h>

#include <climits>
#include <string>
#include <zmq.hpp>

#include "es/v1/bank.pb.h"
#include "es/v1/command.pb.h"
#include "es/v1/store.pb.h"
#include "tests/support/bank_system.h"
#include "tests/support/command_test_client.h"
#include "tests/support/store_requests.h"
#include "tests/support/store_test_client.h"
#include "tests/support/temp_dir.h"

namespace es::testing {
namespace {

class CommandIdentityTest : public ::testing::Test {
 protected:
  es::v1::CommandOutcome Send(CommandTestClient& client, const es::v1::Command& command) {
    es::v1::CommandReply reply = client.Call(CommandRequestWith(command));
    EXPECT_TRUE(reply.has_outcome()) << reply.DebugString();
    return reply.outcome();
  }
  void Accept(CommandTestClient& client, const es::v1::Command& command) {
    es::v1::CommandOutcome outcome = Send(client, command);
    ASSERT_TRUE(outcome.accepted()) << command.DebugString() << outcome.DebugString();
  }
  es::v1::CommandReply Get(CommandTestClient& client, const std::string& account_id) {
    es::v1::CommandRequest get;
    get.mutable_get_account()->set_account_id(account_id);
    return client.Call(get);
  }

  TempDir dir_;
  zmq::context_t context_{1};
};

// The issue's example: `transfer A B 100 --command-id X` is refused (B is
// unknown), B is opened, the same command with X must stay refused — on the
// same instance, on another, and after a restart.
TEST_F(CommandIdentityTest, ARefusedCommandIdStaysRefused) {
  BankSystem bank(dir_, {.start_saga = false, .command_services = 2});
  CommandTestClient first(context_, bank.commands(0));
  CommandTestClient second(context_, bank.commands(1));
  Accept(first, OpenAccountWith("open-a", "A", "Ann", 500));
  const es::v1::Command transfer = TransferWith("X", "T1", "A", "B", 100);
  const es::v1::Command credit = CreditWith("C", "B", 7);
  const es::v1::CommandOutcome refused = Send(first, transfer);
  ASSERT_FALSE(refused.accepted());
  ASSERT_EQ(refused.refusal_code(), es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT) << refused.DebugString();
  ASSERT_EQ(Send(first, credit).refusal_code(), es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT);
  Accept(second, OpenAccountWith("open-b", "B", "Bob", 0));

  auto expect_refused_again = [&](CommandTestClient& client, const std::string& where) {
    SCOPED_TRACE(where);
    es::v1::CommandOutcome again = Send(client, transfer);
    EXPECT_FALSE(again.accepted()) << again.DebugString();
    EXPECT_EQ(again.refusal_code(), es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT) << again.DebugString();
    EXPECT_TRUE(again.duplicate()) << again.DebugString();
    EXPECT_EQ(again.version(), refused.version());
    es::v1::CommandOutcome credit_again = Send(client, credit);
    EXPECT_EQ(credit_again.refusal_code(), es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT)
        << credit_again.DebugString();
  };
  expect_refused_again(first, "the instance that refused");
  expect_refused_again(second, "another instance");
  ASSERT_NO_THROW(bank.RestartCommandService(0));
  CommandTestClient restarted(context_, bank.commands(0));
  expect_refused_again(restarted, "after a restart");

  es::v1::CommandRequest get;
  get.mutable_get_transfer()->set_transfer_id("T1");
  EXPECT_EQ(restarted.Call(get).outcome().refusal_code(), es::v1::REFUSAL_CODE_UNKNOWN_TRANSFER);
  EXPECT_EQ(Get(second, "B").account().balance(), 0);
  // A new id is a new command: it is decided now.
  Accept(second, TransferWith("Y", "T1", "A", "B", 100));
}

// A repeat must be the same command; the same id with another verb, target
// or amount is refused COMMAND_ID_CONFLICT, naming the first use, and writes
// nothing — whether the first use was accepted or refused, cached or not.
TEST_F(CommandIdentityTest, AnIdReusedForAnotherCommandIsRefused) {
  BankSystem bank(dir_, {.start_saga = false});
  CommandTestClient client(context_, bank.commands());
  Accept(client, OpenAccountWith("open-a", "A", "Ann", 100));
  Accept(client, OpenAccountWith("open-b", "B", "Bob", 100));
  Accept(client, CreditWith("K", "A", 5));
  ASSERT_EQ(Send(client, CloseAccountWith("R", "A")).refusal_code(), es::v1::REFUSAL_CODE_NONZERO_BALANCE);
  const uint64_t head = bank.StoreHead(context_);

  auto expect_conflict = [&](const es::v1::Command& command, const std::string& what) {
    SCOPED_TRACE(what);
    es::v1::CommandOutcome outcome = Send(client, command);
    EXPECT_FALSE(outcome.accepted()) << outcome.DebugString();
    EXPECT_EQ(outcome.refusal_code(), es::v1::REFUSAL_CODE_COMMAND_ID_CONFLICT)
        << outcome.DebugString();
    EXPECT_NE(outcome.message().find("account-A"), std::string::npos) << outcome.message();
  };
  auto all_conflicts = [&](const std::string& when) {
    SCOPED_TRACE(when);
    expect_conflict(CreditWith("K", "A", 6), "another amount");
    expect_conflict(DebitWith("K", "A", 5), "another verb");
    expect_conflict(CreditWith("K", "B", 5), "another account");
    expect_conflict(CreditWith("R", "A", 5), "a refused id, another command");
    expect_conflict(TransferWith("K", "T9", "A", "B", 5), "another aggregate kind");
    // The same command is a repeat, with the first outcome.
    es::v1::CommandOutcome again = Send(client, CreditWith("K", "A", 5));
    EXPECT_TRUE(again.accepted() && again.duplicate()) << again.DebugString();
  };
  all_conflicts("cached");
  ASSERT_NO_THROW(bank.RestartCommandService());
  all_conflicts("after a restart (compared with the stored record)");
  EXPECT_EQ(bank.StoreHead(context_), head) << "a conflicting id wrote something";
  EXPECT_EQ(Get(client, "A").account().balance(), 105);
  EXPECT_EQ(Get(client, "B").account().balance(), 100);
  es::v1::CommandRequest stats;
  stats.mutable_stats();
  EXPECT_EQ(client.Call(stats).stats().command_id_conflicts(), 5u) << "since the restart";
}

// The saga's ids ("saga-" + an event id, which `esctl events` prints) are
// its own: a client's command cannot take one and strand a transfer, and a
// transfer step cannot be sent under another id.
TEST_F(CommandIdentityTest, TheSagaNamespaceIsReserved) {
  BankSystem bank(dir_, {.start_saga = false});
  CommandTestClient client(context_, bank.commands());
  Accept(client, OpenAccountWith("open-a", "A", "Ann", 100));
  const uint64_t head = bank.StoreHead(context_);
  es::v1::CommandOutcome taken = Send(client, CreditWith("saga-0123-event-id", "A", 1));
  EXPECT_EQ(taken.refusal_code(), es::v1::REFUSAL_CODE_COMMAND_ID_CONFLICT) << taken.DebugString();
  const es::v1::Command step = DebitForTransferWith("my-own-id", "A", "T", 100);
  EXPECT_EQ(Send(client, step).refusal_code(), es::v1::REFUSAL_CODE_COMMAND_ID_CONFLICT);
  EXPECT_EQ(bank.StoreHead(context_), head) << "a refused id wrote something";
}

// Part 3: the source is debited, then credited up to the ceiling; the target
// is closed, so the credit is refused and the refund must still be accepted
// (before: the refund was refused OVERFLOW and the money was gone).
TEST_F(CommandIdentityTest, ARefundIsNeverRefused) {
  BankSystem bank(dir_, {.start_saga = false});  // the test plays the saga
  CommandTestClient client(context_, bank.commands());
  Accept(client, OpenAccountWith("open-a", "A", "Ann", 1000));
  Accept(client, OpenAccountWith("open-b", "B", "Bob", 0));
  Accept(client, TransferWith("create", "T", "A", "B", 100));
  const es::v1::Command debit = DebitForTransferWith("saga-debit", "A", "T", 100);
  Accept(client, debit);
  // A huge, valid deposit (a raw append: no command moves that much at once)
  // fills A to just under what int64 holds.
  es::v1::AccountCredited deposit;
  deposit.set_account_id("A");
  deposit.set_amount(INT64_MAX - 1000);
  deposit.set_balance(INT64_MAX - 100);
  const es::v1::AppendRequest append =
      AppendOfMessage("account-A", "raw-deposit", ExpectAny(), deposit);
  ASSERT_TRUE(CallStore(context_, bank.store_requests(), AppendRequestOf(append)).has_append());
  ASSERT_EQ(Get(client, "A").account().balance(), INT64_MAX - 100);
  // The 100 out on the transfer counts against the ceiling: no more credit.
  EXPECT_EQ(Send(client, CreditWith("top-up", "A", 100)).refusal_code(),
            es::v1::REFUSAL_CODE_OVERFLOW);
  Accept(client, CloseAccountWith("close-b", "B"));

  const es::v1::Command credit = CreditForTransferWith("saga-credit", "B", "T", 100, "A");
  es::v1::CommandOutcome refused_credit = Send(client, credit);
  ASSERT_EQ(refused_credit.refusal_code(), es::v1::REFUSAL_CODE_ACCOUNT_CLOSED);
  ASSERT_EQ(refused_credit.events_written(), 1u) << "a refused credit is recorded";
  const es::v1::Command refund = RefundForTransferWith("saga-refund", "A", "T", 100);
  es::v1::CommandOutcome refunded = Send(client, refund);
  EXPECT_TRUE(refunded.accepted()) << refunded.DebugString();
  EXPECT_EQ(Get(client, "A").account().balance(), INT64_MAX);
}

// Part 4: two instances, commands interleaved through both; every answer is
// the one a single instance would give, although each caches what it saw.
TEST_F(CommandIdentityTest, TwoInstancesAnswerAsOne) {
  BankSystem bank(dir_, {.start_saga = false, .command_services = 2});
  CommandTestClient one(context_, bank.commands(0));
  CommandTestClient two(context_, bank.commands(1));
  // Instance two learns "no account D1", then instance one opens it.
  EXPECT_EQ(Get(two, "D1").outcome().refusal_code(), es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT);
  Accept(one, OpenAccountWith("open-d1", "D1", "Dee", 50));
  EXPECT_EQ(Get(two, "D1").account().balance(), 50) << "a query from stale state";
  Accept(two, CreditWith("c1", "D1", 5));          // two's cache: 55
  Accept(one, DebitWith("d1", "D1", 55));          // one's cache was 50: a conflict, reloaded
  Accept(two, CloseAccountWith("close-d1", "D1"));            // two's cache held 55: must see 0
  // One still caches D1 open: a transfer from it must see it closed.
  Accept(one, OpenAccountWith("open-e1", "E1", "Eve", 10));
  EXPECT_EQ(Send(one, TransferWith("t1", "T1", "E1", "D1", 5)).refusal_code(),
            es::v1::REFUSAL_CODE_ACCOUNT_CLOSED);
  EXPECT_EQ(Send(one, CreditWith("c2", "D1", 5)).refusal_code(),
            es::v1::REFUSAL_CODE_ACCOUNT_CLOSED);
  EXPECT_EQ(Get(one, "D1").account().status(), "Closed");
}

}  // namespace
}  // namespace es::testing
