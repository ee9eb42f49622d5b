// Server side of the request protocol shared by every service: a ROUTER
// socket receives [identity][empty][body] from a REQ, or from a DEALER that
// sends the empty delimiter itself, and answers [identity][empty][reply].
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <zmq.hpp>

namespace es::bus {

// One request as the ROUTER received it.
struct RoutedRequest {
  zmq::message_t identity;
  zmq::message_t body;
  // Set when the message cannot be served but can be answered (for
  // instance the wrong number of frames): reply with this error text.
  std::optional<std::string> frame_error;
};

// Receives one multipart message from `router` without blocking.
// Returns nullopt when no message is waiting, or when the message is so
// malformed that it cannot be answered (no delimiter after the identity):
// such a message is dropped, and `*dropped` (if given) is incremented.
std::optional<RoutedRequest> ReceiveRouted(zmq::socket_t& router, uint64_t* dropped = nullptr);

// Sends `reply` to the peer `identity` as [identity][empty][reply].
// Never blocks: a reply to a peer that has gone away is discarded.
void SendRouted(zmq::socket_t& router, const zmq::message_t& identity, std::string_view reply);
// The same with the reply already in a message (sent without a copy).
void SendRouted(zmq::socket_t& router, const zmq::message_t& identity, zmq::message_t reply);

}  // namespace es::bus
