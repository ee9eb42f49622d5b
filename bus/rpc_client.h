// Client side of the request protocol: the zguide's Lazy Pirate pattern.
// A request is sent on a DEALER socket (with the empty delimiter, so REQ and
// DEALER peers look alike to the server); if no matching reply arrives within
// the attempt timeout, the socket is closed and reopened — which also reaches
// a server that restarted — and the same request bytes are sent again, until
// the overall deadline. Retrying is safe because every request is either a
// read or carries a command id that makes it idempotent.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <zmq.hpp>

namespace es::bus {

struct RpcOptions {
  // How long one attempt waits for its reply before the socket is reopened.
  std::chrono::milliseconds attempt_timeout{1000};
  // How long a call may take in all; a negative value means retry forever.
  std::chrono::milliseconds deadline{5000};
};

// One DEALER connection that is reopened on every timeout. Not thread-safe.
class LazyPirateChannel {
 public:
  LazyPirateChannel(zmq::context_t& context, std::string endpoint, RpcOptions options);
  ~LazyPirateChannel();
  LazyPirateChannel(const LazyPirateChannel&) = delete;
  LazyPirateChannel& operator=(const LazyPirateChannel&) = delete;

  // Sends `request` and returns the first reply for which `matches(reply)`
  // is true (replies to earlier attempts are skipped). Returns nullopt when
  // the deadline passed without one.
  template <typename Matches>
  std::optional<zmq::message_t> Call(std::string_view request, Matches matches);

  const std::string& endpoint() const { return endpoint_; }
  const RpcOptions& options() const { return options_; }
  void set_options(RpcOptions options) { options_ = options; }

 private:
  void Reopen();
  bool Send(std::string_view request);
  // Waits up to `timeout` for one reply body; nullopt on timeout.
  std::optional<zmq::message_t> Receive(std::chrono::milliseconds timeout);

  zmq::context_t& context_;
  std::string endpoint_;
  RpcOptions options_;
  std::unique_ptr<zmq::socket_t> socket_;
};

// A typed client for a service whose Request and Reply protobuf messages both
// have a `request_id` field (StoreRequest/StoreReply,
// CommandRequest/CommandReply).
template <typename Request, typename Reply>
class RpcClient {
 public:
  RpcClient(zmq::context_t& context, std::string endpoint, RpcOptions options = {})
      : channel_(context, std::move(endpoint), options) {}

  // Sets request.request_id, sends it and waits for its reply, retrying as
  // described above. Returns nullopt if the service did not answer in time.
  // A reply that does not parse is skipped, as if it never came.
  std::optional<Reply> Call(Request& request) {
    request.set_request_id(++last_request_id_);
    const std::string bytes = request.SerializeAsString();
    Reply reply;
    auto matched = channel_.Call(bytes, [&](const zmq::message_t& body) {
      return reply.ParseFromArray(body.data(), static_cast<int>(body.size())) &&
             reply.request_id() == last_request_id_;
    });
    if (!matched) return std::nullopt;
    return reply;
  }

  const std::string& endpoint() const { return channel_.endpoint(); }
  void set_options(RpcOptions options) { channel_.set_options(options); }
  const RpcOptions& options() const { return channel_.options(); }

 private:
  LazyPirateChannel channel_;
  uint64_t last_request_id_ = 0;
};

template <typename Matches>
std::optional<zmq::message_t> LazyPirateChannel::Call(std::string_view request, Matches matches) {
  using Clock = std::chrono::steady_clock;
  const bool forever = options_.deadline.count() < 0;
  const auto deadline = Clock::now() + options_.deadline;
  while (true) {
    if (!Send(request)) Reopen();
    const auto attempt_end = Clock::now() + options_.attempt_timeout;
    while (true) {
      auto now = Clock::now();
      auto end = forever ? attempt_end : std::min(attempt_end, deadline);
      if (now >= end) break;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - now);
      auto body = Receive(std::max(left, std::chrono::milliseconds(1)));
      if (!body) break;
      if (matches(*body)) return body;
    }
    if (!forever && Clock::now() >= deadline) return std::nullopt;
    Reopen();  // Lazy Pirate: a fresh socket, then the same request again.
  }
}

}  // namespace es::bus
