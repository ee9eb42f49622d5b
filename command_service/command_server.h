// command_service's loop: a ROUTER socket for commands and queries, one
// pipelined connection to the store, and the CommandProcessor between them.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <zmq.hpp>

#include "bus/process_stats.h"
#include "command_service/command_processor.h"

namespace es::command {

struct CommandServerOptions {
  std::string bind;            // where clients send commands
  std::string store_requests;  // the store's request endpoint
  size_t cache_capacity = 1'000'000;
  int max_conflict_retries = 5;
  uint64_t snapshot_every = 1000;                  // events between account snapshots; 0 = none
  std::chrono::milliseconds store_timeout{10000};  // then a command is answered UNAVAILABLE
  std::chrono::milliseconds drain_timeout{5000};   // on shutdown
};

class CommandServer {
 public:
  CommandServer(zmq::context_t& context, CommandServerOptions options);
  // The endpoint actually bound (resolves tcp://host:*).
  std::string bound_endpoint() const;
  // Serves until `stop` becomes true, then answers what is in flight
  // (bounded by drain_timeout) and returns.
  void Run(const std::atomic<bool>& stop);

 private:
  void ServeRequests();

  CommandServerOptions options_;
  zmq::socket_t router_;
  StoreRpc store_;
  CommandProcessor processor_;
  uint64_t requests_ = 0;
  uint64_t malformed_ = 0;
  es::bus::RateMeter rate_;
};

}  // namespace es::command
