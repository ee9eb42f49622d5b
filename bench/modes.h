// The esbench modes. Each returns the process exit code (bench_common.h).
#pragma once

#include <cstdint>
#include <string>

#include "bench/bench_common.h"

namespace es::bench {

struct AppendArgs {
  int appenders = 50;
  int threads = 1;
  int in_flight = 16;
  int pipeline = 1;
  int events_per_append = 1;
  size_t payload_bytes = 200;
  uint64_t count = 300'000;  // events
  bool expect_any = false;
};
int RunAppendBench(BenchEnv& env, const AppendArgs& args);

struct TransferArgs {
  uint64_t accounts = 1000;
  uint64_t transfers = 20'000;
  uint64_t in_flight = 1000;
  uint64_t seed = 1;
};
int RunTransferBench(BenchEnv& env, const TransferArgs& args);

struct FanoutArgs {
  int subscribers = 8;
  uint64_t count = 200'000;
  size_t payload_bytes = 200;
  int appenders = 50;
  int threads = 1;
  int in_flight = 16;
  int events_per_append = 1;
  bool batched = false;  // subscribers take the store's 16-event batches
};
int RunFanoutBench(BenchEnv& env, const FanoutArgs& args, const std::string& self_exe);

// The hidden per-subscriber process of the fan-out mode.
struct FanoutWorkerArgs {
  uint64_t from = 1;
  uint64_t count = 0;
  std::string stream_prefix;
  bool batched = false;
};
int RunFanoutWorker(BenchEnv& env, const FanoutWorkerArgs& args);

struct CatchupArgs {
  uint64_t count = 1'000'000;
  uint32_t page_size = 1000;
  size_t payload_bytes = 200;
};
int RunCatchupBench(BenchEnv& env, const CatchupArgs& args);

struct ReadStreamArgs {
  uint64_t streams = 100;
  uint64_t events = 10;  // per stream
  uint64_t reads = 2000;
  size_t payload_bytes = 200;
  uint64_t seed = 1;
};
int RunReadStreamBench(BenchEnv& env, const ReadStreamArgs& args);

struct AccountLoadArgs {
  uint64_t accounts = 3;      // pairs: one without a snapshot, one with
  uint64_t events = 100'000;  // per account
  uint64_t tail = 500;        // events after the snapshot
};
int RunAccountLoadBench(BenchEnv& env, const AccountLoadArgs& args);

}  // namespace es::bench
