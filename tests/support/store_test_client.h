// A blocking client of the store's request socket, for tests only (the
// production client, with retries, lives in bus/). It is a DEALER, so it
// can pipeline requests and send deliberately malformed frames; it adds the
// empty delimiter frame a REQ socket would.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "es/v1/store.pb.h"

namespace es::testing {

class StoreTestClient {
 public:
  StoreTestClient(zmq::context_t& context, const std::string& endpoint);

  // Sends [empty][request]. The request_id is the caller's business.
  void Send(const es::v1::StoreRequest& request);
  // Sends exactly these frames (no delimiter added).
  void SendFrames(const std::vector<std::string>& frames);

  // The next reply, or nullopt if none arrives within `timeout`. Throws
  // std::runtime_error if the reply is not [empty][StoreReply].
  std::optional<es::v1::StoreReply> Receive(std::chrono::milliseconds timeout);

  // Sends `request` with a fresh request_id and returns the reply carrying
  // that id. Throws std::runtime_error on timeout.
  es::v1::StoreReply Call(es::v1::StoreRequest request,
                          std::chrono::milliseconds timeout = std::chrono::seconds(10));

  zmq::socket_t& socket() { return socket_; }

 private:
  zmq::socket_t socket_;
  uint64_t next_request_id_ = 1u << 20;  // clear of ids a test chooses itself
};

// Opens a connection, makes one call, closes it.
es::v1::StoreReply CallStore(zmq::context_t& context, const std::string& endpoint,
                             const es::v1::StoreRequest& request,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace es::testing
