// query_service as a process beside store + command + saga services: every
// read model (accounts, movements, transfers, totals) equals an independent
// fold of the store's whole log, read over the wire and folded here; the
// totals keep the money invariant; a kill -9 of query_service under load,
// then a restart from its checkpoint, ends with the same models (nothing
// lost, nothing applied twice); a query whose minimum position is beyond
// the head is answered STALE within its bound; a write's position read back
// with --at-least sees the write.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <csignal>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "es/v1/bank.pb.h"
#include "es/v1/command.pb.h"
#include "es/v1/query.pb.h"
#include "tests/support/bank_system.h"
#include "tests/support/captured_run.h"
#include "tests/support/command_test_client.h"
#include "tests/support/dealer_test_client.h"
#include "tests/support/store_requests.h"
#include "tests/support/store_test_client.h"
#include "tests/support/temp_dir.h"

namespace es::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using QueryTestClient = DealerTestClient<es::v1::QueryRequest, es::v1::QueryReply>;

// ---- the independent fold of the log ----

struct FoldedAccount {
  std::string owner;
  int64_t balance = 0;
  bool closed = false;
  uint64_t version = 0;
  uint64_t opened_position = 0;
  int64_t opened_at_us = 0;
  uint64_t last_position = 0;
  int64_t last_at_us = 0;
};

struct FoldedTransfer {
  std::string from, to;
  int64_t amount = 0;
  es::v1::TransferState state = es::v1::TRANSFER_STATE_UNSPECIFIED;
  std::string reason;
  uint64_t version = 0;
  uint64_t created_position = 0;
  int64_t created_at_us = 0;
  int64_t finished_at_us = 0;
};

struct Fold {
  std::map<std::string, FoldedAccount> accounts;
  std::map<std::string, std::vector<es::v1::Movement>> movements;  // oldest first
  std::map<std::string, FoldedTransfer> transfers;
  es::v1::Totals totals;
  uint64_t head = 0;
};

void Parse(const es::v1::EventRecord& e, google::protobuf::Message* m) {
  if (!m->ParseFromString(e.data())) {
    throw std::runtime_error("event " + std::to_string(e.global_position()) + " is not a " +
                             e.type());
  }
}

// Folds the log by hand from the bank.proto messages: no domain code, so a
// mistake shared by the domain's fold and the projection still shows.
Fold FoldLog(const std::vector<es::v1::EventRecord>& log) {
  Fold fold;
  int64_t in_flight = 0, deposited = 0, withdrawn = 0;
  for (const es::v1::EventRecord& e : log) {
    EXPECT_EQ(e.global_position(), fold.head + 1) << "the log is not gap-free";
    fold.head = e.global_position();
    const std::string& stream = e.stream_id();
    const std::string& type = e.type();
    if (stream.rfind("transfer-", 0) == 0) {
      const std::string id = stream.substr(9);
      auto it = fold.transfers.find(id);
      auto finish = [&](es::v1::TransferState state, const std::string& reason) {
        if (it == fold.transfers.end())
          throw std::runtime_error(type + " of unknown transfer " + id);
        it->second.state = state;
        it->second.reason = reason;
        if (state == es::v1::TRANSFER_STATE_COMPLETED || state == es::v1::TRANSFER_STATE_FAILED) {
          it->second.finished_at_us = e.recorded_at_us();
        }
      };
      if (type == "es.v1.MoneyTransferCreated") {
        es::v1::MoneyTransferCreated m;
        Parse(e, &m);
        FoldedTransfer t{m.from_account(),
                         m.to_account(),
                         m.amount(),
                         es::v1::TRANSFER_STATE_CREATED,
                         "",
                         0,
                         e.global_position(),
                         e.recorded_at_us(),
                         0};
        it = fold.transfers.emplace(id, t).first;
      } else if (type == "es.v1.MoneyTransferDebited") {
        finish(es::v1::TRANSFER_STATE_DEBITED, "");
      } else if (type == "es.v1.MoneyTransferCompleted") {
        finish(es::v1::TRANSFER_STATE_COMPLETED, "");
      } else if (type == "es.v1.MoneyTransferFailedDueToLackOfFunds") {
        finish(es::v1::TRANSFER_STATE_FAILED, "LackOfFunds");
      } else if (type == "es.v1.MoneyTransferFailedDueToRefusedCredit") {
        finish(es::v1::TRANSFER_STATE_FAILED, "CreditRefused");
      }
      if (it != fold.transfers.end()) it->second.version = e.stream_version();
      continue;
    }
    if (stream.rfind("account-", 0) != 0) continue;
    const std::string id = stream.substr(8);
    es::v1::Movement movement;
    movement.set_account_id(id);
    movement.set_position(e.global_position());
    movement.set_stream_version(e.stream_version());
    movement.set_at_us(e.recorded_at_us());
    FoldedAccount* account = nullptr;
    if (auto it = fold.accounts.find(id); it != fold.accounts.end()) account = &it->second;
    auto move = [&](es::v1::MovementKind kind, int64_t amount, int64_t delta,
                    const std::string& transfer) {
      if (account == nullptr) throw std::runtime_error(type + " before the opening of " + id);
      account->balance += delta;
      movement.set_kind(kind);
      movement.set_amount(amount);
      movement.set_balance_after(account->balance);
      movement.set_transfer_id(transfer);
    };
    if (type == "es.v1.AccountOpened") {
      es::v1::AccountOpened m;
      Parse(e, &m);
      account = &fold.accounts[id];
      account->owner = m.owner();
      account->opened_position = e.global_position();
      account->opened_at_us = e.recorded_at_us();
      move(es::v1::MOVEMENT_KIND_OPENED, m.initial_balance(), m.initial_balance(), "");
      deposited += m.initial_balance();
    } else if (type == "es.v1.AccountCredited") {
      es::v1::AccountCredited m;
      Parse(e, &m);
      move(es::v1::MOVEMENT_KIND_CREDIT, m.amount(), m.amount(), "");
      deposited += m.amount();
    } else if (type == "es.v1.AccountDebited") {
      es::v1::AccountDebited m;
      Parse(e, &m);
      move(es::v1::MOVEMENT_KIND_DEBIT, m.amount(), -m.amount(), "");
      withdrawn += m.amount();
    } else if (type == "es.v1.AccountDebitFailed") {
      es::v1::AccountDebitFailed m;
      Parse(e, &m);
      move(es::v1::MOVEMENT_KIND_DEBIT_REFUSED, m.amount(), 0, "");
    } else if (type == "es.v1.AccountDebitedBecauseOfMoneyTransfer") {
      es::v1::AccountDebitedBecauseOfMoneyTransfer m;
      Parse(e, &m);
      move(es::v1::MOVEMENT_KIND_TRANSFER_DEBIT, m.amount(), -m.amount(), m.transfer_id());
      in_flight += m.amount();
    } else if (type == "es.v1.AccountCreditedBecauseOfMoneyTransfer") {
      es::v1::AccountCreditedBecauseOfMoneyTransfer m;
      Parse(e, &m);
      move(es::v1::MOVEMENT_KIND_TRANSFER_CREDIT, m.amount(), m.amount(), m.transfer_id());
      in_flight -= m.amount();
    } else if (type == "es.v1.AccountDebitBecauseOfMoneyTransferFailed") {
      es::v1::AccountDebitBecauseOfMoneyTransferFailed m;
      Parse(e, &m);
      move(es::v1::MOVEMENT_KIND_TRANSFER_DEBIT_REFUSED, m.amount(), 0, m.transfer_id());
    } else if (type == "es.v1.AccountCreditBecauseOfMoneyTransferFailed") {
      es::v1::AccountCreditBecauseOfMoneyTransferFailed m;
      Parse(e, &m);
      move(es::v1::MOVEMENT_KIND_TRANSFER_CREDIT_REFUSED, m.amount(), 0, m.transfer_id());
      movement.set_balance_after(0);  // the event names no balance
    } else if (type == "es.v1.AccountRefundedBecauseOfMoneyTransfer") {
      es::v1::AccountRefundedBecauseOfMoneyTransfer m;
      Parse(e, &m);
      move(es::v1::MOVEMENT_KIND_REFUND, m.amount(), m.amount(), m.transfer_id());
      in_flight -= m.amount();
    } else if (type == "es.v1.AccountClosed") {
      move(es::v1::MOVEMENT_KIND_CLOSED, 0, 0, "");
      account->closed = true;
    }
    if (account == nullptr) continue;  // e.g. a refusal recorded before any opening
    account->version = e.stream_version();
    if (movement.kind() != es::v1::MOVEMENT_KIND_UNSPECIFIED) {
      account->last_position = e.global_position();
      account->last_at_us = e.recorded_at_us();
      fold.movements[id].push_back(movement);
    }
  }
  es::v1::Totals& t = fold.totals;
  int64_t in_accounts = 0;
  for (const auto& [id, a] : fold.accounts) {
    if (a.closed) {
      t.set_accounts_closed(t.accounts_closed() + 1);
    } else {
      t.set_accounts_open(t.accounts_open() + 1);
    }
    in_accounts += a.balance;
  }
  t.set_money_in_accounts(in_accounts);
  t.set_money_in_flight(in_flight);
  t.set_money_deposited(deposited);
  t.set_money_withdrawn(withdrawn);
  for (const auto& [id, tr] : fold.transfers) {
    switch (tr.state) {
      case es::v1::TRANSFER_STATE_CREATED:
        t.set_transfers_created(t.transfers_created() + 1);
        break;
      case es::v1::TRANSFER_STATE_DEBITED:
        t.set_transfers_debited(t.transfers_debited() + 1);
        break;
      case es::v1::TRANSFER_STATE_COMPLETED:
        t.set_transfers_completed(t.transfers_completed() + 1);
        break;
      default:
        t.set_transfers_failed(t.transfers_failed() + 1);
        break;
    }
  }
  return fold;
}

// ---- reading the projection ----

class QueryProcessTest : public ::testing::Test {
 protected:
  // One query at least at `min_position` (waiting up to 10 s); fails the
  // test on an error or a STALE answer.
  es::v1::QueryReply Ask(const BankSystem& bank, es::v1::QueryRequest request,
                         uint64_t min_position) {
    QueryTestClient client(context_, bank.queries());
    request.set_min_position(min_position);
    request.set_wait_ms(10000);
    es::v1::QueryReply reply = client.Call(request, seconds(15));
    EXPECT_FALSE(reply.has_error()) << reply.DebugString();
    EXPECT_EQ(reply.status(), es::v1::QUERY_STATUS_OK) << reply.DebugString();
    EXPECT_GE(reply.position(), min_position);
    return reply;
  }

  // Every account, in pages of 3 (so cursors are used), at `at`.
  std::vector<es::v1::AccountRow> AllAccounts(const BankSystem& bank, uint64_t at,
                                              es::v1::AccountSort sort,
                                              es::v1::AccountStatus status) {
    std::vector<es::v1::AccountRow> rows;
    std::string cursor;
    do {
      es::v1::QueryRequest request;
      auto* list = request.mutable_list_accounts();
      list->set_sort(sort);
      list->set_status(status);
      list->set_limit(3);
      list->set_cursor(cursor);
      const es::v1::QueryReply reply = Ask(bank, request, at);
      EXPECT_EQ(reply.position(), at) << "nothing was written meanwhile";
      rows.insert(rows.end(), reply.accounts().accounts().begin(),
                  reply.accounts().accounts().end());
      cursor = reply.accounts().next_cursor();
    } while (!cursor.empty() && !::testing::Test::HasFailure());
    return rows;
  }

  std::vector<es::v1::Movement> AllMovements(const BankSystem& bank, uint64_t at,
                                             const std::string& account) {
    std::vector<es::v1::Movement> rows;
    std::string cursor;
    do {
      es::v1::QueryRequest request;
      auto* history = request.mutable_get_history();
      history->set_account_id(account);
      history->set_limit(2);
      history->set_cursor(cursor);
      const es::v1::QueryReply reply = Ask(bank, request, at);
      rows.insert(rows.end(), reply.history().movements().begin(),
                  reply.history().movements().end());
      cursor = reply.history().next_cursor();
    } while (!cursor.empty() && !::testing::Test::HasFailure());
    return rows;
  }

  std::vector<es::v1::TransferRow> AllTransfers(const BankSystem& bank, uint64_t at,
                                                const std::string& account,
                                                es::v1::TransferState state) {
    std::vector<es::v1::TransferRow> rows;
    std::string cursor;
    do {
      es::v1::QueryRequest request;
      auto* list = request.mutable_list_transfers();
      list->set_account_id(account);
      list->set_state(state);
      list->set_limit(4);
      list->set_cursor(cursor);
      const es::v1::QueryReply reply = Ask(bank, request, at);
      rows.insert(rows.end(), reply.transfers().transfers().begin(),
                  reply.transfers().transfers().end());
      cursor = reply.transfers().next_cursor();
    } while (!cursor.empty() && !::testing::Test::HasFailure());
    return rows;
  }

  // Waits until the saga has finished every transfer and the projection
  // has the whole log: polls (a condition, not a time) the store's head and
  // the projection's totals. Returns the head.
  uint64_t WaitForQuiet(const BankSystem& bank, milliseconds timeout = seconds(60)) {
    const auto deadline = Clock::now() + timeout;
    es::v1::QueryReply last;
    while (Clock::now() < deadline) {
      const uint64_t head = bank.StoreHead(context_);
      es::v1::QueryRequest request;
      request.mutable_get_totals();
      last = Ask(bank, request, head);
      if (last.position() == head && last.totals().transfers_created() == 0 &&
          last.totals().transfers_debited() == 0 && bank.StoreHead(context_) == head) {
        return head;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    ADD_FAILURE() << "not quiet after " << timeout.count() << " ms: " << last.DebugString();
    return 0;
  }

  // Every read model at the store's head equals the fold of the whole log.
  void ExpectModelsEqualTheFoldOfTheLog(const BankSystem& bank) {
    const uint64_t head = bank.StoreHead(context_);
    const Fold fold = FoldLog(bank.ReadLog(context_));
    ASSERT_EQ(fold.head, head);

    // Accounts, by id (the default sort).
    const auto accounts = AllAccounts(bank, head, es::v1::ACCOUNT_SORT_UNSPECIFIED,
                                      es::v1::ACCOUNT_STATUS_UNSPECIFIED);
    ASSERT_EQ(accounts.size(), fold.accounts.size());
    auto folded = fold.accounts.begin();
    for (const es::v1::AccountRow& row : accounts) {
      const auto& [id, a] = *folded++;
      SCOPED_TRACE("account " + id);
      EXPECT_EQ(row.account_id(), id);
      EXPECT_EQ(row.owner(), a.owner);
      EXPECT_EQ(row.balance(), a.balance);
      EXPECT_EQ(row.status(),
                a.closed ? es::v1::ACCOUNT_STATUS_CLOSED : es::v1::ACCOUNT_STATUS_OPEN);
      EXPECT_EQ(row.version(), a.version);
      EXPECT_EQ(row.opened_position(), a.opened_position);
      EXPECT_EQ(row.opened_at_us(), a.opened_at_us);
      EXPECT_EQ(row.last_activity_position(), a.last_position);
      EXPECT_EQ(row.last_activity_at_us(), a.last_at_us);
    }
    // The other sorts and the status filter: the same rows, in their order.
    auto ids = [](const std::vector<es::v1::AccountRow>& rows) {
      std::vector<std::string> out;
      for (const auto& r : rows) out.push_back(r.account_id());
      return out;
    };
    std::vector<es::v1::AccountRow> by_balance = accounts;
    std::stable_sort(by_balance.begin(), by_balance.end(),
                     [](const auto& x, const auto& y) { return x.balance() > y.balance(); });
    EXPECT_EQ(ids(AllAccounts(bank, head, es::v1::ACCOUNT_SORT_BALANCE,
                              es::v1::ACCOUNT_STATUS_UNSPECIFIED)),
              ids(by_balance));
    std::vector<es::v1::AccountRow> by_owner = accounts;
    std::stable_sort(by_owner.begin(), by_owner.end(),
                     [](const auto& x, const auto& y) { return x.owner() < y.owner(); });
    EXPECT_EQ(ids(AllAccounts(bank, head, es::v1::ACCOUNT_SORT_OWNER,
                              es::v1::ACCOUNT_STATUS_UNSPECIFIED)),
              ids(by_owner));
    std::vector<es::v1::AccountRow> by_opened = accounts;
    std::sort(by_opened.begin(), by_opened.end(), [](const auto& x, const auto& y) {
      return x.opened_position() < y.opened_position();
    });
    EXPECT_EQ(ids(AllAccounts(bank, head, es::v1::ACCOUNT_SORT_OPENED,
                              es::v1::ACCOUNT_STATUS_UNSPECIFIED)),
              ids(by_opened));
    std::vector<std::string> closed;
    for (const auto& [id, a] : fold.accounts) {
      if (a.closed) closed.push_back(id);
    }
    EXPECT_EQ(ids(AllAccounts(bank, head, es::v1::ACCOUNT_SORT_UNSPECIFIED,
                              es::v1::ACCOUNT_STATUS_CLOSED)),
              closed);

    // Every account's movements, newest first.
    for (const auto& [id, a] : fold.accounts) {
      SCOPED_TRACE("history of " + id);
      std::vector<es::v1::Movement> expected = fold.movements.at(id);
      std::reverse(expected.begin(), expected.end());
      const std::vector<es::v1::Movement> got = AllMovements(bank, head, id);
      ASSERT_EQ(got.size(), expected.size());
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].SerializeAsString(), expected[i].SerializeAsString())
            << "got " << got[i].ShortDebugString() << "\nexpected "
            << expected[i].ShortDebugString();
      }
    }

    // Transfers, newest first; and filtered by account and by state.
    auto expect_transfers = [&](const std::string& account, es::v1::TransferState state) {
      std::vector<std::pair<uint64_t, std::string>> expected;
      for (const auto& [id, t] : fold.transfers) {
        if (!account.empty() && t.from != account && t.to != account) continue;
        if (state != es::v1::TRANSFER_STATE_UNSPECIFIED && t.state != state) continue;
        expected.emplace_back(t.created_position, id);
      }
      std::sort(expected.rbegin(), expected.rend());
      const auto got = AllTransfers(bank, head, account, state);
      ASSERT_EQ(got.size(), expected.size()) << "account '" << account << "' state " << state;
      for (size_t i = 0; i < got.size(); ++i) {
        const FoldedTransfer& t = fold.transfers.at(expected[i].second);
        SCOPED_TRACE("transfer " + expected[i].second);
        EXPECT_EQ(got[i].transfer_id(), expected[i].second);
        EXPECT_EQ(got[i].from_account(), t.from);
        EXPECT_EQ(got[i].to_account(), t.to);
        EXPECT_EQ(got[i].amount(), t.amount);
        EXPECT_EQ(got[i].state(), t.state);
        EXPECT_EQ(got[i].failure_reason(), t.reason);
        EXPECT_EQ(got[i].version(), t.version);
        EXPECT_EQ(got[i].created_position(), t.created_position);
        EXPECT_EQ(got[i].created_at_us(), t.created_at_us);
        EXPECT_EQ(got[i].finished_at_us(), t.finished_at_us);
      }
    };
    expect_transfers("", es::v1::TRANSFER_STATE_UNSPECIFIED);
    expect_transfers("", es::v1::TRANSFER_STATE_FAILED);
    expect_transfers("", es::v1::TRANSFER_STATE_COMPLETED);
    for (const auto& [id, a] : fold.accounts)
      expect_transfers(id, es::v1::TRANSFER_STATE_UNSPECIFIED);

    // Totals: as folded, and the money invariant.
    es::v1::QueryRequest request;
    request.mutable_get_totals();
    const es::v1::Totals totals = Ask(bank, request, head).totals();
    EXPECT_EQ(totals.ShortDebugString(), fold.totals.ShortDebugString());
    EXPECT_EQ(totals.money_in_accounts() + totals.money_in_flight(),
              totals.money_deposited() - totals.money_withdrawn());
    EXPECT_FALSE(totals.clamped());
  }

  std::string EsctlOk(const BankSystem& bank, const std::vector<std::string>& args) {
    const CapturedRun run = bank.Esctl(args);
    EXPECT_TRUE(run.exited && run.exit_code == 0) << "esctl " << args[0] << ": " << run.Describe();
    return run.out;
  }

  TempDir dir_;
  zmq::context_t context_;
};

// The scenario: opens, credits, debits (one refused for lack of funds), a
// credit to an unknown account (a recorded refusal on a stream with no
// account), a completed transfer, one failed for lack of funds, one whose
// credit is refused (target closed) and refunded; then every model equals
// the fold of the log, through the API with small pages, and through esctl.
TEST_F(QueryProcessTest, EveryModelEqualsAFoldOfTheLog) {
  BankSystem bank(dir_, {.start_saga = false, .start_query = true});
  EsctlOk(bank,
          {"open-account", "--account-id", "A", "--owner", "Alice", "--initial-balance", "1000"});
  EsctlOk(bank,
          {"open-account", "--account-id", "B", "--owner", "Bob", "--initial-balance", "500"});
  EsctlOk(bank, {"open-account", "--account-id", "C", "--owner", "Carol"});
  EsctlOk(bank, {"open-account", "--account-id", "D", "--owner", "Dave"});
  EsctlOk(bank,
          {"open-account", "--account-id", "E", "--owner", "Alice", "--initial-balance", "500"});
  EsctlOk(bank, {"credit", "A", "200"});
  EsctlOk(bank, {"debit", "B", "100"});
  EXPECT_EQ(bank.Esctl({"debit", "C", "50"}).exit_code, 1);       // recorded: lack of funds
  EXPECT_EQ(bank.Esctl({"credit", "nobody", "5"}).exit_code, 1);  // recorded: unknown account
  EsctlOk(bank, {"transfer", "A", "D", "40", "--transfer-id", "refunded"});
  EsctlOk(bank, {"close-account", "D"});  // balance 0: its credit will be refused
  bank.StartSaga();
  EsctlOk(bank, {"transfer", "A", "B", "300", "--transfer-id", "done", "--wait"});
  EXPECT_EQ(bank.Esctl({"transfer", "C", "A", "10", "--transfer-id", "poor", "--wait"}).exit_code,
            1);  // created, then failed for lack of funds
  const uint64_t head = WaitForQuiet(bank);
  ASSERT_GT(head, 0u);

  ExpectModelsEqualTheFoldOfTheLog(bank);

  // The scenario's own figures, so that the fold above is not trusted alone.
  es::v1::QueryRequest request;
  request.mutable_get_totals();
  const es::v1::Totals totals = Ask(bank, request, head).totals();
  EXPECT_EQ(totals.accounts_open(), 4u);
  EXPECT_EQ(totals.accounts_closed(), 1u);
  EXPECT_EQ(totals.money_in_accounts(), 1000 + 500 + 500 + 200 - 100);
  EXPECT_EQ(totals.money_in_flight(), 0);
  EXPECT_EQ(totals.transfers_completed(), 1u);
  EXPECT_EQ(totals.transfers_failed(), 2u);

  // esctl's verbs over the same models.
  const std::string at = std::to_string(head);
  const std::string accounts =
      EsctlOk(bank, {"--json", "accounts", "--sort", "balance", "--limit", "2", "--at-least", at});
  EXPECT_NE(accounts.find("\"position\":\"" + at + "\""), std::string::npos) << accounts;
  EXPECT_LT(accounts.find("\"account_id\":\"A\""), accounts.find("\"account_id\":\"B\""))
      << "A (900) before B (700): " << accounts;
  EXPECT_EQ(accounts.find("\"account_id\":\"E\""), std::string::npos) << "--limit 2: " << accounts;
  const std::string closed = EsctlOk(bank, {"accounts", "--status", "closed", "--at-least", at});
  EXPECT_EQ(closed.rfind("D owner=Dave balance=0 status=Closed", 0), 0u) << closed;
  const std::string history = EsctlOk(bank, {"history", "A", "--limit", "1", "--at-least", at});
  EXPECT_EQ(std::count(history.begin(), history.end(), '\n'), 2) << history;
  EXPECT_NE(history.find("(1 movements of account A at position " + at + ")"), std::string::npos)
      << history;
  const std::string failed =
      EsctlOk(bank, {"transfers", "--state", "Failed", "--account", "D", "--at-least", at});
  EXPECT_NE(failed.find("refunded from=A to=D amount=40 state=Failed reason=CreditRefused"),
            std::string::npos)
      << failed;
  const std::string text_totals = EsctlOk(bank, {"totals", "--at-least", at});
  EXPECT_NE(text_totals.find("money_in_accounts=2100 money_in_flight=0"), std::string::npos)
      << text_totals;
  EXPECT_NE(EsctlOk(bank, {"ping", "queries"}).find("queries ok head=" + at), std::string::npos);
}

// Read-your-writes: a write's position (esctl --json prints it), given to
// --at-least, shows the write; and a minimum position beyond the head is
// answered STALE with the current position once the wait's bound passes,
// capped by --max-wait-ms.
TEST_F(QueryProcessTest, AMinimumPositionIsWaitedForAndStalePastTheBound) {
  BankSystem bank(dir_, {.start_query = true, .query_args = {"--max-wait-ms", "400"}});
  EsctlOk(bank, {"open-account", "--account-id", "A", "--owner", "Alice"});
  const std::string credit = EsctlOk(bank, {"--json", "credit", "A", "77"});
  const size_t at = credit.find("\"global_position\":");
  ASSERT_NE(at, std::string::npos) << credit;
  const uint64_t written = std::stoull(credit.substr(at + 18));
  const std::string history =
      EsctlOk(bank, {"history", "A", "--at-least", std::to_string(written)});
  EXPECT_EQ(history.rfind(std::to_string(written) + " credit amount=77 balance=77", 0), 0u)
      << history;

  const uint64_t head = bank.StoreHead(context_);
  QueryTestClient client(context_, bank.queries());
  for (uint32_t wait_ms : {0u, 250u, 5000u}) {
    SCOPED_TRACE("wait_ms " + std::to_string(wait_ms));
    es::v1::QueryRequest request;
    request.mutable_get_totals();
    request.set_min_position(head + 1000);
    request.set_wait_ms(wait_ms);
    const auto start = Clock::now();
    const es::v1::QueryReply reply = client.Call(request, seconds(10));
    const auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    EXPECT_EQ(reply.status(), es::v1::QUERY_STATUS_STALE) << reply.DebugString();
    EXPECT_EQ(reply.position(), head) << "STALE carries the current position";
    EXPECT_FALSE(reply.has_totals()) << "a STALE answer has no data";
    const milliseconds bound(std::min<uint32_t>(wait_ms, 400));  // --max-wait-ms 400
    EXPECT_GE(elapsed, bound);
    EXPECT_LT(elapsed, bound + milliseconds(1500));
  }
  const CapturedRun stale =
      bank.Esctl({"totals", "--at-least", std::to_string(head + 1000), "--timeout", "300"});
  EXPECT_EQ(stale.exit_code, 3) << stale.Describe();
  EXPECT_NE(stale.err.find("stale: query_service is at position " + std::to_string(head)),
            std::string::npos)
      << stale.err;
}

// kill -9 of query_service while transfers and credits stream in, then a
// restart: it resumes from its checkpoint (not from position 1), and ends
// with models equal to the fold of the log, the money invariant included:
// no event lost, none applied twice.
TEST_F(QueryProcessTest, Kill9UnderLoadThenRestartEndsWithTheSameModels) {
  // Small transactions, so that a kill lands between and inside many.
  BankSystem bank(dir_, {.start_query = true, .query_args = {"--batch-events", "7"}});
  constexpr int kAccounts = 8;
  CommandTestClient commands(context_, bank.commands());
  for (int i = 0; i < kAccounts; ++i) {
    const auto reply = commands.Call(
        CommandRequestWith(OpenAccountWith("open-" + std::to_string(i), "acc" + std::to_string(i),
                                           "Owner" + std::to_string(i % 3), 1000)));
    ASSERT_TRUE(reply.has_outcome() && reply.outcome().accepted()) << reply.DebugString();
  }
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  std::thread load([&] {
    zmq::context_t context;
    CommandTestClient client(context, bank.commands());
    for (int i = 0; i < 400 && !stop; ++i) {
      const std::string from = "acc" + std::to_string(i % kAccounts);
      const std::string to = "acc" + std::to_string((i * 3 + 1) % kAccounts);
      es::v1::Command command =
          i % 5 == 4 ? CreditWith("credit-" + std::to_string(i), from, 1 + i % 13)
                     : TransferWith("transfer-" + std::to_string(i), "t" + std::to_string(i), from,
                                    to, 1 + (i * 37) % 400);
      try {
        client.Call(CommandRequestWith(command), seconds(15));
      } catch (const std::exception& e) {
        ADD_FAILURE() << "command " << i << ": " << e.what();
        return;
      }
      ++sent;
    }
  });
  // Kill it once it has projected part of the load.
  QueryTestClient query(context_, bank.queries());
  uint64_t killed_at = 0;
  const auto deadline = Clock::now() + seconds(60);
  while (Clock::now() < deadline) {
    es::v1::QueryRequest ping;
    ping.mutable_ping();
    const es::v1::QueryReply pong = query.Call(ping, seconds(10));
    if (sent >= 100 && pong.position() > 50) {
      killed_at = pong.position();
      break;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_GT(killed_at, 0u) << "the load did not start";
  const ExitStatus status = bank.KillQuery();
  EXPECT_LT(sent.load(), 400) << "killed while the load still ran";
  EXPECT_EQ(status.signal, SIGKILL);
  bank.StartQuery();  // while the load goes on
  load.join();
  WaitForQuiet(bank);
  const std::string log = bank.query_service().ReadLog();
  const size_t resumed = log.rfind("projecting from position ");
  ASSERT_NE(resumed, std::string::npos) << log;
  EXPECT_GT(std::stoull(log.substr(resumed + 25)), killed_at)
      << "the restart resumed from its checkpoint, not from position 1: " << log;
  ExpectModelsEqualTheFoldOfTheLog(bank);
}

TEST_F(QueryProcessTest, ARebuildAnswersQueriesThroughoutAndSwapsInTheSameModels) {
  BankSystem bank(dir_, {.start_query = true});
  CommandTestClient commands(context_, bank.commands());
  for (int i = 0; i < 6; ++i) {
    const auto reply = commands.Call(CommandRequestWith(
        OpenAccountWith("open-" + std::to_string(i), "r" + std::to_string(i), "Owner", 500)));
    ASSERT_TRUE(reply.has_outcome() && reply.outcome().accepted()) << reply.DebugString();
  }
  for (int i = 0; i < 60; ++i) {
    commands.Call(CommandRequestWith(TransferWith("rt-" + std::to_string(i), "rt" + std::to_string(i),
                                                  "r" + std::to_string(i % 6),
                                                  "r" + std::to_string((i + 1) % 6), 7 + i)));
  }
  // Events the projection only counts as versions (records of types it
  // does not project, on transfer streams: an UPDATE each), so that a
  // rebuild takes long enough to be queried while it runs: 150,000 of
  // them, pipelined.
  {
    StoreTestClient store(context_, bank.store_requests());
    constexpr int kAppends = 15'000;
    for (int i = 0; i < kAppends; ++i) {
      es::v1::StoreRequest request = AppendRequestOf(
          MakeAppend("transfer-noise-" + std::to_string(i % 100), "noise-" + std::to_string(i), ExpectAny(), 10));
      request.set_request_id(static_cast<uint64_t>(i));
      store.Send(request);
    }
    for (int i = 0; i < kAppends; ++i) {
      std::optional<es::v1::StoreReply> reply = store.Receive(seconds(30));
      ASSERT_TRUE(reply.has_value() && reply->has_append()) << i;
    }
  }
  const uint64_t head = WaitForQuiet(bank);
  ASSERT_GT(head, 150'000u);

  CapturedRun started = bank.Esctl({"rebuild-projections", "--no-wait", "--json"});
  ASSERT_TRUE(started.exited && started.exit_code == 0) << started.Describe();
  EXPECT_NE(started.out.find("\"running\":true"), std::string::npos) << started.out;

  // Queries go on being answered, from the live projection, while it runs.
  int answered_while_running = 0;
  es::v1::RebuildStatus status;
  const auto deadline = Clock::now() + seconds(120);
  while (Clock::now() < deadline) {
    const auto asked = Clock::now();
    es::v1::QueryRequest totals;
    totals.mutable_get_totals();
    const es::v1::QueryReply answer = Ask(bank, totals, head);
    EXPECT_EQ(answer.totals().accounts_open(), 6u);
    EXPECT_LT(Clock::now() - asked, seconds(1)) << "a query waited behind the rebuild";
    es::v1::QueryRequest stats;
    stats.mutable_stats();
    status = Ask(bank, stats, 0).stats().rebuild();
    if (!status.running()) break;
    ++answered_while_running;
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_FALSE(status.running()) << "the rebuild did not finish";
  EXPECT_EQ(status.rebuilds_completed(), 1u);
  EXPECT_GT(answered_while_running, 0) << "the rebuild was over before a query could be asked: "
                                       << bank.query_service().ReadLog();
  EXPECT_NE(bank.query_service().ReadLog().find("rebuilt the projection from position 1 to"),
            std::string::npos)
      << bank.query_service().ReadLog();
  ExpectModelsEqualTheFoldOfTheLog(bank);

  // The swapped-in projection is the live one: it follows new writes.
  const auto reply = commands.Call(CommandRequestWith(CreditWith("after", "r0", 5)));
  ASSERT_TRUE(reply.has_outcome() && reply.outcome().accepted()) << reply.DebugString();
  WaitForQuiet(bank);
  ExpectModelsEqualTheFoldOfTheLog(bank);
}

}  // namespace
}  // namespace es::testing
