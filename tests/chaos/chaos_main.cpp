// eschaos: the whole system under load while processes die, and clients
// that do what clients may do.
//
// Launches store_service, two (--command-services) command_service
// instances, saga_service and N listener processes on free loopback ports in
// a work directory; opens accounts; runs concurrent clients sending
// transfers, credits, debits and closes through every command_service
// instance in turn (each retrying with the same command id, on the next
// instance, until it gets a definitive answer). The clients also
//   - send already answered commands again (same id, same command): the
//     answer must equal the first;
//   - send another command under an id already answered, and commands whose
//     id is in a namespace not theirs (a client command with a "saga-" id, a
//     saga step without one): COMMAND_ID_CONFLICT, nothing written;
// a prober opens a fresh account, sends a transfer to it and closes it at
// once, so that the credit is refused and refunded in every run; and, once a
// transfer it sent is over, sends the saga's own steps for it again exactly
// (the first answer again) and altered (COMMAND_ID_CONFLICT); and a flood
// client (a DEALER) sends requests at --flood-per-s and never reads a reply.
// Meanwhile a random service or listener is killed -9 at seeded random
// moments and restarted after a random pause. Then: quiet; a clean phase of
// the same load without kills (the saga may raise no alarm in it); quiet
// again; the audit (chaos_audit.h); the figures and PASS or FAIL.
//
//   eschaos [--seconds S] [--seed N] [--clients C] [--accounts A] [--listeners L]
//           [--command-services K] [--flood-per-s R] [--quiet-seconds Q]
//           [--clean-seconds T] [--probe-ms P]
//   eschaos listener --store EP --events EP --out FILE     (internal)
#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <utility>
#include <zmq.hpp>

#include "bus/endpoints.h"
#include "bus/ids.h"
#include "bus/rpc_client.h"
#include "domain/command_identity.h"
#include "domain/stream_ids.h"
#include "domain/transfer_saga.h"
#include "es/v1/command.pb.h"
#include "es/v1/saga.pb.h"
#include "es/v1/store.pb.h"
#include "tests/chaos/chaos_audit.h"
#include "tests/chaos/chaos_listener.h"
#include "tests/support/service_process.h"

namespace es::chaos {
namespace {

using Clock = std::chrono::steady_clock;
using es::testing::ServiceProcess;
namespace fs = std::filesystem;

struct Settings {
  int seconds = 60;
  uint64_t seed = 1;
  int clients = 4;
  int accounts = 16;
  int listeners = 3;
  int command_services = 2;
  int flood_per_s = 200;
  int quiet_seconds = 120;
  int clean_seconds = 5;
  int probe_ms = 200;
  std::string bin_dir;
  std::string work_dir;
  bool keep = false;
};

// One restartable child process.
struct Child {
  std::string name;
  std::string binary;
  std::vector<std::string> args;  // with concrete endpoints after the first start
  std::optional<ServiceProcess> process;
  int kills = 0;
  int restarts = 0;
};

class Cluster {
 public:
  explicit Cluster(const Settings& settings) : settings_(settings) {}

  void Start() {
    const std::string any = "tcp://127.0.0.1:*";
    const std::string dir = settings_.work_dir;
    store_ = Launch("store_service", Bin("store_service"),
                    {"--data-dir", dir + "/store", "--bind-requests", any, "--bind-events", any});
    store_requests_ = store_.process->endpoint("requests");
    store_events_ = store_.process->endpoint("events");
    store_.args = {"--data-dir",    dir + "/store",  "--bind-requests",
                   store_requests_, "--bind-events", store_events_};
    for (int i = 0; i < settings_.command_services; ++i) {
      Child command = Launch("command_service-" + std::to_string(i), Bin("command_service"),
                             {"--bind", any, "--store-requests", store_requests_});
      commands_.push_back(command.process->endpoint("commands"));
      command.args = {"--bind", commands_.back(), "--store-requests", store_requests_};
      command_.push_back(std::move(command));
    }
    // The saga talks to instance 0; the clients to every one.
    std::vector<std::string> saga_args = {"--data-dir",    dir + "/saga",    "--store-requests",
                                          store_requests_, "--store-events", store_events_,
                                          "--commands",    commands_[0],     "--bind-control"};
    saga_args.push_back(any);
    saga_ = Launch("saga_service", Bin("saga_service"), saga_args);
    saga_control_ = saga_.process->endpoint("control");
    saga_args.back() = saga_control_;
    saga_.args = saga_args;
    for (int i = 0; i < settings_.listeners; ++i) {
      listeners_.push_back(Launch("listener-" + std::to_string(i), SelfPath(),
                                  {"listener", "--store", store_requests_, "--events",
                                   store_events_, "--out", ListenerFile(i)}));
    }
  }

  // Every child, in a fixed order: the killer's targets.
  std::vector<Child*> children() {
    std::vector<Child*> all = {&store_};
    for (auto& c : command_) all.push_back(&c);
    all.push_back(&saga_);
    for (auto& l : listeners_) all.push_back(&l);
    return all;
  }

  void Restart(Child& child) {
    for (int attempt = 0;; ++attempt) {
      try {
        child.process = ServiceProcess::Start(child.binary, child.args, LogPath(child.name),
                                              std::chrono::seconds(30));
        ++child.restarts;
        return;
      } catch (const std::exception& e) {
        // The port may still be held for a moment by the killed process.
        if (attempt >= 20) throw;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
    }
  }

  void StopAll() {
    for (Child* child : children()) {
      if (child->process && child->process->running()) child->process->Terminate();
    }
  }

  std::string ListenerFile(int i) const {
    return settings_.work_dir + "/listener-" + std::to_string(i) + ".events";
  }
  std::string LogPath(const std::string& name) const {
    return settings_.work_dir + "/" + name + ".log";
  }
  const std::string& store_requests() const { return store_requests_; }
  const std::vector<std::string>& commands() const { return commands_; }
  const std::string& saga_control() const { return saga_control_; }
  int listener_count() const { return static_cast<int>(listeners_.size()); }

 private:
  std::string Bin(const std::string& name) const { return settings_.bin_dir + "/" + name; }
  static std::string SelfPath() { return fs::read_symlink("/proc/self/exe").string(); }

  Child Launch(const std::string& name, const std::string& binary,
               const std::vector<std::string>& args) {
    Child child;
    child.name = name;
    child.binary = binary;
    child.args = args;
    child.process = ServiceProcess::Start(binary, args, LogPath(name), std::chrono::seconds(30));
    return child;
  }

  const Settings& settings_;
  Child store_, saga_;
  std::vector<Child> command_;
  std::vector<Child> listeners_;
  std::string store_requests_, store_events_, saga_control_;
  std::vector<std::string> commands_;
};

using CommandClient = es::bus::RpcClient<es::v1::CommandRequest, es::v1::CommandReply>;
using StoreClient = es::bus::RpcClient<es::v1::StoreRequest, es::v1::StoreReply>;

bool Transient(const es::v1::CommandOutcome& outcome) {
  return !outcome.accepted() && (outcome.refusal_code() == es::v1::REFUSAL_CODE_UNAVAILABLE ||
                                 outcome.refusal_code() == es::v1::REFUSAL_CODE_CONFLICT);
}

std::string AccountId(int i) { return "chaos-" + std::to_string(i); }

std::string Describe(const es::v1::Command& command) {
  std::string text = command.ShortDebugString();
  return text.size() > 200 ? text.substr(0, 200) + "..." : text;
}

// What every load thread shares: counters, and a pool of answered commands
// (for the flood client's re-sends) and of event ids the saga has used (for
// the reserved-namespace probes).
struct Shared {
  std::atomic<uint64_t> retries{0};
  std::mutex mutex;
  std::vector<es::v1::Command> answered;    // at most kPoolSize
  std::vector<std::string> saga_event_ids;  // at most kPoolSize
  static constexpr size_t kPoolSize = 4096;

  void AddAnswered(const es::v1::Command& command, uint64_t random) {
    std::lock_guard lock(mutex);
    if (answered.size() < kPoolSize) {
      answered.push_back(command);
    } else {
      answered[random % kPoolSize] = command;
    }
  }
  void AddSagaEventId(const std::string& id, uint64_t random) {
    std::lock_guard lock(mutex);
    if (saga_event_ids.size() < kPoolSize) {
      saga_event_ids.push_back(id);
    } else {
      saga_event_ids[random % kPoolSize] = id;
    }
  }
  std::optional<es::v1::Command> AnyAnswered(uint64_t random) {
    std::lock_guard lock(mutex);
    if (answered.empty()) return std::nullopt;
    return answered[random % answered.size()];
  }
  std::optional<std::string> AnySagaEventId(uint64_t random) {
    std::lock_guard lock(mutex);
    if (saga_event_ids.empty()) return std::nullopt;
    return saga_event_ids[random % saga_event_ids.size()];
  }
};

// What one load thread was told; merged for the audit.
struct ClientRecord {
  std::vector<AcknowledgedCommand> acknowledged;
  std::vector<Answer> answers;
  std::vector<std::string> never_written;
  std::map<std::string, int64_t> opened;  // accounts it opened, with their initial balance
};

// A load thread's connections and state, kept across phases.
class LoadThread {
 public:
  LoadThread(const Settings& settings, const std::vector<std::string>& commands,
             const std::string& store, uint64_t seed, Shared& shared)
      : settings_(settings), rng_(seed), shared_(shared), context_(1) {
    for (const auto& endpoint : commands) {
      clients_.push_back(std::make_unique<CommandClient>(
          context_, endpoint,
          es::bus::RpcOptions{.attempt_timeout = std::chrono::milliseconds(1000),
                              .deadline = std::chrono::milliseconds(1000)}));
    }
    store_ = std::make_unique<StoreClient>(
        context_, store,
        es::bus::RpcOptions{.attempt_timeout = std::chrono::milliseconds(1000),
                            .deadline = std::chrono::milliseconds(1000)});
  }

  ClientRecord& record() { return record_; }

 protected:
  // Sends `command` until a definitive outcome (Lazy Pirate underneath; the
  // same command id every time), each attempt on the next command_service
  // instance. Records the answer under `role`.
  es::v1::CommandOutcome Send(const es::v1::Command& command, AnswerRole role) {
    es::v1::CommandRequest request;
    *request.mutable_command() = command;
    while (true) {
      auto reply = NextClient().Call(request);
      if (reply && reply->has_outcome() && !Transient(reply->outcome())) {
        const auto& outcome = reply->outcome();
        record_.answers.push_back({.command_id = command.command_id(),
                                   .role = role,
                                   .accepted = outcome.accepted(),
                                   .code = outcome.refusal_code(),
                                   .events_written = outcome.events_written(),
                                   .duplicate = outcome.duplicate(),
                                   .what = Describe(command)});
        return outcome;
      }
      if (reply && reply->has_error()) {
        std::fprintf(stderr, "eschaos: command_service rejected a request (%s): %s\n",
                     Describe(command).c_str(), reply->error().message().c_str());
        std::abort();
      }
      ++shared_.retries;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // A first use of a command id: acknowledged, and kept for re-sends.
  es::v1::CommandOutcome SendFirst(const es::v1::Command& command, AcknowledgedCommand ack) {
    auto outcome = Send(command, AnswerRole::kFirst);
    ack.command_id = command.command_id();
    ack.accepted = outcome.accepted();
    ack.recorded_refusal = !outcome.accepted() && outcome.events_written() > 0;
    record_.acknowledged.push_back(std::move(ack));
    if (history_.size() < 4096) {
      history_.push_back(command);
    } else {
      history_[rng_() % history_.size()] = command;
    }
    shared_.AddAnswered(command, rng_());
    return outcome;
  }

  std::optional<es::v1::AccountView> ReadAccount(const std::string& account) {
    es::v1::CommandRequest read;
    read.mutable_get_account()->set_account_id(account);
    auto view = NextClient().Call(read);
    if (view && view->has_account()) return view->account();
    return std::nullopt;
  }

  CommandClient& NextClient() { return *clients_[turn_++ % clients_.size()]; }

  const Settings& settings_;
  std::mt19937_64 rng_;
  Shared& shared_;
  zmq::context_t context_;
  std::vector<std::unique_ptr<CommandClient>> clients_;
  std::unique_ptr<StoreClient> store_;
  size_t turn_ = 0;
  std::vector<es::v1::Command> history_;  // commands answered, for re-sends and reuse
  ClientRecord record_;
};

// Another command than `first` (another verb, target or parameter), for the
// same id.
es::v1::Command AnotherCommand(const es::v1::Command& first, uint64_t random) {
  es::v1::Command c = first;
  const bool flip = random % 2 == 0;
  switch (first.body_case()) {
    case es::v1::Command::kCreditAccount:
      if (flip) {
        c.mutable_credit_account()->set_amount(first.credit_account().amount() + 1);
      } else {
        c.mutable_debit_account()->set_account_id(first.credit_account().account_id());
        c.mutable_debit_account()->set_amount(first.credit_account().amount());
      }
      break;
    case es::v1::Command::kDebitAccount:
      if (flip) {
        c.mutable_debit_account()->set_amount(first.debit_account().amount() + 1);
      } else {
        c.mutable_credit_account()->set_account_id(first.debit_account().account_id());
        c.mutable_credit_account()->set_amount(first.debit_account().amount());
      }
      break;
    case es::v1::Command::kCreateMoneyTransfer: {
      auto* create = c.mutable_create_money_transfer();
      switch (random % 3) {
        case 0:
          create->set_amount(create->amount() + 1);
          break;
        case 1:
          create->set_from_account(first.create_money_transfer().to_account());
          create->set_to_account(first.create_money_transfer().from_account());
          break;
        default:
          create->set_transfer_id(es::bus::NewUuid());  // another stream
      }
      break;
    }
    case es::v1::Command::kCloseAccount:
      c.mutable_credit_account()->set_account_id(first.close_account().account_id());
      c.mutable_credit_account()->set_amount(1);
      break;
    case es::v1::Command::kOpenAccount:
      c.mutable_open_account()->set_owner(first.open_account().owner() + " (again)");
      break;
    case es::v1::Command::kDebitAccountBecauseOfMoneyTransfer:
      c.mutable_debit_account_because_of_money_transfer()->set_amount(
          first.debit_account_because_of_money_transfer().amount() + 1);
      break;
    case es::v1::Command::kCreditAccountBecauseOfMoneyTransfer:
      c.mutable_credit_account_because_of_money_transfer()->set_amount(
          first.credit_account_because_of_money_transfer().amount() + 1);
      break;
    case es::v1::Command::kRefundAccountBecauseOfMoneyTransfer:
      c.mutable_refund_account_because_of_money_transfer()->set_amount(
          first.refund_account_because_of_money_transfer().amount() + 1);
      break;
    case es::v1::Command::kFailMoneyTransfer:
      c.mutable_fail_money_transfer()->set_reason(
          first.fail_money_transfer().reason() == es::v1::TRANSFER_FAILURE_REASON_LACK_OF_FUNDS
              ? es::v1::TRANSFER_FAILURE_REASON_CREDIT_REFUSED
              : es::v1::TRANSFER_FAILURE_REASON_LACK_OF_FUNDS);
      break;
    case es::v1::Command::kDebitMoneyTransfer:
    case es::v1::Command::kCompleteMoneyTransfer:
    default:
      // Same transfer, another step.
      c.mutable_fail_money_transfer()->set_transfer_id(
          first.body_case() == es::v1::Command::kDebitMoneyTransfer
              ? first.debit_money_transfer().transfer_id()
              : first.complete_money_transfer().transfer_id());
      c.mutable_fail_money_transfer()->set_reason(es::v1::TRANSFER_FAILURE_REASON_LACK_OF_FUNDS);
      break;
  }
  c.set_command_id(first.command_id());
  return c;
}

// A client: the load, and what a client may do with ids.
class Client : public LoadThread {
 public:
  using LoadThread::LoadThread;

  void Run(const std::atomic<bool>& stop) {
    while (!stop) {
      const auto roll = rng_() % 100;
      if (roll < 8 && !history_.empty()) {
        Send(history_[rng_() % history_.size()], AnswerRole::kResend);
      } else if (roll < 11 && !history_.empty()) {
        Send(AnotherCommand(history_[rng_() % history_.size()], rng_()), AnswerRole::kReuse);
      } else if (roll < 13) {
        SendReserved();
      } else {
        SendOperation();
      }
    }
  }

 private:
  std::string PickAccount() {
    return AccountId(static_cast<int>(rng_() % static_cast<uint64_t>(settings_.accounts)));
  }

  // A command whose id lies in a namespace not its own.
  void SendReserved() {
    es::v1::Command command;
    if (rng_() % 2 == 0) {
      // A client's credit under a saga id: a fresh one, or one the saga used.
      auto used = rng_() % 2 == 0 ? shared_.AnySagaEventId(rng_()) : std::nullopt;
      command.set_command_id(es::domain::SagaCommandId(used ? *used : es::bus::NewUuid()));
      if (!used) record_.never_written.push_back(command.command_id());
      command.mutable_credit_account()->set_account_id(PickAccount());
      command.mutable_credit_account()->set_amount(7);
    } else {
      // A saga step under a client's id.
      command.set_command_id(es::bus::NewUuid());
      record_.never_written.push_back(command.command_id());
      auto* credit = command.mutable_credit_account_because_of_money_transfer();
      credit->set_account_id(PickAccount());
      credit->set_transfer_id(es::bus::NewUuid());
      credit->set_amount(7);
      credit->set_source_account(PickAccount());
    }
    Send(command, AnswerRole::kReserved);
  }

  void SendOperation() {
    AcknowledgedCommand ack;
    ack.account = PickAccount();
    ack.amount = 1 + static_cast<int64_t>(rng_() % 300);
    es::v1::Command command;
    command.set_command_id(es::bus::NewUuid());
    const auto roll = rng_() % 100;
    if (roll < 60) {
      ack.kind = OperationKind::kTransfer;
      do {
        ack.target = PickAccount();
      } while (ack.target == ack.account);
      ack.transfer_id = es::bus::NewUuid();
      auto* create = command.mutable_create_money_transfer();
      create->set_transfer_id(ack.transfer_id);
      create->set_from_account(ack.account);
      create->set_to_account(ack.target);
      create->set_amount(ack.amount);
    } else if (roll < 80) {
      ack.kind = OperationKind::kCredit;
      command.mutable_credit_account()->set_account_id(ack.account);
      command.mutable_credit_account()->set_amount(ack.amount);
    } else if (roll < 99) {
      ack.kind = OperationKind::kDebit;
      command.mutable_debit_account()->set_account_id(ack.account);
      command.mutable_debit_account()->set_amount(ack.amount);
    } else {
      // Empty one of the last four accounts and close it, so that transfers
      // still heading there have their credit refused and are refunded.
      ack.kind = OperationKind::kClose;
      ack.amount = 0;
      ack.account = AccountId(settings_.accounts - 1 - static_cast<int>(rng_() % 4));
      auto view = ReadAccount(ack.account);
      if (view && view->balance() > 0 && view->status() == "Open") {
        AcknowledgedCommand drain;
        drain.kind = OperationKind::kDebit;
        drain.account = ack.account;
        drain.amount = view->balance();
        es::v1::Command debit;
        debit.set_command_id(es::bus::NewUuid());
        debit.mutable_debit_account()->set_account_id(drain.account);
        debit.mutable_debit_account()->set_amount(drain.amount);
        SendFirst(debit, std::move(drain));
      }
      command.mutable_close_account()->set_account_id(ack.account);
    }
    SendFirst(command, std::move(ack));
  }
};

AcknowledgedCommand Ack(OperationKind kind, const std::string& account) {
  AcknowledgedCommand ack;
  ack.kind = kind;
  ack.account = account;
  return ack;
}

// The prober: the refund path in every run, and the saga's own ids.
class Prober : public LoadThread {
 public:
  using LoadThread::LoadThread;

  void Run(const std::atomic<bool>& stop) {
    while (!stop) {
      const auto next = Clock::now() + std::chrono::milliseconds(settings_.probe_ms);
      SendTransferToAClosingAccount();
      ProbeFinishedTransfer();
      std::this_thread::sleep_until(next);  // pacing, not synchronisation
    }
  }

 private:
  // Opens an empty account nobody else knows, sends a transfer to it and
  // closes it at once: the close is decided before the saga's credit (which
  // waits for the debit) in nearly every round, so the credit is refused and
  // the source refunded. When the credit wins, the close is refused
  // (NONZERO_BALANCE) and the account stays open.
  void SendTransferToAClosingAccount() {
    const std::string account = "chaos-z" + std::to_string(settings_.seed) + "-" +
                                std::to_string(++opened_);
    es::v1::Command open;
    open.set_command_id(es::bus::NewUuid());
    open.mutable_open_account()->set_account_id(account);
    open.mutable_open_account()->set_owner("prober");
    open.mutable_open_account()->set_initial_balance(0);
    auto opened = SendFirst(open, Ack(OperationKind::kOpen, account));
    if (!opened.accepted()) return;  // the audit finds out why
    record_.opened[account] = 0;

    AcknowledgedCommand ack =
        Ack(OperationKind::kTransfer, AccountId(1 + static_cast<int>(rng_() % 3)));
    ack.target = account;
    ack.transfer_id = es::bus::NewUuid();
    ack.amount = 1 + static_cast<int64_t>(rng_() % 50);
    es::v1::Command transfer;
    transfer.set_command_id(es::bus::NewUuid());
    auto* create = transfer.mutable_create_money_transfer();
    create->set_transfer_id(ack.transfer_id);
    create->set_from_account(ack.account);
    create->set_to_account(ack.target);
    create->set_amount(ack.amount);
    const std::string transfer_id = ack.transfer_id;
    if (SendFirst(transfer, std::move(ack)).accepted()) transfers_.push_back(transfer_id);

    es::v1::Command close;
    close.set_command_id(es::bus::NewUuid());
    close.mutable_close_account()->set_account_id(account);
    SendFirst(close, Ack(OperationKind::kClose, account));
  }

  // For the oldest transfer this prober sent, once it is over: the saga's
  // steps read back from its stream, each sent again exactly (twice, on two
  // instances: the saga's answer again) and altered (COMMAND_ID_CONFLICT).
  void ProbeFinishedTransfer() {
    if (transfers_.empty()) return;
    const std::string transfer_id = transfers_.front();
    es::v1::CommandRequest status;
    status.mutable_get_transfer()->set_transfer_id(transfer_id);
    auto view = NextClient().Call(status);
    if (!view || !view->has_transfer()) return;
    const std::string& state = view->transfer().state();
    if (state != "Completed" && state != "Failed") return;
    transfers_.erase(transfers_.begin());
    es::v1::StoreRequest read;
    read.mutable_read_stream()->set_stream_id(es::domain::TransferStreamId(transfer_id));
    read.mutable_read_stream()->set_from_version(1);
    read.mutable_read_stream()->set_max_count(16);
    auto stream = store_->Call(read);
    if (!stream || !stream->has_read_stream()) return;
    for (const auto& record : stream->read_stream().events()) {
      auto step = es::domain::ReactToEvent(record);
      if (!step) continue;
      shared_.AddSagaEventId(record.event_id(), rng_());
      Send(*step, AnswerRole::kSagaRepeat);
      Send(*step, AnswerRole::kSagaRepeat);
      Send(AnotherCommand(*step, rng_()), AnswerRole::kReuse);
    }
  }

  uint64_t opened_ = 0;
  std::vector<std::string> transfers_;  // sent by this prober, not yet probed
};

// A client that sends and never reads: a DEALER per service, requests at
// `per_s` in all (queries, commands answered before, store reads), replies
// left unread.
class Flood {
 public:
  Flood(const Settings& settings, const Cluster& cluster, Shared& shared)
      : per_s_(settings.flood_per_s), rng_(settings.seed * 7919 + 17), shared_(shared) {
    for (const auto& endpoint : cluster.commands()) AddSocket(endpoint, true);
    AddSocket(cluster.store_requests(), false);
  }

  void Run(const std::atomic<bool>& stop) {
    if (per_s_ <= 0) return;
    const auto interval = std::chrono::microseconds(1'000'000 / per_s_);
    auto next = Clock::now();
    while (!stop) {
      next += interval;
      SendOne();
      std::this_thread::sleep_until(next);  // pacing
    }
  }

  uint64_t sent() const { return sent_; }
  uint64_t refused() const { return refused_; }
  // "name sent/not taken" for each service, after Run.
  std::string PerService() const {
    std::string text;
    for (size_t i = 0; i < names_.size(); ++i) {
      text += (i ? ", " : "") + names_[i] + " " + std::to_string(sent_by_[i]) + "/" +
              std::to_string(refused_by_[i]);
    }
    return text;
  }

 private:
  void AddSocket(const std::string& endpoint, bool commands) {
    zmq::socket_t socket(context_, zmq::socket_type::dealer);
    socket.set(zmq::sockopt::linger, 0);
    socket.connect(endpoint);
    sockets_.push_back({std::move(socket), commands});
    names_.push_back(commands ? "command_service-" + std::to_string(sockets_.size() - 1)
                              : "store_service");
    sent_by_.push_back(0);
    refused_by_.push_back(0);
  }

  void SendOne() {
    const size_t target = rng_() % sockets_.size();
    auto& [socket, commands] = sockets_[target];
    std::string body;
    if (commands) {
      es::v1::CommandRequest request;
      request.set_request_id(++request_id_);
      auto again = rng_() % 2 == 0 ? shared_.AnyAnswered(rng_()) : std::nullopt;
      if (again) {
        *request.mutable_command() = *again;  // answered before: no second effect
      } else {
        request.mutable_get_account()->set_account_id("chaos-" + std::to_string(rng_() % 16));
      }
      body = request.SerializeAsString();
    } else {
      es::v1::StoreRequest request;
      request.set_request_id(++request_id_);
      request.mutable_read_stream()->set_stream_id("account-chaos-" + std::to_string(rng_() % 16));
      request.mutable_read_stream()->set_from_version(1);
      request.mutable_read_stream()->set_max_count(100);
      body = request.SerializeAsString();
    }
    // Never blocks: a full queue (the service is down, or has stopped taking
    // this client's requests) drops the request here.
    if (socket.send(zmq::message_t(), zmq::send_flags::sndmore | zmq::send_flags::dontwait) &&
        socket.send(zmq::buffer(body), zmq::send_flags::dontwait)) {
      ++sent_;
      ++sent_by_[target];
    } else {
      ++refused_;
      ++refused_by_[target];
    }
  }

  int per_s_;
  std::mt19937_64 rng_;
  Shared& shared_;
  zmq::context_t context_{1};
  std::vector<std::pair<zmq::socket_t, bool>> sockets_;  // (socket, is a command service)
  std::vector<std::string> names_;
  std::vector<uint64_t> sent_by_, refused_by_;
  uint64_t request_id_ = 0;
  std::atomic<uint64_t> sent_{0}, refused_{0};
};

template <typename Request, typename Reply>
std::optional<Reply> Ask(zmq::context_t& context, const std::string& endpoint, Request request) {
  es::bus::RpcClient<Request, Reply> client(context, endpoint,
                                            {.attempt_timeout = std::chrono::milliseconds(1000),
                                             .deadline = std::chrono::milliseconds(3000)});
  return client.Call(request);
}

std::vector<es::v1::EventRecord> ReadWholeLog(zmq::context_t& context, const std::string& store) {
  std::vector<es::v1::EventRecord> log;
  StoreClient client(context, store,
                     {.attempt_timeout = std::chrono::milliseconds(2000),
                      .deadline = std::chrono::milliseconds(30000)});
  while (true) {
    es::v1::StoreRequest request;
    request.mutable_read_all()->set_from_position(log.size() + 1);
    request.mutable_read_all()->set_max_count(5000);
    auto reply = client.Call(request);
    if (!reply || !reply->has_read_all()) throw std::runtime_error("the store did not answer");
    if (reply->read_all().events().empty()) return log;
    for (const auto& e : reply->read_all().events()) log.push_back(e);
  }
}

// Quiet: the saga has handled everything, no transfer is in flight, and
// every listener holds the head — twice in a row with the same head. The
// saga's stats when it was, or nothing by `deadline`.
std::optional<es::v1::SagaStats> WaitForQuiet(zmq::context_t& context, const Cluster& cluster,
                                              Clock::time_point deadline) {
  uint64_t last_head = 0;
  int stable = 0;
  while (Clock::now() < deadline) {
    es::v1::StoreRequest ping;
    ping.mutable_ping();
    auto pong =
        Ask<es::v1::StoreRequest, es::v1::StoreReply>(context, cluster.store_requests(), ping);
    es::v1::SagaRequest stats_request;
    stats_request.mutable_stats();
    auto saga =
        Ask<es::v1::SagaRequest, es::v1::SagaReply>(context, cluster.saga_control(), stats_request);
    if (pong && pong->has_pong() && saga && saga->has_stats()) {
      const uint64_t head = pong->pong().head_position();
      bool settled = saga->stats().checkpoint() == head && saga->stats().transfers_in_flight() == 0;
      for (int i = 0; settled && i < cluster.listener_count(); ++i) {
        auto lines = ReadListenerFile(cluster.ListenerFile(i));
        settled = !lines.empty() && lines.back().position == head;
      }
      stable = settled && head == last_head ? stable + 1 : 0;
      last_head = head;
      if (stable >= 2) return saga->stats();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return std::nullopt;
}

uint64_t CountLines(const std::string& path, std::string_view needle) {
  std::ifstream in(path);
  std::string line;
  uint64_t count = 0;
  while (std::getline(in, line)) count += line.find(needle) != std::string::npos;
  return count;
}

// The clients and the prober, run until `stop`.
class Load {
 public:
  Load(const Settings& settings, const Cluster& cluster, Shared& shared) {
    for (int i = 0; i < settings.clients; ++i) {
      clients_.push_back(std::make_unique<Client>(settings, cluster.commands(),
                                                  cluster.store_requests(),
                                                  settings.seed * 1000003 + i, shared));
    }
    prober_ = std::make_unique<Prober>(settings, cluster.commands(), cluster.store_requests(),
                                       settings.seed * 1000003 + 999, shared);
  }

  void Start() {
    stop_ = false;
    for (auto& client : clients_) threads_.emplace_back([&] { client->Run(stop_); });
    threads_.emplace_back([this] { prober_->Run(stop_); });
  }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  std::vector<ClientRecord*> records() {
    std::vector<ClientRecord*> all;
    for (auto& client : clients_) all.push_back(&client->record());
    all.push_back(&prober_->record());
    return all;
  }

 private:
  std::vector<std::unique_ptr<Client>> clients_;
  std::unique_ptr<Prober> prober_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

int RunChaos(Settings settings) {
  const auto run_start = Clock::now();
  if (settings.work_dir.empty()) {
    char pattern[] = "/tmp/eschaos.XXXXXX";
    settings.work_dir = mkdtemp(pattern);
  }
  fs::create_directories(settings.work_dir);
  std::printf(
      "eschaos: seed %llu, %d s, %d clients, %d accounts, %d listeners, %d command services, "
      "flood %d/s, work dir %s\n",
      static_cast<unsigned long long>(settings.seed), settings.seconds, settings.clients,
      settings.accounts, settings.listeners, settings.command_services, settings.flood_per_s,
      settings.work_dir.c_str());
  std::fflush(stdout);

  Cluster cluster(settings);
  cluster.Start();
  zmq::context_t context(1);
  Shared shared;

  // Open the accounts: a quarter start empty, so debits and transfers fail too.
  std::map<std::string, int64_t> opening;
  {
    CommandClient client(context, cluster.commands()[0],
                         {.attempt_timeout = std::chrono::milliseconds(1000),
                          .deadline = std::chrono::milliseconds(1000)});
    for (int i = 0; i < settings.accounts; ++i) {
      es::v1::CommandRequest request;
      auto* command = request.mutable_command();
      command->set_command_id("open-" + AccountId(i));
      auto* open = command->mutable_open_account();
      open->set_account_id(AccountId(i));
      open->set_owner("owner " + std::to_string(i));
      open->set_initial_balance(i % 4 == 0 ? 0 : 1000 * (i % 4));
      std::optional<es::v1::CommandReply> reply;
      do {
        reply = client.Call(request);
      } while (!reply || !reply->has_outcome() || Transient(reply->outcome()));
      if (!reply->outcome().accepted()) {
        std::fprintf(stderr, "eschaos: could not open %s: %s\n", AccountId(i).c_str(),
                     reply->outcome().message().c_str());
        return 1;
      }
      opening[AccountId(i)] = open->initial_balance();
    }
  }

  Flood flood(settings, cluster, shared);
  std::atomic<bool> stop_flood{false};
  std::thread flood_thread([&] { flood.Run(stop_flood); });
  Load load(settings, cluster, shared);
  load.Start();

  // The killer: seeded, so a failing run can be replayed.
  std::mt19937_64 rng(settings.seed);
  auto children = cluster.children();
  const auto load_end = Clock::now() + std::chrono::seconds(settings.seconds);
  Clock::time_point last_kill = Clock::now();
  while (true) {
    auto wait = std::chrono::milliseconds(300 + rng() % 2500);
    if (Clock::now() + wait >= load_end) break;
    std::this_thread::sleep_for(wait);
    Child& victim = *children[rng() % children.size()];
    victim.process->Kill9();
    ++victim.kills;
    last_kill = Clock::now();
    std::printf("eschaos: +%5.1f s kill -9 %s\n",
                std::chrono::duration<double>(last_kill - run_start).count(), victim.name.c_str());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 1400));
    cluster.Restart(victim);
  }
  std::this_thread::sleep_until(load_end);
  load.Stop();

  // Quiet after the kills; then the clean phase: the same load, nothing
  // killed, in which the saga may meet no answer it did not expect.
  std::vector<std::string> failures;
  SagaReport saga_report;
  auto quiet = WaitForQuiet(context, cluster, Clock::now() + std::chrono::seconds(settings.quiet_seconds));
  const double to_quiet = std::chrono::duration<double>(Clock::now() - last_kill).count();
  if (!quiet) {
    failures.push_back("the system never became quiet within " +
                       std::to_string(settings.quiet_seconds) + " s of the last kill");
  } else if (settings.clean_seconds > 0) {
    saga_report.alarms_before_clean = quiet->alarms();
    load.Start();
    std::this_thread::sleep_for(std::chrono::seconds(settings.clean_seconds));
    load.Stop();
    quiet = WaitForQuiet(context, cluster,
                         Clock::now() + std::chrono::seconds(settings.quiet_seconds));
    if (!quiet) {
      failures.push_back("the system never became quiet after the clean phase");
    } else {
      saga_report.clean_phase_ran = true;
      saga_report.alarms_after_clean = quiet->alarms();
    }
  }
  stop_flood = true;
  flood_thread.join();
  {
    // The saga's final word, quiet or not.
    es::v1::SagaRequest stats_request;
    stats_request.mutable_stats();
    auto saga =
        Ask<es::v1::SagaRequest, es::v1::SagaReply>(context, cluster.saga_control(), stats_request);
    if (saga && saga->has_stats()) {
      saga_report.parked_at_end = saga->stats().transfers_parked();
      saga_report.alarms_at_end = saga->stats().alarms();
    } else {
      failures.push_back("the saga did not answer its stats at the end");
    }
  }
  saga_report.parked_logged = CountLines(cluster.LogPath("saga_service"), "ALARM parked");

  AuditInput input;
  input.saga = saga_report;
  input.opening_balances = opening;
  for (ClientRecord* record : load.records()) {
    for (auto& ack : record->acknowledged) input.acknowledged.push_back(std::move(ack));
    for (auto& answer : record->answers) input.answers.push_back(std::move(answer));
    for (auto& id : record->never_written) input.never_written.push_back(std::move(id));
    for (const auto& [account, balance] : record->opened) input.opening_balances[account] = balance;
  }
  input.log = ReadWholeLog(context, cluster.store_requests());
  input.other_instances_balances.resize(cluster.commands().size() - 1);
  for (const auto& [account, balance] : input.opening_balances) {
    for (size_t i = 0; i < cluster.commands().size(); ++i) {
      es::v1::CommandRequest request;
      request.mutable_get_account()->set_account_id(account);
      auto reply = Ask<es::v1::CommandRequest, es::v1::CommandReply>(
          context, cluster.commands()[i], request);
      const int64_t found = reply && reply->has_account() ? reply->account().balance() : -1;
      if (i == 0) {
        input.final_balances[account] = found;
      } else {
        input.other_instances_balances[i - 1][account] = found;
      }
    }
  }
  for (int i = 0; i < cluster.listener_count(); ++i) {
    input.listeners.push_back(ReadListenerFile(cluster.ListenerFile(i)));
  }
  cluster.StopAll();
  AuditResult result = Audit(input);
  result.failures.insert(result.failures.begin(), failures.begin(), failures.end());

  uint64_t by_kind[5] = {0, 0, 0, 0, 0};
  for (const auto& ack : input.acknowledged) ++by_kind[static_cast<int>(ack.kind)];
  std::printf("\n== eschaos: seed %llu, %d s (+%d s clean), %u cores ==\n",
              static_cast<unsigned long long>(settings.seed), settings.seconds,
              settings.clean_seconds, std::thread::hardware_concurrency());
  std::printf(
      "commands acknowledged  %zu (transfers %llu, credits %llu, debits %llu, closes %llu, "
      "opens %llu)\n",
      input.acknowledged.size(), (unsigned long long)by_kind[2], (unsigned long long)by_kind[0],
      (unsigned long long)by_kind[1], (unsigned long long)by_kind[3],
      (unsigned long long)by_kind[4]);
  std::printf("answers checked        %llu (re-sends %llu, id conflicts %llu)\n",
              (unsigned long long)result.answers_checked, (unsigned long long)result.resends,
              (unsigned long long)result.conflicts);
  std::printf("client retries         %llu\n", (unsigned long long)shared.retries.load());
  std::printf("flood (never read)     %llu requests sent, %llu not taken (sent/not taken: %s)\n",
              (unsigned long long)flood.sent(), (unsigned long long)flood.refused(),
              flood.PerService().c_str());
  std::printf("events in the store    %zu\n", input.log.size());
  std::printf(
      "transfers              completed %llu, failed (lack of funds) %llu, failed "
      "(credit refused, refunded) %llu, unfinished %llu\n",
      (unsigned long long)result.transfers_completed,
      (unsigned long long)result.transfers_failed_lack_of_funds,
      (unsigned long long)result.transfers_failed_refused_credit,
      (unsigned long long)result.transfers_unfinished);
  std::printf("money                  expected %lld, found %lld\n",
              (long long)result.money_expected, (long long)result.money_found);
  std::printf("saga alarms            %llu at the end", (unsigned long long)saga_report.alarms_at_end);
  if (saga_report.clean_phase_ran) {
    std::printf(" (%llu when quiet after the kills, %llu after the clean phase)",
                (unsigned long long)saga_report.alarms_before_clean,
                (unsigned long long)saga_report.alarms_after_clean);
  } else {
    std::printf(" (no clean phase)");
  }
  std::printf("; parked %llu logged, %llu at the end\n",
              (unsigned long long)saga_report.parked_logged,
              (unsigned long long)saga_report.parked_at_end);
  std::printf("kills                 ");
  int listener_restarts = 0;
  for (Child* child : children) {
    std::printf(" %s=%d", child->name.c_str(), child->kills);
    if (child->name.rfind("listener", 0) == 0) listener_restarts += child->restarts;
  }
  std::printf("\nlistener restarts      %d\n", listener_restarts);
  std::printf("last kill to quiet     %.1f s\n", to_quiet);
  for (const auto& failure : result.failures) std::printf("FAILURE: %s\n", failure.c_str());
  const bool pass = result.failures.empty();
  std::printf("%s\n", pass ? "PASS" : "FAIL");
  if (pass && !settings.keep) {
    fs::remove_all(settings.work_dir);
  } else {
    std::printf("work dir kept: %s\n", settings.work_dir.c_str());
  }
  return pass ? 0 : 1;
}

}  // namespace
}  // namespace es::chaos

int main(int argc, char** argv) {
  using namespace es::chaos;
  CLI::App app{"eschaos: runs the bank under load while killing its processes, then audits it."};
  Settings settings;
  settings.bin_dir = std::filesystem::read_symlink("/proc/self/exe").parent_path().string();
  app.add_option("--seconds", settings.seconds, "how long the load and the kills last")
      ->check(CLI::Range(5, 86400));
  app.add_option("--seed", settings.seed, "seeds the kills and the load (reproducible)");
  app.add_option("--clients", settings.clients, "concurrent clients")->check(CLI::Range(1, 64));
  app.add_option("--accounts", settings.accounts, "accounts")->check(CLI::Range(8, 100000));
  app.add_option("--listeners", settings.listeners, "extra listener processes")
      ->check(CLI::Range(0, 16));
  app.add_option("--command-services", settings.command_services,
                 "command_service instances; the clients send through each in turn (default 2)")
      ->check(CLI::Range(1, 8));
  app.add_option("--flood-per-s", settings.flood_per_s,
                 "requests per second from a client that never reads its replies; 0 = none "
                 "(default 200)")
      ->check(CLI::Range(0, 100000));
  app.add_option("--quiet-seconds", settings.quiet_seconds,
                 "how long the system may take to become quiet (every transfer over, every "
                 "listener at the head) after the kills and after the clean phase (default 120)")
      ->check(CLI::Range(5, 3600));
  app.add_option("--clean-seconds", settings.clean_seconds,
                 "the load without kills after the quiet, in which the saga may raise no alarm; "
                 "0 = none (default 5)")
      ->check(CLI::Range(0, 3600));
  app.add_option("--probe-ms", settings.probe_ms,
                 "the prober's round (a transfer to an account closed at once; the saga's steps "
                 "sent again) every this many ms (default 200)")
      ->check(CLI::Range(10, 60000));
  app.add_option("--bin-dir", settings.bin_dir, "where the service binaries are");
  app.add_option("--work-dir", settings.work_dir, "data and logs (default: a new temp dir)");
  app.add_flag("--keep", settings.keep, "keep the work dir even on PASS");
  ListenerOptions listener;
  auto* listener_cmd = app.add_subcommand("listener", "(internal) one listener process");
  listener_cmd->add_option("--store", listener.store_requests)->required();
  listener_cmd->add_option("--events", listener.store_events)->required();
  listener_cmd->add_option("--out", listener.out_path)->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (*listener_cmd) {
    for (auto [flag, endpoint] : {std::pair{"--store", &listener.store_requests},
                                  std::pair{"--events", &listener.store_events}}) {
      const std::string problem =
          es::bus::EndpointProblem(*endpoint, es::bus::EndpointUse::kConnect);
      if (!problem.empty()) {
        std::fprintf(stderr, "eschaos listener: bad endpoint '%s' (from %s): %s\n",
                     endpoint->c_str(), flag, problem.c_str());
        return 2;
      }
    }
    try {
      return RunListener(listener);
    } catch (const zmq::error_t& e) {
      std::fprintf(stderr, "eschaos listener: cannot connect to %s or %s: %s\n",
                   listener.store_requests.c_str(), listener.store_events.c_str(), e.what());
      return es::bus::IsEndpointErrno(e.num()) ? 2 : 1;
    }
  }
  try {
    return RunChaos(settings);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "eschaos: %s\nFAIL\n", e.what());
    return 1;
  }
}
