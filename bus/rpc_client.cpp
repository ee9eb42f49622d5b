#include "bus/rpc_client.h"

#include "bus/poll.h"

namespace es::bus {

LazyPirateChannel::LazyPirateChannel(zmq::context_t& context, std::string endpoint,
                                     RpcOptions options)
    : context_(context), endpoint_(std::move(endpoint)), options_(options) {
  Reopen();
}

LazyPirateChannel::~LazyPirateChannel() = default;

void LazyPirateChannel::Reopen() {
  socket_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
  socket_->set(zmq::sockopt::linger, 0);
  socket_->connect(endpoint_);
}

bool LazyPirateChannel::Send(std::string_view request) {
  // A request sent before the connection is up waits in the socket's queue;
  // if the attempt times out, Reopen() discards it (linger 0).
  try {
    auto sent =
        socket_->send(zmq::message_t(), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    if (!sent) return false;  // queue full: start over on a fresh socket
    socket_->send(zmq::message_t(request.data(), request.size()), zmq::send_flags::none);
    return true;
  } catch (const zmq::error_t&) {
    return false;
  }
}

std::optional<zmq::message_t> LazyPirateChannel::Receive(std::chrono::milliseconds timeout) {
  zmq::pollitem_t item{static_cast<void*>(*socket_), 0, ZMQ_POLLIN, 0};
  PollOnce(&item, 1, timeout);
  if ((item.revents & ZMQ_POLLIN) == 0) return std::nullopt;
  // A reply is [empty][body]; anything else is not ours to read.
  zmq::message_t first;
  if (!socket_->recv(first, zmq::recv_flags::dontwait)) return std::nullopt;
  std::optional<zmq::message_t> body;
  bool more = first.more();
  if (first.size() != 0) body = std::move(first);  // tolerate a missing delimiter
  while (more) {
    zmq::message_t frame;
    if (!socket_->recv(frame, zmq::recv_flags::none)) break;
    more = frame.more();
    if (!body) body = std::move(frame);
  }
  if (!body) return zmq::message_t();
  return body;
}

}  // namespace es::bus
