// The money-transfer process manager as one event loop.
//
// It follows the whole event stream (catch-up subscriber, from the checkpoint
// + 1), asks the pure domain reaction (domain/transfer_saga.h) which command
// each event calls for, and sends it to command_service over a pipelined
// Lazy Pirate channel, with up to `max_in_flight` commands outstanding; at the
// limit it stops pulling events. A command is retried, with the same id, until
// it is answered as expected (see command_outcome.h): a "not now" answer is
// retried with backoff, an unexpected lasting one parks the transfer (listed
// in the stats and the log, its command sent again every
// `parked_retry_interval`, outside the in-flight limit). The checkpoint is the
// low-water mark of handled events (position_tracker.h), persisted at most
// every `checkpoint_interval` and on shutdown. After a crash it resumes from
// the persisted checkpoint and sends some commands again; their ids, derived
// from the causing events, make that harmless.
//
// One thread owns everything; the only thing shared is the stop flag, which a
// signal handler may set.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>

#include "bus/async_rpc.h"
#include "bus/catch_up_subscriber.h"
#include "bus/server_socket.h"
#include "es/v1/command.pb.h"
#include "es/v1/saga.pb.h"
#include "saga_service/checkpoint_file.h"
#include "saga_service/command_outcome.h"
#include "saga_service/position_tracker.h"
#include "saga_service/saga_log.h"

namespace es::saga {

struct SagaOptions {
  std::filesystem::path data_dir;  // holds the checkpoint file; must exist
  std::string store_requests;
  std::string store_events;
  std::string commands;
  std::string bind_control;
  size_t max_in_flight = 2000;  // commands outstanding at once (>= 1)
  std::chrono::milliseconds checkpoint_interval{200};
  std::chrono::milliseconds parked_retry_interval{30000};
};

class SagaLoop {
 public:
  // Connects to the store and command_service (nothing blocks: both may still
  // be down) and binds the control socket; throws zmq::error_t if it cannot.
  // Handles the events after `resume_from.position`.
  SagaLoop(zmq::context_t& context, SagaOptions options, const SagaCheckpoint& resume_from);
  SagaLoop(const SagaLoop&) = delete;
  SagaLoop& operator=(const SagaLoop&) = delete;

  // The endpoint the control socket is actually bound to (a wildcard port
  // resolved).
  std::string control_endpoint() const;

  // Runs until `stop` becomes true. Then pulls no more events, waits up to a
  // few seconds for the commands in flight, and persists the checkpoint.
  // Returns false if that last checkpoint could not be persisted.
  bool Run(const std::atomic<bool>& stop);

  // What the control socket's stats request answers. The transfer counts
  // cover every event pulled so far (not only those up to the checkpoint):
  // after a restart they are rebuilt exactly, from the persisted counts plus
  // the events replayed after the checkpoint.
  es::v1::SagaStats Stats() const;

 private:
  using Clock = std::chrono::steady_clock;

  // A command sent and not yet done, keyed by its causing event's position.
  struct InFlightCommand {
    es::v1::Command command;
    uint32_t failed_attempts = 0;
    bool parked = false;
  };
  struct RetryAt {
    Clock::time_point due;
    uint64_t position;
    bool operator>(const RetryAt& other) const { return due > other.due; }
  };

  // One pass: wait briefly for any socket, then do whatever is due.
  void RunOneTurn(bool pull_events);
  // How long the next poll may sleep.
  std::chrono::milliseconds PollTimeout(bool waiting_for_events) const;
  void PullEvents();
  void HandleEvent(const es::v1::EventRecord& event);
  void SendCommand(uint64_t position, const InFlightCommand& command);
  void OnCommandReply(uint64_t position, const std::optional<es::v1::CommandReply>& reply);
  void SendDueRetries();
  // Persists the checkpoint if it moved; false if that failed.
  bool PersistCheckpoint();
  void ServeControl();
  void LogSummaryIfDue(bool force);
  // Parked commands do not count: a few stuck transfers must not stop the
  // others.
  bool under_in_flight_limit() const {
    return in_flight_.size() - parked_ < options_.max_in_flight;
  }
  void Alarm(InFlightCommand& command, CommandVerdict verdict, const std::string& why);

  SagaOptions options_;
  std::filesystem::path checkpoint_file_;
  es::bus::RouterSocket control_;
  es::bus::CatchUpSubscriber subscriber_;
  es::v1::EventRecord event_;  // the record PullEvents reuses for every event
  es::bus::AsyncRpc<es::v1::CommandRequest, es::v1::CommandReply> commands_;

  PositionTracker tracker_;
  SagaCheckpoint persisted_;
  std::unordered_map<uint64_t, InFlightCommand> in_flight_;
  std::priority_queue<RetryAt, std::vector<RetryAt>, std::greater<>> retries_;
  // The last pull stopped at its per-turn bound: events are likely waiting in
  // the subscriber without the live socket being readable.
  bool events_waiting_ = false;

  uint64_t events_handled_ = 0;
  uint64_t commands_sent_ = 0;    // distinct commands
  uint64_t commands_resent_ = 0;  // after a retryable outcome
  uint64_t control_dropped_ = 0;  // unanswerable control messages
  uint64_t alarms_ = 0;           // unexpected answers
  size_t parked_ = 0;             // commands in in_flight_ that are parked
  Clock::time_point last_channel_tick_;
  Clock::time_point last_persist_;
  Clock::time_point last_summary_;
  uint64_t events_at_last_summary_ = 0;
  uint64_t sends_at_last_summary_ = 0;
  LogThrottle alarm_log_;  // retried "not now" answers and re-parked steps
  LogThrottle persist_failures_;
};

}  // namespace es::saga
