// eschaos: the whole system under load while processes die.
//
// Launches store_service, command_service, saga_service and N listener
// processes on free loopback ports in a work directory; opens accounts; runs
// concurrent clients sending transfers, credits, debits and closes (each
// retrying with the same command id until it gets a definitive answer); and
// meanwhile kills -9 a random service or listener at seeded random moments,
// restarting it after a random pause. Then it stops the load, waits for
// quiet, audits (chaos_audit.h) and prints the figures and PASS or FAIL.
//
//   eschaos [--seconds S] [--seed N] [--clients C] [--accounts A] [--listeners L]
//   eschaos listener --store EP --events EP --out FILE     (internal)
#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "bus/endpoints.h"
#include "bus/ids.h"
#include "bus/rpc_client.h"
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
    command_ = Launch("command_service", Bin("command_service"),
                      {"--bind", any, "--store-requests", store_requests_});
    commands_ = command_.process->endpoint("commands");
    command_.args = {"--bind", commands_, "--store-requests", store_requests_};
    std::vector<std::string> saga_args = {"--data-dir",    dir + "/saga",    "--store-requests",
                                          store_requests_, "--store-events", store_events_,
                                          "--commands",    commands_,        "--bind-control"};
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
    std::vector<Child*> all = {&store_, &command_, &saga_};
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
  const std::string& store_requests() const { return store_requests_; }
  const std::string& commands() const { return commands_; }
  const std::string& saga_control() const { return saga_control_; }
  int listener_count() const { return static_cast<int>(listeners_.size()); }

 private:
  std::string Bin(const std::string& name) const { return settings_.bin_dir + "/" + name; }
  std::string LogPath(const std::string& name) const {
    return settings_.work_dir + "/" + name + ".log";
  }
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
  Child store_, command_, saga_;
  std::vector<Child> listeners_;
  std::string store_requests_, store_events_, commands_, saga_control_;
};

using CommandClient = es::bus::RpcClient<es::v1::CommandRequest, es::v1::CommandReply>;

bool Transient(const es::v1::CommandOutcome& outcome) {
  return !outcome.accepted() && (outcome.refusal_code() == es::v1::REFUSAL_CODE_UNAVAILABLE ||
                                 outcome.refusal_code() == es::v1::REFUSAL_CODE_CONFLICT);
}

// Sends `command` until a definitive outcome (Lazy Pirate underneath; the
// same command id every time). Counts the retries.
es::v1::CommandOutcome SendUntilAnswered(CommandClient& client, const es::v1::Command& command,
                                         std::atomic<uint64_t>& retries) {
  es::v1::CommandRequest request;
  *request.mutable_command() = command;
  while (true) {
    auto reply = client.Call(request);
    if (reply && reply->has_outcome() && !Transient(reply->outcome())) return reply->outcome();
    if (reply && reply->has_error()) {
      std::fprintf(stderr, "eschaos: command_service rejected a request: %s\n",
                   reply->error().message().c_str());
      std::abort();
    }
    ++retries;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string AccountId(int i) { return "chaos-" + std::to_string(i); }

struct LoadCounters {
  std::atomic<uint64_t> retries{0};
};

void RunClient(int index, const Settings& settings, const std::string& commands,
               const std::atomic<bool>& stop, LoadCounters& counters,
               std::vector<AcknowledgedCommand>& log) {
  zmq::context_t context(1);
  CommandClient client(context, commands,
                       {.attempt_timeout = std::chrono::milliseconds(1000),
                        .deadline = std::chrono::milliseconds(1000)});
  std::mt19937_64 rng(settings.seed * 1000003 + index);
  auto pick_account = [&] {
    return AccountId(static_cast<int>(rng() % static_cast<uint64_t>(settings.accounts)));
  };
  while (!stop) {
    AcknowledgedCommand ack;
    ack.command_id = es::bus::NewUuid();
    ack.account = pick_account();
    ack.amount = 1 + static_cast<int64_t>(rng() % 300);
    es::v1::Command command;
    command.set_command_id(ack.command_id);
    const auto roll = rng() % 100;
    if (roll < 60) {
      ack.kind = OperationKind::kTransfer;
      do {
        ack.target = pick_account();
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
      ack.account = AccountId(settings.accounts - 1 - static_cast<int>(rng() % 4));
      es::v1::CommandRequest read;
      read.mutable_get_account()->set_account_id(ack.account);
      auto view = client.Call(read);
      if (view && view->has_account() && view->account().balance() > 0 &&
          view->account().status() == "Open") {
        AcknowledgedCommand drain;
        drain.command_id = es::bus::NewUuid();
        drain.kind = OperationKind::kDebit;
        drain.account = ack.account;
        drain.amount = view->account().balance();
        es::v1::Command debit;
        debit.set_command_id(drain.command_id);
        debit.mutable_debit_account()->set_account_id(drain.account);
        debit.mutable_debit_account()->set_amount(drain.amount);
        auto outcome = SendUntilAnswered(client, debit, counters.retries);
        drain.accepted = outcome.accepted();
        drain.recorded_refusal = !outcome.accepted() && outcome.events_written() > 0;
        log.push_back(std::move(drain));
      }
      command.mutable_close_account()->set_account_id(ack.account);
    }
    auto outcome = SendUntilAnswered(client, command, counters.retries);
    ack.accepted = outcome.accepted();
    ack.recorded_refusal = !outcome.accepted() && outcome.events_written() > 0;
    log.push_back(std::move(ack));
  }
}

template <typename Request, typename Reply>
std::optional<Reply> Ask(zmq::context_t& context, const std::string& endpoint, Request request) {
  es::bus::RpcClient<Request, Reply> client(context, endpoint,
                                            {.attempt_timeout = std::chrono::milliseconds(1000),
                                             .deadline = std::chrono::milliseconds(3000)});
  return client.Call(request);
}

std::vector<es::v1::EventRecord> ReadWholeLog(zmq::context_t& context, const std::string& store) {
  std::vector<es::v1::EventRecord> log;
  es::bus::RpcClient<es::v1::StoreRequest, es::v1::StoreReply> client(
      context, store,
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

int RunChaos(Settings settings) {
  const auto run_start = Clock::now();
  if (settings.work_dir.empty()) {
    char pattern[] = "/tmp/eschaos.XXXXXX";
    settings.work_dir = mkdtemp(pattern);
  }
  fs::create_directories(settings.work_dir);
  std::printf("eschaos: seed %llu, %d s, %d clients, %d accounts, %d listeners, work dir %s\n",
              static_cast<unsigned long long>(settings.seed), settings.seconds, settings.clients,
              settings.accounts, settings.listeners, settings.work_dir.c_str());
  std::fflush(stdout);

  Cluster cluster(settings);
  cluster.Start();
  zmq::context_t context(1);
  LoadCounters counters;

  // Open the accounts: a quarter start empty, so debits and transfers fail too.
  std::map<std::string, int64_t> opening;
  {
    CommandClient client(context, cluster.commands(),
                         {.attempt_timeout = std::chrono::milliseconds(1000),
                          .deadline = std::chrono::milliseconds(1000)});
    for (int i = 0; i < settings.accounts; ++i) {
      es::v1::Command command;
      command.set_command_id("open-" + AccountId(i));
      auto* open = command.mutable_open_account();
      open->set_account_id(AccountId(i));
      open->set_owner("owner " + std::to_string(i));
      open->set_initial_balance(i % 4 == 0 ? 0 : 1000 * (i % 4));
      auto outcome = SendUntilAnswered(client, command, counters.retries);
      if (!outcome.accepted()) {
        std::fprintf(stderr, "eschaos: could not open %s: %s\n", AccountId(i).c_str(),
                     outcome.message().c_str());
        return 1;
      }
      opening[AccountId(i)] = open->initial_balance();
    }
  }

  std::atomic<bool> stop_load{false};
  std::vector<std::vector<AcknowledgedCommand>> logs(settings.clients);
  std::vector<std::thread> clients;
  for (int i = 0; i < settings.clients; ++i) {
    clients.emplace_back(RunClient, i, std::cref(settings), cluster.commands(),
                         std::cref(stop_load), std::ref(counters), std::ref(logs[i]));
  }

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
  stop_load = true;
  for (auto& t : clients) t.join();

  // Quiet: the saga has handled everything, no transfer is in flight, and
  // every listener holds the head — twice in a row with the same head.
  const auto quiet_deadline = Clock::now() + std::chrono::seconds(180);
  uint64_t last_head = 0;
  int stable = 0;
  bool quiet = false;
  while (Clock::now() < quiet_deadline) {
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
      if (stable >= 2) {
        quiet = true;
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  const double to_quiet = std::chrono::duration<double>(Clock::now() - last_kill).count();

  AuditInput input;
  input.opening_balances = opening;
  for (auto& log : logs) {
    for (auto& ack : log) input.acknowledged.push_back(std::move(ack));
  }
  input.log = ReadWholeLog(context, cluster.store_requests());
  for (const auto& [account, balance] : opening) {
    es::v1::CommandRequest request;
    request.mutable_get_account()->set_account_id(account);
    auto reply =
        Ask<es::v1::CommandRequest, es::v1::CommandReply>(context, cluster.commands(), request);
    input.final_balances[account] = reply && reply->has_account() ? reply->account().balance() : 0;
  }
  for (int i = 0; i < cluster.listener_count(); ++i) {
    input.listeners.push_back(ReadListenerFile(cluster.ListenerFile(i)));
  }
  cluster.StopAll();
  AuditResult result = Audit(input);
  if (!quiet) result.failures.insert(result.failures.begin(), "the system never became quiet");

  uint64_t by_kind[4] = {0, 0, 0, 0};
  for (const auto& ack : input.acknowledged) ++by_kind[static_cast<int>(ack.kind)];
  std::printf("\n== eschaos: seed %llu, %d s, %u cores ==\n",
              static_cast<unsigned long long>(settings.seed), settings.seconds,
              std::thread::hardware_concurrency());
  std::printf(
      "commands acknowledged  %zu (transfers %llu, credits %llu, debits %llu, closes %llu)\n",
      input.acknowledged.size(), (unsigned long long)by_kind[2], (unsigned long long)by_kind[0],
      (unsigned long long)by_kind[1], (unsigned long long)by_kind[3]);
  std::printf("client retries         %llu\n", (unsigned long long)counters.retries.load());
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
  app.add_option("--accounts", settings.accounts, "accounts")->check(CLI::Range(2, 100000));
  app.add_option("--listeners", settings.listeners, "extra listener processes")
      ->check(CLI::Range(0, 16));
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
