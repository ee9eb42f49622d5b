// esctl: wires the command line to the verbs in read_verbs.cpp and
// write_verbs.cpp.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <optional>
#include <set>
#include <string>

#include "client/esctl.h"

namespace {

// The first word of the command line that is not a global flag or its
// value: the verb the user meant, for "unknown verb X".
std::optional<std::string> VerbOf(int argc, char** argv) {
  static const std::set<std::string> with_value = {"--timeout", "--store", "--events",
                                                   "--commands", "--saga", "--queries"};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (with_value.contains(arg)) {
      ++i;
      continue;
    }
    if (!arg.starts_with("-")) return arg;
  }
  return std::nullopt;
}

// Counts and positions: "-1" would wrap around to 2^64-1 in an unsigned
// option, so a leading minus is a usage error.
const CLI::Validator kNotNegative(
    [](std::string& value) {
      return !value.empty() && value[0] == '-' ? "must not be negative (got " + value + ")"
                                               : std::string();
    },
    "NUMBER>=0");

}  // namespace

int main(int argc, char** argv) {
  using namespace es::client;
  CLI::App app{
      "esctl: operate the event-sourced bank: send commands, read state, tail events.\n"
      "Exit codes: 0 ok, 1 refused by the system, 2 usage error, 3 service unavailable or "
      "timed out."};
  app.name("esctl");
  app.require_subcommand(1);
  app.set_version_flag("--version", "esctl " ES_VERSION);
  app.fallthrough();  // global flags (--json, --timeout, ...) may follow the verb
  Esctl esctl;
  std::string store_requests, store_events, commands, saga, queries;
  int64_t timeout_ms = 5000;
  app.add_flag("--json", esctl.json, "print one JSON object per line");
  app.add_option("--timeout", timeout_ms, "give up after this many milliseconds (default 5000)")
      ->check(CLI::Range(int64_t{1}, int64_t{86400000}));
  app.add_option("--store", store_requests, "store request endpoint (env ES_STORE_REQUESTS)");
  app.add_option("--events", store_events, "store event endpoint (env ES_STORE_EVENTS)");
  app.add_option("--commands", commands, "command_service endpoint (env ES_COMMANDS)");
  app.add_option("--saga", saga, "saga_service control endpoint (env ES_SAGA_CONTROL)");
  app.add_option("--queries", queries, "query_service endpoint (env ES_QUERIES)");

  std::function<int()> run;

  EventsArgs events;
  auto* events_cmd = app.add_subcommand("events", "print stored events (all, or one stream)");
  events_cmd->add_option("--stream", events.stream, "only this stream");
  auto* events_limit = events_cmd->add_option("--limit", events.limit, "at most this many events")->check(kNotNegative);
  auto* events_from = events_cmd->add_option("--from", events.from,
                                             "first global position (or stream version)")->check(kNotNegative);
  events_cmd->add_option("--last", events.last, "only the newest N events (of the log, or of --stream)")->check(kNotNegative)
      ->excludes(events_from)
      ->excludes(events_limit);
  events_cmd->callback([&] { run = [&] { return RunEvents(esctl, events); }; });

  std::string streams_prefix;
  uint64_t streams_limit = 0;
  auto* streams_cmd = app.add_subcommand("streams", "list the store's streams, in id order");
  streams_cmd->add_option("--prefix", streams_prefix, "only ids starting with this");
  streams_cmd->add_option("--limit", streams_limit, "at most this many (default: all)")
      ->check(kNotNegative);
  streams_cmd->callback(
      [&] { run = [&] { return RunStreams(esctl, streams_prefix, streams_limit); }; });

  SubscribeArgs subscribe;
  auto* subscribe_cmd = app.add_subcommand("subscribe", "follow events live, missing none");
  subscribe_cmd
      ->add_option("--from", subscribe.from,
                   "start at this global position (default: after the current head)")
      ->check(kNotNegative);
  subscribe_cmd->add_option("--filter", subscribe.filter, "only streams with this id prefix");
  subscribe_cmd->add_option("--count", subscribe.count, "stop after this many events")->check(kNotNegative);
  subscribe_cmd->add_option("--name", subscribe.name,
                            "report progress to the store under this name (see stats)");
  subscribe_cmd->callback([&] { run = [&] { return RunSubscribe(esctl, subscribe); }; });

  std::string ping_service = "store";
  auto* ping_cmd = app.add_subcommand("ping", "check that a service answers");
  ping_cmd->add_option("service", ping_service, "store (default), commands, saga or queries")
      ->check(CLI::IsMember({"store", "commands", "saga", "queries"}));
  ping_cmd->callback([&] { run = [&] { return RunPing(esctl, ping_service); }; });

  app.add_subcommand("stats", "what each service reports about itself")->callback([&] {
    run = [&] { return RunStats(esctl); };
  });

  WriteArgs write;
  auto add_command_id = [&](CLI::App* cmd) {
    cmd->add_option("--command-id", write.command_id,
                    "idempotency key: repeating it has no second effect (default: fresh UUID)");
  };

  std::string owner, account_id;
  int64_t initial_balance = 0;
  auto* open_cmd = app.add_subcommand("open-account", "open an account; prints its id");
  open_cmd->add_option("--owner", owner, "the owner's name")->required();
  open_cmd->add_option("--initial-balance", initial_balance, "in minor units (default 0)");
  open_cmd->add_option("--account-id", account_id, "choose the id (default: fresh UUID)");
  add_command_id(open_cmd);
  open_cmd->callback([&] {
    run = [&] { return RunOpenAccount(esctl, write, owner, initial_balance, account_id); };
  });

  std::string account;
  int64_t amount = 0;
  for (const char* verb : {"credit", "debit"}) {
    auto* cmd = app.add_subcommand(verb, std::string(verb) + " an account");
    cmd->add_option("account", account, "account id")->required();
    cmd->add_option("amount", amount, "in minor units")->required();
    add_command_id(cmd);
    const bool credit = std::string(verb) == "credit";
    cmd->callback([&, credit] {
      run = [&, credit] {
        return credit ? RunCredit(esctl, write, account, amount)
                      : RunDebit(esctl, write, account, amount);
      };
    });
  }

  auto* close_cmd = app.add_subcommand("close-account", "close an account (balance must be 0)");
  close_cmd->add_option("account", account, "account id")->required();
  add_command_id(close_cmd);
  close_cmd->callback([&] { run = [&] { return RunCloseAccount(esctl, write, account); }; });

  std::string from, to, transfer_id;
  bool wait = false;
  auto* transfer_cmd = app.add_subcommand("transfer", "move money; prints the transfer id");
  transfer_cmd->add_option("from", from, "source account")->required();
  transfer_cmd->add_option("to", to, "target account")->required();
  transfer_cmd->add_option("amount", amount, "in minor units")->required();
  transfer_cmd->add_flag("--wait", wait, "wait until Completed or Failed");
  transfer_cmd->add_option("--transfer-id", transfer_id, "choose the id (default: fresh UUID)");
  add_command_id(transfer_cmd);
  transfer_cmd->callback([&] {
    run = [&] { return RunTransfer(esctl, write, from, to, amount, wait, transfer_id); };
  });

  auto* account_cmd = app.add_subcommand("account", "show an account");
  account_cmd->add_option("account", account, "account id")->required();
  AccountAt at;
  auto* at_option = account_cmd->add_option(
      "--at", at.position,
      "the account as it was at this global position: folded from its stream in the store")
      ->check(kNotNegative);
  account_cmd
      ->add_option("--at-time", at.time,
                   "the account as it was at this UTC time, e.g. 2026-12-02T14:05:33Z (events "
                   "recorded up to then)")
      ->excludes(at_option);
  account_cmd->callback([&] { run = [&] { return RunAccount(esctl, account, at); }; });

  std::string transfer;
  auto* status_cmd = app.add_subcommand("transfer-status", "show a transfer");
  status_cmd->add_option("transfer", transfer, "transfer id")->required();
  status_cmd->callback([&] { run = [&] { return RunTransferStatus(esctl, transfer); }; });

  // The read models (query_service).
  QueryArgs query;
  auto add_query_flags = [&](CLI::App* cmd, bool limit) {
    cmd->add_option("--at-least", query.at_least,
                    "answer only once the projection has reached this global position (e.g. a "
                    "command's position), waiting up to --timeout; else exit 3")
        ->check(kNotNegative);
    if (limit) cmd->add_option("--limit", query.limit, "at most this many (default: all)")->check(kNotNegative);
  };
  AccountsArgs accounts;
  auto* accounts_cmd = app.add_subcommand("accounts", "list accounts (query_service)");
  accounts_cmd->add_option("--status", accounts.status, "open or closed (default: both)")
      ->check(CLI::IsMember({"open", "closed"}));
  accounts_cmd
      ->add_option("--sort", accounts.sort,
                   "balance (largest first), owner or opened (oldest first); default: id")
      ->check(CLI::IsMember({"balance", "owner", "opened"}));
  add_query_flags(accounts_cmd, true);
  accounts_cmd->callback([&] { run = [&] { return RunAccounts(esctl, query, accounts); }; });

  uint64_t before = 0;
  auto* history_cmd =
      app.add_subcommand("history", "an account's movements, newest first (query_service)");
  history_cmd->add_option("account", account, "account id")->required();
  history_cmd->add_option("--before", before, "only movements before this global position")->check(kNotNegative);
  add_query_flags(history_cmd, true);
  history_cmd->callback([&] { run = [&] { return RunHistory(esctl, query, account, before); }; });

  TransfersArgs transfers;
  auto* transfers_cmd =
      app.add_subcommand("transfers", "list transfers, newest first (query_service)");
  transfers_cmd->add_option("--account", transfers.account, "only those from or to this account");
  transfers_cmd->add_option("--state", transfers.state, "Created, Debited, Completed or Failed")
      ->check(CLI::IsMember({"Created", "Debited", "Completed", "Failed"}));
  add_query_flags(transfers_cmd, true);
  transfers_cmd->callback([&] { run = [&] { return RunTransfers(esctl, query, transfers); }; });

  auto* totals_cmd = app.add_subcommand("totals", "the bank's totals (query_service)");
  add_query_flags(totals_cmd, false);
  totals_cmd->callback([&] { run = [&] { return RunTotals(esctl, query); }; });

  bool no_wait = false;
  auto* rebuild_cmd = app.add_subcommand(
      "rebuild-projections",
      "rebuild query_service's read models from position 1 beside the live ones (queries are "
      "answered throughout) and swap them in; prints progress until done");
  rebuild_cmd->add_flag("--no-wait", no_wait, "start it and return");
  rebuild_cmd->callback([&] { run = [&] { return RunRebuildProjections(esctl, !no_wait); }; });

  auto* help_cmd = app.add_subcommand("help", "print this help");
  const std::string usage = app.help();  // the whole app's, before a verb is chosen
  help_cmd->callback([&] {
    run = [&] {
      std::printf("%s", usage.c_str());
      return static_cast<int>(kOk);
    };
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() != 0 && app.get_subcommands().empty()) {
      // No verb was recognised: say which word was taken for one.
      const std::optional<std::string> verb = VerbOf(argc, argv);
      const auto known = app.get_subcommands([&](const CLI::App* sub) {
        return verb && sub->get_name() == *verb;
      });
      if (!verb) return Fail(kUsage, "a verb is required (esctl --help lists them)");
      if (known.empty()) return Fail(kUsage, "unknown verb " + *verb + " (esctl --help lists them)");
    }
    int code = app.exit(e);  // prints help, or the error with usage
    return code == 0 ? kOk : kUsage;
  }
  try {
    esctl.endpoints =
        es::bus::ResolveClientEndpoints({store_requests, store_events, commands, saga, queries});
  } catch (const std::exception& e) {
    return Fail(kUsage, e.what());
  }
  esctl.timeout = std::chrono::milliseconds(timeout_ms);
  try {
    return run();
  } catch (const zmq::error_t& e) {
    // A backstop: ResolveEndpoint checked the form, but ZeroMQ may still
    // refuse an endpoint when it connects.
    if (es::bus::IsEndpointErrno(e.num())) {
      return Fail(kUsage, std::string("ZeroMQ refused an endpoint (store ") +
                              esctl.endpoints.store_requests + ", events " +
                              esctl.endpoints.store_events + ", commands " +
                              esctl.endpoints.commands + ", saga " + esctl.endpoints.saga_control +
                              ", queries " + esctl.endpoints.queries + "): " + e.what());
    }
    return Fail(kUnavailable, std::string("ZeroMQ: ") + e.what());
  }
}
