#include "saga_service/saga_loop.h"

#include <algorithm>
#include <cerrno>

#include "bus/router_frames.h"
#include "domain/stream_ids.h"
#include "domain/transfer_saga.h"
#include "saga_service/command_outcome.h"
#include "saga_service/process_memory.h"
#include "saga_service/saga_control.h"
#include "saga_service/transfer_tally.h"

namespace es::saga {
namespace {

using std::chrono::milliseconds;

// The longest the loop sleeps with nothing to do: bounds how late a retry,
// a checkpoint or the stop flag is noticed.
constexpr milliseconds kPollTimeout{20};
// How often the command channel looks for unanswered requests (it must at
// least every attempt timeout / 4). Each look walks every pending request, so
// not on every turn of a busy loop.
constexpr milliseconds kChannelTickInterval{20};
// Per turn, so that replies and control requests are served during a replay.
constexpr int kMaxEventsPerTurn = 1000;
constexpr int kMaxControlRequestsPerTurn = 100;
// command_service gets this long per attempt; there is no deadline.
constexpr milliseconds kCommandAttemptTimeout{1000};
// A store read blocks the loop: one attempt, then the next turn tries again,
// so control requests wait at most about this long while the store is down.
constexpr milliseconds kStoreReadTimeout{1000};
constexpr std::chrono::seconds kShutdownGrace{5};
constexpr std::chrono::seconds kSummaryInterval{10};
constexpr std::chrono::seconds kAlarmLogInterval{1};
constexpr int kMaxParkedListed = 20;
constexpr std::chrono::seconds kPersistFailureLogInterval{10};

using ull = unsigned long long;

// A blocking ZeroMQ call cut short by a signal: not a failure, the loop looks
// at the stop flag on its next turn.
bool Interrupted(const zmq::error_t& error) { return error.num() == EINTR; }

es::bus::CatchUpOptions SubscriberOptions(const SagaOptions& options, uint64_t checkpoint) {
  es::bus::CatchUpOptions subscriber;
  subscriber.store_requests = options.store_requests;
  subscriber.store_events = options.store_events;
  subscriber.from_position = checkpoint + 1;  // no stream prefix: every event
  // The saga reacts only to account and transfer events; the rest (snapshots,
  // other writers' streams) pass without being decoded.
  subscriber.deliver_only = {std::string(es::domain::kAccountStreamPrefix),
                             std::string(es::domain::kTransferStreamPrefix)};
  // Every position, 16 events to a message: a busy store's stream costs the
  // saga (and the store) a fraction of one message per event.
  subscriber.batched = true;
  subscriber.rpc = {.attempt_timeout = kStoreReadTimeout, .deadline = kStoreReadTimeout};
  subscriber.name = "saga_service";  // its progress shows in the store's stats
  return subscriber;
}

// The command's kind, e.g. "complete_money_transfer", for logs.
std::string CommandName(const es::v1::Command& command) {
  const auto* field = command.GetDescriptor()->FindFieldByNumber(command.body_case());
  return field != nullptr ? field->name() : "empty command";
}

}  // namespace

SagaLoop::SagaLoop(zmq::context_t& context, SagaOptions options, const SagaCheckpoint& resume_from)
    : options_(std::move(options)),
      checkpoint_file_(CheckpointFileIn(options_.data_dir)),
      // Control replies are small (stats, a status): a shallow queue, then
      // 1 MiB held per peer.
      control_(context, es::bus::ServerSocketOptions{.max_frame_bytes = size_t{64} << 10,
                                                     .send_hwm = 256,
                                                     .receive_hwm = 1000,
                                                     .held_bytes_per_peer = size_t{1} << 20,
                                                     .held_bytes_total = size_t{16} << 20,
                                                     .linger_ms = 0}),
      subscriber_(context, SubscriberOptions(options_, resume_from.position)),
      commands_(context, options_.commands,
                {.attempt_timeout = kCommandAttemptTimeout, .deadline = milliseconds(-1)}),
      tracker_(resume_from),
      persisted_(resume_from),
      last_persist_(Clock::now()),
      last_summary_(Clock::now()),
      alarm_log_("alarm", kAlarmLogInterval),
      persist_failures_("cannot persist the checkpoint", kPersistFailureLogInterval) {
  control_.socket().bind(options_.bind_control);
}

std::string SagaLoop::control_endpoint() const { return control_.bound_endpoint(); }

bool SagaLoop::Run(const std::atomic<bool>& stop) {
  std::optional<Clock::time_point> give_up_at;
  while (true) {
    const auto now = Clock::now();
    if (!give_up_at && stop.load()) {
      give_up_at = now + kShutdownGrace;
      Log("stopping: no new events; waiting for %zu commands in flight", in_flight_.size());
    }
    // Parked commands are not waited for: they are sent again after a restart.
    if (give_up_at && (in_flight_.size() == parked_ || now >= *give_up_at)) break;
    RunOneTurn(/*pull_events=*/!give_up_at);
  }
  if (!in_flight_.empty()) {
    Log("%zu commands still unanswered; they are sent again after the restart", in_flight_.size());
  }
  alarm_log_.Flush(/*force=*/true);
  const bool persisted = PersistCheckpoint();
  if (!persisted) persist_failures_.Flush(/*force=*/true);
  LogSummaryIfDue(/*force=*/true);
  Log("stopped at checkpoint %llu%s", static_cast<ull>(persisted_.position),
      persisted ? "" : " (the latest checkpoint could NOT be persisted)");
  return persisted;
}

void SagaLoop::RunOneTurn(bool pull_events) {
  const bool want_events = pull_events && under_in_flight_limit();
  zmq::pollitem_t items[] = {
      {control_.socket().handle(), 0, ZMQ_POLLIN, 0},
      {static_cast<void*>(commands_.socket()), 0, ZMQ_POLLIN, 0},
      // Not watched at the in-flight limit: it would stay readable and spin.
      {static_cast<void*>(subscriber_.live_socket()), 0,
       static_cast<short>(want_events ? ZMQ_POLLIN : 0), 0},
  };
  try {
    auto timeout = PollTimeout(want_events);
    if (control_.has_held()) timeout = std::min(timeout, es::bus::RouterSocket::HeldPollTimeout());
    zmq::poll(items, std::size(items), timeout);
  } catch (const zmq::error_t& error) {
    if (!Interrupted(error)) throw;
  }
  commands_.DispatchReplies();
  control_.Flush();
  if (pull_events) PullEvents();
  if (Clock::now() - last_channel_tick_ >= kChannelTickInterval) {
    commands_.Tick();
    last_channel_tick_ = Clock::now();
  }
  SendDueRetries();
  if (Clock::now() - last_persist_ >= options_.checkpoint_interval) {
    PersistCheckpoint();
    last_persist_ = Clock::now();
  }
  ServeControl();
  alarm_log_.Flush();
  persist_failures_.Flush();
  LogSummaryIfDue(/*force=*/false);
}

milliseconds SagaLoop::PollTimeout(bool waiting_for_events) const {
  if (waiting_for_events && events_waiting_) return milliseconds(0);
  if (retries_.empty()) return kPollTimeout;
  const auto until_retry = std::chrono::ceil<milliseconds>(retries_.top().due - Clock::now());
  return std::clamp(until_retry, milliseconds(0), kPollTimeout);
}

void SagaLoop::PullEvents() {
  events_waiting_ = false;
  for (int pulled = 0; under_in_flight_limit(); ++pulled) {
    if (pulled == kMaxEventsPerTurn) {
      events_waiting_ = true;
      return;
    }
    bool got = false;
    try {
      got = subscriber_.Next(&event_, milliseconds(0));  // event_ is reused
    } catch (const zmq::error_t& error) {
      if (!Interrupted(error)) throw;
      return;
    }
    if (got) HandleEvent(event_);
    // Every event up to here has been returned: gaps hold nothing for us.
    tracker_.SkipThrough(subscriber_.position());
    if (!got) return;
  }
}

void SagaLoop::HandleEvent(const es::v1::EventRecord& event) {
  const uint64_t position = event.global_position();
  const TransferTally tally = TallyOfEvent(event.type());
  std::optional<es::v1::Command> command = es::domain::ReactToEvent(event);
  const bool added =
      command ? tracker_.AddPending(position, tally) : tracker_.AddHandled(position, tally);
  if (!added) {
    // The subscriber promises each position once, in order.
    Log("ignoring event at position %llu: not after %llu", static_cast<ull>(position),
        static_cast<ull>(tracker_.newest()));
    return;
  }
  ++events_handled_;
  if (!command) return;
  auto it = in_flight_.emplace(position, InFlightCommand{std::move(*command)}).first;
  ++commands_sent_;
  SendCommand(position, it->second);
}

void SagaLoop::SendCommand(uint64_t position, const InFlightCommand& command) {
  es::v1::CommandRequest request;
  *request.mutable_command() = command.command;
  commands_.Call(request, [this, position](std::optional<es::v1::CommandReply> reply) {
    OnCommandReply(position, reply);
  });
}

void SagaLoop::OnCommandReply(uint64_t position, const std::optional<es::v1::CommandReply>& reply) {
  auto it = in_flight_.find(position);
  if (it == in_flight_.end()) return;
  InFlightCommand& command = it->second;
  const JudgedReply judged = JudgeCommandReply(command.command, reply);
  const uint32_t failed = ++command.failed_attempts;
  if (judged.verdict == CommandVerdict::kDone) {
    if (command.parked) {
      --parked_;
      Log("unparked transfer %s: %s %s answered as expected after %u attempts",
          TransferOfCommand(command.command).c_str(), CommandName(command.command).c_str(),
          command.command.command_id().c_str(), failed);
    }
    in_flight_.erase(it);
    tracker_.Complete(position);
    return;
  }
  Alarm(command, judged.verdict, judged.alarm.value_or("unexpected answer"));
  const bool slow = judged.verdict == CommandVerdict::kPark || command.parked;
  retries_.push(
      {Clock::now() + (slow ? options_.parked_retry_interval : RetryBackoff(failed)), position});
}

void SagaLoop::Alarm(InFlightCommand& command, CommandVerdict verdict, const std::string& why) {
  ++alarms_;
  const std::string what = "transfer " + TransferOfCommand(command.command) + " " +
                           CommandName(command.command) + " " + command.command.command_id() +
                           ": " + why;
  if (verdict == CommandVerdict::kPark && !command.parked) {
    // One line per transfer parked, unthrottled: parking is rare and each
    // one needs an operator's look.
    command.parked = true;
    ++parked_;
    Log("ALARM parked %s; sending it again every %lld ms (%zu parked)", what.c_str(),
        static_cast<long long>(options_.parked_retry_interval.count()), parked_);
    return;
  }
  alarm_log_.Report((command.parked ? "still parked: " : "retrying: ") + what);
}

void SagaLoop::SendDueRetries() {
  const auto now = Clock::now();
  while (!retries_.empty() && retries_.top().due <= now) {
    const uint64_t position = retries_.top().position;
    retries_.pop();
    auto it = in_flight_.find(position);
    if (it == in_flight_.end()) continue;
    ++commands_resent_;
    SendCommand(position, it->second);
  }
}

bool SagaLoop::PersistCheckpoint() {
  const SagaCheckpoint& current = tracker_.checkpoint();
  if (current == persisted_) return true;
  std::string error;
  if (!StoreCheckpoint(checkpoint_file_, current, &error)) {
    persist_failures_.Report(error);
    return false;
  }
  persisted_ = current;
  return true;
}

void SagaLoop::ServeControl() {
  for (int i = 0; i < kMaxControlRequestsPerTurn; ++i) {
    std::optional<es::bus::RoutedRequest> request = control_.Receive(&control_dropped_);
    if (!request) return;  // nothing waiting
    const es::v1::SagaReply reply =
        AnswerSagaRequest(*request, tracker_.checkpoint().position, [this] { return Stats(); });
    const std::string body = reply.SerializeAsString();
    control_.Send(*request, zmq::message_t(body.data(), body.size()));
  }
}

es::v1::SagaStats SagaLoop::Stats() const {
  const uint64_t checkpoint = tracker_.checkpoint().position;
  const uint64_t head = std::max({subscriber_.known_head(), tracker_.newest(), checkpoint});
  const TransferTally& transfers = tracker_.seen();
  es::v1::SagaStats stats;
  stats.set_checkpoint(checkpoint);
  stats.set_head_position(head);
  stats.set_lag(head - checkpoint);
  stats.set_transfers_in_flight(transfers.in_flight());
  stats.set_commands_sent(commands_sent_);
  // Every repeated send: after a retryable outcome, or by the channel after
  // an unanswered attempt.
  stats.set_command_retries(commands_resent_ + commands_.resends());
  stats.set_transfers_completed(transfers.completed);
  stats.set_transfers_failed(transfers.failed);
  stats.set_rss_bytes(ResidentSetBytes());
  stats.set_alarms(alarms_);
  stats.set_transfers_parked(parked_);
  if (parked_ > 0) {
    for (const auto& [position, command] : in_flight_) {
      if (stats.parked_transfers_size() == kMaxParkedListed) break;
      if (command.parked) stats.add_parked_transfers(TransferOfCommand(command.command));
    }
  }
  return stats;
}

void SagaLoop::LogSummaryIfDue(bool force) {
  const auto now = Clock::now();
  const bool busy =
      events_handled_ != events_at_last_summary_ || commands_sent_ != sends_at_last_summary_;
  if (!force && (!busy || now - last_summary_ < kSummaryInterval)) return;
  const double seconds = std::max(std::chrono::duration<double>(now - last_summary_).count(), 1e-3);
  const es::v1::SagaStats stats = Stats();
  Log("checkpoint=%llu head=%llu lag=%llu events/s=%.0f commands_in_flight=%zu "
      "commands_sent=%llu retries=%llu alarms=%llu transfers: in_flight=%llu completed=%llu "
      "failed=%llu parked=%llu",
      static_cast<ull>(stats.checkpoint()), static_cast<ull>(stats.head_position()),
      static_cast<ull>(stats.lag()),
      static_cast<double>(events_handled_ - events_at_last_summary_) / seconds, in_flight_.size(),
      static_cast<ull>(stats.commands_sent()), static_cast<ull>(stats.command_retries()),
      static_cast<ull>(stats.alarms()), static_cast<ull>(stats.transfers_in_flight()),
      static_cast<ull>(stats.transfers_completed()), static_cast<ull>(stats.transfers_failed()),
      static_cast<ull>(stats.transfers_parked()));
  last_summary_ = now;
  events_at_last_summary_ = events_handled_;
  sends_at_last_summary_ = commands_sent_;
}

}  // namespace es::saga
