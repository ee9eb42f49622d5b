// query_service: flags, the projection, the loop. See query_loop.h and
// projection.h for what it does.
#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <optional>
#include <system_error>
#include <zmq.hpp>

#include "bus/endpoints.h"
#include "query_service/query_loop.h"

namespace {

enum ExitCode : int { kOk = 0, kFailure = 1, kUsage = 2 };

std::atomic<bool> stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free);

void RequestStop(int /*signal*/) { stop_requested.store(true); }

void InstallStopHandlers() {
  struct sigaction action {};
  action.sa_handler = RequestStop;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  using es::query::Log;
  CLI::App app{
      "query_service: the read side. Follows every event from the store through the public bus "
      "(the catch-up subscriber), projects them into its own SQLite database (accounts, "
      "movements, transfers, totals; the checkpoint in the same transaction as the rows) and "
      "answers queries (query.proto) with the position they reflect.\n"
      "Exit codes: 0 stopped cleanly (SIGTERM/SIGINT), 1 failure, 2 usage error."};
  std::string data_dir = "./run/query";
  std::string store_requests, store_events, bind;
  int64_t max_wait_ms = 10000;
  size_t batch_events = 20000;
  app.add_option("--data-dir", data_dir,
                 "directory of the projection database (projection.db), created if missing "
                 "(default ./run/query)");
  app.add_option("--store-requests", store_requests,
                 "store request endpoint to connect to (env ES_STORE_REQUESTS)");
  app.add_option("--store-events", store_events,
                 "store event (PUB) endpoint to connect to (env ES_STORE_EVENTS)");
  app.add_option("--bind", bind,
                 "endpoint to bind the query ROUTER to, e.g. tcp://127.0.0.1:* (env ES_QUERIES)");
  app.add_option("--max-wait-ms", max_wait_ms,
                 "longest a query waits for its minimum position before it is answered STALE, "
                 "in milliseconds (default 10000)")
      ->check(CLI::Range(int64_t{0}, int64_t{600000}));
  app.add_option("--batch-events", batch_events,
                 "at most this many events per transaction (default 20000)")
      ->check(CLI::Range(size_t{1}, size_t{10000000}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kOk : kUsage;
  }

  es::query::QueryOptions options;
  try {
    using es::bus::EndpointRole;
    using es::bus::ResolveEndpoint;
    constexpr auto kConnect = es::bus::EndpointUse::kConnect;
    options.store_requests =
        ResolveEndpoint(EndpointRole::kStoreRequests, "--store-requests", store_requests, kConnect);
    options.store_events =
        ResolveEndpoint(EndpointRole::kStoreEvents, "--store-events", store_events, kConnect);
    options.bind =
        ResolveEndpoint(EndpointRole::kQueries, "--bind", bind, es::bus::EndpointUse::kBind);
  } catch (const std::exception& e) {
    Log("%s", e.what());
    return kUsage;
  }
  options.data_dir = data_dir;
  options.max_wait = std::chrono::milliseconds(max_wait_ms);
  options.batch_events = batch_events;
  InstallStopHandlers();

  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    Log("cannot create the data directory %s: %s", data_dir.c_str(), ec.message().c_str());
    return kFailure;
  }
  zmq::context_t context(1);
  std::optional<es::query::QueryLoop> loop;
  try {
    loop.emplace(context, options);
  } catch (const zmq::error_t& e) {
    Log("cannot bind %s or connect to %s, %s: %s", options.bind.c_str(),
        options.store_requests.c_str(), options.store_events.c_str(), e.what());
    return es::bus::IsEndpointErrno(e.num()) ? kUsage : kFailure;
  } catch (const std::exception& e) {
    Log("fatal: %s", e.what());
    return kFailure;
  }
  Log("starting: data dir %s, store %s + %s, position %llu", data_dir.c_str(),
      options.store_requests.c_str(), options.store_events.c_str(),
      static_cast<unsigned long long>(loop->position()));
  try {
    std::printf("ready queries=%s\n", loop->endpoint().c_str());
    std::fflush(stdout);
    return loop->Run(stop_requested) ? kOk : kFailure;
  } catch (const std::exception& e) {
    Log("fatal: %s", e.what());
    return kFailure;
  }
}
