// command_service's loop: a ROUTER socket for commands and queries, one
// pipelined connection to the store, and the CommandProcessor between them.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <unordered_map>
#include <zmq.hpp>

#include "bus/process_stats.h"
#include "bus/server_socket.h"
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
  // Requests received and not yet answered, per client and in total: past
  // either, a request is answered UNAVAILABLE at once (nothing written), so
  // a client that floods, or a slow store, cannot grow memory without end.
  size_t max_in_flight_per_peer = 4096;
  size_t max_in_flight_bytes_per_peer = size_t{16} << 20;
  size_t max_in_flight = 20'000;
  size_t max_in_flight_bytes = size_t{128} << 20;
  // The request socket's limits (bus/server_socket.h). Replies are small
  // (a command's outcome, one aggregate's view: ~100-300 bytes), so its
  // queue can be as deep as a client's requests in flight may be.
  es::bus::ServerSocketOptions socket{.max_frame_bytes = size_t{4} << 20,
                                      .send_hwm = 4096,
                                      .receive_hwm = 1000,
                                      .held_bytes_per_peer = size_t{4} << 20,
                                      .held_bytes_total = size_t{64} << 20,
                                      .linger_ms = 1000};
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
  // Counts a request in flight for `peer`, or says why it is over a limit.
  std::string Admit(const std::string& peer, size_t bytes);
  void Release(const std::string& peer, size_t bytes);

  struct InFlight {
    size_t requests = 0;
    size_t bytes = 0;
  };

  CommandServerOptions options_;
  es::bus::RouterSocket router_;
  StoreRpc store_;
  CommandProcessor processor_;
  uint64_t requests_ = 0;
  uint64_t malformed_ = 0;
  std::unordered_map<std::string, InFlight> in_flight_;  // by peer identity
  InFlight in_flight_total_;
  uint64_t over_limit_ = 0;
  es::bus::RateMeter rate_;
};

}  // namespace es::command
