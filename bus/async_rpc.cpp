#include "bus/async_rpc.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <vector>

namespace es::bus {

std::optional<ReplyHead> ReadReplyHead(const zmq::message_t& body) {
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(static_cast<const uint8_t*>(body.data()),
                                            static_cast<int>(body.size()));
  if (in.ReadTag() != WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_VARINT)) {
    return std::nullopt;
  }
  ReplyHead head;
  if (!in.ReadVarint64(&head.request_id)) return std::nullopt;
  head.body_field = WireFormatLite::GetTagFieldNumber(in.ReadTag());
  return head;
}

AsyncChannel::AsyncChannel(zmq::context_t& context, std::string endpoint, Options options)
    : context_(context), endpoint_(std::move(endpoint)), options_(options) {
  Reopen();
}

AsyncChannel::~AsyncChannel() = default;

void AsyncChannel::Reopen() {
  socket_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
  socket_->set(zmq::sockopt::linger, 0);
  socket_->set(zmq::sockopt::sndhwm, 0);  // bounded by the caller's in-flight limit
  socket_->set(zmq::sockopt::rcvhwm, 0);
  socket_->connect(endpoint_);
  last_reply_ = Clock::now();
}

void AsyncChannel::Transmit(const std::string& bytes) {
  socket_->send(zmq::message_t(), zmq::send_flags::sndmore);
  socket_->send(zmq::message_t(bytes.data(), bytes.size()), zmq::send_flags::none);
}

void AsyncChannel::Send(uint64_t request_id, std::string bytes, Callback done) {
  Transmit(bytes);
  auto now = Clock::now();
  pending_.emplace(request_id, Pending{std::move(bytes), std::move(done), now, now});
}

void AsyncChannel::Tick() {
  if (pending_.empty()) return;
  const auto now = Clock::now();
  // Give up on requests past their deadline.
  if (options_.deadline.count() >= 0) {
    std::vector<Callback> expired;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (now - it->second.first_sent >= options_.deadline) {
        expired.push_back(std::move(it->second.done));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& done : expired) done(std::nullopt);
    if (pending_.empty()) return;
  }
  // The server is alive if it answered anything lately; only an unanswered
  // request with a silent server means the connection (or server) is gone.
  bool stale = false;
  for (const auto& [id, p] : pending_) {
    const auto waited = now - p.last_sent;
    // A silent server past one attempt, or a request lost while the server
    // kept answering others (dropped at a high-water mark) past four.
    if ((waited >= options_.attempt_timeout && now - last_reply_ >= options_.attempt_timeout) ||
        waited >= 4 * options_.attempt_timeout) {
      stale = true;
      break;
    }
  }
  if (!stale) return;
  Reopen();
  for (auto& [id, p] : pending_) {
    Transmit(p.bytes);
    p.last_sent = now;
    ++resends_;
  }
}

}  // namespace es::bus
