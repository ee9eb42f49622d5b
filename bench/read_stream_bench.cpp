// esbench read-stream: the latency of reading one stream, one request at a
// time (what command_service pays on a cache miss). First appends `streams`
// streams of `events` events each (pipelined, not timed), then times `reads`
// sequential ReadStream requests of random ones of them. Run it again after
// the store has grown to see whether a read slows down with the log's size.
#include <cstdio>
#include <random>

#include "bench/modes.h"
#include "bench/pipelined_appender.h"
#include "es/v1/store.pb.h"

namespace es::bench {

int RunReadStreamBench(BenchEnv& env, const ReadStreamArgs& args) {
  if (!PingStore(env, env.ping_wait())) {
    return Fail(kUnavailable, "store_service did not answer at " + env.endpoints.store_requests);
  }
  const std::string prefix = "read-" + NewRunTag() + "-";
  AppendPlan plan{.appenders = 1,
                  .in_flight = 64,
                  .events_per_append = static_cast<int>(args.events),
                  .payload_bytes = args.payload_bytes,
                  .events = args.streams * args.events,
                  .expect_no_stream = true,
                  .stream_prefix = prefix,
                  .deadline = env.timeout};
  AppendOutcome filled = RunAppends(env.context, env.endpoints.store_requests, plan, nullptr);
  if (filled.unanswered > 0) return Fail(kUnavailable, "store_service stopped answering");
  if (filled.errors > 0)
    return Fail(kFailed, "appending the streams failed: " + filled.first_error);

  es::bus::RpcClient<es::v1::StoreRequest, es::v1::StoreReply> store(
      env.context, env.endpoints.store_requests, env.rpc(std::chrono::milliseconds(5000)));
  std::mt19937_64 rng(args.seed);
  LatencyHistogram latency;
  uint64_t events_read = 0;
  for (uint64_t i = 0; i < args.reads; ++i) {
    es::v1::StoreRequest request;
    request.mutable_read_stream()->set_stream_id(prefix + std::to_string(rng() % args.streams));
    request.mutable_read_stream()->set_from_version(1);
    const auto sent = Clock::now();
    auto reply = store.Call(request);
    latency.Record(Clock::now() - sent);
    if (!reply) return Fail(kUnavailable, "store_service stopped answering");
    if (!reply->has_read_stream()) return Fail(kFailed, "read_stream refused");
    events_read += reply->read_stream().events_size();
  }
  if (events_read != args.reads * args.events) {
    return Fail(kFailed, "read " + std::to_string(events_read) + " events, expected " +
                             std::to_string(args.reads * args.events));
  }
  const auto head = PingStore(env, env.ping_wait()).value_or(0);
  if (env.json) {
    std::printf(
        "{\"mode\":\"read-stream\",\"reads\":%llu,\"events_per_stream\":%llu,"
        "\"store_head\":%llu,\"latency_ms\":%s}\n",
        static_cast<unsigned long long>(args.reads), static_cast<unsigned long long>(args.events),
        static_cast<unsigned long long>(head), latency.ToJson().c_str());
  } else {
    std::printf("read-stream: %llu reads of %llu-event streams with %llu events stored: %s\n",
                static_cast<unsigned long long>(args.reads),
                static_cast<unsigned long long>(args.events), static_cast<unsigned long long>(head),
                latency.ToText().c_str());
  }
  std::fflush(stdout);
  return kOk;
}

}  // namespace es::bench
