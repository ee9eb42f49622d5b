#include "tests/support/live_test_subscriber.h"

#include <array>
#include <iterator>
#include <stdexcept>
#include <vector>
#include <zmq_addon.hpp>

#include "store_service/live_topics.h"  // header-only: no link to es_store

namespace es::testing {

LiveTestSubscriber::LiveTestSubscriber(zmq::context_t& context, const std::string& endpoint,
                                       const std::string& prefix)
    : socket_(context, zmq::socket_type::sub) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.set(zmq::sockopt::rcvhwm, 1'000'000);
  socket_.set(zmq::sockopt::subscribe, prefix);
  if (!prefix.empty()) socket_.set(zmq::sockopt::subscribe, es::store::kHeartbeatTopic);
  socket_.connect(endpoint);
}

std::optional<LiveFrame> LiveTestSubscriber::Next(std::chrono::milliseconds timeout) {
  std::array<zmq::pollitem_t, 1> items{{{socket_.handle(), 0, ZMQ_POLLIN, 0}}};
  if (zmq::poll(items, timeout) == 0) return std::nullopt;
  std::vector<zmq::message_t> frames;
  if (!zmq::recv_multipart(socket_, std::back_inserter(frames))) return std::nullopt;
  if (frames.size() != 2) {
    throw std::runtime_error("live message has " + std::to_string(frames.size()) +
                             " frames, expected [topic][LiveMessage]");
  }
  LiveFrame frame;
  frame.topic = frames[0].to_string();
  if (!frame.message.ParseFromArray(frames[1].data(), static_cast<int>(frames[1].size()))) {
    throw std::runtime_error("live message body is not a LiveMessage");
  }
  return frame;
}

std::optional<LiveFrame> LiveTestSubscriber::NextMatching(
    const std::function<bool(const LiveFrame&)>& wanted, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (remaining.count() <= 0) return std::nullopt;
    std::optional<LiveFrame> frame = Next(remaining);
    if (!frame) return std::nullopt;
    if (wanted(*frame)) return frame;
  }
}

std::optional<es::v1::Heartbeat> LiveTestSubscriber::WaitForHeartbeat(
    std::chrono::milliseconds timeout, uint64_t min_head) {
  std::optional<LiveFrame> frame = NextMatching(
      [min_head](const LiveFrame& f) {
        return f.message.has_heartbeat() && f.message.heartbeat().head_position() >= min_head;
      },
      timeout);
  if (!frame) return std::nullopt;
  return frame->message.heartbeat();
}

}  // namespace es::testing
