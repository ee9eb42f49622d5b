// A blocking client of command_service's request socket, for tests only (the
// production clients, with retries, live in bus/). A DEALER: it can pipeline
// requests and send deliberately malformed frames; Send adds the empty
// delimiter frame a REQ socket would.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "es/v1/command.pb.h"

namespace es::testing {

class CommandTestClient {
 public:
  CommandTestClient(zmq::context_t& context, const std::string& endpoint);

  // Sends [empty][request]; the request_id is the caller's business.
  void Send(const es::v1::CommandRequest& request);
  // Sends exactly these frames (no delimiter added).
  void SendFrames(const std::vector<std::string>& frames);

  // The next reply, or nullopt if none arrives within `timeout`. Throws
  // std::runtime_error if the reply is not [empty][CommandReply].
  std::optional<es::v1::CommandReply> Receive(std::chrono::milliseconds timeout);

  // Sends `request` with a fresh request_id and returns the reply carrying
  // that id. Throws std::runtime_error on timeout.
  es::v1::CommandReply Call(es::v1::CommandRequest request,
                            std::chrono::milliseconds timeout = std::chrono::seconds(10));

  zmq::socket_t& socket() { return socket_; }

 private:
  zmq::socket_t socket_;
  uint64_t next_request_id_ = 1u << 20;  // clear of ids a test chooses itself
};

// Request builders.
es::v1::CommandRequest CommandRequestWith(es::v1::Command command);
es::v1::Command OpenAccountWith(const std::string& command_id, const std::string& account_id,
                                const std::string& owner, int64_t initial_balance);
es::v1::Command CreditWith(const std::string& command_id, const std::string& account_id,
                           int64_t amount);
es::v1::Command DebitWith(const std::string& command_id, const std::string& account_id,
                          int64_t amount);
es::v1::Command TransferWith(const std::string& command_id, const std::string& transfer_id,
                             const std::string& from, const std::string& to, int64_t amount);

}  // namespace es::testing
