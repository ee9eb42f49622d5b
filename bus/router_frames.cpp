#include "bus/router_frames.h"

#include <array>

namespace es::bus {

std::optional<RoutedRequest> ReceiveRouted(zmq::socket_t& router, uint64_t* dropped) {
  // [identity][empty][body] is all a well-formed request has: three frames
  // kept in place (no vector to grow per request), any beyond them counted
  // and dropped.
  std::array<zmq::message_t, 3> frames;
  size_t count = 0;
  while (true) {
    zmq::message_t frame;
    if (!router.recv(frame, count == 0 ? zmq::recv_flags::dontwait : zmq::recv_flags::none)) {
      if (count == 0) return std::nullopt;  // nothing waiting
      break;
    }
    const bool more = frame.more();
    if (count < frames.size()) frames[count] = std::move(frame);
    ++count;
    if (!more) break;
  }
  // frames[0] is the identity the ROUTER prepended; frames[1] must be the
  // empty delimiter. A DEALER that left it out gets an error in its own
  // framing; a REQ always sends it.
  if (count < 2) {
    if (dropped != nullptr) ++*dropped;
    return std::nullopt;
  }
  RoutedRequest request;
  request.identity = std::move(frames[0]);
  if (frames[1].size() != 0) {
    request.delimited = false;
    request.frame_error =
        "the request has no empty delimiter frame before its body (send [empty][body], as a REQ "
        "socket does)";
    return request;
  }
  if (count != 3) {
    request.frame_error =
        "expected one body frame after the empty delimiter, got " + std::to_string(count - 2);
    return request;
  }
  request.body = std::move(frames[2]);
  return request;
}

void SendRouted(zmq::socket_t& router, const zmq::message_t& identity, zmq::message_t reply) {
  zmq::message_t id_copy(identity.data(), identity.size());
  // ZMQ_ROUTER_MANDATORY is off: a message to an unknown peer is dropped.
  router.send(id_copy, zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  router.send(zmq::message_t(), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  router.send(reply, zmq::send_flags::dontwait);
}

void SendRouted(zmq::socket_t& router, const RoutedRequest& request, std::string_view reply) {
  if (request.delimited) return SendRouted(router, request.identity, reply);
  zmq::message_t id_copy(request.identity.data(), request.identity.size());
  router.send(id_copy, zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  router.send(zmq::buffer(reply), zmq::send_flags::dontwait);
}

void SendRouted(zmq::socket_t& router, const zmq::message_t& identity, std::string_view reply) {
  SendRouted(router, identity, zmq::message_t(reply.data(), reply.size()));
}

}  // namespace es::bus
