// The real saga_service binary against an in-process fake store and fake
// command_service: it drives every event's command to a final outcome
// (retrying refusals that say "not now"), reports it over the control socket,
// persists its checkpoint on SIGTERM and resumes after it; parks, visibly, a
// transfer whose step gets an answer it did not expect, and finishes it once
// the answer is right. Also its command line and its refusal of a corrupt
// checkpoint.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "bus/router_frames.h"
#include "bus/rpc_client.h"
#include "domain/event_codec.h"
#include "domain/transfer_saga.h"
#include "es/v1/command.pb.h"
#include "es/v1/saga.pb.h"
#include "es/v1/store.pb.h"
#include "saga_service/checkpoint_file.h"
#include "tests/support/service_process.h"
#include "tests/support/temp_dir.h"

namespace es::saga {
namespace {

using es::testing::BinaryPath;
using es::testing::ServiceProcess;
using es::testing::TempDir;
using std::chrono::milliseconds;
using std::chrono::seconds;

es::v1::EventRecord Record(uint64_t position, const es::domain::DomainEvent& event) {
  const es::domain::EncodedEvent encoded = es::domain::EncodeEvent(event);
  es::v1::EventRecord record;
  record.set_event_id("event-" + std::to_string(position));
  record.set_global_position(position);
  // Each event in its aggregate's stream: the saga follows only those.
  record.set_stream_id(encoded.type.starts_with("es.v1.Account") ? "account-a" : "transfer-t");
  record.set_type(encoded.type);
  record.set_data(encoded.data);
  return record;
}

// Three transfers as the saga sees them: two complete, one fails for lack of
// funds; an account event that calls for nothing; and last, an event in a
// stream the saga does not follow (its checkpoint must pass it all the same).
std::vector<es::v1::EventRecord> SampleLog() {
  std::vector<es::domain::DomainEvent> events;
  es::v1::AccountOpened opened;
  opened.set_account_id("a");
  events.push_back(opened);
  for (const std::string id : {"t1", "t2"}) {
    es::v1::MoneyTransferCreated created;
    created.set_transfer_id(id);
    created.set_from_account("a");
    created.set_to_account("b");
    created.set_amount(5);
    events.push_back(created);
    es::v1::AccountDebitedBecauseOfMoneyTransfer debited;
    debited.set_account_id("a");
    debited.set_transfer_id(id);
    events.push_back(debited);
    es::v1::MoneyTransferDebited transfer_debited;
    transfer_debited.set_transfer_id(id);
    events.push_back(transfer_debited);
    es::v1::AccountCreditedBecauseOfMoneyTransfer credited;
    credited.set_transfer_id(id);
    events.push_back(credited);
    es::v1::MoneyTransferCompleted completed;
    completed.set_transfer_id(id);
    events.push_back(completed);
  }
  es::v1::MoneyTransferCreated created;
  created.set_transfer_id("t3");
  events.push_back(created);
  es::v1::AccountDebitBecauseOfMoneyTransferFailed debit_failed;
  debit_failed.set_transfer_id("t3");
  events.push_back(debit_failed);
  events.push_back(es::v1::MoneyTransferFailedDueToLackOfFunds());
  std::vector<es::v1::EventRecord> log;
  for (const auto& event : events) log.push_back(Record(log.size() + 1, event));
  es::v1::EventRecord unrelated;
  unrelated.set_event_id("event-" + std::to_string(log.size() + 1));
  unrelated.set_global_position(log.size() + 1);
  unrelated.set_stream_id("elsewhere-1");
  unrelated.set_type("test.Unrelated");
  unrelated.set_data("not a domain event");
  log.push_back(unrelated);
  return log;
}

// A ROUTER served on its own thread: every request gets `answer(request)`.
class FakeServer {
 public:
  using Answer = std::function<std::string(const es::bus::RoutedRequest&)>;
  FakeServer(const std::string& endpoint, Answer answer)
      : router_(context_, zmq::socket_type::router), answer_(std::move(answer)) {
    router_.set(zmq::sockopt::linger, 0);
    router_.bind(endpoint);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeServer() {
    stop_ = true;
    thread_.join();
  }
  std::string endpoint() const { return router_.get(zmq::sockopt::last_endpoint); }

 private:
  void Serve() {
    while (!stop_) {
      zmq::pollitem_t item{static_cast<void*>(router_), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, milliseconds(10));
      while (auto request = es::bus::ReceiveRouted(router_)) {
        es::bus::SendRouted(router_, request->identity, answer_(*request));
      }
    }
  }

  zmq::context_t context_;
  zmq::socket_t router_;
  Answer answer_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

template <typename Message>
Message ParseBody(const es::bus::RoutedRequest& request) {
  Message message;
  message.ParseFromArray(request.body.data(), static_cast<int>(request.body.size()));
  return message;
}

// A store that serves `log` to read_all and never publishes (the saga finds
// the events by reading), and a command service that refuses every command
// with CONFLICT once, then accepts it (unless a script answers). Each records
// what it was asked.
class FakeBank {
 public:
  // The answer to the `seen`-th receipt (from 1) of `command`; nullopt: the
  // default answer.
  using Script =
      std::function<std::optional<es::v1::CommandOutcome>(const es::v1::Command&, int seen)>;

  explicit FakeBank(std::vector<es::v1::EventRecord> log)
      : log_(std::move(log)),
        events_(context_, zmq::socket_type::pub),
        store_("tcp://127.0.0.1:*", [this](const auto& request) { return AnswerStore(request); }) {
    events_.set(zmq::sockopt::linger, 0);
    events_.bind("tcp://127.0.0.1:*");
  }

  // Starts the command service (a FakeBank starts without one).
  void StartCommandService(const std::string& endpoint = "tcp://127.0.0.1:*",
                           Script script = nullptr) {
    script_ = std::move(script);
    commands_.emplace(endpoint, [this](const auto& request) { return AnswerCommand(request); });
  }

  std::string store_endpoint() const { return store_.endpoint(); }
  std::string events_endpoint() const { return events_.get(zmq::sockopt::last_endpoint); }
  std::string commands_endpoint() const { return commands_->endpoint(); }

  // Every command id received, with how often.
  std::map<std::string, int> commands_received() const {
    std::lock_guard lock(mutex_);
    return commands_received_;
  }
  // When each receipt of `command_id` arrived.
  std::vector<std::chrono::steady_clock::time_point> receipts(const std::string& command_id) const {
    std::lock_guard lock(mutex_);
    auto it = receipts_.find(command_id);
    return it == receipts_.end() ? std::vector<std::chrono::steady_clock::time_point>{}
                                 : it->second;
  }
  // The from_position of every read_all received.
  std::vector<uint64_t> reads_from() const {
    std::lock_guard lock(mutex_);
    return reads_from_;
  }

 private:
  std::string AnswerStore(const es::bus::RoutedRequest& routed) {
    const auto request = ParseBody<es::v1::StoreRequest>(routed);
    es::v1::StoreReply reply;
    reply.set_request_id(request.request_id());
    if (!request.has_read_all()) {
      reply.mutable_pong()->set_head_position(log_.size());
      return reply.SerializeAsString();
    }
    const uint64_t from = request.read_all().from_position();
    {
      std::lock_guard lock(mutex_);
      reads_from_.push_back(from);
    }
    const uint64_t max_count = request.read_all().max_count();
    auto* result = reply.mutable_read_all();
    for (uint64_t position = std::max<uint64_t>(from, 1);
         position <= log_.size() &&
         (max_count == 0 || static_cast<uint64_t>(result->events_size()) < max_count);
         ++position) {
      *result->add_events() = log_[position - 1];
    }
    result->set_scanned_through(from - 1 + result->events_size());
    result->set_head_position(log_.size());
    return reply.SerializeAsString();
  }

  std::string AnswerCommand(const es::bus::RoutedRequest& routed) {
    const auto request = ParseBody<es::v1::CommandRequest>(routed);
    int seen;
    {
      std::lock_guard lock(mutex_);
      seen = ++commands_received_[request.command().command_id()];
      receipts_[request.command().command_id()].push_back(std::chrono::steady_clock::now());
    }
    es::v1::CommandReply reply;
    reply.set_request_id(request.request_id());
    if (auto scripted = script_ ? script_(request.command(), seen) : std::nullopt) {
      *reply.mutable_outcome() = *scripted;
      return reply.SerializeAsString();
    }
    reply.mutable_outcome()->set_accepted(seen > 1);
    // An accepted step wrote its event.
    reply.mutable_outcome()->set_events_written(seen > 1 ? 1 : 0);
    if (seen == 1) reply.mutable_outcome()->set_refusal_code(es::v1::REFUSAL_CODE_CONFLICT);
    return reply.SerializeAsString();
  }

  const std::vector<es::v1::EventRecord> log_;
  mutable std::mutex mutex_;
  std::map<std::string, int> commands_received_;
  std::map<std::string, std::vector<std::chrono::steady_clock::time_point>> receipts_;
  Script script_;
  std::vector<uint64_t> reads_from_;
  zmq::context_t context_;
  zmq::socket_t events_;
  FakeServer store_;
  std::optional<FakeServer> commands_;
};

// A loopback endpoint nobody listens on (yet).
std::string UnusedEndpoint() {
  zmq::context_t context;
  zmq::socket_t probe(context, zmq::socket_type::router);
  probe.set(zmq::sockopt::linger, 0);
  probe.bind("tcp://127.0.0.1:*");
  return probe.get(zmq::sockopt::last_endpoint);
}

class SagaProcessTest : public ::testing::Test {
 protected:
  std::vector<std::string> Args(const FakeBank& bank, const std::string& commands) const {
    // clang-format off
    return {"--data-dir", dir_.File("saga"),
            "--store-requests", bank.store_endpoint(),
            "--store-events", bank.events_endpoint(),
            "--commands", commands,
            "--bind-control", "tcp://127.0.0.1:*",
            "--checkpoint-ms", "50"};
    // clang-format on
  }
  ServiceProcess StartSaga(const FakeBank& bank, const std::string& commands,
                           std::vector<std::string> extra = {}) {
    std::vector<std::string> args = Args(bank, commands);
    args.insert(args.end(), extra.begin(), extra.end());
    return ServiceProcess::Start(BinaryPath("saga_service"), args, dir_.File("saga.log"));
  }
  ServiceProcess StartSaga(const FakeBank& bank) {
    return StartSaga(bank, bank.commands_endpoint());
  }
  SagaCheckpoint StoredCheckpoint() {
    const CheckpointLoad load = LoadCheckpoint(CheckpointFileIn(dir_.File("saga")));
    EXPECT_EQ(load.status, CheckpointLoad::Status::kLoaded) << load.error;
    return load.checkpoint;
  }
  es::v1::SagaReply Control(const ServiceProcess& saga, es::v1::SagaRequest request) {
    es::bus::RpcClient<es::v1::SagaRequest, es::v1::SagaReply> client(
        context_, saga.endpoint("control"),
        {.attempt_timeout = milliseconds(2000), .deadline = milliseconds(2000)});
    auto reply = client.Call(request);
    EXPECT_TRUE(reply) << "no control reply";
    return reply.value_or(es::v1::SagaReply());
  }
  es::v1::SagaStats Stats(const ServiceProcess& saga) {
    es::v1::SagaRequest request;
    request.mutable_stats();
    return Control(saga, request).stats();
  }
  // Polls stats until the checkpoint reaches `position`.
  es::v1::SagaStats WaitForCheckpoint(const ServiceProcess& saga, uint64_t position) {
    const auto give_up = std::chrono::steady_clock::now() + seconds(15);
    es::v1::SagaStats stats;
    do {
      stats = Stats(saga);
      if (stats.checkpoint() >= position) break;
      std::this_thread::sleep_for(milliseconds(20));
    } while (std::chrono::steady_clock::now() < give_up);
    return stats;
  }

  TempDir dir_;
  zmq::context_t context_;
};

TEST_F(SagaProcessTest, DrivesEveryCommandToAnOutcomeAndResumesAfterItsCheckpoint) {
  const std::vector<es::v1::EventRecord> log = SampleLog();
  std::set<std::string> expected_commands;
  for (const auto& event : log) {
    if (auto command = es::domain::ReactToEvent(event)) {
      expected_commands.insert(command->command_id());
    }
  }
  ASSERT_EQ(expected_commands.size(), 10u);  // 4 per completed transfer, 2 for the failed one
  FakeBank bank(log);
  bank.StartCommandService();
  {
    ServiceProcess saga = StartSaga(bank);
    const es::v1::SagaStats stats = WaitForCheckpoint(saga, log.size());
    EXPECT_EQ(stats.checkpoint(), log.size()) << saga.ReadLog();
    EXPECT_EQ(stats.head_position(), log.size());
    EXPECT_EQ(stats.lag(), 0u);
    EXPECT_EQ(stats.commands_sent(), expected_commands.size());
    EXPECT_GE(stats.command_retries(), expected_commands.size());  // each refused once
    EXPECT_EQ(stats.transfers_completed(), 2u);
    EXPECT_EQ(stats.transfers_failed(), 1u);
    EXPECT_EQ(stats.transfers_in_flight(), 0u);
    EXPECT_GT(stats.rss_bytes(), 0u);

    const auto received = bank.commands_received();
    std::set<std::string> received_ids;
    for (const auto& [id, count] : received) {
      received_ids.insert(id);
      EXPECT_GE(count, 2) << id << ": a CONFLICT must be retried";
    }
    EXPECT_EQ(received_ids, expected_commands);

    const auto exit = saga.Terminate(seconds(10));
    EXPECT_TRUE(exit.exited && exit.exit_code == 0) << saga.ReadLog();
  }
  EXPECT_EQ(StoredCheckpoint(),
            (SagaCheckpoint{.position = log.size(),
                            .transfers = {.created = 3, .completed = 2, .failed = 1}}));

  // Restarted, it reads on from after its checkpoint and sends nothing again.
  const size_t reads_before = bank.reads_from().size();
  ServiceProcess saga = StartSaga(bank);
  es::v1::SagaRequest ping;
  ping.mutable_ping();
  const es::v1::SagaReply pong = Control(saga, ping);
  EXPECT_EQ(pong.pong().head_position(), log.size());
  EXPECT_EQ(pong.pong().service(), "saga_service");
  const es::v1::SagaStats stats = Stats(saga);
  EXPECT_EQ(stats.transfers_completed(), 2u);
  EXPECT_EQ(stats.transfers_failed(), 1u);
  const auto reads = bank.reads_from();
  ASSERT_GT(reads.size(), reads_before);
  EXPECT_EQ(reads[reads_before], log.size() + 1);
  EXPECT_EQ(stats.commands_sent(), 0u);
  const auto exit = saga.Terminate(seconds(10));
  EXPECT_TRUE(exit.exited && exit.exit_code == 0) << saga.ReadLog();
}

es::v1::CommandOutcome Refusal(es::v1::RefusalCode code) {
  es::v1::CommandOutcome outcome;
  outcome.set_refusal_code(code);
  outcome.set_message("scripted refusal");
  return outcome;
}

// The first transfer's debit ("saga-event-2", on account-a) gets unexpected
// answers that asking again soon does not change: the transfer is parked,
// listed in the stats and the log, its checkpoint held below it, its command
// sent again at the slow interval (not the backoff), and it finishes once the
// answer is the expected one. The old judge took INVALID_STATE (and an
// "accepted" for another stream) as done, which moved the checkpoint past a
// step that never happened.
TEST_F(SagaProcessTest, ParksATransferOnAnUnexpectedAnswerUntilItIsAnsweredAsExpected) {
  const std::vector<es::v1::EventRecord> log = SampleLog();
  const std::string debit_id = es::domain::SagaCommandId("event-2");
  for (int unexpected = 0; unexpected < 3; ++unexpected) {
    SCOPED_TRACE(unexpected);
    // Each round from a fresh saga: no checkpoint, no log.
    std::filesystem::remove_all(dir_.File("saga"));
    std::filesystem::remove(dir_.File("saga.log"));
    std::atomic<bool> repaired{false};
    FakeBank bank(log);
    bank.StartCommandService(
        "tcp://127.0.0.1:*",
        [&](const es::v1::Command& command, int /*seen*/) -> std::optional<es::v1::CommandOutcome> {
          if (command.command_id() != debit_id || repaired) return std::nullopt;
          if (unexpected == 0) return Refusal(es::v1::REFUSAL_CODE_INVALID_STATE);
          if (unexpected == 1) return Refusal(es::v1::REFUSAL_CODE_COMMAND_ID_CONFLICT);
          // The id's first use was on another stream.
          es::v1::CommandOutcome elsewhere;
          elsewhere.set_accepted(true);
          elsewhere.set_duplicate(true);
          elsewhere.set_stream_id("account-somebody-else");
          return elsewhere;
        });
    ServiceProcess saga = StartSaga(bank, bank.commands_endpoint(), {"--parked-retry-ms", "400"});

    // Parked: everything else finishes, the first transfer's debit does not.
    const auto give_up = std::chrono::steady_clock::now() + seconds(15);
    es::v1::SagaStats stats;
    do {
      stats = Stats(saga);
      if (stats.transfers_parked() == 1 && bank.receipts(debit_id).size() >= 3) break;
      std::this_thread::sleep_for(milliseconds(20));
    } while (std::chrono::steady_clock::now() < give_up);
    ASSERT_EQ(stats.transfers_parked(), 1u) << saga.ReadLog();
    ASSERT_EQ(stats.parked_transfers_size(), 1);
    EXPECT_EQ(stats.parked_transfers(0), "t1");
    EXPECT_GE(stats.alarms(), 1u);
    EXPECT_EQ(stats.checkpoint(), 1u);  // held below the parked step
    const std::string saga_log = saga.ReadLog();
    EXPECT_NE(saga_log.find("ALARM parked transfer t1 debit_account_because_of_money_transfer " +
                            debit_id),
              std::string::npos)
        << saga_log;
    // Sent again at the parked interval, not the 10 ms backoff.
    const auto receipts = bank.receipts(debit_id);
    for (size_t i = 1; i < receipts.size(); ++i) {
      EXPECT_GE(receipts[i] - receipts[i - 1], milliseconds(350)) << i;
    }

    // The cause is gone: the next attempt is answered as expected.
    repaired = true;
    stats = WaitForCheckpoint(saga, log.size());
    EXPECT_EQ(stats.checkpoint(), log.size()) << saga.ReadLog();
    EXPECT_EQ(stats.transfers_parked(), 0u);
    EXPECT_EQ(stats.parked_transfers_size(), 0);
    EXPECT_EQ(stats.transfers_in_flight(), 0u);
    EXPECT_NE(saga.ReadLog().find("unparked transfer t1"), std::string::npos) << saga.ReadLog();
    const auto exit = saga.Terminate(seconds(10));
    EXPECT_TRUE(exit.exited && exit.exit_code == 0) << saga.ReadLog();
  }
}

// A parked step does not hold up a shutdown: it is sent again after the
// restart (the checkpoint stays below it).
TEST_F(SagaProcessTest, StopsPromptlyWithATransferParked) {
  const std::vector<es::v1::EventRecord> log = SampleLog();
  FakeBank bank(log);
  bank.StartCommandService("tcp://127.0.0.1:*", [](const es::v1::Command& command, int) {
    return command.has_debit_account_because_of_money_transfer()
               ? std::optional(Refusal(es::v1::REFUSAL_CODE_STREAM_CORRUPT))
               : std::nullopt;
  });
  ServiceProcess saga = StartSaga(bank, bank.commands_endpoint(), {"--parked-retry-ms", "60000"});
  const auto give_up = std::chrono::steady_clock::now() + seconds(15);
  while (Stats(saga).transfers_parked() < 3 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_EQ(Stats(saga).transfers_parked(), 3u) << saga.ReadLog();
  const auto started = std::chrono::steady_clock::now();
  const auto exit = saga.Terminate(seconds(10));
  EXPECT_TRUE(exit.exited && exit.exit_code == 0) << saga.ReadLog();
  EXPECT_LT(std::chrono::steady_clock::now() - started, seconds(2));
  EXPECT_EQ(StoredCheckpoint().position, 1u);
}

// Lazy Pirate without a deadline: commands wait for a command service that
// is not there yet, and reach it once it is.
TEST_F(SagaProcessTest, KeepsSendingWhileTheCommandServiceIsDown) {
  const std::vector<es::v1::EventRecord> log = SampleLog();
  FakeBank bank(log);
  const std::string commands = UnusedEndpoint();
  ServiceProcess saga = StartSaga(bank, commands);
  std::this_thread::sleep_for(milliseconds(1500));  // past one attempt timeout
  es::v1::SagaStats stats = Stats(saga);
  EXPECT_EQ(stats.checkpoint(), 1u);  // the account event; the first transfer step waits
  EXPECT_EQ(stats.head_position(), log.size());
  EXPECT_EQ(stats.commands_sent(), 10u);  // every step of this log at once, all unanswered
  bank.StartCommandService(commands);
  stats = WaitForCheckpoint(saga, log.size());
  EXPECT_EQ(stats.checkpoint(), log.size()) << saga.ReadLog();
  EXPECT_EQ(stats.transfers_in_flight(), 0u);
  const auto exit = saga.Terminate(seconds(10));
  EXPECT_TRUE(exit.exited && exit.exit_code == 0) << saga.ReadLog();
}

// SIGTERM with commands unanswered: it waits a bounded time, persists the
// checkpoint below them (so they are sent again after a restart), exits 0.
TEST_F(SagaProcessTest, StopsWithinBoundsWhenCommandsStayUnanswered) {
  const std::vector<es::v1::EventRecord> log = SampleLog();
  FakeBank bank(log);
  ServiceProcess saga = StartSaga(bank, UnusedEndpoint());
  ASSERT_EQ(WaitForCheckpoint(saga, 1).checkpoint(), 1u);
  const auto started = std::chrono::steady_clock::now();
  const auto exit = saga.Terminate(seconds(10));
  EXPECT_TRUE(exit.exited && exit.exit_code == 0) << saga.ReadLog();
  EXPECT_LT(std::chrono::steady_clock::now() - started, seconds(8));
  EXPECT_EQ(StoredCheckpoint().position, 1u);
}

TEST_F(SagaProcessTest, AnswersMalformedControlRequestsAndKeepsServing) {
  FakeBank bank({});
  bank.StartCommandService();
  ServiceProcess saga = StartSaga(bank);
  zmq::socket_t raw(context_, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(saga.endpoint("control"));
  raw.send(zmq::message_t(), zmq::send_flags::sndmore);
  raw.send(zmq::str_buffer("\xff\xff not a request"), zmq::send_flags::none);
  zmq::pollitem_t item{static_cast<void*>(raw), 0, ZMQ_POLLIN, 0};
  ASSERT_EQ(zmq::poll(&item, 1, milliseconds(5000)), 1);
  zmq::message_t delimiter, body;
  ASSERT_TRUE(raw.recv(delimiter));
  ASSERT_TRUE(raw.recv(body));
  es::v1::SagaReply reply;
  ASSERT_TRUE(reply.ParseFromArray(body.data(), static_cast<int>(body.size())));
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), es::v1::ERROR_CODE_BAD_REQUEST);

  es::v1::SagaRequest ping;
  ping.mutable_ping();
  EXPECT_TRUE(Control(saga, ping).has_pong());
  const auto exit = saga.Terminate(seconds(10));
  EXPECT_TRUE(exit.exited && exit.exit_code == 0) << saga.ReadLog();
}

TEST_F(SagaProcessTest, RefusesToStartFromACorruptCheckpoint) {
  FakeBank bank({});
  bank.StartCommandService();
  std::filesystem::create_directories(dir_.File("saga"));
  std::ofstream(CheckpointFileIn(dir_.File("saga"))) << "es-saga-checkpoint=1\nposition=12\n";
  const auto exit = ServiceProcess::Run(
      BinaryPath("saga_service"), Args(bank, bank.commands_endpoint()), dir_.File("saga.log"));
  EXPECT_TRUE(exit.exited);
  EXPECT_EQ(exit.exit_code, 1);
  std::ifstream log_file(dir_.File("saga.log"));
  const std::string log((std::istreambuf_iterator<char>(log_file)),
                        std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("corrupt"), std::string::npos) << log;
}

TEST_F(SagaProcessTest, BadFlagsExitWithTwo) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--no-such-flag"},
                                               {"--max-in-flight", "0"},
                                               {"--checkpoint-ms", "soon"},
                                               {"--parked-retry-ms", "0"}}) {
    const auto exit = ServiceProcess::Run(BinaryPath("saga_service"), args, dir_.File("flags.log"));
    EXPECT_TRUE(exit.exited) << args[0];
    EXPECT_EQ(exit.exit_code, 2) << args[0];
  }
  const auto help =
      ServiceProcess::Run(BinaryPath("saga_service"), {"--help"}, dir_.File("help.log"));
  EXPECT_TRUE(help.exited && help.exit_code == 0);
}

}  // namespace
}  // namespace es::saga
