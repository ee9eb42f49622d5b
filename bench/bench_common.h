// What every esbench mode shares: where the services are, exit codes, how to
// fail, pings, run ids and small formatting helpers.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <zmq.hpp>

#include "bus/endpoints.h"
#include "bus/rpc_client.h"

namespace es::bench {

enum ExitCode : int {
  kOk = 0,
  kFailed = 1,       // the run finished but something is wrong (money, errors, incomplete)
  kUsage = 2,        // the command line is wrong
  kUnavailable = 3,  // a service did not answer in time
};

using Clock = std::chrono::steady_clock;

struct BenchEnv {
  zmq::context_t context;
  es::bus::Endpoints endpoints;
  bool json = false;
  // Requests, transfers and subscribers give up after this long.
  std::chrono::seconds timeout{120};

  explicit BenchEnv(int io_threads) : context(io_threads) {}
  // How long a start-up ping may take: 5 s, or less with a shorter timeout.
  std::chrono::milliseconds ping_wait() const {
    return std::min<std::chrono::milliseconds>(std::chrono::milliseconds(5000), timeout);
  }
  // Lazy Pirate options for one blocking call (pings, reads).
  es::bus::RpcOptions rpc(std::chrono::milliseconds deadline) const;
};

// Writes "esbench: <message>" to stderr and returns `code`.
int Fail(ExitCode code, const std::string& message);

// The store's head position, or nullopt if it did not answer within `wait`.
std::optional<uint64_t> PingStore(BenchEnv& env, std::chrono::milliseconds wait);
// True when command_service (resp. saga_service's control socket) answers.
bool PingCommands(BenchEnv& env, std::chrono::milliseconds wait);
bool PingSaga(BenchEnv& env, std::chrono::milliseconds wait);

// A short random tag that makes this run's stream, command and event ids
// unique in a store that already holds earlier runs.
std::string NewRunTag();

double SecondsSince(Clock::time_point start, Clock::time_point end = Clock::now());

// A rate, guarding against a zero duration.
double PerSecond(double count, double seconds);

// "1,234,567"
std::string Grouped(double value);

}  // namespace es::bench
