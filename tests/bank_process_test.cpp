// The whole bank as real processes (store_service + command_service +
// saga_service, driven through esctl or a raw DEALER): the original Go
// example's scenario, compensation of a refused credit, idempotent command
// ids across a restart, optimistic concurrency across two command_service
// instances, a saga killed with kill -9 mid-run, and bad input
// (DESIGN.md guarantees 3, 4, 6 and 7).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <climits>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "es/v1/bank.pb.h"
#include "es/v1/command.pb.h"
#include "es/v1/store.pb.h"
#include "tests/support/bank_system.h"
#include "tests/support/captured_run.h"
#include "tests/support/command_test_client.h"
#include "tests/support/live_test_subscriber.h"
#include "tests/support/store_requests.h"
#include "tests/support/store_test_client.h"
#include "tests/support/temp_dir.h"

namespace es::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// The raw value of top-level `key` in a one-line JSON object printed by esctl:
// a string without its quotes, or a number/literal as written. Empty if
// absent. (esctl's objects are flat, and the keys asked for here come before
// any nested "data".)
std::string JsonField(const std::string& line, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  const size_t at = line.find(needle);
  if (at == std::string::npos) return "";
  size_t begin = at + needle.size();
  if (begin < line.size() && line[begin] == '"') {
    std::string value;
    for (size_t i = begin + 1; i < line.size() && line[i] != '"'; ++i) {
      if (line[i] == '\\' && i + 1 < line.size()) ++i;
      value += line[i];
    }
    return value;
  }
  size_t end = line.find_first_of(",}", begin);
  return line.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// A service's log, for failure messages.
std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

bool IsTerminalTransferEvent(const std::string& type) {
  return type == "es.v1.MoneyTransferCompleted" ||
         type == "es.v1.MoneyTransferFailedDueToLackOfFunds" ||
         type == "es.v1.MoneyTransferFailedDueToRefusedCredit";
}

class BankProcessTest : public ::testing::Test {
 protected:
  // Runs esctl; expects exit 0 and returns stdout.
  std::string EsctlOk(const BankSystem& bank, const std::vector<std::string>& args,
                      size_t command_service = 0) {
    CapturedRun run = bank.Esctl(args, command_service);
    EXPECT_TRUE(run.exited && run.exit_code == 0)
        << "esctl " << ::testing::PrintToString(args) << ": " << run.Describe();
    return run.out;
  }

  // `esctl --json account ID`, as one JSON line.
  std::string AccountJson(const BankSystem& bank, const std::string& account) {
    return EsctlOk(bank, {"--json", "account", account});
  }
  std::string TransferJson(const BankSystem& bank, const std::string& transfer) {
    return EsctlOk(bank, {"--json", "transfer-status", transfer});
  }

  // Polls `esctl --json transfer-status` until the transfer is Completed or
  // Failed; returns its last JSON line (the test fails past `timeout`).
  std::string WaitForTerminalTransfer(const BankSystem& bank, const std::string& transfer,
                                      milliseconds timeout = seconds(20)) {
    const auto deadline = Clock::now() + timeout;
    std::string last;
    while (Clock::now() < deadline) {
      CapturedRun run = bank.Esctl({"--json", "transfer-status", transfer});
      if (run.exited && run.exit_code == 0) {
        last = run.out;
        const std::string state = JsonField(last, "state");
        if (state == "Completed" || state == "Failed") return last;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    ADD_FAILURE() << "transfer " << transfer << " is not terminal after " << timeout.count()
                  << " ms; last: " << last;
    return last;
  }

  TempDir dir_;
  zmq::context_t context_;
};

// scripts/demo's scenario, the original Go example's, step by step through
// esctl processes; the four aggregates end as in the original and the log
// holds exactly the original's events (plus the recorded refusals).
TEST_F(BankProcessTest, OriginalScenarioEndsWithTheOriginalOutcome) {
  BankSystem bank(dir_);

  EXPECT_EQ(EsctlOk(bank, {"open-account", "--account-id", "1", "--owner", "Account One",
                           "--initial-balance", "10"}),
            "1\n");
  EXPECT_EQ(EsctlOk(bank, {"open-account", "--account-id", "2", "--owner", "Account Two",
                           "--initial-balance", "10"}),
            "2\n");
  EsctlOk(bank, {"credit", "1", "190"});
  EsctlOk(bank, {"debit", "1", "100"});

  CapturedRun refused = bank.Esctl({"debit", "2", "100"});
  EXPECT_TRUE(refused.exited && refused.exit_code == 1) << refused.Describe();
  EXPECT_NE(refused.err.find("INSUFFICIENT_FUNDS"), std::string::npos) << refused.Describe();
  EXPECT_EQ(refused.out, "");

  EXPECT_EQ(EsctlOk(bank, {"transfer", "1", "2", "10", "--transfer-id", "1", "--wait"}), "1\n");
  // The transfer is created; the saga fails it: --wait says so, exit 1.
  CapturedRun failed = bank.Esctl({"transfer", "2", "1", "100", "--transfer-id", "2", "--wait"});
  EXPECT_TRUE(failed.exited && failed.exit_code == 1) << failed.Describe();
  EXPECT_EQ(failed.out, "2\n");
  EXPECT_NE(failed.err.find("transfer 2 failed: "), std::string::npos) << failed.Describe();

  const std::string account1 = AccountJson(bank, "1");
  EXPECT_EQ(JsonField(account1, "balance"), "90") << account1;
  EXPECT_EQ(JsonField(account1, "version"), "4") << account1;
  EXPECT_EQ(JsonField(account1, "status"), "Open") << account1;
  const std::string account2 = AccountJson(bank, "2");
  EXPECT_EQ(JsonField(account2, "balance"), "20") << account2;
  EXPECT_EQ(JsonField(account2, "version"), "4") << account2;
  const std::string transfer1 = TransferJson(bank, "1");
  EXPECT_EQ(JsonField(transfer1, "state"), "Completed") << transfer1;
  EXPECT_EQ(JsonField(transfer1, "version"), "3") << transfer1;
  EXPECT_EQ(JsonField(transfer1, "failure_reason"), "") << transfer1;
  const std::string transfer2 = TransferJson(bank, "2");
  EXPECT_EQ(JsonField(transfer2, "state"), "Failed") << transfer2;
  EXPECT_EQ(JsonField(transfer2, "version"), "2") << transfer2;
  EXPECT_EQ(JsonField(transfer2, "failure_reason"), "LackOfFunds") << transfer2;

  // Each --wait saw its transfer finish before the next step, so the order
  // of the whole log is determined.
  const std::vector<std::string> expected = {
      "account-1@1 es.v1.AccountOpened",
      "account-2@1 es.v1.AccountOpened",
      "account-1@2 es.v1.AccountCredited",
      "account-1@3 es.v1.AccountDebited",
      "account-2@2 es.v1.AccountDebitFailed",
      "transfer-1@1 es.v1.MoneyTransferCreated",
      "account-1@4 es.v1.AccountDebitedBecauseOfMoneyTransfer",
      "transfer-1@2 es.v1.MoneyTransferDebited",
      "account-2@3 es.v1.AccountCreditedBecauseOfMoneyTransfer",
      "transfer-1@3 es.v1.MoneyTransferCompleted",
      "transfer-2@1 es.v1.MoneyTransferCreated",
      "account-2@4 es.v1.AccountDebitBecauseOfMoneyTransferFailed",
      "transfer-2@2 es.v1.MoneyTransferFailedDueToLackOfFunds",
  };
  std::vector<std::string> logged;
  int position = 0;
  for (const std::string& line : Lines(EsctlOk(bank, {"--json", "events"}))) {
    EXPECT_EQ(JsonField(line, "global_position"), std::to_string(++position)) << line;
    logged.push_back(JsonField(line, "stream_id") + "@" + JsonField(line, "stream_version") + " " +
                     JsonField(line, "type"));
  }
  EXPECT_EQ(logged, expected);
}

// Compensation: the target is closed after the transfer was created but
// before the saga credits it (the saga is held back until then). The credit
// is refused and recorded, the source refunded, the transfer Failed
// (CreditRefused), and no money appears or vanishes.
TEST_F(BankProcessTest, RefusedCreditIsCompensatedByARefund) {
  BankSystem bank(dir_, {.start_saga = false});
  EsctlOk(bank,
          {"open-account", "--account-id", "src", "--owner", "Source", "--initial-balance", "100"});
  EsctlOk(bank, {"open-account", "--account-id", "dst", "--owner", "Target"});
  EXPECT_EQ(EsctlOk(bank, {"transfer", "src", "dst", "40", "--transfer-id", "t"}), "t\n");
  EsctlOk(bank, {"close-account", "dst"});  // balance 0: allowed
  const std::string before = TransferJson(bank, "t");
  EXPECT_EQ(JsonField(before, "state"), "Created") << "no saga yet: " << before;

  bank.StartSaga();
  const std::string transfer = WaitForTerminalTransfer(bank, "t");
  EXPECT_EQ(JsonField(transfer, "state"), "Failed") << transfer;
  EXPECT_EQ(JsonField(transfer, "failure_reason"), "CreditRefused") << transfer;
  EXPECT_EQ(JsonField(transfer, "version"), "3") << transfer;

  const std::string source = AccountJson(bank, "src");
  EXPECT_EQ(JsonField(source, "balance"), "100") << source;
  EXPECT_EQ(JsonField(source, "version"), "3") << source;  // opened, debited, refunded
  const std::string target = AccountJson(bank, "dst");
  EXPECT_EQ(JsonField(target, "balance"), "0") << target;
  EXPECT_EQ(JsonField(target, "status"), "Closed") << target;
  // Money conserved: 100 deposited, nothing withdrawn, nothing in flight.
  EXPECT_EQ(std::stoll(JsonField(source, "balance")) + std::stoll(JsonField(target, "balance")),
            100);

  const std::vector<std::string> expected = {
      "account-src@1 es.v1.AccountOpened",
      "account-dst@1 es.v1.AccountOpened",
      "transfer-t@1 es.v1.MoneyTransferCreated",
      "account-dst@2 es.v1.AccountClosed",
      "account-src@2 es.v1.AccountDebitedBecauseOfMoneyTransfer",
      "transfer-t@2 es.v1.MoneyTransferDebited",
      "account-dst@3 es.v1.AccountCreditBecauseOfMoneyTransferFailed",
      "account-src@3 es.v1.AccountRefundedBecauseOfMoneyTransfer",
      "transfer-t@3 es.v1.MoneyTransferFailedDueToRefusedCredit",
  };
  std::vector<std::string> logged;
  for (const auto& event : bank.ReadLog(context_)) {
    logged.push_back(event.stream_id() + "@" + std::to_string(event.stream_version()) + " " +
                     event.type());
    if (event.type() == "es.v1.AccountRefundedBecauseOfMoneyTransfer") {
      es::v1::AccountRefundedBecauseOfMoneyTransfer refund;
      ASSERT_TRUE(refund.ParseFromString(event.data()));
      EXPECT_EQ(refund.account_id(), "src");
      EXPECT_EQ(refund.amount(), 40);
      EXPECT_EQ(refund.balance(), 100);
    }
  }
  EXPECT_EQ(logged, expected);
}

// Guarantee 4 through esctl: the same --command-id again (also after a
// restart of command_service, which then knows it only from the store) is
// answered with the first outcome and writes nothing.
TEST_F(BankProcessTest, RepeatedCommandIdIsAppliedOnce) {
  BankSystem bank(dir_);
  EsctlOk(bank, {"open-account", "--account-id", "A", "--owner", "Alice"});
  EsctlOk(bank, {"open-account", "--account-id", "B", "--owner", "Bob"});

  const std::vector<std::string> credit = {"--json", "credit", "A", "50", "--command-id", "X"};
  const std::string first = EsctlOk(bank, credit);
  const std::string second = EsctlOk(bank, credit);
  EXPECT_EQ(JsonField(first, "duplicate"), "false") << first;
  EXPECT_EQ(JsonField(second, "duplicate"), "true") << second;
  EXPECT_EQ(JsonField(first, "version"), "2") << first;
  EXPECT_EQ(JsonField(second, "version"), JsonField(first, "version")) << second;
  EXPECT_EQ(JsonField(second, "global_position"), JsonField(first, "global_position")) << second;
  EXPECT_EQ(JsonField(AccountJson(bank, "A"), "balance"), "50");

  const std::vector<std::string> transfer = {
      "--json", "transfer", "A", "B", "20", "--transfer-id", "T", "--command-id", "Y"};
  const std::string created = EsctlOk(bank, transfer);
  const std::string again = EsctlOk(bank, transfer);
  EXPECT_EQ(JsonField(created, "duplicate"), "false") << created;
  EXPECT_EQ(JsonField(again, "duplicate"), "true") << again;
  EXPECT_EQ(JsonField(again, "version"), JsonField(created, "version")) << again;
  EXPECT_EQ(JsonField(again, "global_position"), JsonField(created, "global_position")) << again;

  // A refusal recorded as an event (insufficient funds) is an outcome too.
  const std::vector<std::string> overdraw = {"debit", "A", "1000", "--command-id", "Z"};
  for (int attempt = 0; attempt < 2; ++attempt) {
    CapturedRun run = bank.Esctl(overdraw);
    EXPECT_TRUE(run.exited && run.exit_code == 1) << run.Describe();
    EXPECT_NE(run.err.find("INSUFFICIENT_FUNDS"), std::string::npos) << run.Describe();
  }

  // The service forgets its cache; the store remembers.
  ASSERT_NO_THROW(bank.RestartCommandService());
  {
    CapturedRun run = bank.Esctl(overdraw);
    EXPECT_TRUE(run.exited && run.exit_code == 1) << run.Describe();
    EXPECT_NE(run.err.find("INSUFFICIENT_FUNDS"), std::string::npos) << run.Describe();
  }
  const std::string after_restart = EsctlOk(bank, credit);
  EXPECT_EQ(JsonField(after_restart, "duplicate"), "true") << after_restart;
  EXPECT_EQ(JsonField(after_restart, "version"), JsonField(first, "version")) << after_restart;
  EXPECT_EQ(JsonField(after_restart, "global_position"), JsonField(first, "global_position"))
      << after_restart;
  // The same transfer again, now waiting for it: still the one transfer.
  std::vector<std::string> transfer_wait = transfer;
  transfer_wait.push_back("--wait");
  const std::string waited = EsctlOk(bank, transfer_wait);
  EXPECT_EQ(JsonField(waited, "state"), "Completed") << waited;

  EXPECT_EQ(JsonField(AccountJson(bank, "A"), "balance"), "30");
  EXPECT_EQ(JsonField(AccountJson(bank, "B"), "balance"), "20");
  const std::string view = TransferJson(bank, "T");
  EXPECT_EQ(JsonField(view, "version"), "3") << view;

  int credits_of_x = 0;
  int refusals_of_z = 0;
  int transfers_created = 0;
  int debits_for_t = 0;
  for (const auto& event : bank.ReadLog(context_)) {
    if (event.command_id() == "Z") {
      ++refusals_of_z;
      EXPECT_EQ(event.type(), "es.v1.AccountDebitFailed");
    }
    if (event.command_id() == "X") {
      ++credits_of_x;
      EXPECT_EQ(event.type(), "es.v1.AccountCredited");
    }
    if (event.type() == "es.v1.MoneyTransferCreated") {
      ++transfers_created;
      EXPECT_EQ(event.command_id(), "Y");
    }
    if (event.type() == "es.v1.AccountDebitedBecauseOfMoneyTransfer") ++debits_for_t;
  }
  EXPECT_EQ(credits_of_x, 1);
  EXPECT_EQ(refusals_of_z, 1);
  EXPECT_EQ(transfers_created, 1);
  EXPECT_EQ(debits_for_t, 1);
}

// Guarantee 3: two esctl sequences debit one account at the same time, each
// through its own command_service instance (two writers with their own
// caches against one store: only optimistic concurrency keeps them honest).
// 30 debits of 50 against 1000: exactly 20 pass, the rest are refused
// (exit 1, recorded), and the balance never goes below zero.
// Commands that arrive together are appended together (command_service
// sends a turn's appends as one append_many), yet each gets its own outcome:
// accepted ones their own versions, refusals their codes, repeats their
// first outcome; and each account ends as if they had come one by one.
TEST_F(BankProcessTest, CommandsArrivingTogetherShareAnAppendYetEachGetsItsOwnOutcome) {
  constexpr int kAccounts = 100;
  BankSystem bank(dir_, {.start_saga = false});
  CommandTestClient client(context_, bank.commands());
  // Sends every command at once, then collects the outcomes by request id.
  auto burst = [&](const std::vector<es::v1::Command>& commands) {
    for (size_t i = 0; i < commands.size(); ++i) {
      es::v1::CommandRequest request = CommandRequestWith(commands[i]);
      request.set_request_id(i + 1);
      client.Send(request);
    }
    std::vector<es::v1::CommandOutcome> outcomes(commands.size());
    for (size_t received = 0; received < commands.size(); ++received) {
      std::optional<es::v1::CommandReply> reply = client.Receive(seconds(20));
      EXPECT_TRUE(reply.has_value()) << "only " << received << " replies";
      if (!reply) break;
      EXPECT_TRUE(reply->has_outcome()) << reply->ShortDebugString();
      outcomes.at(reply->request_id() - 1) = reply->outcome();
    }
    return outcomes;
  };
  auto id = [](const char* what, int i) { return std::string(what) + std::to_string(i); };

  std::vector<es::v1::Command> opens;
  for (int i = 0; i < kAccounts; ++i) {
    opens.push_back(OpenAccountWith(id("open-", i), id("acc-", i), "Owner", 100));
  }
  for (const es::v1::CommandOutcome& outcome : burst(opens)) {
    EXPECT_TRUE(outcome.accepted()) << outcome.ShortDebugString();
    EXPECT_EQ(outcome.version(), 1u);
  }
  // Per account: a debit over the balance (refused, recorded), then a credit
  // and a repeat of the open; different accounts' commands share messages.
  std::vector<es::v1::Command> mixed;
  for (int i = 0; i < kAccounts; ++i) {
    mixed.push_back(DebitWith(id("overdraw-", i), id("acc-", i), 1000));
    mixed.push_back(CreditWith(id("credit-", i), id("acc-", i), 5 + i));
    mixed.push_back(OpenAccountWith(id("open-", i), id("acc-", i), "Owner", 100));
  }
  const std::vector<es::v1::CommandOutcome> outcomes = burst(mixed);
  for (int i = 0; i < kAccounts; ++i) {
    const es::v1::CommandOutcome& overdraw = outcomes[static_cast<size_t>(3 * i)];
    const es::v1::CommandOutcome& credit = outcomes[static_cast<size_t>(3 * i + 1)];
    const es::v1::CommandOutcome& repeat = outcomes[static_cast<size_t>(3 * i + 2)];
    EXPECT_FALSE(overdraw.accepted()) << overdraw.ShortDebugString();
    EXPECT_EQ(overdraw.refusal_code(), es::v1::REFUSAL_CODE_INSUFFICIENT_FUNDS);
    EXPECT_TRUE(credit.accepted()) << credit.ShortDebugString();
    EXPECT_EQ(credit.stream_id(), "account-" + id("acc-", i));
    EXPECT_TRUE(repeat.accepted() && repeat.duplicate()) << repeat.ShortDebugString();
    EXPECT_EQ(repeat.version(), 1u);
    EXPECT_EQ(JsonField(AccountJson(bank, id("acc-", i)), "balance"), std::to_string(105 + i));
  }

  es::v1::CommandRequest stats_request;
  stats_request.mutable_stats();
  const es::v1::CommandServiceStats stats = client.Call(stats_request).stats();
  // 100 opens, 100 recorded refusals, 100 credits; the repeats write nothing.
  EXPECT_EQ(stats.appends_sent(), 300u);
  EXPECT_LT(stats.append_requests(), stats.appends_sent() / 2)
      << "commands that arrived together were not appended together";
}

TEST_F(BankProcessTest, ConcurrentDebitsNeverOverdraw) {
  constexpr int kWorkers = 2;
  constexpr int kDebitsPerWorker = 15;
  constexpr int64_t kAmount = 50;
  constexpr int64_t kInitial = 1000;
  BankSystem bank(dir_, {.start_saga = false, .command_services = kWorkers});
  EsctlOk(bank, {"open-account", "--account-id", "acc", "--owner", "Shared", "--initial-balance",
                 std::to_string(kInitial)});
  // Both instances load the account before the race, so each one's cache
  // goes stale as soon as the other writes.
  for (int w = 0; w < kWorkers; ++w) {
    CapturedRun run = bank.Esctl({"--json", "account", "acc"}, static_cast<size_t>(w));
    EXPECT_EQ(run.exit_code, 0) << run.Describe();
  }

  std::mutex mutex;
  std::vector<CapturedRun> runs;
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      for (int i = 0; i < kDebitsPerWorker; ++i) {
        CapturedRun run =
            bank.Esctl({"debit", "acc", std::to_string(kAmount)}, static_cast<size_t>(w));
        std::lock_guard<std::mutex> lock(mutex);
        runs.push_back(std::move(run));
      }
    });
  }
  for (std::thread& worker : workers) worker.join();

  int accepted = 0;
  int refused = 0;
  for (const CapturedRun& run : runs) {
    if (run.exited && run.exit_code == 0) {
      ++accepted;
    } else if (run.exited && run.exit_code == 1 &&
               run.err.find("INSUFFICIENT_FUNDS") != std::string::npos) {
      ++refused;
    } else {
      ADD_FAILURE() << "a debit ended otherwise: " << run.Describe();
    }
  }
  EXPECT_EQ(accepted, kInitial / kAmount);
  EXPECT_EQ(refused, kWorkers * kDebitsPerWorker - kInitial / kAmount);

  const std::string account = AccountJson(bank, "acc");
  const int64_t balance = std::stoll(JsonField(account, "balance"));
  EXPECT_GE(balance, 0) << account;
  EXPECT_EQ(balance, kInitial - kAmount * accepted) << account;

  // The stream, replayed: every debit saw the balance its predecessor left.
  int64_t running = 0;
  uint64_t version = 0;
  int debited = 0;
  int debit_failed = 0;
  for (const auto& event : bank.ReadLog(context_, "account-acc")) {
    ASSERT_EQ(event.stream_version(), ++version);
    if (event.type() == "es.v1.AccountOpened") {
      running = kInitial;
    } else if (event.type() == "es.v1.AccountDebited") {
      es::v1::AccountDebited debit;
      ASSERT_TRUE(debit.ParseFromString(event.data()));
      running -= debit.amount();
      EXPECT_EQ(debit.balance(), running) << "at version " << version;
      EXPECT_GE(running, 0) << "overdrawn at version " << version;
      ++debited;
    } else if (event.type() == "es.v1.AccountDebitFailed") {
      es::v1::AccountDebitFailed failed;
      ASSERT_TRUE(failed.ParseFromString(event.data()));
      EXPECT_EQ(failed.balance(), running) << "at version " << version;
      EXPECT_LT(failed.balance(), failed.amount()) << "refused with funds at version " << version;
      ++debit_failed;
    } else {
      ADD_FAILURE() << "unexpected " << event.type();
    }
  }
  EXPECT_EQ(debited, accepted);
  EXPECT_EQ(debit_failed, refused);
  EXPECT_EQ(running, balance);

  // How much the two instances actually raced (informational).
  uint64_t retries = 0;
  for (int w = 0; w < kWorkers; ++w) {
    CommandTestClient client(context_, bank.commands(static_cast<size_t>(w)));
    es::v1::CommandRequest stats;
    stats.mutable_stats();
    es::v1::CommandReply reply = client.Call(stats);
    retries += reply.stats().concurrency_retries();
  }
  RecordProperty("concurrency_retries", std::to_string(retries));
}

// Guarantee 4 for the saga's commands: a refusal recorded as an event is
// answered again with the first outcome, refusal code included, also once
// command_service knows it only from the store (after a restart, or after
// the aggregate left its cache). The two cases where the recorded event alone
// does not say why: a transfer's debit of a closed account (ACCOUNT_CLOSED,
// not INSUFFICIENT_FUNDS) and a transfer's credit that would overflow
// (OVERFLOW, not ACCOUNT_CLOSED).
TEST_F(BankProcessTest, RecordedRefusalIsRepeatedWithItsFirstCode) {
  BankSystem bank(dir_, {.start_saga = false});  // the test plays the saga
  CommandTestClient client(context_, bank.commands());
  auto ok = [&](es::v1::Command command) {
    es::v1::CommandReply reply = client.Call(CommandRequestWith(std::move(command)));
    ASSERT_TRUE(reply.has_outcome() && reply.outcome().accepted()) << reply.DebugString();
  };
  ok(OpenAccountWith("open-closed", "closed", "Owner", 0));
  {
    es::v1::Command close;
    close.set_command_id("close");
    close.mutable_close_account()->set_account_id("closed");
    ok(close);
  }
  ok(OpenAccountWith("open-full", "full", "Owner", 0));
  {
    // No command reaches the ceiling in one step (amounts are capped far
    // below it): a raw append of a valid, huge credit does.
    es::v1::AccountCredited credited;
    credited.set_account_id("full");
    credited.set_amount(INT64_MAX - 5);
    credited.set_balance(INT64_MAX - 5);
    es::v1::AppendRequest append =
        AppendOfMessage("account-full", "raw-fill", ExpectExact(1), credited);
    es::v1::StoreReply filled =
        CallStore(context_, bank.store_requests(), AppendRequestOf(std::move(append)));
    ASSERT_TRUE(filled.has_append()) << filled.DebugString();
  }

  const es::v1::Command debit_closed = DebitForTransferWith("saga-debit-closed", "closed", "tx1", 5);
  const es::v1::Command credit_full =
      CreditForTransferWith("saga-credit-full", "full", "tx2", 10, "somewhere");

  auto outcome_of = [&](const es::v1::Command& command) {
    es::v1::CommandReply reply = client.Call(CommandRequestWith(command));
    EXPECT_TRUE(reply.has_outcome()) << reply.DebugString();
    return reply.outcome();
  };
  const es::v1::CommandOutcome first_debit = outcome_of(debit_closed);
  const es::v1::CommandOutcome first_credit = outcome_of(credit_full);
  EXPECT_FALSE(first_debit.accepted());
  EXPECT_EQ(first_debit.refusal_code(), es::v1::REFUSAL_CODE_ACCOUNT_CLOSED)
      << first_debit.DebugString();
  EXPECT_EQ(first_debit.events_written(), 1u);
  EXPECT_FALSE(first_credit.accepted());
  EXPECT_EQ(first_credit.refusal_code(), es::v1::REFUSAL_CODE_OVERFLOW)
      << first_credit.DebugString();
  EXPECT_EQ(first_credit.events_written(), 1u);

  auto expect_first = [](const es::v1::CommandOutcome& first, const es::v1::CommandOutcome& again) {
    EXPECT_TRUE(again.duplicate()) << again.DebugString();
    EXPECT_EQ(again.accepted(), first.accepted()) << again.DebugString();
    EXPECT_EQ(again.refusal_code(), first.refusal_code()) << "first:\n"
                                                          << first.DebugString() << "again:\n"
                                                          << again.DebugString();
    EXPECT_EQ(again.version(), first.version()) << again.DebugString();
    EXPECT_EQ(again.global_position(), first.global_position()) << again.DebugString();
    EXPECT_EQ(again.events_written(), first.events_written()) << again.DebugString();
  };
  {
    SCOPED_TRACE("repeated to the same instance");
    expect_first(first_debit, outcome_of(debit_closed));
    expect_first(first_credit, outcome_of(credit_full));
  }
  const uint64_t head = bank.StoreHead(context_);
  ASSERT_NO_THROW(bank.RestartCommandService());
  {
    SCOPED_TRACE("repeated after a restart");
    expect_first(first_debit, outcome_of(debit_closed));
    expect_first(first_credit, outcome_of(credit_full));
  }
  EXPECT_EQ(bank.StoreHead(context_), head) << "a repeated command wrote again";
}

// Guarantee 6: 200 transfers between 20 accounts (some bound to fail for
// lack of funds), pipelined; saga_service is killed with kill -9 while they
// are in flight and restarted on its data dir. Every transfer still ends
// Completed or Failed, exactly once; no account is debited or credited twice
// for one transfer; the money is all there.
TEST_F(BankProcessTest, SagaKilledMidwayStillFinishesEveryTransfer) {
  constexpr int kAccounts = 20;
  constexpr int kTransfers = 200;
  constexpr int64_t kInitial = 300;
  constexpr size_t kKillAfterTerminal = 50;
  // A checkpoint every 20 ms: the restart resumes from one (and replays what
  // came after it), rather than from position 1.
  BankSystem bank(dir_, {.saga_args = {"--checkpoint-ms", "20"}});
  const std::string checkpoint = dir_.File("saga/checkpoint");
  CommandTestClient client(context_, bank.commands());

  auto account_id = [](int i) { return "acc" + std::to_string(i); };
  for (int i = 0; i < kAccounts; ++i) {
    es::v1::CommandReply reply = client.Call(CommandRequestWith(
        OpenAccountWith("open-" + std::to_string(i), account_id(i), "Owner", kInitial)));
    ASSERT_TRUE(reply.has_outcome() && reply.outcome().accepted()) << reply.DebugString();
  }

  LiveTestSubscriber subscriber(context_, bank.store_events(), "transfer-");
  ASSERT_TRUE(subscriber.WaitForHeartbeat()) << "no heartbeat from the store";

  std::mt19937 random(20240601);
  std::uniform_int_distribution<int> pick(0, kAccounts - 1);
  std::uniform_int_distribution<int64_t> amount(1, 200);  // up to 2/3 of a balance: some fail
  std::map<std::string, int64_t> amounts;                 // by transfer id
  for (int t = 0; t < kTransfers; ++t) {
    const int from = pick(random);
    int to = pick(random);
    if (to == from) to = (to + 1) % kAccounts;
    const std::string id = "t" + std::to_string(t);
    amounts[id] = amount(random);
    es::v1::CommandRequest request = CommandRequestWith(
        TransferWith("create-" + id, id, account_id(from), account_id(to), amounts[id]));
    request.set_request_id(static_cast<uint64_t>(t) + 1);
    client.Send(request);
  }

  // Follow the live stream until enough transfers have finished (and a
  // checkpoint is on disk); then kill the saga at once.
  std::set<std::string> terminal_seen;
  size_t replies = 0;
  const auto kill_deadline = Clock::now() + seconds(20);
  while (terminal_seen.size() < kKillAfterTerminal || !std::filesystem::exists(checkpoint)) {
    ASSERT_TRUE(Clock::now() < kill_deadline)
        << "only " << terminal_seen.size() << " transfers finished (checkpoint "
        << (std::filesystem::exists(checkpoint) ? "persisted" : "missing") << "); saga log:\n"
        << ReadFile(dir_.File("saga.log"));
    std::array<zmq::pollitem_t, 2> items{{{client.socket().handle(), 0, ZMQ_POLLIN, 0},
                                          {subscriber.socket().handle(), 0, ZMQ_POLLIN, 0}}};
    zmq::poll(items, milliseconds(100));
    if (items[0].revents & ZMQ_POLLIN) {
      std::optional<es::v1::CommandReply> reply = client.Receive(milliseconds(0));
      ASSERT_TRUE(reply.has_value());
      ASSERT_TRUE(reply->has_outcome() && reply->outcome().accepted()) << reply->DebugString();
      ++replies;
    }
    if (items[1].revents & ZMQ_POLLIN) {
      std::optional<LiveFrame> frame = subscriber.Next(milliseconds(0));
      if (frame && frame->message.has_event() &&
          IsTerminalTransferEvent(frame->message.event().type())) {
        terminal_seen.insert(frame->message.event().stream_id());
      }
    }
  }
  const ExitStatus killed = bank.KillSaga();
  EXPECT_EQ(killed.signal, SIGKILL);
  size_t terminal_at_kill = 0;
  for (const auto& event : bank.ReadLog(context_, "transfer-")) {
    if (IsTerminalTransferEvent(event.type())) ++terminal_at_kill;
  }
  EXPECT_LT(terminal_at_kill, size_t{kTransfers}) << "the saga was not killed mid-run";
  RecordProperty("terminal_at_kill", std::to_string(terminal_at_kill));

  // Every create was accepted (they do not need the saga).
  while (replies < size_t{kTransfers}) {
    std::optional<es::v1::CommandReply> reply = client.Receive(seconds(10));
    ASSERT_TRUE(reply.has_value()) << replies << " of " << kTransfers << " creates answered";
    ASSERT_TRUE(reply->has_outcome() && reply->outcome().accepted()) << reply->DebugString();
    ++replies;
  }

  bank.StartSaga();
  const auto finish_deadline = Clock::now() + seconds(25);
  size_t terminal = 0;
  while (true) {
    terminal = 0;
    for (const auto& event : bank.ReadLog(context_, "transfer-")) {
      if (IsTerminalTransferEvent(event.type())) ++terminal;
    }
    if (terminal >= size_t{kTransfers}) break;
    ASSERT_TRUE(Clock::now() < finish_deadline)
        << terminal << " of " << kTransfers << " transfers finished; saga log:\n"
        << ReadFile(dir_.File("saga.log"));
    std::this_thread::sleep_for(milliseconds(50));
  }

  // The whole log, audited per transfer.
  struct Audit {
    int terminal = 0;
    bool completed = false;
    int debits = 0;          // AccountDebitedBecauseOfMoneyTransfer
    int debit_refusals = 0;  // AccountDebitBecauseOfMoneyTransferFailed
    int credits = 0;         // AccountCreditedBecauseOfMoneyTransfer
    int credit_refusals = 0;
    int refunds = 0;
  };
  std::map<std::string, Audit> audits;
  std::map<std::string, int64_t> balances;
  for (const auto& event : bank.ReadLog(context_)) {
    const std::string& type = event.type();
    if (type == "es.v1.AccountOpened") {
      es::v1::AccountOpened opened;
      ASSERT_TRUE(opened.ParseFromString(event.data()));
      balances[opened.account_id()] = opened.initial_balance();
    } else if (type == "es.v1.AccountDebitedBecauseOfMoneyTransfer") {
      es::v1::AccountDebitedBecauseOfMoneyTransfer e;
      ASSERT_TRUE(e.ParseFromString(event.data()));
      ++audits[e.transfer_id()].debits;
      balances[e.account_id()] -= e.amount();
      EXPECT_EQ(e.amount(), amounts[e.transfer_id()]);
    } else if (type == "es.v1.AccountDebitBecauseOfMoneyTransferFailed") {
      es::v1::AccountDebitBecauseOfMoneyTransferFailed e;
      ASSERT_TRUE(e.ParseFromString(event.data()));
      ++audits[e.transfer_id()].debit_refusals;
    } else if (type == "es.v1.AccountCreditedBecauseOfMoneyTransfer") {
      es::v1::AccountCreditedBecauseOfMoneyTransfer e;
      ASSERT_TRUE(e.ParseFromString(event.data()));
      ++audits[e.transfer_id()].credits;
      balances[e.account_id()] += e.amount();
    } else if (type == "es.v1.AccountCreditBecauseOfMoneyTransferFailed") {
      es::v1::AccountCreditBecauseOfMoneyTransferFailed e;
      ASSERT_TRUE(e.ParseFromString(event.data()));
      ++audits[e.transfer_id()].credit_refusals;
    } else if (type == "es.v1.AccountRefundedBecauseOfMoneyTransfer") {
      es::v1::AccountRefundedBecauseOfMoneyTransfer e;
      ASSERT_TRUE(e.ParseFromString(event.data()));
      ++audits[e.transfer_id()].refunds;
      balances[e.account_id()] += e.amount();
    } else if (IsTerminalTransferEvent(type)) {
      Audit& audit = audits[event.stream_id().substr(std::string("transfer-").size())];
      ++audit.terminal;
      audit.completed = type == "es.v1.MoneyTransferCompleted";
    }
  }
  int completed = 0;
  for (const auto& [id, expected_amount] : amounts) {
    SCOPED_TRACE("transfer " + id);
    const Audit& audit = audits[id];
    EXPECT_EQ(audit.terminal, 1);
    EXPECT_LE(audit.debits + audit.debit_refusals, 1);
    EXPECT_LE(audit.credits + audit.credit_refusals, 1);
    EXPECT_LE(audit.refunds, 1);
    if (audit.completed) {
      ++completed;
      EXPECT_EQ(audit.debits, 1);
      EXPECT_EQ(audit.credits, 1);
    } else {
      EXPECT_EQ(audit.credits, 0);
      EXPECT_EQ(audit.debits, audit.refunds);  // anything taken was given back
    }
  }
  EXPECT_GT(completed, 0);
  EXPECT_LT(completed, kTransfers) << "no transfer failed: the amounts test too little";
  RecordProperty("completed", std::to_string(completed));

  // Money: the log's balances and the service's agree, and add up.
  int64_t total = 0;
  for (int i = 0; i < kAccounts; ++i) {
    es::v1::CommandRequest get;
    get.mutable_get_account()->set_account_id(account_id(i));
    es::v1::CommandReply reply = client.Call(get);
    ASSERT_TRUE(reply.has_account()) << reply.DebugString();
    EXPECT_EQ(reply.account().balance(), balances[account_id(i)]) << account_id(i);
    EXPECT_GE(reply.account().balance(), 0) << account_id(i);
    total += reply.account().balance();
  }
  EXPECT_EQ(total, kInitial * kAccounts);
}

// Guarantee 7 for command_service: each malformed or invalid request gets a
// precise error (the request was malformed) or refusal (the command was
// refused), the service keeps answering, and the store's head does not move.
TEST_F(BankProcessTest, BadInputGetsAPreciseErrorAndWritesNothing) {
  BankSystem bank(dir_, {.start_saga = false});
  CommandTestClient client(context_, bank.commands());
  {
    es::v1::CommandReply opened =
        client.Call(CommandRequestWith(OpenAccountWith("open", "acc", "Owner", 10)));
    ASSERT_TRUE(opened.has_outcome() && opened.outcome().accepted()) << opened.DebugString();
  }
  const uint64_t head = bank.StoreHead(context_);
  ASSERT_EQ(head, 1u);

  auto expect_still_serving = [&](const std::string& after) {
    es::v1::CommandRequest ping;
    ping.mutable_ping();
    es::v1::CommandReply pong;
    ASSERT_NO_THROW(pong = client.Call(ping, seconds(5))) << "no pong after " << after;
    EXPECT_TRUE(pong.has_pong()) << after << ": " << pong.DebugString();
  };
  // Raw frames: the reply must be an Error naming the problem.
  auto expect_error_for_frames = [&](const std::string& what,
                                     const std::vector<std::string>& frames, es::v1::ErrorCode code,
                                     const std::string& message_part) {
    SCOPED_TRACE(what);
    client.SendFrames(frames);
    std::optional<es::v1::CommandReply> reply = client.Receive(seconds(5));
    ASSERT_TRUE(reply.has_value()) << "no reply";
    ASSERT_TRUE(reply->has_error()) << reply->DebugString();
    EXPECT_EQ(reply->error().code(), code) << reply->DebugString();
    EXPECT_NE(reply->error().message().find(message_part), std::string::npos)
        << reply->DebugString();
    expect_still_serving(what);
  };
  auto expect_error = [&](const std::string& what, es::v1::CommandRequest request,
                          const std::string& message_part) {
    SCOPED_TRACE(what);
    request.set_request_id(777);
    expect_error_for_frames(what, {std::string(), request.SerializeAsString()},
                            es::v1::ERROR_CODE_BAD_REQUEST, message_part);
  };
  // A well-formed command the domain refuses: an outcome, not accepted, no
  // events.
  auto expect_refusal = [&](const std::string& what, es::v1::Command command,
                            es::v1::RefusalCode code) {
    SCOPED_TRACE(what);
    es::v1::CommandReply reply = client.Call(CommandRequestWith(std::move(command)));
    ASSERT_TRUE(reply.has_outcome()) << reply.DebugString();
    EXPECT_FALSE(reply.outcome().accepted()) << reply.DebugString();
    EXPECT_EQ(reply.outcome().refusal_code(), code) << reply.DebugString();
    EXPECT_EQ(reply.outcome().events_written(), 0u) << reply.DebugString();
    EXPECT_FALSE(reply.outcome().message().empty()) << reply.DebugString();
    expect_still_serving(what);
  };

  expect_error_for_frames("garbage bytes", {std::string(), std::string("\xff\xff\xff\xff\xff", 5)},
                          es::v1::ERROR_CODE_BAD_REQUEST, "not a valid es.v1.CommandRequest");
  {
    es::v1::CommandRequest ping;
    ping.mutable_ping();
    expect_error_for_frames("two body frames", {std::string(), ping.SerializeAsString(), "extra"},
                            es::v1::ERROR_CODE_BAD_REQUEST, "expected one body frame");
    expect_error_for_frames("no body frame", {std::string()}, es::v1::ERROR_CODE_BAD_REQUEST,
                            "expected one body frame");
  }
  expect_error_for_frames("over 1 MiB", {std::string(), std::string((1 << 20) + 1, 'x')},
                          es::v1::ERROR_CODE_TOO_LARGE, "exceeds the limit");
  {
    // Invalid UTF-8 in a proto3 string field does not parse.
    es::v1::CommandRequest request = CommandRequestWith(CreditWith("c", "acc", 5));
    std::string bytes = request.SerializeAsString();
    const size_t at = bytes.find("acc");
    ASSERT_NE(at, std::string::npos);
    bytes[at] = '\xc3';
    bytes[at + 1] = '\x28';
    expect_error_for_frames("invalid UTF-8", {std::string(), bytes}, es::v1::ERROR_CODE_BAD_REQUEST,
                            "not a valid es.v1.CommandRequest");
  }
  expect_error("a request with no body", es::v1::CommandRequest(), "unknown request type");
  {
    es::v1::Command no_id = CreditWith("", "acc", 5);
    expect_error("a command with no command_id", CommandRequestWith(no_id),
                 "command_id is required");
    es::v1::Command long_id = CreditWith(std::string(129, 'c'), "acc", 5);
    expect_error("a command_id over 128 bytes", CommandRequestWith(long_id), "command_id");
    es::v1::Command no_body;
    no_body.set_command_id("no-body");
    expect_error("a command with no body", CommandRequestWith(no_body), "no body");
  }

  using es::v1::RefusalCode;
  expect_refusal("credit of 0", CreditWith("c0", "acc", 0), es::v1::REFUSAL_CODE_INVALID_AMOUNT);
  expect_refusal("credit of -5", CreditWith("c1", "acc", -5), es::v1::REFUSAL_CODE_INVALID_AMOUNT);
  expect_refusal("debit of 0", DebitWith("d0", "acc", 0), es::v1::REFUSAL_CODE_INVALID_AMOUNT);
  expect_refusal("debit of INT64_MIN", DebitWith("d1", "acc", INT64_MIN),
                 es::v1::REFUSAL_CODE_INVALID_AMOUNT);
  expect_refusal("open with a negative balance", OpenAccountWith("o0", "neg", "Owner", -1),
                 es::v1::REFUSAL_CODE_INVALID_AMOUNT);
  expect_refusal("transfer of 0", TransferWith("t0", "t0", "acc", "acc2", 0),
                 es::v1::REFUSAL_CODE_INVALID_AMOUNT);
  expect_refusal("transfer of -1", TransferWith("t1", "t1", "acc", "acc2", -1),
                 es::v1::REFUSAL_CODE_INVALID_AMOUNT);
  expect_refusal("credit of an unknown account", CreditWith("c2", "nobody", 5),
                 es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT);
  expect_refusal("debit of an unknown account", DebitWith("d2", "nobody", 5),
                 es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT);
  expect_refusal("transfer to an unknown account", TransferWith("t2", "t2", "acc", "nobody", 5),
                 es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT);
  expect_refusal("transfer from an unknown account", TransferWith("t3", "t3", "nobody", "acc", 5),
                 es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT);
  expect_refusal("transfer to itself", TransferWith("t4", "t4", "acc", "acc", 5),
                 es::v1::REFUSAL_CODE_SAME_ACCOUNT);
  expect_refusal("open with an empty owner", OpenAccountWith("o1", "new1", "", 0),
                 es::v1::REFUSAL_CODE_INVALID_ARGUMENT);
  expect_refusal("open with a 201-byte owner",
                 OpenAccountWith("o2", "new2", std::string(201, 'o'), 0),
                 es::v1::REFUSAL_CODE_INVALID_ARGUMENT);
  expect_refusal("open with an empty account id", OpenAccountWith("o3", "", "Owner", 0),
                 es::v1::REFUSAL_CODE_INVALID_ARGUMENT);
  expect_refusal("open with a 129-byte account id",
                 OpenAccountWith("o4", std::string(129, 'a'), "Owner", 0),
                 es::v1::REFUSAL_CODE_INVALID_ARGUMENT);
  expect_refusal("open of an existing account", OpenAccountWith("o5", "acc", "Owner", 0),
                 es::v1::REFUSAL_CODE_ALREADY_EXISTS);
  expect_refusal("credit of INT64_MAX to a balance of 10", CreditWith("c3", "acc", INT64_MAX),
                 es::v1::REFUSAL_CODE_INVALID_AMOUNT);
  {
    es::v1::Command close;
    close.set_command_id("close");
    close.mutable_close_account()->set_account_id("acc");
    expect_refusal("close with a balance", close, es::v1::REFUSAL_CODE_NONZERO_BALANCE);
    es::v1::Command complete;
    complete.set_command_id("saga-complete");  // a step: the saga's namespace
    complete.mutable_complete_money_transfer()->set_transfer_id("never-created");
    expect_refusal("complete an unknown transfer", complete, es::v1::REFUSAL_CODE_UNKNOWN_TRANSFER);
  }

  // Through esctl too: a refusal is exit 1 with the reason on stderr.
  {
    CapturedRun run = bank.Esctl({"credit", "acc", "-5"});
    EXPECT_TRUE(run.exited && run.exit_code == 1) << run.Describe();
    EXPECT_NE(run.err.find("INVALID_AMOUNT"), std::string::npos) << run.Describe();
    run = bank.Esctl({"credit", "acc", std::to_string(INT64_MAX)});
    EXPECT_TRUE(run.exited && run.exit_code == 1) << run.Describe();
    EXPECT_NE(run.err.find("INVALID_AMOUNT"), std::string::npos) << run.Describe();
    run = bank.Esctl({"debit", "nobody", "5"});
    EXPECT_TRUE(run.exited && run.exit_code == 1) << run.Describe();
    EXPECT_NE(run.err.find("UNKNOWN_ACCOUNT"), std::string::npos) << run.Describe();
  }

  // Requests refused before any state was read wrote nothing; each refusal
  // decided on state wrote its answer (a CommandAnswered record, so that it
  // stays that id's answer) and nothing else: credit and debit of an
  // unknown account, two transfers naming one, the open of an existing
  // account, the close with a balance, the unknown transfer, esctl's debit.
  constexpr uint64_t kStateRefusals = 8;
  ASSERT_EQ(bank.StoreHead(context_), head + kStateRefusals) << "a bad request wrote something";
  es::v1::StoreReply written =
      CallStore(context_, bank.store_requests(), ReadAllRequest(head + 1, 100));
  ASSERT_TRUE(written.has_read_all()) << written.DebugString();
  for (const auto& record : written.read_all().events()) {
    EXPECT_EQ(record.type(), "es.v1.CommandAnswered") << record.DebugString();
  }
  es::v1::CommandRequest get;
  get.mutable_get_account()->set_account_id("acc");
  es::v1::CommandReply account = client.Call(get);
  ASSERT_TRUE(account.has_account()) << account.DebugString();
  EXPECT_EQ(account.account().balance(), 10);
  EXPECT_EQ(account.account().version(), 3u) << "opened, then two refusals recorded";
}

}  // namespace
}  // namespace es::testing
