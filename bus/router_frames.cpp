#include "bus/router_frames.h"

namespace es::bus {

std::optional<RoutedRequest> ReceiveRouted(zmq::socket_t& router, uint64_t* dropped) {
  std::vector<zmq::message_t> frames;
  while (true) {
    zmq::message_t frame;
    if (!router.recv(frame, frames.empty() ? zmq::recv_flags::dontwait : zmq::recv_flags::none)) {
      return std::nullopt;  // nothing waiting
    }
    bool more = frame.more();
    frames.push_back(std::move(frame));
    if (!more) break;
  }
  // frames[0] is the identity the ROUTER prepended; frames[1] must be the
  // empty delimiter, or the reply could not be routed back to a REQ peer.
  if (frames.size() < 2 || frames[1].size() != 0) {
    if (dropped != nullptr) ++*dropped;
    return std::nullopt;
  }
  RoutedRequest request;
  request.identity = std::move(frames[0]);
  if (frames.size() != 3) {
    request.frame_error = "expected one body frame after the empty delimiter, got " +
                          std::to_string(frames.size() - 2);
    return request;
  }
  request.body = std::move(frames[2]);
  return request;
}

void SendRouted(zmq::socket_t& router, const zmq::message_t& identity, std::string_view reply) {
  zmq::message_t id_copy(identity.data(), identity.size());
  // ZMQ_ROUTER_MANDATORY is off: a message to an unknown peer is dropped.
  router.send(id_copy, zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  router.send(zmq::message_t(), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  router.send(zmq::message_t(reply.data(), reply.size()), zmq::send_flags::dontwait);
}

}  // namespace es::bus
