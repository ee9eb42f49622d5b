// esbench: measures the running system. Modes:
//   append     raw store appends: K threads x W in flight, E events of B bytes each
//   transfers  money transfers end to end through command_service and the saga
//   fanout     one writer, S subscriber processes (catch-up subscribers)
//   catchup    a new subscriber reading N events of history from position 1
// Each prints a live progress line on stderr when it is a terminal, and a
// summary on stdout: one JSON object with --json, text otherwise.
// Exit codes: 0 ok, 1 the run found a problem (refused appends, money not
// conserved, unfinished transfers, an incomplete subscriber), 2 usage error,
// 3 a service did not answer.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <climits>
#include <functional>
#include <limits>
#include <memory>

#include "bench/modes.h"

namespace {

std::string SelfExe(const char* argv0) {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return argv0;
  return std::string(buf, static_cast<size_t>(n));
}

// The largest append the store takes (store_service --max-message-bytes
// default): events x (payload + ids and framing) must stay under it.
constexpr size_t kMaxAppendBytes = size_t{4} << 20;
constexpr size_t kPerEventOverhead = 128;

}  // namespace

int main(int argc, char** argv) {
  using namespace es::bench;
  CLI::App app{
      "esbench: throughput and latency of the event-sourced bank (append, transfers, fanout, "
      "catchup).\nExit codes: 0 ok, 1 the run found a problem, 2 usage error, 3 a service did "
      "not answer."};
  app.require_subcommand(1);
  app.fallthrough();  // global flags may also follow the mode

  bool json = false;
  std::string store_requests, store_events, commands, saga;
  int64_t timeout_s = 120;
  int io_threads = 1;
  app.add_flag("--json", json, "print the summary as one JSON object");
  app.add_option("--store", store_requests, "store request endpoint (env ES_STORE_REQUESTS)");
  app.add_option("--events", store_events, "store event endpoint (env ES_STORE_EVENTS)");
  app.add_option("--commands", commands, "command_service endpoint (env ES_COMMANDS)");
  app.add_option("--saga", saga, "saga_service control endpoint (env ES_SAGA_CONTROL)");
  app.add_option("--timeout-s", timeout_s,
                 "give up on a request, a transfer or a subscriber after this many seconds "
                 "(default 120)")
      ->check(CLI::Range(int64_t{1}, int64_t{86400}));
  app.add_option("--io-threads", io_threads, "ZeroMQ I/O threads (default 1)")
      ->check(CLI::Range(1, 16));

  std::function<int(BenchEnv&)> run;

  AppendArgs append;
  auto* append_cmd = app.add_subcommand("append", "store append throughput and latency");
  append_cmd
      ->add_option("--appenders", append.appenders,
                   "appenders: DEALER connections to the store (default 50)")
      ->check(CLI::Range(1, 1024));
  append_cmd
      ->add_option("--threads", append.threads,
                   "event-loop threads the appenders are spread over (default 1)")
      ->check(CLI::Range(1, 64));
  append_cmd
      ->add_option("--in-flight", append.in_flight, "appends in flight per appender (default 16)")
      ->check(CLI::Range(1, 100000));
  append_cmd
      ->add_option("--pipeline", append.pipeline,
                   "appends per message: more than 1 sends them as one append_many request, "
                   "as redis-benchmark -P sends its pipeline in one write; --in-flight must be "
                   "a multiple of it (default 1)")
      ->check(CLI::Range(1, 10000));
  append_cmd
      ->add_option("--events-per-append", append.events_per_append, "events per append (default 1)")
      ->check(CLI::Range(1, 10000));
  append_cmd
      ->add_option("--payload-bytes", append.payload_bytes, "random bytes per event (default 200)")
      ->check(CLI::Range(size_t{0}, size_t{1} << 20));
  append_cmd->add_option("--count", append.count, "events in all (default 300000)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000'000}));
  append_cmd->add_flag("--expect-any", append.expect_any,
                       "append with expected version any (default: no_stream)");
  append_cmd->callback([&] { run = [&](BenchEnv& env) { return RunAppendBench(env, append); }; });

  TransferArgs transfers;
  auto* transfers_cmd = app.add_subcommand("transfers", "money transfers end to end");
  transfers_cmd->add_option("--accounts", transfers.accounts, "accounts to open (default 1000)")
      ->check(CLI::Range(uint64_t{2}, uint64_t{10'000'000}));
  transfers_cmd->add_option("--transfers", transfers.transfers, "transfers to run (default 20000)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000'000}));
  transfers_cmd
      ->add_option("--in-flight", transfers.in_flight,
                   "transfers in flight until their terminal event (default 1000)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{100000}));
  transfers_cmd->add_option("--seed", transfers.seed, "seed of the pairs and amounts (default 1)");
  transfers_cmd->callback(
      [&] { run = [&](BenchEnv& env) { return RunTransferBench(env, transfers); }; });

  FanoutArgs fanout;
  auto* fanout_cmd = app.add_subcommand("fanout", "one writer, many subscriber processes");
  fanout_cmd->add_option("--subscribers", fanout.subscribers, "subscriber processes (default 8)")
      ->check(CLI::Range(1, 256));
  fanout_cmd->add_option("--count", fanout.count, "events to append (default 200000)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000'000}));
  fanout_cmd
      ->add_option("--payload-bytes", fanout.payload_bytes, "random bytes per event (default 200)")
      ->check(CLI::Range(size_t{0}, size_t{1} << 20));
  fanout_cmd
      ->add_option("--appenders", fanout.appenders,
                   "appenders: DEALER connections to the store (default 50)")
      ->check(CLI::Range(1, 1024));
  fanout_cmd
      ->add_option("--threads", fanout.threads,
                   "event-loop threads the appenders are spread over (default 1)")
      ->check(CLI::Range(1, 64));
  fanout_cmd
      ->add_option("--in-flight", fanout.in_flight, "appends in flight per appender (default 16)")
      ->check(CLI::Range(1, 100000));
  fanout_cmd
      ->add_option("--events-per-append", fanout.events_per_append, "events per append (default 1)")
      ->check(CLI::Range(1, 10000));
  const std::string self_exe = SelfExe(argv[0]);
  fanout_cmd->add_flag("--batched", fanout.batched,
                       "subscribers take the live stream as the store's batches (16 events a "
                       "message) instead of one message per event");
  fanout_cmd->callback(
      [&] { run = [&](BenchEnv& env) { return RunFanoutBench(env, fanout, self_exe); }; });

  FanoutWorkerArgs worker;
  auto* worker_cmd = app.add_subcommand("fanout-worker", "internal: one fanout subscriber");
  worker_cmd->group("");  // hidden
  worker_cmd->add_option("--from", worker.from, "first position")->required();
  worker_cmd->add_option("--count", worker.count, "events of ours to wait for")->required();
  worker_cmd->add_option("--prefix", worker.stream_prefix, "our stream prefix")->required();
  worker_cmd->add_flag("--batched", worker.batched, "take the store's batches");
  worker_cmd->callback([&] { run = [&](BenchEnv& env) { return RunFanoutWorker(env, worker); }; });

  CatchupArgs catchup;
  auto* catchup_cmd = app.add_subcommand("catchup", "a new subscriber reading history");
  catchup_cmd
      ->add_option("--count", catchup.count, "events to read from position 1 (default 1000000)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000'000}));
  catchup_cmd->add_option("--page-size", catchup.page_size, "events per store read (default 1000)")
      ->check(CLI::Range(uint32_t{1}, uint32_t{100000}));
  catchup_cmd
      ->add_option("--payload-bytes", catchup.payload_bytes,
                   "bytes per event appended when the store holds too few (default 200)")
      ->check(CLI::Range(size_t{0}, size_t{1} << 20));
  catchup_cmd->callback(
      [&] { run = [&](BenchEnv& env) { return RunCatchupBench(env, catchup); }; });

  ReadStreamArgs read_stream;
  auto* read_cmd =
      app.add_subcommand("read-stream", "latency of single-stream reads, one at a time");
  read_cmd->add_option("--streams", read_stream.streams, "streams to create (default 100)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000}));
  read_cmd->add_option("--events", read_stream.events, "events per stream (default 10)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1000}));
  read_cmd->add_option("--reads", read_stream.reads, "reads to time (default 2000)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{100'000'000}));
  read_cmd->add_option("--seed", read_stream.seed, "which streams are read");
  read_cmd->callback(
      [&] { run = [&](BenchEnv& env) { return RunReadStreamBench(env, read_stream); }; });

  AccountLoadArgs account_load;
  auto* load_cmd = app.add_subcommand(
      "account-load", "command_service's cold load of a long account, with and without a snapshot");
  load_cmd->add_option("--accounts", account_load.accounts, "account pairs to load (default 3)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1000}));
  load_cmd->add_option("--events", account_load.events, "events per account (default 100000)")
      ->check(CLI::Range(uint64_t{2}, uint64_t{100'000'000}));
  load_cmd
      ->add_option("--tail", account_load.tail,
                   "events after the snapshot, below --events (default 500)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{100'000'000}));
  load_cmd->callback(
      [&] { run = [&](BenchEnv& env) { return RunAccountLoadBench(env, account_load); }; });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints the help, or the error and a hint
    return code == 0 ? kOk : kUsage;
  }
  auto too_large = [](int events, size_t payload) {
    return static_cast<size_t>(events) * (payload + kPerEventOverhead) > kMaxAppendBytes;
  };
  auto size_error = [](const std::string& factors) {
    return Fail(kUsage, factors + " x (--payload-bytes + " + std::to_string(kPerEventOverhead) +
                            ") must stay under " + std::to_string(kMaxAppendBytes) +
                            " bytes (the store's largest request)");
  };
  if (too_large(append.events_per_append, append.payload_bytes) ||
      too_large(fanout.events_per_append, fanout.payload_bytes)) {
    return size_error("--events-per-append");
  }
  if (too_large(append.events_per_append * append.pipeline, append.payload_bytes)) {
    return size_error("--pipeline x --events-per-append");
  }
  if (append.in_flight % append.pipeline != 0) {
    return Fail(kUsage, "--in-flight (" + std::to_string(append.in_flight) +
                            ") must be a multiple of --pipeline (" +
                            std::to_string(append.pipeline) + ")");
  }

  auto env = std::make_unique<BenchEnv>(io_threads);
  try {
    env->endpoints = es::bus::ResolveClientEndpoints(
        {store_requests, store_events, commands, saga});
  } catch (const std::exception& e) {
    return Fail(kUsage, e.what());
  }
  env->json = json;
  env->timeout = std::chrono::seconds(timeout_s);
  try {
    return run(*env);
  } catch (const zmq::error_t& e) {
    // A backstop behind ResolveEndpoint: ZeroMQ refusing an endpoint is the
    // caller's mistake, anything else the system's.
    if (es::bus::IsEndpointErrno(e.num())) {
      return Fail(kUsage, "ZeroMQ refused an endpoint (store " + env->endpoints.store_requests +
                              ", events " + env->endpoints.store_events + ", commands " +
                              env->endpoints.commands + ", saga " + env->endpoints.saga_control +
                              "): " + e.what());
    }
    return Fail(kUnavailable, std::string("ZeroMQ: ") + e.what());
  }
}
