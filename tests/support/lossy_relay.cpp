#include "tests/support/lossy_relay.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "bus/catch_up_subscriber.h"

namespace es::testing {

LossyRelay::LossyRelay(zmq::context_t& context, const std::string& upstream,
                       LossyRelayOptions options)
    : options_(std::move(options)) {
  thread_ = std::thread([this, &context, upstream] { Run(context, upstream); });
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return started_; });
  if (!error_.empty()) {
    lock.unlock();
    thread_.join();
    throw std::runtime_error("LossyRelay: " + error_);
  }
}

LossyRelay::~LossyRelay() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

bool LossyRelay::WaitForUpstream(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return received_.load() > 0; });
}

bool LossyRelay::WaitForSubscription(const std::string& topic, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] {
    auto it = subscriptions_.find(topic);
    return it != subscriptions_.end() && it->second > 0;
  });
}

bool LossyRelay::WaitForEvent(uint64_t position, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return last_position_.load() >= position; });
}

void LossyRelay::Run(zmq::context_t& context, const std::string& upstream) {
  std::optional<zmq::socket_t> sub;
  std::optional<zmq::socket_t> pub;
  try {
    sub.emplace(context, zmq::socket_type::sub);
    sub->set(zmq::sockopt::linger, 0);
    sub->set(zmq::sockopt::rcvhwm, 0);  // the relay itself never loses
    sub->set(zmq::sockopt::subscribe, "");
    // Batches too, for batched subscribers downstream (the store publishes
    // them only to a subscription naming their topic).
    sub->set(zmq::sockopt::subscribe, std::string(es::bus::kBatchTopic));
    sub->connect(upstream);
    pub.emplace(context, zmq::socket_type::xpub);
    pub->set(zmq::sockopt::linger, 0);
    pub->set(zmq::sockopt::xpub_verbose, 1);  // every subscribe, not only a topic's first
    pub->set(zmq::sockopt::sndhwm, options_.send_hwm);
    if (options_.send_buffer_bytes > 0) pub->set(zmq::sockopt::sndbuf, options_.send_buffer_bytes);
    pub->bind("tcp://127.0.0.1:*");
    std::lock_guard lock(mutex_);
    endpoint_ = pub->get(zmq::sockopt::last_endpoint);
    started_ = true;
  } catch (const std::exception& e) {
    std::lock_guard lock(mutex_);
    error_ = e.what();
    started_ = true;
    changed_.notify_all();
    return;
  }
  changed_.notify_all();

  es::v1::LiveMessage message;
  while (!stop_.load()) {
    zmq::pollitem_t items[2] = {{sub->handle(), 0, ZMQ_POLLIN, 0},
                                {pub->handle(), 0, ZMQ_POLLIN, 0}};
    if (zmq::poll(items, 2, std::chrono::milliseconds(10)) == 0) continue;
    // Subscription messages: [1|0][topic].
    zmq::message_t subscription;
    while (pub->recv(subscription, zmq::recv_flags::dontwait)) {
      const std::string_view bytes = subscription.to_string_view();
      if (bytes.empty() || (bytes[0] != 0 && bytes[0] != 1)) continue;
      std::lock_guard lock(mutex_);
      subscriptions_[std::string(bytes.substr(1))] += bytes[0] == 1 ? 1 : -1;
      changed_.notify_all();
    }
    for (int i = 0; i < 1000; ++i) {
      zmq::message_t topic;
      if (!sub->recv(topic, zmq::recv_flags::dontwait)) break;
      if (!topic.more()) continue;
      zmq::message_t body;
      if (!sub->recv(body, zmq::recv_flags::none)) break;
      while (body.more()) {  // not the store's framing: drop the extras
        zmq::message_t extra;
        if (!sub->recv(extra, zmq::recv_flags::none) || !extra.more()) break;
      }
      const bool parsed = message.ParseFromArray(body.data(), static_cast<int>(body.size()));
      if (received_.fetch_add(1) == 0) {
        std::lock_guard lock(mutex_);
        changed_.notify_all();
      }
      if (parsed && options_.drop && options_.drop(message)) {
        ++dropped_;
      } else {
        // PUB never blocks: past send_hwm, the message is dropped for that
        // subscriber (both frames: libzmq keeps multipart messages whole).
        pub->send(topic, zmq::send_flags::sndmore | zmq::send_flags::dontwait);
        pub->send(body, zmq::send_flags::dontwait);
      }
      // A batch follows the single events it repeats: it never runs ahead.
      const int batched = parsed && message.has_batch() ? message.batch().events_size() : 0;
      if (parsed && (message.has_event() || batched > 0)) {
        std::lock_guard lock(mutex_);
        last_position_ = std::max<uint64_t>(
            last_position_, message.has_event()
                                ? message.event().global_position()
                                : message.batch().events(batched - 1).global_position());
        changed_.notify_all();
      }
    }
  }
}

}  // namespace es::testing
