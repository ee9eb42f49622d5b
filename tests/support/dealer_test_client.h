// A blocking client of a service's request socket, for tests only (the
// production clients, with retries, live in bus/). It is a DEALER, so it can
// pipeline requests and send deliberately malformed frames; Send adds the
// empty delimiter frame a REQ socket would. Request and Reply are protobuf
// messages with a `request_id` field (StoreRequest/StoreReply,
// CommandRequest/CommandReply).
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

namespace es::testing {

template <typename Request, typename Reply>
class DealerTestClient {
 public:
  DealerTestClient(zmq::context_t& context, const std::string& endpoint)
      : socket_(context, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::sndhwm, 100'000);
    socket_.set(zmq::sockopt::rcvhwm, 100'000);
    socket_.connect(endpoint);
  }

  // Sends [empty][request]. The request_id is the caller's business.
  void Send(const Request& request) { SendFrames({std::string(), request.SerializeAsString()}); }

  // Sends exactly these frames (no delimiter added).
  void SendFrames(const std::vector<std::string>& frames) {
    for (size_t i = 0; i < frames.size(); ++i) {
      socket_.send(zmq::buffer(frames[i]),
                   i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }

  // The next reply, or nullopt if none arrives within `timeout`. Throws
  // std::runtime_error if the reply is not [empty][Reply].
  std::optional<Reply> Receive(std::chrono::milliseconds timeout) {
    std::array<zmq::pollitem_t, 1> items{{{socket_.handle(), 0, ZMQ_POLLIN, 0}}};
    if (zmq::poll(items, timeout) == 0) return std::nullopt;
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(socket_, std::back_inserter(frames))) return std::nullopt;
    const std::string name = Reply::descriptor()->name();
    if (frames.size() != 2 || frames[0].size() != 0) {
      throw std::runtime_error("reply is not [empty][" + name +
                               "]: " + std::to_string(frames.size()) + " frames");
    }
    Reply reply;
    if (!reply.ParseFromArray(frames[1].data(), static_cast<int>(frames[1].size()))) {
      throw std::runtime_error("reply frame is not a " + name);
    }
    return reply;
  }

  // The next message's frames as they came, or nullopt after `timeout`.
  std::optional<std::vector<std::string>> ReceiveFrames(std::chrono::milliseconds timeout) {
    std::array<zmq::pollitem_t, 1> items{{{socket_.handle(), 0, ZMQ_POLLIN, 0}}};
    if (zmq::poll(items, timeout) == 0) return std::nullopt;
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(socket_, std::back_inserter(frames))) return std::nullopt;
    std::vector<std::string> out;
    for (const zmq::message_t& frame : frames) out.push_back(frame.to_string());
    return out;
  }

  // Sends `request` with a fresh request_id and returns the reply carrying
  // that id. Throws std::runtime_error on timeout.
  Reply Call(Request request, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const uint64_t request_id = next_request_id_++;
    request.set_request_id(request_id);
    Send(request);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      std::optional<Reply> reply = Receive(std::max(remaining, std::chrono::milliseconds(0)));
      if (!reply) {
        throw std::runtime_error("no reply to request " + std::to_string(request_id) + " within " +
                                 std::to_string(timeout.count()) + " ms");
      }
      if (reply->request_id() == request_id) return *reply;
      // A late reply to an earlier request: not ours.
    }
  }

  zmq::socket_t& socket() { return socket_; }

 private:
  zmq::socket_t socket_;
  uint64_t next_request_id_ = 1u << 20;  // clear of ids a test chooses itself
};

}  // namespace es::testing
