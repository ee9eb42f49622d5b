// Many requests in flight on one DEALER socket, for event loops: a reply is
// matched to its request by request_id and handed to the request's callback.
// A request that gets no reply within the attempt timeout makes the channel
// reopen its socket (reaching a restarted server) and send every unanswered
// request again, with the same bytes — the Lazy Pirate pattern applied to a
// pipeline. Safe because every request is a read or carries a command id.
// Not thread-safe: one event loop owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <zmq.hpp>

namespace es::bus {

class AsyncChannel {
 public:
  using Clock = std::chrono::steady_clock;
  // Called once per request: the reply body, or nullopt when the request's
  // deadline passed unanswered.
  using Callback = std::function<void(std::optional<zmq::message_t>)>;

  struct Options {
    std::chrono::milliseconds attempt_timeout{1000};
    // Give up on a request after this long; negative: never.
    std::chrono::milliseconds deadline{-1};
  };

  AsyncChannel(zmq::context_t& context, std::string endpoint, Options options);
  ~AsyncChannel();
  AsyncChannel(const AsyncChannel&) = delete;
  AsyncChannel& operator=(const AsyncChannel&) = delete;

  // Queues `bytes` (a serialized request whose id is `request_id`).
  void Send(uint64_t request_id, std::string bytes, Callback done);

  // For zmq::poll: the socket to watch for ZMQ_POLLIN.
  zmq::socket_t& socket() { return *socket_; }

  // Reads every waiting reply and runs its callback. `id_of` extracts the
  // request_id from a reply body (nullopt if it does not parse).
  template <typename IdOf>
  void DispatchReplies(IdOf id_of);

  // Resends or fails what has waited too long. Call it at least every
  // attempt_timeout / 4.
  void Tick();

  size_t in_flight() const { return pending_.size(); }
  uint64_t resends() const { return resends_; }

 private:
  struct Pending {
    std::string bytes;
    Callback done;
    Clock::time_point first_sent;
    Clock::time_point last_sent;
  };
  void Reopen();
  void Transmit(const std::string& bytes);

  zmq::context_t& context_;
  std::string endpoint_;
  Options options_;
  std::unique_ptr<zmq::socket_t> socket_;
  std::map<uint64_t, Pending> pending_;  // by request id: oldest first
  Clock::time_point last_reply_;
  uint64_t resends_ = 0;
};

// The start of a serialized reply, read off the wire: request_id is field 1
// of every request and reply of this protocol, so serialized first, and the
// field after it is the reply's body (its oneof case, e.g.
// StoreReply::kAppend; 0 if none). Nothing when the bytes do not start with
// a varint field 1.
struct ReplyHead {
  uint64_t request_id = 0;
  uint32_t body_field = 0;
};
std::optional<ReplyHead> ReadReplyHead(const zmq::message_t& body);

// ReadReplyHead's request_id.
inline std::optional<uint64_t> LeadingRequestId(const zmq::message_t& body) {
  if (std::optional<ReplyHead> head = ReadReplyHead(body)) return head->request_id;
  return std::nullopt;
}

// A typed front for a Request/Reply pair that carries `request_id`.
template <typename Request, typename Reply>
class AsyncRpc {
 public:
  using Callback = std::function<void(std::optional<Reply>)>;
  AsyncRpc(zmq::context_t& context, std::string endpoint, AsyncChannel::Options options)
      : channel_(context, std::move(endpoint), options) {}

  void Call(Request& request, Callback done) {
    const uint64_t id = ++last_id_;
    request.set_request_id(id);
    channel_.Send(id, request.SerializeAsString(),
                  [done = std::move(done)](std::optional<zmq::message_t> body) {
                    if (!body) return done(std::nullopt);
                    Reply reply;
                    if (!reply.ParseFromArray(body->data(), static_cast<int>(body->size()))) {
                      return done(std::nullopt);
                    }
                    done(std::move(reply));
                  });
  }

  void DispatchReplies() {
    channel_.DispatchReplies([](const zmq::message_t& body) -> std::optional<uint64_t> {
      // request_id is field 1 of every reply, so serialized first: read it
      // off the wire instead of decoding the reply twice (the callback
      // decodes it), which was a tenth of a pipelining client's CPU.
      if (auto id = LeadingRequestId(body)) return id;
      Reply reply;
      if (!reply.ParseFromArray(body.data(), static_cast<int>(body.size()))) return std::nullopt;
      return reply.request_id();
    });
  }
  void Tick() { channel_.Tick(); }
  zmq::socket_t& socket() { return channel_.socket(); }
  size_t in_flight() const { return channel_.in_flight(); }
  uint64_t resends() const { return channel_.resends(); }

 private:
  AsyncChannel channel_;
  uint64_t last_id_ = 0;
};

template <typename IdOf>
void AsyncChannel::DispatchReplies(IdOf id_of) {
  while (true) {
    zmq::message_t first;
    if (!socket_->recv(first, zmq::recv_flags::dontwait)) return;
    zmq::message_t body;
    bool more = first.more();
    bool have_body = first.size() != 0;
    if (have_body) body = std::move(first);
    while (more) {
      zmq::message_t frame;
      if (!socket_->recv(frame, zmq::recv_flags::none)) break;
      more = frame.more();
      if (!have_body) {
        body = std::move(frame);
        have_body = true;
      }
    }
    last_reply_ = Clock::now();
    auto id = id_of(body);
    if (!id) continue;
    auto it = pending_.find(*id);
    if (it == pending_.end()) continue;  // a late duplicate of a resent request
    Callback done = std::move(it->second.done);
    pending_.erase(it);
    done(std::move(body));
  }
}

}  // namespace es::bus
