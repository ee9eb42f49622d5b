// SIGTERM under load, for each service: it exits 0, loses nothing it
// acknowledged, and leaves no half-done work — a client that retries its
// unanswered requests (same command ids) against the restarted service ends
// with every request applied exactly once.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <deque>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bus/async_rpc.h"
#include "bus/catch_up_subscriber.h"
#include "es/v1/bank.pb.h"
#include "saga_service/checkpoint_file.h"
#include "tests/support/command_test_client.h"
#include "tests/support/fault_system.h"
#include "tests/support/service_process.h"
#include "tests/support/store_requests.h"
#include "tests/support/store_test_client.h"
#include "tests/support/temp_dir.h"

namespace es::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;
using CommandRpc = es::bus::AsyncRpc<es::v1::CommandRequest, es::v1::CommandReply>;

// SIGTERM now; the returned future is ready once the process has exited.
std::future<ExitStatus> TerminateInBackground(ServiceProcess& process) {
  return std::async(std::launch::async,
                    [&process] { return process.Terminate(std::chrono::seconds(30)); });
}

bool Ready(const std::future<ExitStatus>& future) {
  return future.valid() && future.wait_for(seconds(0)) == std::future_status::ready;
}

void ExpectCleanExit(const ExitStatus& exit, const ServiceProcess& process) {
  EXPECT_FALSE(exit.timed_out) << "did not stop within 30 s of SIGTERM:\n" << process.ReadLog();
  EXPECT_TRUE(exit.exited) << "killed by signal " << exit.signal << ":\n" << process.ReadLog();
  EXPECT_EQ(exit.exit_code, 0) << process.ReadLog();
}

// Waits up to `timeout` for a reply on `rpc`, dispatches what came, and lets
// it resend what went unanswered (Lazy Pirate).
void Pump(CommandRpc& rpc, milliseconds timeout) {
  std::array<zmq::pollitem_t, 1> items{{{rpc.socket().handle(), 0, ZMQ_POLLIN, 0}}};
  zmq::poll(items, timeout);
  rpc.DispatchReplies();
  rpc.Tick();
}

// The events that end a transfer.
bool IsTerminal(const std::string& type) {
  return type == es::v1::MoneyTransferCompleted::descriptor()->full_name() ||
         type == es::v1::MoneyTransferFailedDueToLackOfFunds::descriptor()->full_name() ||
         type == es::v1::MoneyTransferFailedDueToRefusedCredit::descriptor()->full_name();
}

// (b) and (c): the command and saga services, on the default store engine.
class GracefulShutdownTest : public ::testing::Test {
 protected:
  TempDir dir_;
  zmq::context_t context_;
  FaultSystem system_{dir_};
};

// (a) store_service, each engine: appends stream in from pipelining clients
// when SIGTERM comes. The batches in hand are committed and acknowledged;
// later requests are refused (UNAVAILABLE) or go unanswered; a retry with
// the same command id after the restart applies each exactly once.
class StoreGracefulShutdownTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::optional<std::vector<std::string>> engine = StoreEngineArgs(dir_, GetParam());
    if (!engine) GTEST_SKIP() << "this store_service has no engine " << GetParam();
    engine_args_ = *engine;
  }

  TempDir dir_;
  std::vector<std::string> engine_args_;
  zmq::context_t context_;
  FaultSystem system_{dir_};
};

TEST_P(StoreGracefulShutdownTest, ExitsZeroOnSigtermUnderLoadAndKeepsEveryAcknowledgedAppend) {
  constexpr int kClients = 4;
  constexpr int kWindow = 64;
  constexpr int kEventsPerAppend = 2;
  constexpr size_t kAcksBeforeSigterm = 3000;
  system_.StartStore(engine_args_);

  std::vector<std::unique_ptr<StoreTestClient>> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(std::make_unique<StoreTestClient>(context_, system_.store_requests()));
  }
  std::map<uint64_t, es::v1::StoreRequest> sent;  // by request id (= command number)
  std::map<std::string, es::v1::AppendResult> acked;
  std::vector<int> in_flight(kClients, 0);
  uint64_t next_id = 1;
  uint64_t refused_unavailable = 0;
  size_t acked_at_sigterm = 0;
  auto command_of = [](uint64_t id) { return "append-" + std::to_string(id); };

  std::future<ExitStatus> exited;
  // The last reply, or the moment the exit was seen: after 500 ms of quiet
  // past both, nothing more is coming.
  Clock::time_point last_news = Clock::now();
  bool exit_seen = false;
  while (true) {
    if (!Ready(exited)) {  // clients keep sending until the store is gone
      for (int c = 0; c < kClients; ++c) {
        for (; in_flight[c] < kWindow; ++in_flight[c], ++next_id) {
          es::v1::StoreRequest request =
              AppendRequestOf(MakeAppend("stream-" + std::to_string(next_id % 17),
                                         command_of(next_id), ExpectAny(), kEventsPerAppend));
          request.set_request_id(next_id);
          clients[c]->Send(request);
          sent[next_id] = std::move(request);
        }
      }
    }
    std::array<zmq::pollitem_t, kClients> items{};
    for (int c = 0; c < kClients; ++c) items[c] = {clients[c]->socket().handle(), 0, ZMQ_POLLIN, 0};
    const bool any = zmq::poll(items, milliseconds(100)) > 0;
    for (int c = 0; c < kClients; ++c) {
      if (!(items[c].revents & ZMQ_POLLIN)) continue;
      while (std::optional<es::v1::StoreReply> reply = clients[c]->Receive(milliseconds(0))) {
        --in_flight[c];
        if (reply->has_append()) {
          acked[command_of(reply->request_id())] = reply->append();
        } else {
          ASSERT_TRUE(reply->has_error()) << reply->DebugString();
          ASSERT_EQ(reply->error().code(), es::v1::ERROR_CODE_UNAVAILABLE) << reply->DebugString();
          ++refused_unavailable;
        }
      }
    }
    if (!exited.valid() && acked.size() >= kAcksBeforeSigterm) {
      acked_at_sigterm = acked.size();
      exited = TerminateInBackground(*system_.store);
    }
    ASSERT_LT(next_id, 2'000'000u) << "the store never stopped";
    // Once it has exited, take what is still on its way, then stop.
    if (any) last_news = Clock::now();
    if (!Ready(exited)) continue;
    if (!exit_seen) {
      exit_seen = true;
      last_news = Clock::now();
    }
    if (Clock::now() - last_news > milliseconds(500)) break;
  }
  ExpectCleanExit(exited.get(), *system_.store);
  std::cout << "[ store SIGTERM ] sent " << sent.size() << " appends, " << acked_at_sigterm
            << " acked at SIGTERM, " << acked.size() << " acked in all, " << refused_unavailable
            << " refused UNAVAILABLE, " << sent.size() - acked.size() << " not acked\n";
  RecordProperty("appends_sent", static_cast<int>(sent.size()));
  RecordProperty("appends_acked", static_cast<int>(acked.size()));

  // Everything acknowledged is there after the restart, gap-free.
  system_.StartStore(engine_args_);
  std::vector<es::v1::EventRecord> log = ReadLogFromStore(context_, system_.store_requests());
  std::map<std::string, uint64_t> versions;
  std::map<std::string, int> events_of_command;
  for (size_t i = 0; i < log.size(); ++i) {
    ASSERT_EQ(log[i].global_position(), i + 1);
    ASSERT_EQ(log[i].stream_version(), ++versions[log[i].stream_id()]);
    ++events_of_command[log[i].command_id()];
  }
  for (const auto& [command, result] : acked) {
    ASSERT_LE(result.last_position(), log.size()) << command << " was acked and is lost";
    for (uint64_t k = 0; k < kEventsPerAppend; ++k) {
      const es::v1::EventRecord& event = log[result.first_position() + k - 1];
      ASSERT_EQ(event.command_id(), command);
      ASSERT_EQ(event.event_id(), command + "/" + std::to_string(k));
      ASSERT_EQ(event.stream_version(), result.first_version() + k);
    }
  }
  for (const auto& [command, count] : events_of_command) {
    EXPECT_EQ(count, kEventsPerAppend) << command << ": half an append was written";
  }

  // The client retries what was not acknowledged, with the same command ids.
  StoreTestClient retry(context_, system_.store_requests());
  uint64_t retried = 0;
  uint64_t committed_but_unacked = 0;
  for (const auto& [id, request] : sent) {
    if (acked.count(command_of(id)) != 0) continue;
    retry.Send(request);
    ++retried;
  }
  for (uint64_t i = 0; i < retried; ++i) {
    std::optional<es::v1::StoreReply> reply = retry.Receive(seconds(20));
    ASSERT_TRUE(reply.has_value()) << "the restarted store stopped answering";
    ASSERT_TRUE(reply->has_append()) << reply->DebugString();
    if (reply->append().duplicate()) ++committed_but_unacked;
    acked[command_of(reply->request_id())] = reply->append();
  }
  std::cout << "[ store SIGTERM ] retried " << retried << ", of which " << committed_but_unacked
            << " had been committed without an ack\n";
  // What it committed on the way out, it also answered.
  EXPECT_EQ(committed_but_unacked, 0u) << "appends committed on shutdown whose ack was lost";
  log = ReadLogFromStore(context_, system_.store_requests());
  ASSERT_EQ(log.size(), sent.size() * kEventsPerAppend);
  events_of_command.clear();
  for (size_t i = 0; i < log.size(); ++i) {
    ASSERT_EQ(log[i].global_position(), i + 1);
    ++events_of_command[log[i].command_id()];
  }
  EXPECT_EQ(events_of_command.size(), sent.size());
  for (const auto& [command, count] : events_of_command) {
    EXPECT_EQ(count, kEventsPerAppend) << command;
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, StoreGracefulShutdownTest, ::testing::Values("sqlite", "log"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// (b) command_service: credits to many accounts stream in from a pipelined
// client when SIGTERM comes. The service finishes what it started and exits
// 0; the client resends what went unanswered, same command ids, to the
// service restarted on the same endpoint. Every credit is applied exactly
// once.
TEST_F(GracefulShutdownTest, CommandServiceExitsZeroOnSigtermAndAppliesEveryCreditExactlyOnce) {
  constexpr int kAccounts = 50;
  constexpr int kCredits = 4000;
  constexpr size_t kWindow = 400;
  constexpr int kDoneBeforeSigterm = 1000;
  system_.StartStore();
  system_.StartCommand();
  const std::string endpoint = system_.commands();
  auto account_of = [](int k) { return "credited-" + std::to_string(k % kAccounts); };
  auto amount_of = [](int k) { return static_cast<int64_t>(1 + (k * 37) % 100); };
  auto command_of = [](int k) { return "credit-" + std::to_string(k); };
  {
    CommandClient client = MakeCommandClient(context_, endpoint);
    for (int a = 0; a < kAccounts; ++a) {
      es::v1::CommandReply reply =
          CallCommands(client, CommandRequestWith(OpenAccountWith("open-" + std::to_string(a),
                                                                  account_of(a), "owner", 0)));
      ASSERT_TRUE(reply.has_outcome() && reply.outcome().accepted()) << reply.DebugString();
    }
  }

  CommandRpc rpc(context_, endpoint,
                 {.attempt_timeout = milliseconds(1000), .deadline = milliseconds(-1)});
  std::vector<bool> done(kCredits, false);
  int done_count = 0;
  int duplicates = 0;
  int unavailable = 0;
  std::vector<std::string> failures;
  std::deque<int> to_send(kCredits);
  std::iota(to_send.begin(), to_send.end(), 0);
  auto send = [&](int k) {
    es::v1::CommandRequest request =
        CommandRequestWith(CreditWith(command_of(k), account_of(k), amount_of(k)));
    rpc.Call(request, [&, k](std::optional<es::v1::CommandReply> reply) {
      if (reply && reply->has_outcome() && reply->outcome().accepted()) {
        if (done[k]) failures.push_back(command_of(k) + " answered twice");
        done[k] = true;
        ++done_count;
        if (reply->outcome().duplicate()) ++duplicates;
      } else if (!reply || (reply->has_outcome() &&
                            reply->outcome().refusal_code() == es::v1::REFUSAL_CODE_UNAVAILABLE)) {
        ++unavailable;
        to_send.push_back(k);  // "retry with the same command id"
      } else {
        failures.push_back(command_of(k) + ": " + reply->ShortDebugString());
      }
    });
  };

  std::future<ExitStatus> exited;
  bool sigterm_sent = false;
  bool restarted = false;
  size_t in_flight_at_sigterm = 0;
  const Clock::time_point deadline = Clock::now() + seconds(90);
  while (done_count < kCredits) {
    ASSERT_LT(Clock::now(), deadline) << done_count << " of " << kCredits << " credits done";
    ASSERT_TRUE(failures.empty()) << failures.front();
    while (!to_send.empty() && rpc.in_flight() < kWindow) {
      send(to_send.front());
      to_send.pop_front();
    }
    Pump(rpc, milliseconds(50));
    if (!sigterm_sent && done_count >= kDoneBeforeSigterm) {
      sigterm_sent = true;
      in_flight_at_sigterm = rpc.in_flight();
      exited = TerminateInBackground(*system_.command);
    }
    if (!restarted && Ready(exited)) {
      ExpectCleanExit(exited.get(), *system_.command);
      std::cout << "[ command SIGTERM ] " << in_flight_at_sigterm << " in flight at SIGTERM, "
                << done_count << " of " << kCredits << " done when it had exited\n";
      system_.StartCommand(endpoint);  // where the client keeps retrying
      restarted = true;
    }
  }
  ASSERT_TRUE(restarted) << "every credit was done before the service stopped";
  ASSERT_TRUE(failures.empty()) << failures.front();
  std::cout << "[ command SIGTERM ] after the restart: " << duplicates
            << " answered as duplicates, " << unavailable << " refused UNAVAILABLE, "
            << rpc.resends() << " resent by the client\n";
  RecordProperty("in_flight_at_sigterm", static_cast<int>(in_flight_at_sigterm));
  RecordProperty("duplicates_after_restart", duplicates);
  // It answered everything it had started before it exited: no credit was
  // applied whose answer was lost (the retry would find it done).
  EXPECT_EQ(duplicates, 0) << "credits applied on shutdown whose answer was lost";

  // Balances are the sums credited, and each credit is one event.
  std::vector<int64_t> expected(kAccounts, 0);
  for (int k = 0; k < kCredits; ++k) expected[k % kAccounts] += amount_of(k);
  CommandClient client = MakeCommandClient(context_, system_.commands());
  for (int a = 0; a < kAccounts; ++a) {
    es::v1::CommandReply reply = CallCommands(client, GetAccountRequest(account_of(a)));
    ASSERT_TRUE(reply.has_account()) << reply.DebugString();
    EXPECT_EQ(reply.account().balance(), expected[a]) << account_of(a);
  }
  std::map<std::string, int> events_of_command;
  for (const es::v1::EventRecord& event : ReadLogFromStore(context_, system_.store_requests())) {
    if (event.command_id().rfind("credit-", 0) != 0) continue;
    EXPECT_EQ(event.type(), "es.v1.AccountCredited");
    ++events_of_command[event.command_id()];
  }
  EXPECT_EQ(events_of_command.size(), static_cast<size_t>(kCredits));
  for (const auto& [command, count] : events_of_command) {
    EXPECT_EQ(count, 1) << command << " was applied " << count << " times";
  }
}

// (c) saga_service: SIGTERM while ~200 transfers are in flight. It waits for
// the commands it sent, persists its checkpoint and exits 0; restarted, it
// drives every transfer to Completed or Failed, and no money is created or
// lost.
TEST_F(GracefulShutdownTest, SagaExitsZeroOnSigtermAndFinishesEveryTransferAfterRestart) {
  constexpr int kAccounts = 20;
  constexpr int64_t kInitialBalance = 1000;
  constexpr int kTransfers = 200;
  system_.StartStore();
  system_.StartCommand();
  system_.StartSaga();
  auto account_of = [](int a) { return "saga-acct-" + std::to_string(a); };
  auto transfer_of = [](int k) { return "saga-xfer-" + std::to_string(k); };
  CommandClient client = MakeCommandClient(context_, system_.commands());
  for (int a = 0; a < kAccounts; ++a) {
    es::v1::CommandReply reply = CallCommands(
        client, CommandRequestWith(OpenAccountWith("open-" + std::to_string(a), account_of(a),
                                                   "owner", kInitialBalance)));
    ASSERT_TRUE(reply.has_outcome() && reply.outcome().accepted()) << reply.DebugString();
  }
  // The saga has caught up with the accounts: the transfers come at once.
  const uint64_t head_before =
      CallStore(context_, system_.store_requests(), PingRequest()).pong().head_position();
  for (const Clock::time_point deadline = Clock::now() + seconds(20);;) {
    std::optional<es::v1::SagaStats> stats = SagaStatsOf(context_, system_.saga_control());
    if (stats && stats->checkpoint() >= head_before) break;
    ASSERT_LT(Clock::now(), deadline) << "the saga did not catch up with the accounts";
    std::this_thread::sleep_for(milliseconds(20));
  }

  // Every transfer is created in one pipelined burst; amounts up to 450, so
  // some fail for lack of funds.
  CommandRpc rpc(context_, system_.commands(),
                 {.attempt_timeout = milliseconds(1000), .deadline = milliseconds(-1)});
  int created = 0;
  std::vector<std::string> failures;
  for (int k = 0; k < kTransfers; ++k) {
    const int from = k % kAccounts;
    const int to = (from + 1 + k % (kAccounts - 1)) % kAccounts;
    es::v1::CommandRequest request =
        CommandRequestWith(TransferWith("create-" + std::to_string(k), transfer_of(k),
                                        account_of(from), account_of(to), 50 + (k * 53) % 400));
    rpc.Call(request, [&, k](std::optional<es::v1::CommandReply> reply) {
      if (reply && reply->has_outcome() && reply->outcome().accepted()) {
        ++created;
      } else {
        failures.push_back(transfer_of(k) + ": " + (reply ? reply->ShortDebugString() : "none"));
      }
    });
  }
  for (const Clock::time_point deadline = Clock::now() + seconds(30); created < kTransfers;) {
    ASSERT_TRUE(failures.empty()) << failures.front();
    ASSERT_LT(Clock::now(), deadline) << created << " transfers created";
    Pump(rpc, milliseconds(50));
  }
  std::optional<es::v1::SagaStats> before = SagaStatsOf(context_, system_.saga_control());
  ASSERT_TRUE(before.has_value());
  ExitStatus exit = system_.saga->Terminate(seconds(30));
  ExpectCleanExit(exit, *system_.saga);
  std::cout << "[ saga SIGTERM ] " << before->transfers_in_flight()
            << " transfers in flight just before SIGTERM (" << before->transfers_completed()
            << " completed, " << before->transfers_failed() << " failed)\n";
  RecordProperty("transfers_in_flight_at_sigterm", static_cast<int>(before->transfers_in_flight()));
  EXPECT_GT(before->transfers_in_flight(), 0u) << "SIGTERM came after every transfer was done";

  // The checkpoint was persisted on the way out.
  const es::saga::CheckpointLoad checkpoint =
      es::saga::LoadCheckpoint(es::saga::CheckpointFileIn(dir_.File("saga")));
  ASSERT_EQ(checkpoint.status, es::saga::CheckpointLoad::Status::kLoaded) << checkpoint.error;
  const uint64_t head_at_stop =
      CallStore(context_, system_.store_requests(), PingRequest()).pong().head_position();
  EXPECT_GE(checkpoint.checkpoint.position, head_before);
  EXPECT_LE(checkpoint.checkpoint.position, head_at_stop);
  EXPECT_EQ(system_.saga->ReadLog().find("could NOT be persisted"), std::string::npos);
  std::cout << "[ saga SIGTERM ] checkpoint " << checkpoint.checkpoint.position << " of head "
            << head_at_stop << "\n";
  // The file holds the checkpoint it stopped at, not an older periodic one.
  const std::string saga_log = system_.saga->ReadLog();
  const size_t stopped_at = saga_log.rfind("stopped at checkpoint ");
  ASSERT_NE(stopped_at, std::string::npos) << saga_log;
  EXPECT_EQ(std::stoull(saga_log.substr(stopped_at + 22)), checkpoint.checkpoint.position)
      << saga_log;

  // Restarted, it finishes every transfer: each gets one terminal event.
  system_.StartSaga();
  es::bus::CatchUpSubscriber subscriber(
      context_, es::bus::CatchUpOptions{.store_requests = system_.store_requests(),
                                        .store_events = system_.store_events(),
                                        .stream_prefix = "transfer-"});
  std::map<std::string, int> terminal;  // by transfer stream
  for (const Clock::time_point deadline = Clock::now() + seconds(60);
       terminal.size() < size_t{kTransfers};) {
    ASSERT_LT(Clock::now(), deadline)
        << terminal.size() << " of " << kTransfers << " transfers finished:\n"
        << system_.saga->ReadLog();
    std::optional<es::v1::EventRecord> event = subscriber.Next(milliseconds(200));
    if (!event) continue;
    if (IsTerminal(event->type())) {
      ++terminal[event->stream_id()];
    }
  }
  // The saga settles at the head with nothing in flight.
  const uint64_t final_head =
      CallStore(context_, system_.store_requests(), PingRequest()).pong().head_position();
  for (const Clock::time_point deadline = Clock::now() + seconds(20);;) {
    std::optional<es::v1::SagaStats> stats = SagaStatsOf(context_, system_.saga_control());
    if (stats && stats->checkpoint() >= final_head && stats->transfers_in_flight() == 0) {
      EXPECT_EQ(stats->transfers_completed() + stats->transfers_failed(),
                static_cast<uint64_t>(kTransfers));
      break;
    }
    ASSERT_LT(Clock::now(), deadline)
        << "the saga did not settle: " << (stats ? stats->ShortDebugString() : "no stats");
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(CallStore(context_, system_.store_requests(), PingRequest()).pong().head_position(),
            final_head)
      << "events were written after every transfer had finished";

  int completed = 0;
  for (int k = 0; k < kTransfers; ++k) {
    EXPECT_EQ(terminal["transfer-" + transfer_of(k)], 1) << transfer_of(k);
    es::v1::CommandReply reply = CallCommands(client, GetTransferRequest(transfer_of(k)));
    ASSERT_TRUE(reply.has_transfer()) << reply.DebugString();
    const std::string& state = reply.transfer().state();
    EXPECT_TRUE(state == "Completed" || state == "Failed") << transfer_of(k) << " is " << state;
    completed += state == "Completed";
  }
  int64_t total = 0;
  for (int a = 0; a < kAccounts; ++a) {
    es::v1::CommandReply reply = CallCommands(client, GetAccountRequest(account_of(a)));
    ASSERT_TRUE(reply.has_account()) << reply.DebugString();
    EXPECT_GE(reply.account().balance(), 0) << account_of(a);
    total += reply.account().balance();
  }
  EXPECT_EQ(total, kAccounts * kInitialBalance) << "money was created or lost";
  std::cout << "[ saga SIGTERM ] after the restart: " << completed << " completed, "
            << kTransfers - completed << " failed\n";
  ExpectCleanExit(system_.saga->Terminate(seconds(30)), *system_.saga);
}

}  // namespace
}  // namespace es::testing
