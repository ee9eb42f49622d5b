// store_service: the durable event store. Parses flags, opens the storage,
// binds the sockets, prints the ready line, serves until SIGTERM/SIGINT.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>

#include "bus/endpoints.h"
#include "store_service/log_line.h"
#include "store_service/sqlite_event_storage.h"
#include "store_service/store_server.h"

namespace {

std::atomic<bool> stop_requested{false};

void RequestStop(int) { stop_requested.store(true); }

// Without SA_RESTART, so a blocking poll returns at once with EINTR.
void InstallStopHandlers() {
  struct sigaction action {};
  action.sa_handler = RequestStop;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  using es::store::LogLine;

  std::string data_dir = "./run/store";
  std::string db_path;
  std::string bind_requests;
  std::string bind_events;
  int heartbeat_ms = 100;
  size_t max_message_bytes = size_t{4} << 20;

  CLI::App app{"store_service: the durable event store (append, read, publish)"};
  app.add_option("--data-dir", data_dir, "directory of the database (DIR/events.db); created")
      ->capture_default_str();
  app.add_option("--db", db_path, "database file (overrides --data-dir)");
  app.add_option("--bind-requests", bind_requests,
                 "ROUTER endpoint for requests (default: ES_STORE_REQUESTS, else ES_BASE_PORT)");
  app.add_option("--bind-events", bind_events,
                 "PUB endpoint for events (default: ES_STORE_EVENTS, else ES_BASE_PORT+1)");
  app.add_option("--heartbeat-ms", heartbeat_ms, "heartbeat interval on the PUB socket")
      ->check(CLI::Range(1, 60'000))
      ->capture_default_str();
  app.add_option("--max-message-bytes", max_message_bytes,
                 "largest request accepted; larger ones get TOO_LARGE")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 30))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);  // prints the help, or the error and a hint
    return code == 0 ? 0 : 2;
  }

  es::bus::Endpoints defaults;
  try {
    defaults = es::bus::DefaultEndpoints();
  } catch (const std::invalid_argument& e) {
    std::cerr << "store_service: " << e.what() << "\n";
    return 2;
  }

  if (db_path.empty()) {
    std::error_code error;
    std::filesystem::create_directories(data_dir, error);
    if (error) {
      LogLine("cannot create data directory " + data_dir + ": " + error.message());
      return 1;
    }
    db_path = (std::filesystem::path(data_dir) / "events.db").string();
  }

  es::store::SqliteStorageOptions storage_options;
  storage_options.path = db_path;
  storage_options.limits.max_payload_bytes = max_message_bytes;
  es::store::SqliteEventStorage storage(storage_options);
  const auto open_started = std::chrono::steady_clock::now();
  if (es::store::Status status = storage.Open(); !status.ok()) {
    LogLine("cannot open " + db_path + ": " + status.ToString());
    return 1;
  }
  const auto open_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - open_started)
                           .count();
  LogLine("recovered " + std::to_string(storage.Head()) + " events in " +
          std::to_string(storage.StreamCount()) + " streams from " + db_path + " in " +
          std::to_string(open_ms) + " ms");

  InstallStopHandlers();
  zmq::context_t context(1);
  {
    es::store::StoreServerOptions server_options;
    server_options.requests_endpoint = es::bus::Choose(bind_requests, defaults.store_requests);
    server_options.events_endpoint = es::bus::Choose(bind_events, defaults.store_events);
    server_options.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
    server_options.max_message_bytes = max_message_bytes;
    es::store::StoreServer server(context, storage, server_options);
    if (es::store::Status status = server.Bind(); !status.ok()) {
      LogLine(status.ToString());
      return 1;
    }
    // The one line on stdout: launchers and tests wait for it and read the
    // endpoints (a wildcard port resolved) from it.
    std::cout << "ready requests=" << server.requests_endpoint()
              << " events=" << server.events_endpoint() << std::endl;
    LogLine("serving requests on " + server.requests_endpoint() + ", events on " +
            server.events_endpoint() + ", engine " + std::string(storage.EngineName()));
    server.Run(stop_requested);
  }  // sockets closed before the context
  context.close();
  LogLine("shut down at head " + std::to_string(storage.Head()));
  return 0;
}
