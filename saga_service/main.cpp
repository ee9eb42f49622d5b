// saga_service: flags, checkpoint, the loop. See saga_loop.h for what it does.
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
#include "saga_service/checkpoint_file.h"
#include "saga_service/saga_log.h"
#include "saga_service/saga_loop.h"

namespace {

enum ExitCode : int { kOk = 0, kFailure = 1, kUsage = 2 };

// Set by SIGTERM/SIGINT; the loop polls it. Lock-free, so async-signal-safe.
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
  using es::saga::Log;
  CLI::App app{
      "saga_service: the money-transfer process manager. Follows every event from the store, "
      "sends the next command of each transfer to command_service, and persists how far it got "
      "so that it resumes there after a crash.\n"
      "Exit codes: 0 stopped cleanly (SIGTERM/SIGINT), 1 failure, 2 usage error."};
  std::string data_dir = "./run/saga";
  std::string store_requests, store_events, commands, bind_control;
  size_t max_in_flight = 2000;
  int64_t checkpoint_ms = 200;
  int64_t parked_retry_ms = 30000;
  app.add_option("--data-dir", data_dir,
                 "directory of the checkpoint file, created if missing (default ./run/saga)");
  app.add_option("--store-requests", store_requests,
                 "store request endpoint to connect to (env ES_STORE_REQUESTS)");
  app.add_option("--store-events", store_events,
                 "store event (PUB) endpoint to connect to (env ES_STORE_EVENTS)");
  app.add_option("--commands", commands,
                 "command_service endpoint to connect to (env ES_COMMANDS)");
  app.add_option("--bind-control", bind_control,
                 "endpoint to bind the ping/stats control socket to, e.g. tcp://127.0.0.1:* "
                 "(env ES_SAGA_CONTROL)");
  app.add_option("--max-in-flight", max_in_flight,
                 "commands outstanding at once; at the limit no new events are read "
                 "(default 2000)")
      ->check(CLI::Range(size_t{1}, size_t{1000000}));
  app.add_option("--checkpoint-ms", checkpoint_ms,
                 "persist the checkpoint at most this often, in milliseconds (default 200)")
      ->check(CLI::Range(int64_t{1}, int64_t{3600000}));
  app.add_option("--parked-retry-ms", parked_retry_ms,
                 "how often the command of a parked transfer (one whose step got an unexpected "
                 "answer, listed in the stats) is sent again, in milliseconds (default 30000)")
      ->check(CLI::Range(int64_t{10}, int64_t{86400000}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kOk : kUsage;  // prints the help, or the error and usage
  }

  es::bus::Endpoints endpoints;
  try {
    using es::bus::EndpointRole;
    using es::bus::ResolveEndpoint;
    constexpr auto kConnect = es::bus::EndpointUse::kConnect;
    endpoints = {
        .store_requests = ResolveEndpoint(EndpointRole::kStoreRequests, "--store-requests",
                                          store_requests, kConnect),
        .store_events =
            ResolveEndpoint(EndpointRole::kStoreEvents, "--store-events", store_events, kConnect),
        .commands = ResolveEndpoint(EndpointRole::kCommands, "--commands", commands, kConnect),
        .saga_control = ResolveEndpoint(EndpointRole::kSagaControl, "--bind-control", bind_control,
                                        es::bus::EndpointUse::kBind)};
  } catch (const std::exception& e) {
    Log("%s", e.what());
    return kUsage;
  }
  const es::saga::SagaOptions options{
      .data_dir = data_dir,
      .store_requests = endpoints.store_requests,
      .store_events = endpoints.store_events,
      .commands = endpoints.commands,
      .bind_control = endpoints.saga_control,
      .max_in_flight = max_in_flight,
      .checkpoint_interval = std::chrono::milliseconds(checkpoint_ms),
      .parked_retry_interval = std::chrono::milliseconds(parked_retry_ms)};
  InstallStopHandlers();

  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    Log("cannot create the data directory %s: %s", data_dir.c_str(), ec.message().c_str());
    return kFailure;
  }
  const auto checkpoint_file = es::saga::CheckpointFileIn(options.data_dir);
  const es::saga::CheckpointLoad load = es::saga::LoadCheckpoint(checkpoint_file);
  if (load.status == es::saga::CheckpointLoad::Status::kInvalid) {
    Log("refusing to start: %s. Move the file away to replay the saga from position 1 "
        "(safe: every command it sends is idempotent).",
        load.error.c_str());
    return kFailure;
  }
  Log("starting: data dir %s, store %s + %s, commands %s, max in flight %zu", data_dir.c_str(),
      options.store_requests.c_str(), options.store_events.c_str(), options.commands.c_str(),
      options.max_in_flight);
  const es::saga::SagaCheckpoint& start = load.checkpoint;
  if (load.status == es::saga::CheckpointLoad::Status::kLoaded) {
    Log("resumed from checkpoint %llu (transfers created %llu, completed %llu, failed %llu)",
        static_cast<unsigned long long>(start.position),
        static_cast<unsigned long long>(start.transfers.created),
        static_cast<unsigned long long>(start.transfers.completed),
        static_cast<unsigned long long>(start.transfers.failed));
  } else {
    Log("no checkpoint in %s: starting from position 1", checkpoint_file.c_str());
  }

  zmq::context_t context(1);
  std::optional<es::saga::SagaLoop> loop;
  try {
    loop.emplace(context, options, start);
  } catch (const zmq::error_t& e) {
    // The endpoints' form was checked above; ZeroMQ may still refuse one
    // (an address this host does not have: exit 2) or find it taken (1).
    Log("cannot bind %s or connect to %s, %s, %s: %s", options.bind_control.c_str(),
        options.store_requests.c_str(), options.store_events.c_str(), options.commands.c_str(),
        e.what());
    return es::bus::IsEndpointErrno(e.num()) ? kUsage : kFailure;
  } catch (const std::exception& e) {
    Log("fatal: %s", e.what());
    return kFailure;
  }
  try {
    std::printf("ready control=%s\n", loop->control_endpoint().c_str());
    std::fflush(stdout);
    return loop->Run(stop_requested) ? kOk : kFailure;
  } catch (const std::exception& e) {
    Log("fatal: %s", e.what());
    return kFailure;
  }
}
