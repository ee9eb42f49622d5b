#include "tests/support/store_test_client.h"

#include <iterator>
#include <stdexcept>

namespace es::testing {

StoreTestClient::StoreTestClient(zmq::context_t& context, const std::string& endpoint)
    : socket_(context, zmq::socket_type::dealer) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.set(zmq::sockopt::sndhwm, 100'000);
  socket_.set(zmq::sockopt::rcvhwm, 100'000);
  socket_.connect(endpoint);
}

void StoreTestClient::Send(const es::v1::StoreRequest& request) {
  SendFrames({std::string(), request.SerializeAsString()});
}

void StoreTestClient::SendFrames(const std::vector<std::string>& frames) {
  for (size_t i = 0; i < frames.size(); ++i) {
    socket_.send(zmq::buffer(frames[i]),
                 i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

std::optional<es::v1::StoreReply> StoreTestClient::Receive(std::chrono::milliseconds timeout) {
  std::array<zmq::pollitem_t, 1> items{{{socket_.handle(), 0, ZMQ_POLLIN, 0}}};
  if (zmq::poll(items, timeout) == 0) return std::nullopt;
  std::vector<zmq::message_t> frames;
  if (!zmq::recv_multipart(socket_, std::back_inserter(frames))) return std::nullopt;
  if (frames.size() != 2 || frames[0].size() != 0) {
    throw std::runtime_error("reply is not [empty][StoreReply]: " + std::to_string(frames.size()) +
                             " frames");
  }
  es::v1::StoreReply reply;
  if (!reply.ParseFromArray(frames[1].data(), static_cast<int>(frames[1].size()))) {
    throw std::runtime_error("reply frame is not a StoreReply");
  }
  return reply;
}

es::v1::StoreReply StoreTestClient::Call(es::v1::StoreRequest request,
                                         std::chrono::milliseconds timeout) {
  const uint64_t request_id = next_request_id_++;
  request.set_request_id(request_id);
  Send(request);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    std::optional<es::v1::StoreReply> reply =
        Receive(std::max(remaining, std::chrono::milliseconds(0)));
    if (!reply) {
      throw std::runtime_error("no reply to request " + std::to_string(request_id) + " within " +
                               std::to_string(timeout.count()) + " ms");
    }
    if (reply->request_id() == request_id) return *reply;
    // A late reply to an earlier request: not ours.
  }
}

es::v1::StoreReply CallStore(zmq::context_t& context, const std::string& endpoint,
                             const es::v1::StoreRequest& request,
                             std::chrono::milliseconds timeout) {
  StoreTestClient client(context, endpoint);
  return client.Call(request, timeout);
}

}  // namespace es::testing
