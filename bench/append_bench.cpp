// esbench append: raw store append throughput and latency.
#include <cstdio>

#include "bench/modes.h"
#include "bench/pipelined_appender.h"
#include "bench/progress.h"

namespace es::bench {

int RunAppendBench(BenchEnv& env, const AppendArgs& args) {
  if (!PingStore(env, env.ping_wait())) {
    return Fail(kUnavailable, "store_service did not answer at " + env.endpoints.store_requests);
  }
  AppendPlan plan{.appenders = args.appenders,
                  .threads = args.threads,
                  .in_flight = args.in_flight,
                  .pipeline = args.pipeline,
                  .events_per_append = args.events_per_append,
                  .payload_bytes = args.payload_bytes,
                  .events = args.count,
                  .expect_no_stream = !args.expect_any,
                  .stream_prefix = "bench-" + NewRunTag() + "-",
                  .deadline = env.timeout};
  std::atomic<uint64_t> done{0};
  Progress progress("append", "events", args.count, done);
  AppendOutcome outcome = RunAppends(env.context, env.endpoints.store_requests, plan, &done);
  progress.Stop();

  const double events_per_s = PerSecond(static_cast<double>(outcome.events), outcome.seconds);
  const double appends_per_s = PerSecond(static_cast<double>(outcome.appends), outcome.seconds);
  if (env.json) {
    std::printf(
        "{\"mode\":\"append\",\"appenders\":%d,\"in_flight\":%d,\"pipeline\":%d,"
        "\"events_per_append\":%d,"
        "\"payload_bytes\":%zu,\"events\":%llu,\"seconds\":%.3f,\"events_per_s\":%.1f,"
        "\"appends_per_s\":%.1f,\"latency_ms\":%s,\"errors\":%llu}\n",
        args.appenders, args.in_flight, args.pipeline, args.events_per_append, args.payload_bytes,
        static_cast<unsigned long long>(outcome.events), outcome.seconds, events_per_s,
        appends_per_s, outcome.latency.ToJson().c_str(),
        static_cast<unsigned long long>(outcome.errors + outcome.unanswered));
  } else {
    std::printf(
        "append: %d appenders x %d in flight (%d per message), %d event(s) of %zu B "
        "per append\n",
        args.appenders, args.in_flight, args.pipeline, args.events_per_append, args.payload_bytes);
    std::printf("  %s events in %.2f s: %s events/s, %s appends/s\n",
                Grouped(static_cast<double>(outcome.events)).c_str(), outcome.seconds,
                Grouped(events_per_s).c_str(), Grouped(appends_per_s).c_str());
    std::printf("  latency (send to ack): %s\n", outcome.latency.ToText().c_str());
  }
  std::fflush(stdout);
  if (outcome.unanswered > 0) {
    return Fail(kUnavailable, std::to_string(outcome.unanswered) +
                                  " append(s) got no answer from store_service within " +
                                  std::to_string(env.timeout.count()) + " s");
  }
  if (outcome.errors > 0) {
    return Fail(kFailed, std::to_string(outcome.errors) +
                             " append(s) refused by the store; first: " + outcome.first_error);
  }
  return kOk;
}

}  // namespace es::bench
