// A PUB/SUB hop that loses messages on purpose, placed between the store's
// PUB socket and a subscriber under test: the subscriber reads its live
// stream from endpoint() and still does its store reads on the real store.
//
// Why: the store's PUB socket has a send high-water mark of 1,000,000
// messages per subscriber, and a SUB socket's receive high-water mark makes
// libzmq stop reading the connection (back-pressure), not drop. So a stalled
// subscriber with a tiny receive_hwm loses nothing from a burst of a few
// thousand events straight from the store, and its repair path never runs.
// The relay's PUB socket drops the way a PUB does at its high-water mark
// (send_hwm, with a small kernel send buffer), and `drop` loses chosen
// messages deterministically (a lost event, a silent tail, lost heartbeats).
//
// The downstream socket is an XPUB (it sends exactly like a PUB, dropping at
// its high-water mark) so that the relay sees subscriptions arrive:
// WaitForSubscription tells a test that its subscriber is attached, even a
// filtered one, which never delivers an event straight from the live stream.
//
// The relay runs its own thread with its own sockets; the destructor stops
// and joins it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "es/v1/store.pb.h"

namespace es::testing {

struct LossyRelayOptions {
  int send_hwm = 1000;        // the downstream PUB socket's ZMQ_SNDHWM
  int send_buffer_bytes = 0;  // its ZMQ_SNDBUF (kernel); 0: the system default
  // Called on the relay thread for every message from upstream; true: the
  // message is not forwarded. Empty: forward everything.
  std::function<bool(const es::v1::LiveMessage&)> drop{};
};

class LossyRelay {
 public:
  // Subscribes to everything on `upstream` (single events and batches) and
  // forwards both; binds a PUB socket on
  // tcp://127.0.0.1:* (see endpoint()). Throws std::runtime_error if the
  // relay cannot start.
  LossyRelay(zmq::context_t& context, const std::string& upstream, LossyRelayOptions options);
  ~LossyRelay();
  LossyRelay(const LossyRelay&) = delete;
  LossyRelay& operator=(const LossyRelay&) = delete;

  // Where subscribers connect.
  const std::string& endpoint() const { return endpoint_; }

  // Waits until a message (a heartbeat, at least) has come from upstream,
  // i.e. the relay's own subscription is in place. False after `timeout`.
  bool WaitForUpstream(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Waits until some downstream SUB socket has subscribed to `topic` (""
  // for everything). False after `timeout`.
  bool WaitForSubscription(const std::string& topic,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Waits until the relay has handled (forwarded or dropped) the event at
  // `position`, and so every event before it. False after `timeout`.
  bool WaitForEvent(uint64_t position,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));

  uint64_t received() const { return received_.load(); }
  uint64_t dropped_by_predicate() const { return dropped_.load(); }

 private:
  void Run(zmq::context_t& context, const std::string& upstream);

  LossyRelayOptions options_;
  std::string endpoint_;
  std::string error_;
  bool started_ = false;
  std::map<std::string, int> subscriptions_;  // topic -> subscribers (under mutex_)
  std::mutex mutex_;
  std::condition_variable changed_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> last_position_{0};  // the highest event position handled
  std::thread thread_;
};

}  // namespace es::testing
