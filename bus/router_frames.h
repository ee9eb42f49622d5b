// Server side of the request protocol shared by every service: a ROUTER
// socket receives [identity][empty][body] from a REQ, or from a DEALER that
// sends the empty delimiter itself, and answers [identity][empty][reply].
// A DEALER that leaves the delimiter out is answered without one (an error:
// such a request is not served), so it still learns why.
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
  // Whether the request came with its empty delimiter frame (the reply
  // goes back in the same framing).
  bool delimited = true;
};

// Receives one multipart message from `router` without blocking.
// Returns nullopt when no message is waiting. A message without the empty
// delimiter after the identity comes back with frame_error set and
// delimited false. `*dropped` is kept for messages that cannot be answered
// at all (none a ROUTER can receive today).
std::optional<RoutedRequest> ReceiveRouted(zmq::socket_t& router, uint64_t* dropped = nullptr);

// Sends `reply` to the peer `identity` as [identity][empty][reply].
// Never blocks: a reply to a peer that has gone away is discarded.
void SendRouted(zmq::socket_t& router, const zmq::message_t& identity, std::string_view reply);
// The same with the reply already in a message (sent without a copy).
void SendRouted(zmq::socket_t& router, const zmq::message_t& identity, zmq::message_t reply);
// Answers `request` in its own framing (see RoutedRequest::delimited).
void SendRouted(zmq::socket_t& router, const RoutedRequest& request, std::string_view reply);

}  // namespace es::bus
