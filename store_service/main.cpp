// store_service: the durable event store. Parses flags, opens the storage
// (the log engine by default, or SQLite), binds the sockets, prints the
// ready line, serves until SIGTERM/SIGINT.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

#include "bus/endpoints.h"
#include "store_service/log_event_storage.h"
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

// Why `data_dir` cannot be opened with `engine`: it holds the other
// engine's data. Empty when it can.
std::string OtherEngineData(const std::filesystem::path& data_dir, const std::string& engine) {
  std::error_code error;
  if (engine == "log") {
    if (std::filesystem::exists(data_dir / "events.db", error)) {
      return (data_dir / "events.db").string() +
             " is a SQLite event store: start with --engine sqlite, or use another --data-dir";
    }
    return "";
  }
  for (const auto& entry : std::filesystem::directory_iterator(data_dir / "log", error)) {
    if (entry.path().extension() == ".seg") {
      return (data_dir / "log").string() +
             " holds a log-engine event store: start with --engine log, or use another "
             "--data-dir";
    }
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  using es::store::LogLine;

  std::string data_dir = "./run/store";
  std::string engine = "log";
  std::string db_path;
  uint64_t segment_bytes = uint64_t{256} << 20;
  std::string bind_requests;
  std::string bind_events;
  int heartbeat_ms = 100;
  size_t max_message_bytes = size_t{4} << 20;

  CLI::App app{"store_service: the durable event store (append, read, publish)"};
  app.add_option("--data-dir", data_dir,
                 "directory of the store's data (DIR/log/ for the log engine, DIR/events.db for "
                 "sqlite); created")
      ->capture_default_str();
  CLI::Option* engine_option =
      app.add_option("--engine", engine,
                     "storage engine: log (segmented append-only log files, the fastest) or "
                     "sqlite (SQLite used as the log); a data dir holding the other engine's "
                     "data is refused (default: ES_STORE_ENGINE, else log)")
          ->envname("ES_STORE_ENGINE")
          ->check(CLI::IsMember({"log", "sqlite"}))
          ->capture_default_str();
  app.add_option("--db", db_path,
                 "SQLite database file (overrides --data-dir; implies --engine sqlite)");
  app.add_option("--segment-bytes", segment_bytes,
                 "log engine: start a new segment file once the current one holds this many "
                 "bytes")
      ->check(CLI::Range(uint64_t{4096}, uint64_t{1} << 40))
      ->capture_default_str();
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
    if (!db_path.empty()) {
      if (engine_option->count() > 0 && engine != "sqlite") {
        throw CLI::ValidationError("--db",
                                   "--db names a SQLite database: use it with --engine "
                                   "sqlite (or use --data-dir)");
      }
      engine = "sqlite";
    }
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);  // prints the help, or the error and a hint
    return code == 0 ? 0 : 2;
  }

  // Checked before anything is opened or created: a bad endpoint is a
  // usage error (exit 2), not a store that recovered and then failed.
  std::string requests_endpoint, events_endpoint;
  try {
    using es::bus::EndpointRole;
    constexpr auto kBind = es::bus::EndpointUse::kBind;
    requests_endpoint = es::bus::ResolveEndpoint(EndpointRole::kStoreRequests, "--bind-requests",
                                                 bind_requests, kBind);
    events_endpoint =
        es::bus::ResolveEndpoint(EndpointRole::kStoreEvents, "--bind-events", bind_events, kBind);
  } catch (const std::invalid_argument& e) {
    std::cerr << "store_service: " << e.what() << "\n";
    return 2;
  }

  std::string storage_path;  // for logs
  std::unique_ptr<es::store::EventStorage> storage;
  es::store::LogEventStorage* log_storage = nullptr;
  if (db_path.empty()) {
    std::error_code error;
    std::filesystem::create_directories(data_dir, error);
    if (error) {
      LogLine("cannot create data directory " + data_dir + ": " + error.message());
      return 1;
    }
    if (std::string conflict = OtherEngineData(data_dir, engine); !conflict.empty()) {
      LogLine("refusing to start with --engine " + engine + ": " + conflict);
      return 1;
    }
  }
  if (engine == "log") {
    es::store::LogStorageOptions options;
    options.directory = (std::filesystem::path(data_dir) / "log").string();
    options.limits.max_payload_bytes = max_message_bytes;
    options.segment_bytes = segment_bytes;
    storage_path = options.directory;
    auto log = std::make_unique<es::store::LogEventStorage>(options);
    log_storage = log.get();
    storage = std::move(log);
  } else {
    if (db_path.empty()) db_path = (std::filesystem::path(data_dir) / "events.db").string();
    es::store::SqliteStorageOptions options;
    options.path = db_path;
    options.limits.max_payload_bytes = max_message_bytes;
    storage_path = db_path;
    storage = std::make_unique<es::store::SqliteEventStorage>(options);
  }

  const auto open_started = std::chrono::steady_clock::now();
  if (es::store::Status status = storage->Open(); !status.ok()) {
    LogLine("cannot open " + storage_path + ": " + status.ToString());
    return 1;
  }
  const auto open_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - open_started)
                           .count();
  std::string details;
  if (log_storage != nullptr) {
    const es::store::LogRecoveryReport& report = log_storage->recovery();
    details =
        " (" + std::to_string(report.segments) + " segment(s), " +
        std::to_string(report.bytes_scanned >> 20) + " MiB scanned" +
        (report.torn_bytes_dropped > 0
             ? ", a torn tail of " + std::to_string(report.torn_bytes_dropped) + " bytes dropped"
             : "") +
        ")";
  }
  LogLine("recovered " + std::to_string(storage->Head()) + " events in " +
          std::to_string(storage->StreamCount()) + " streams from " + storage_path + " in " +
          std::to_string(open_ms) + " ms" + details);

  InstallStopHandlers();
  zmq::context_t context(1);
  {
    es::store::StoreServerOptions server_options;
    server_options.requests_endpoint = requests_endpoint;
    server_options.events_endpoint = events_endpoint;
    server_options.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
    server_options.max_message_bytes = max_message_bytes;
    es::store::StoreServer server(context, *storage, server_options);
    if (es::store::Status status = server.Bind(); !status.ok()) {
      LogLine(status.ToString());
      return 1;
    }
    // The one line on stdout: launchers and tests wait for it and read the
    // endpoints (a wildcard port resolved) from it.
    std::cout << "ready requests=" << server.requests_endpoint()
              << " events=" << server.events_endpoint() << std::endl;
    LogLine("serving requests on " + server.requests_endpoint() + ", events on " +
            server.events_endpoint() + ", engine " + std::string(storage->EngineName()));
    server.Run(stop_requested);
  }  // sockets closed before the context
  context.close();
  LogLine("shut down at head " + std::to_string(storage->Head()));
  return 0;
}
