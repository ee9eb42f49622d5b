// What the fault tests share: the three services started as real binaries on
// free ports (store, command, saga) with each one's ServiceProcess in the
// test's hands (to SIGTERM it under load and check how it exits, or restart
// it where its clients expect it), queries, a paged reading of the whole
// log, and a process's resident memory.
//
// Every service is a ServiceProcess: stopped by its pid, and killed if the
// test ends (or dies) without stopping it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "bus/rpc_client.h"
#include "es/v1/command.pb.h"
#include "es/v1/saga.pb.h"
#include "es/v1/store.pb.h"
#include "tests/support/service_process.h"
#include "tests/support/temp_dir.h"

namespace es::testing {

using CommandClient = es::bus::RpcClient<es::v1::CommandRequest, es::v1::CommandReply>;

// command_service against `store_requests`, bound to `bind` (a free port by
// default; pass a previous endpoint to restart it where clients expect it).
// Log: dir/command.log.
ServiceProcess StartCommandService(const TempDir& dir, const std::string& store_requests,
                                   const std::string& bind = "tcp://127.0.0.1:*",
                                   const std::vector<std::string>& extra_args = {});

// saga_service with its checkpoint in dir/saga, control on a free port.
// Log: dir/saga.log.
ServiceProcess StartSagaService(const TempDir& dir, const std::string& store_requests,
                                const std::string& store_events, const std::string& commands,
                                const std::vector<std::string>& extra_args = {});

// The three services on one temp dir. Start them in order: store, command,
// saga. Endpoints are read from their ready lines.
class FaultSystem {
 public:
  explicit FaultSystem(const TempDir& dir) : dir_(dir) {}

  void StartStore(const std::vector<std::string>& extra_args = {});
  // `bind` as for StartCommandService.
  void StartCommand(const std::string& bind = "tcp://127.0.0.1:*",
                    const std::vector<std::string>& extra_args = {});
  void StartSaga(const std::vector<std::string>& extra_args = {});

  const std::string& store_requests() const { return store->endpoint("requests"); }
  const std::string& store_events() const { return store->endpoint("events"); }
  const std::string& commands() const { return command->endpoint("commands"); }
  const std::string& saga_control() const { return saga->endpoint("control"); }

  // Declared in the order they are started; destroyed (killed if still
  // running) in the reverse order.
  std::optional<ServiceProcess> store;
  std::optional<ServiceProcess> command;
  std::optional<ServiceProcess> saga;

 private:
  const TempDir& dir_;
};

// Queries (the command builders are in command_test_client.h).
es::v1::CommandRequest GetAccountRequest(const std::string& account_id);
es::v1::CommandRequest GetTransferRequest(const std::string& transfer_id);

// Calls command_service with Lazy Pirate retries up to `deadline`. Throws
// std::runtime_error when it did not answer.
es::v1::CommandReply CallCommands(CommandClient& client, es::v1::CommandRequest request);
// A client whose calls retry for up to `deadline`.
CommandClient MakeCommandClient(zmq::context_t& context, const std::string& endpoint,
                                std::chrono::milliseconds deadline = std::chrono::seconds(20));

// The saga's stats over its control socket; nullopt if it did not answer.
std::optional<es::v1::SagaStats> SagaStatsOf(
    zmq::context_t& context, const std::string& control,
    std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Every event in the store from position 1, read in pages of `page_size`.
// Throws std::runtime_error on an error reply or a timeout.
std::vector<es::v1::EventRecord> ReadLogFromStore(zmq::context_t& context,
                                                  const std::string& endpoint,
                                                  uint32_t page_size = 1000);

// The --engine flags of store_service for `engine` ("sqlite", "log"), or
// nullopt if this store_service cannot run it: one without --engine has
// SQLite only (then "sqlite" needs no flag). Asks `store_service --help`,
// writing its output to dir/store-help.txt.
std::optional<std::vector<std::string>> StoreEngineArgs(const TempDir& dir,
                                                        const std::string& engine);

// Resident set size of process `pid` in bytes, from /proc/<pid>/statm; 0 if
// it cannot be read (the process is gone).
uint64_t ResidentBytesOf(pid_t pid);

}  // namespace es::testing
