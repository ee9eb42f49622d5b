// Account snapshots against the real processes: command_service appends a
// snapshot every --snapshot-every events, loads a long account from its
// newest snapshot plus the events after it (a bounded read, however long the
// stream), and still answers a command repeated from before the snapshot with
// its first outcome — even when deciding it again now would go the other way.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "es/v1/command.pb.h"
#include "tests/support/bank_system.h"
#include "tests/support/command_test_client.h"
#include "tests/support/temp_dir.h"

namespace es::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kCredits = 130;  // of 1 each; with the open and the refusal, 132 events

class SnapshotProcessTest : public ::testing::Test {
 protected:
  es::v1::CommandServiceStats Stats(const BankSystem& bank) {
    CommandTestClient client(context_, bank.commands());
    es::v1::CommandRequest request;
    request.mutable_stats();
    es::v1::CommandReply reply = client.Call(request);
    EXPECT_TRUE(reply.has_stats()) << reply.ShortDebugString();
    return reply.stats();
  }

  es::v1::CommandOutcome Run(CommandTestClient& client, es::v1::Command command) {
    es::v1::CommandReply reply = client.Call(CommandRequestWith(std::move(command)));
    EXPECT_TRUE(reply.has_outcome()) << reply.ShortDebugString();
    return reply.outcome();
  }

  // Account A: opened with 0 ("open-A", version 1), credited 1 ten times
  // (versions 2..11), a debit of 100 refused for lack of funds and recorded
  // ("overdraw", version 12), then credited 1 another 120 times (13..132).
  void WriteLongAccount(const BankSystem& bank) {
    CommandTestClient client(context_, bank.commands());
    ASSERT_TRUE(Run(client, OpenAccountWith("open-A", "A", "Alice", 0)).accepted());
    for (int i = 0; i < kCredits; ++i) {
      if (i == 10) {
        es::v1::CommandOutcome refused = Run(client, DebitWith("overdraw", "A", 100));
        ASSERT_FALSE(refused.accepted());
        ASSERT_EQ(refused.refusal_code(), es::v1::REFUSAL_CODE_INSUFFICIENT_FUNDS);
        ASSERT_EQ(refused.version(), 12u);
      }
      ASSERT_TRUE(Run(client, CreditWith("credit-" + std::to_string(i), "A", 1)).accepted());
    }
  }

  // Restarts command service 0 (a fresh process caches nothing, so it must
  // load A) and reads A through it.
  es::v1::AccountView RestartAndReadAccount(BankSystem& bank) {
    EXPECT_NO_THROW(bank.RestartCommandService());
    CommandTestClient client(context_, bank.commands());
    es::v1::CommandRequest get;
    get.mutable_get_account()->set_account_id("A");
    es::v1::CommandReply view = client.Call(get);
    EXPECT_TRUE(view.has_account()) << view.ShortDebugString();
    return view.account();
  }

  TempDir dir_;
  zmq::context_t context_;
};

TEST_F(SnapshotProcessTest, LongAccountLoadsFromItsNewestSnapshotAndKeepsItsCommandOutcomes) {
  BankSystem bank(
      dir_, BankSystem::Options{.start_saga = false, .command_args = {"--snapshot-every", "50"}});
  WriteLongAccount(bank);
  // Snapshots are appended after the command is answered: wait for both.
  const auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (Stats(bank).snapshots_written() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_EQ(Stats(bank).snapshots_written(), 2u);  // at versions 50 and 100

  // The live process forgot the outcomes the snapshots cover (its memory per
  // account stays bounded), yet a repeat still gets its first outcome.
  {
    CommandTestClient client(context_, bank.commands());
    es::v1::CommandOutcome credit = Run(client, CreditWith("credit-5", "A", 1));
    EXPECT_TRUE(credit.accepted() && credit.duplicate()) << credit.ShortDebugString();
    EXPECT_EQ(credit.version(), 7u);
    es::v1::CommandOutcome overdraw = Run(client, DebitWith("overdraw", "A", 100));
    EXPECT_FALSE(overdraw.accepted()) << overdraw.ShortDebugString();
    EXPECT_TRUE(overdraw.duplicate());
    EXPECT_EQ(overdraw.version(), 12u);
    EXPECT_GE(Stats(bank).command_lookups(), 2u);
  }

  es::v1::AccountView account = RestartAndReadAccount(bank);
  EXPECT_EQ(account.balance(), kCredits);
  EXPECT_EQ(account.version(), 132u);
  CommandTestClient client(context_, bank.commands());
  es::v1::CommandServiceStats loaded = Stats(bank);
  EXPECT_EQ(loaded.snapshots_loaded(), 1u);
  EXPECT_EQ(loaded.events_loaded(), 32u) << "the snapshot at 100, then versions 101..132";

  // Repeats of commands from before the snapshot get their first outcomes.
  // OpenAccount now would be refused (the account exists)...
  es::v1::CommandOutcome open = Run(client, OpenAccountWith("open-A", "A", "Alice", 0));
  EXPECT_TRUE(open.accepted()) << open.ShortDebugString();
  EXPECT_TRUE(open.duplicate());
  EXPECT_EQ(open.version(), 1u);
  // ...a credit would be written again...
  es::v1::CommandOutcome credit = Run(client, CreditWith("credit-5", "A", 1));
  EXPECT_TRUE(credit.accepted()) << credit.ShortDebugString();
  EXPECT_TRUE(credit.duplicate());
  EXPECT_EQ(credit.version(), 7u);
  // ...and the debit refused at a balance of 10 would pass at 130.
  es::v1::CommandOutcome overdraw = Run(client, DebitWith("overdraw", "A", 100));
  EXPECT_FALSE(overdraw.accepted()) << overdraw.ShortDebugString();
  EXPECT_EQ(overdraw.refusal_code(), es::v1::REFUSAL_CODE_INSUFFICIENT_FUNDS);
  EXPECT_TRUE(overdraw.duplicate());
  EXPECT_EQ(overdraw.version(), 12u);
  EXPECT_GE(Stats(bank).command_lookups(), 2u);

  // Nothing was written twice; snapshots stay out of the account's stream.
  es::v1::CommandRequest get;
  get.mutable_get_account()->set_account_id("A");
  es::v1::CommandReply view = client.Call(get);
  ASSERT_TRUE(view.has_account());
  EXPECT_EQ(view.account().balance(), kCredits);
  EXPECT_EQ(view.account().version(), 132u);
  for (const auto& event : bank.ReadLog(context_, "account-")) {
    EXPECT_NE(event.type(), "es.v1.AccountSnapshot") << event.stream_id();
  }
  int snapshots = 0;
  for (const auto& event : bank.ReadLog(context_, "snapshot-account-A")) {
    EXPECT_EQ(event.type(), "es.v1.AccountSnapshot");
    ++snapshots;
  }
  EXPECT_EQ(snapshots, 2);

  // New commands still work on top of the snapshot.
  es::v1::CommandOutcome debit = Run(client, DebitWith("debit-new", "A", 100));
  EXPECT_TRUE(debit.accepted()) << debit.ShortDebugString();
  EXPECT_FALSE(debit.duplicate());
  EXPECT_EQ(debit.version(), 133u);
}

TEST_F(SnapshotProcessTest, WithoutSnapshotsAnAccountLoadsItsWholeStream) {
  BankSystem bank(
      dir_, BankSystem::Options{.start_saga = false, .command_args = {"--snapshot-every", "0"}});
  WriteLongAccount(bank);
  EXPECT_EQ(Stats(bank).snapshots_written(), 0u);
  EXPECT_EQ(RestartAndReadAccount(bank).balance(), kCredits);
  es::v1::CommandServiceStats loaded = Stats(bank);
  EXPECT_EQ(loaded.snapshots_loaded(), 0u);
  EXPECT_EQ(loaded.events_loaded(), 132u);
  EXPECT_TRUE(bank.ReadLog(context_, "snapshot-").empty());
}

}  // namespace
}  // namespace es::testing
