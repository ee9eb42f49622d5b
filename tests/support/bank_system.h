// The whole bank for a process-level test: store_service, command_service
// (one or more instances against the same store) and saga_service, as real
// binaries on tcp://127.0.0.1:* ports in a temp dir, their endpoints read
// from their ready lines. Each is a ServiceProcess: stopped by its pid, and
// killed if the test ends (or dies) without stopping it.
//
// Logs: dir/store.log, dir/command-<i>.log, dir/saga.log, dir/query.log;
// the saga's checkpoint is in dir/saga, query_service's database in
// dir/query.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "es/v1/event.pb.h"
#include "tests/support/captured_run.h"
#include "tests/support/service_process.h"
#include "tests/support/temp_dir.h"

namespace es::testing {

class BankSystem {
 public:
  struct Options {
    bool start_saga = true;                      // false: hold it back; StartSaga() later
    size_t command_services = 1;                 // instances against the same store
    std::vector<std::string> saga_args = {};     // extra flags, e.g. {"--checkpoint-ms", "20"}
    std::vector<std::string> command_args = {};  // extra flags of every command service
    bool start_query = false;                    // also query_service (StartQuery() later)
    std::vector<std::string> query_args = {};    // extra flags, e.g. {"--batch-events", "50"}
  };

  // Starts the store, the command service(s) and (unless held back) the saga,
  // in that order. The saga talks to command service 0. Throws
  // std::runtime_error (quoting the log) if one does not become ready.
  explicit BankSystem(const TempDir& dir);
  BankSystem(const TempDir& dir, Options options);

  // Starts saga_service on dir/saga (again after a kill: it resumes from its
  // checkpoint, dir/saga/checkpoint), with Options::saga_args.
  void StartSaga();
  // kill -9 of saga_service.
  ExitStatus KillSaga();
  // Starts query_service on dir/query (again after a kill: it resumes from
  // its checkpoint), bound to a fresh port the first time and to the same
  // endpoint after, with Options::query_args.
  void StartQuery();
  // kill -9 of query_service.
  ExitStatus KillQuery();
  // Throws std::logic_error if query_service is not running.
  const std::string& queries() const;
  bool query_running() const { return query_.has_value() && query_->running(); }
  ServiceProcess& query_service() { return *query_; }

  // SIGTERM to command service `index`, then starts it again bound to the
  // same endpoint, so that its clients (the saga, esctl) reach it again.
  void RestartCommandService(size_t index = 0);

  const std::string& store_requests() const { return store_->endpoint("requests"); }
  const std::string& store_events() const { return store_->endpoint("events"); }
  const std::string& commands(size_t index = 0) const { return command_endpoints_.at(index); }
  // Throws std::logic_error if the saga is not running.
  const std::string& saga_control() const;

  ServiceProcess& store() { return *store_; }
  ServiceProcess& command_service(size_t index = 0) { return command_services_.at(index); }
  bool saga_running() const { return saga_.has_value() && saga_->running(); }

  // The esctl command line for `args`: the endpoint flags of this system
  // (commands of instance `command_service`; --saga and --queries when they
  // run) and, unless
  // `args` has one, a --timeout of 15 s (loaded machines), then `args`.
  std::vector<std::string> EsctlArgs(const std::vector<std::string>& args,
                                     size_t command_service = 0) const;
  // Runs build/bin/esctl with EsctlArgs(args, command_service).
  CapturedRun Esctl(const std::vector<std::string>& args, size_t command_service = 0,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

  // Every event in the store, from position 1, read over the wire in pages.
  // Throws std::runtime_error on an error reply or a timeout.
  std::vector<es::v1::EventRecord> ReadLog(zmq::context_t& context,
                                           const std::string& stream_prefix = "") const;
  // The store's head position (its ping). Throws std::runtime_error.
  uint64_t StoreHead(zmq::context_t& context) const;

 private:
  ServiceProcess StartCommandServiceAt(size_t index, const std::string& bind) const;

  const TempDir& dir_;
  Options options_;
  // Destroyed in reverse: the saga first, the store last.
  std::optional<ServiceProcess> store_;
  std::vector<ServiceProcess> command_services_;
  std::vector<std::string> command_endpoints_;
  std::optional<ServiceProcess> saga_;
  std::string saga_control_;
  std::optional<ServiceProcess> query_;
  std::string queries_;
};

}  // namespace es::testing
