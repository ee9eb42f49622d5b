// A SUB socket on the store's event stream, for tests: receives
// [topic][LiveMessage] pairs with a timeout. Subscribes to everything
// unless given a prefix (heartbeats are always subscribed to).
//
// A SUB socket only receives once its subscription has reached the
// publisher; WaitForHeartbeat is how a test knows that has happened,
// without sleeping.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <zmq.hpp>

#include "es/v1/store.pb.h"

namespace es::testing {

struct LiveFrame {
  std::string topic;
  es::v1::LiveMessage message;
};

class LiveTestSubscriber {
 public:
  LiveTestSubscriber(zmq::context_t& context, const std::string& endpoint,
                     const std::string& prefix = "");

  // The next message, or nullopt after `timeout`. Throws
  // std::runtime_error on a message that is not [topic][LiveMessage].
  std::optional<LiveFrame> Next(std::chrono::milliseconds timeout);

  // Skips messages until one satisfies `wanted`; nullopt after `timeout`.
  std::optional<LiveFrame> NextMatching(const std::function<bool(const LiveFrame&)>& wanted,
                                        std::chrono::milliseconds timeout);

  // The next heartbeat (optionally one with head >= min_head); nullopt
  // after `timeout`. Events received meanwhile are dropped.
  std::optional<es::v1::Heartbeat> WaitForHeartbeat(
      std::chrono::milliseconds timeout = std::chrono::seconds(10), uint64_t min_head = 0);

  zmq::socket_t& socket() { return socket_; }

 private:
  zmq::socket_t socket_;
};

}  // namespace es::testing
