// esbench fanout: one writer, S subscriber processes. Each subscriber is this
// binary re-executed in the hidden mode `fanout-worker`: it runs a
// bus::CatchUpSubscriber from the store's current head, says "ready" on its
// stdout (a pipe to the parent), receives the N events the parent then
// appends, and reports one line: its rate from its first to its last event,
// the publish-to-receive latency (its clock minus the event's recorded_at_us)
// and whether it saw exactly the N events, at contiguous positions.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

#include "bench/latency_histogram.h"
#include "bench/modes.h"
#include "bench/pipelined_appender.h"
#include "bench/progress.h"
#include "bus/catch_up_subscriber.h"
#include "bus/ids.h"

namespace es::bench {
namespace {

struct Worker {
  pid_t pid = -1;
  int fd = -1;
  std::string buffer;              // bytes read, not yet split into lines
  std::vector<std::string> lines;  // complete lines
  bool eof = false;
};

// The value of `key=` in a "result k=v k=v" line.
std::optional<double> Field(const std::string& line, const std::string& key) {
  const std::string needle = " " + key + "=";
  const size_t at = line.find(needle);
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(line.c_str() + at + needle.size(), nullptr);
}

bool Spawn(Worker& worker, const std::vector<std::string>& args) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return false;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the bench
    dup2(fds[1], STDOUT_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  worker.pid = pid;
  worker.fd = fds[0];
  return true;
}

// Reads from every worker until `enough(worker)` holds for all of them or the
// deadline passes. False on the deadline.
template <typename Enough>
bool ReadUntil(std::vector<Worker>& workers, Clock::time_point deadline, Enough enough) {
  while (true) {
    std::vector<pollfd> fds;
    std::vector<Worker*> owners;
    for (auto& worker : workers) {
      if (enough(worker) || worker.eof) continue;
      fds.push_back(pollfd{.fd = worker.fd, .events = POLLIN, .revents = 0});
      owners.push_back(&worker);
    }
    if (fds.empty()) {
      return std::all_of(workers.begin(), workers.end(), [&](Worker& w) { return enough(w); });
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    if (poll(fds.data(), fds.size(), static_cast<int>(std::min<int64_t>(left.count(), 1000))) < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      Worker& worker = *owners[i];
      char buf[4096];
      const ssize_t n = read(worker.fd, buf, sizeof buf);
      if (n <= 0) {
        worker.eof = true;
        continue;
      }
      worker.buffer.append(buf, static_cast<size_t>(n));
      size_t newline;
      while ((newline = worker.buffer.find('\n')) != std::string::npos) {
        worker.lines.push_back(worker.buffer.substr(0, newline));
        worker.buffer.erase(0, newline + 1);
      }
    }
  }
}

bool HasLineStarting(const Worker& worker, const std::string& prefix) {
  return std::any_of(worker.lines.begin(), worker.lines.end(),
                     [&](const std::string& line) { return line.rfind(prefix, 0) == 0; });
}

std::string ResultLine(const Worker& worker) {
  for (const auto& line : worker.lines) {
    if (line.rfind("result ", 0) == 0) return line;
  }
  return "";
}

void StopWorkers(std::vector<Worker>& workers) {
  for (auto& worker : workers) {
    if (worker.pid > 0) kill(worker.pid, SIGTERM);
  }
  for (auto& worker : workers) {
    if (worker.pid > 0) waitpid(worker.pid, nullptr, 0);
    if (worker.fd >= 0) close(worker.fd);
    worker.pid = -1;
    worker.fd = -1;
  }
}

}  // namespace

int RunFanoutBench(BenchEnv& env, const FanoutArgs& args, const std::string& self_exe) {
  const auto head = PingStore(env, env.ping_wait());
  if (!head) {
    return Fail(kUnavailable, "store_service did not answer at " + env.endpoints.store_requests);
  }
  const std::string prefix = "fanout-" + NewRunTag() + "-";
  std::vector<Worker> workers(static_cast<size_t>(args.subscribers));
  for (auto& worker : workers) {
    std::vector<std::string> argv = {self_exe,      "fanout-worker",
                                     "--store",     env.endpoints.store_requests,
                                     "--events",    env.endpoints.store_events,
                                     "--timeout-s", std::to_string(env.timeout.count()),
                                     "--from",      std::to_string(*head + 1),
                                     "--count",     std::to_string(args.count),
                                     "--prefix",    prefix};
    if (args.batched) argv.push_back("--batched");
    if (!Spawn(worker, argv)) {
      StopWorkers(workers);
      return Fail(kFailed,
                  std::string("cannot start a subscriber process: ") + std::strerror(errno));
    }
  }
  if (!ReadUntil(workers, Clock::now() + std::chrono::seconds(30),
                 [](Worker& w) { return HasLineStarting(w, "ready"); })) {
    StopWorkers(workers);
    return Fail(kUnavailable, "the subscriber processes did not get ready (is the store up?)");
  }

  AppendPlan plan{.appenders = args.appenders,
                  .threads = args.threads,
                  .in_flight = args.in_flight,
                  .events_per_append = args.events_per_append,
                  .payload_bytes = args.payload_bytes,
                  .events = args.count,
                  .expect_no_stream = true,
                  .stream_prefix = prefix,
                  .deadline = env.timeout};
  std::atomic<uint64_t> done{0};
  Progress progress("fanout: appending", "events", args.count, done);
  AppendOutcome appended = RunAppends(env.context, env.endpoints.store_requests, plan, &done);
  progress.Stop();
  if (appended.unanswered > 0 || appended.errors > 0) {
    StopWorkers(workers);
    return Fail(appended.unanswered > 0 ? kUnavailable : kFailed,
                "appending the events failed: " + (appended.first_error.empty()
                                                       ? std::string("no answer from the store")
                                                       : appended.first_error));
  }

  const bool all_reported =
      ReadUntil(workers, Clock::now() + env.timeout + std::chrono::seconds(10),
                [](Worker& w) { return HasLineStarting(w, "result "); });
  std::vector<std::string> results;
  for (auto& worker : workers) results.push_back(ResultLine(worker));
  StopWorkers(workers);

  double min_rate = -1;
  bool all_complete = all_reported;
  std::string per_json, per_text;
  for (size_t i = 0; i < results.size(); ++i) {
    const std::string& line = results[i];
    const double rate = Field(line, "events_per_s").value_or(0);
    const double p50 = Field(line, "p50").value_or(0);
    const double p99 = Field(line, "p99").value_or(0);
    const double p999 = Field(line, "p999").value_or(0);
    const uint64_t events = static_cast<uint64_t>(Field(line, "events").value_or(0));
    const bool complete = !line.empty() && Field(line, "complete").value_or(0) == 1;
    all_complete = all_complete && complete;
    min_rate = min_rate < 0 ? rate : std::min(min_rate, rate);
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "%s{\"events\":%llu,\"events_per_s\":%.1f,"
                  "\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f},\"complete\":%s}",
                  i == 0 ? "" : ",", static_cast<unsigned long long>(events), rate, p50, p99, p999,
                  complete ? "true" : "false");
    per_json += buf;
    std::snprintf(buf, sizeof buf,
                  "  subscriber %zu: %s events, %s events/s, latency p50 %.3f ms, p99 %.3f ms, "
                  "p99.9 %.3f ms%s\n",
                  i + 1, Grouped(static_cast<double>(events)).c_str(), Grouped(rate).c_str(), p50,
                  p99, p999, complete ? "" : "  INCOMPLETE");
    per_text += buf;
  }
  if (min_rate < 0) min_rate = 0;
  const double append_rate = PerSecond(static_cast<double>(appended.events), appended.seconds);
  if (env.json) {
    std::printf(
        "{\"mode\":\"fanout\",\"subscribers\":%d,\"events\":%llu,\"payload_bytes\":%zu,"
        "\"append_events_per_s\":%.1f,\"per_subscriber\":[%s],\"min_events_per_s\":%.1f,"
        "\"complete\":%s}\n",
        args.subscribers, static_cast<unsigned long long>(args.count), args.payload_bytes,
        append_rate, per_json.c_str(), min_rate, all_complete ? "true" : "false");
  } else {
    std::printf("fanout: %d subscriber processes, %s events of %zu B (appended at %s events/s)\n",
                args.subscribers, Grouped(static_cast<double>(args.count)).c_str(),
                args.payload_bytes, Grouped(append_rate).c_str());
    std::printf("%s", per_text.c_str());
    std::printf("  slowest subscriber: %s events/s\n", Grouped(min_rate).c_str());
  }
  std::fflush(stdout);
  if (!all_complete) return Fail(kFailed, "a subscriber did not see exactly the events appended");
  return kOk;
}

int RunFanoutWorker(BenchEnv& env, const FanoutWorkerArgs& args) {
  es::bus::CatchUpOptions options;
  options.store_requests = env.endpoints.store_requests;
  options.store_events = env.endpoints.store_events;
  options.from_position = args.from;
  options.batched = args.batched;
  es::bus::CatchUpSubscriber subscriber(env.context, options);
  // Read up to the head and let the SUB connection come up before saying so.
  std::vector<es::v1::EventRecord> early;
  for (auto until = Clock::now() + std::chrono::milliseconds(300); Clock::now() < until;) {
    if (auto event = subscriber.Next(std::chrono::milliseconds(50))) early.push_back(*event);
  }
  std::printf("ready\n");
  std::fflush(stdout);

  const auto deadline = Clock::now() + env.timeout;
  LatencyHistogram latency;
  uint64_t expected = args.from, ours = 0, total = 0;
  bool contiguous = true;
  // One clock read per event (the system clock, which recorded_at_us is on):
  // at 100k events/s per process, every read shows in the profile.
  int64_t first_us = 0, last_us = 0;
  auto take = [&](const es::v1::EventRecord& event) {
    const int64_t now_us = es::bus::NowMicros();
    ++total;
    if (event.global_position() != expected) contiguous = false;
    expected = event.global_position() + 1;
    if (event.stream_id().rfind(args.stream_prefix, 0) != 0) return;
    if (ours == 0) first_us = now_us;
    last_us = now_us;
    ++ours;
    latency.RecordNanos((now_us - event.recorded_at_us()) * 1000);
  };
  for (const auto& event : early) take(event);
  // One record, reused: the subscriber recycles it (no allocation per
  // event); the deadline is looked at only when nothing comes.
  es::v1::EventRecord event;
  while (ours < args.count) {
    if (subscriber.Next(&event, std::chrono::milliseconds(100))) {
      take(event);
    } else if (Clock::now() >= deadline) {
      break;
    }
  }
  const double seconds = static_cast<double>(last_us - first_us) / 1e6;
  const double rate = ours >= 2 ? PerSecond(static_cast<double>(ours - 1), seconds) : 0;
  const bool complete = contiguous && ours == args.count;
  std::printf(
      "result events=%llu total=%llu seconds=%.6f events_per_s=%.1f complete=%d "
      "contiguous=%d p50=%.3f p99=%.3f p999=%.3f max=%.3f live=%llu read=%llu repairs=%llu\n",
      static_cast<unsigned long long>(ours), static_cast<unsigned long long>(total), seconds, rate,
      complete ? 1 : 0, contiguous ? 1 : 0, latency.QuantileMs(0.5), latency.QuantileMs(0.99),
      latency.QuantileMs(0.999), latency.MaxMs(),
      static_cast<unsigned long long>(subscriber.counters().live_events),
      static_cast<unsigned long long>(subscriber.counters().read_events),
      static_cast<unsigned long long>(subscriber.counters().repairs));
  std::fflush(stdout);
  return complete ? kOk : kFailed;
}

}  // namespace es::bench
