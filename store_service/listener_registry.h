// What the store knows about who is listening: connected SUB sockets and
// what they subscribe to (from the XPUB socket's subscription messages), and
// the checkpoints that named subscribers report. The subscriptions decide
// which kinds of live message are worth publishing (per-event, batches);
// the rest is for operators (stats).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "es/v1/store.pb.h"

namespace es::store {

class ListenerRegistry {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kMaxNamed = 1000;
  static constexpr size_t kMaxNameBytes = 128;

  // One XPUB subscription message: first byte 1 (subscribe) or 0
  // (unsubscribe), then the topic. Every SUB socket subscribes to the empty
  // topic (everything) or to the heartbeat topic, so those count sockets.
  void OnSubscriptionMessage(std::string_view message);
  uint64_t connected() const { return connected_ > 0 ? static_cast<uint64_t>(connected_) : 0; }
  // Whether some subscription matches an event's topic (its stream id): ""
  // or any topic that does not start with a control byte.
  bool wants_events() const { return event_subscriptions_ > 0; }
  // Whether some subscription matches kBatchTopic without being "".
  bool wants_batches() const { return batch_subscriptions_ > 0; }

  // Records a named subscriber's checkpoint. Returns an error message for a
  // bad name or a position beyond `head` (no listener can have processed an
  // event that does not exist: its lag would be a lie), or an empty string.
  // Past kMaxNamed, the stalest is forgotten.
  std::string Report(const std::string& name, uint64_t position, uint64_t head,
                     Clock::time_point now);

  // Adds one ListenerStatus per named subscriber to `stats`.
  void Describe(uint64_t head, Clock::time_point now, es::v1::StoreStats* stats) const;

 private:
  struct Named {
    uint64_t position = 0;
    Clock::time_point reported;
  };
  int64_t connected_ = 0;
  int64_t event_subscriptions_ = 0;
  int64_t batch_subscriptions_ = 0;
  std::unordered_map<std::string, Named> named_;
};

}  // namespace es::store
