// Appends events to the store as fast as it takes them: K appenders, each a
// DEALER connection keeping W appends in flight (P to a message), driven by a
// few event-loop threads (not a thread per appender: on a small machine 50
// threads cost the store the CPU it needs).
// Every append goes to a fresh stream (expected version no_stream, or any)
// with a fresh command id and E events of B random bytes. Used by the append
// mode, and to feed the fan-out and catch-up modes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <zmq.hpp>

#include "bench/latency_histogram.h"

namespace es::bench {

struct AppendPlan {
  int appenders = 50;  // connections
  int threads = 1;     // event loops the appenders are spread over
  int in_flight = 16;  // appends, per appender: a multiple of pipeline
  // Appends per message: 1 sends each as an append request; more sends them
  // as one append_many (how redis-benchmark -P sends its pipeline in one write).
  int pipeline = 1;
  int events_per_append = 1;
  size_t payload_bytes = 200;
  uint64_t events = 300'000;                    // in all; the last append may carry fewer
  bool expect_no_stream = true;                 // else expected version "any"
  std::string stream_prefix;                    // streams are <prefix><n>; unique per run
  std::chrono::milliseconds deadline{120'000};  // per request
};

struct AppendOutcome {
  uint64_t events = 0;      // acknowledged
  uint64_t appends = 0;     // acknowledged
  uint64_t errors = 0;      // appends the store refused
  uint64_t unanswered = 0;  // appends that got no reply before the deadline
  std::string first_error;
  double seconds = 0;        // from the first send to the last ack
  LatencyHistogram latency;  // per append: send to ack
};

// The event type the bench writes.
inline constexpr const char* kBenchEventType = "bench.Blob";

// Runs `plan` against the store at `endpoint`. `events_done` (if given)
// counts acknowledged events as they come, for a progress line.
AppendOutcome RunAppends(zmq::context_t& context, const std::string& endpoint,
                         const AppendPlan& plan, std::atomic<uint64_t>* events_done);

}  // namespace es::bench
