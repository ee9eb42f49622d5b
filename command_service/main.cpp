// command_service: the write model. Flags, wiring, the loop.
#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <optional>

#include "bus/endpoints.h"
#include "command_service/command_server.h"

namespace {
std::atomic<bool> stop_requested{false};
void OnSignal(int) { stop_requested = true; }
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "command_service: decides commands on the Account and MoneyTransfer aggregates "
      "and appends their events to store_service."};
  std::string bind, store;
  es::command::CommandServerOptions options;
  int64_t store_timeout_ms = 10000;
  app.add_option("--bind", bind, "command endpoint to bind (env ES_COMMANDS; default BASE+2)");
  app.add_option("--store-requests", store, "store request endpoint (env ES_STORE_REQUESTS)");
  app.add_option("--cache-size", options.cache_capacity,
                 "aggregates kept in memory (default 1000000)")
      ->check(CLI::Range(size_t{1}, size_t{100'000'000}));
  app.add_option("--max-conflict-retries", options.max_conflict_retries,
                 "times a command is re-decided after a concurrent write (default 5)")
      ->check(CLI::Range(0, 1000));
  app.add_option("--snapshot-every", options.snapshot_every,
                 "append an account snapshot every this many events, so a long account "
                 "loads in bounded time; 0 = never (default 1000)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1'000'000'000}));
  app.add_option("--store-timeout-ms", store_timeout_ms,
                 "answer UNAVAILABLE when the store has not answered within this (default 10000)")
      ->check(CLI::Range(int64_t{100}, int64_t{3'600'000}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    using es::bus::EndpointRole;
    options.bind = es::bus::ResolveEndpoint(EndpointRole::kCommands, "--bind", bind,
                                            es::bus::EndpointUse::kBind);
    options.store_requests = es::bus::ResolveEndpoint(
        EndpointRole::kStoreRequests, "--store-requests", store, es::bus::EndpointUse::kConnect);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "command_service: %s\n", e.what());
    return 2;
  }
  options.store_timeout = std::chrono::milliseconds(store_timeout_ms);

  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  zmq::context_t context(1);
  std::optional<es::command::CommandServer> server;
  try {
    server.emplace(context, options);
  } catch (const zmq::error_t& e) {
    // The endpoints' form was checked above; ZeroMQ may still refuse one
    // (an address this host does not have: exit 2) or find it taken (1).
    std::fprintf(stderr, "command_service: cannot bind %s or connect to %s: %s\n",
                 options.bind.c_str(), options.store_requests.c_str(), e.what());
    return es::bus::IsEndpointErrno(e.num()) ? 2 : 1;
  }
  try {
    std::fprintf(stderr, "command_service: serving %s, store at %s\n",
                 server->bound_endpoint().c_str(), options.store_requests.c_str());
    std::printf("ready commands=%s\n", server->bound_endpoint().c_str());
    std::fflush(stdout);
    server->Run(stop_requested);
  } catch (const zmq::error_t& e) {
    std::fprintf(stderr, "command_service: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "command_service: stopped\n");
  return 0;
}
