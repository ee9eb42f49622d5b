#include "bus/server_socket.h"

#include <cerrno>

namespace es::bus {
namespace {

// What a held reply costs: its body and the frames' own bookkeeping.
size_t HeldSize(const zmq::message_t& reply) { return reply.size() + 64; }

}  // namespace

RouterSocket::RouterSocket(zmq::context_t& context, ServerSocketOptions options)
    : options_(options), socket_(context, zmq::socket_type::router) {
  socket_.set(zmq::sockopt::router_mandatory, 1);
  socket_.set(zmq::sockopt::sndhwm, options_.send_hwm);
  socket_.set(zmq::sockopt::rcvhwm, options_.receive_hwm);
  socket_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(options_.max_frame_bytes));
  socket_.set(zmq::sockopt::linger, options_.linger_ms);
}

std::string RouterSocket::Bind(const std::string& endpoint) {
  try {
    socket_.bind(endpoint);
  } catch (const zmq::error_t& e) {
    return "cannot bind " + endpoint + ": " + e.what();
  }
  return "";
}

std::string RouterSocket::bound_endpoint() const {
  return socket_.get(zmq::sockopt::last_endpoint);
}

std::optional<RoutedRequest> RouterSocket::Receive(uint64_t* unanswerable) {
  while (true) {
    std::optional<RoutedRequest> request = ReceiveRouted(socket_, unanswerable);
    if (!request) return std::nullopt;
    if (!peers_.empty()) {
      auto it = peers_.find(request->identity.to_string());
      if (it != peers_.end() && it->second.stalled) {
        ++counters_.requests_dropped;  // it is not reading what it asked for
        continue;
      }
    }
    return request;
  }
}

RouterSocket::Sent RouterSocket::TrySend(zmq::const_buffer identity, bool delimited,
                                         zmq::message_t& reply) {
  try {
    // With ROUTER_MANDATORY the first frame reports a full queue (EAGAIN:
    // nothing sent) or an unknown peer (EHOSTUNREACH); once it is taken,
    // the queue has room for the rest of the message.
    if (!socket_.send(identity, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      return Sent::kFull;
    }
  } catch (const zmq::error_t& e) {
    if (e.num() == EHOSTUNREACH) return Sent::kGone;
    throw;
  }
  if (delimited) socket_.send(zmq::message_t(), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  socket_.send(reply, zmq::send_flags::dontwait);
  return Sent::kSent;
}

void RouterSocket::Send(const RoutedRequest& request, zmq::message_t reply) {
  Send(request.identity, request.delimited, std::move(reply));
}

void RouterSocket::Send(const zmq::message_t& identity, bool delimited, zmq::message_t reply) {
  if (!peers_.empty()) {
    auto it = peers_.find(identity.to_string());
    // Replies to one peer leave in order: behind what it has waiting.
    if (it != peers_.end()) return Hold(it->second, delimited, std::move(reply));
  }
  switch (TrySend(zmq::const_buffer(identity.data(), identity.size()), delimited, reply)) {
    case Sent::kSent:
      return;
    case Sent::kGone:
      return;  // it disconnected: nobody to answer
    case Sent::kFull:
      return Hold(peers_[identity.to_string()], delimited, std::move(reply));
  }
}

void RouterSocket::Hold(Peer& peer, bool delimited, zmq::message_t reply) {
  const size_t size = HeldSize(reply);
  if (peer.stalled || peer.bytes + size > options_.held_bytes_per_peer ||
      held_bytes_ + size > options_.held_bytes_total) {
    if (!peer.stalled) ++counters_.peers_stalled;
    peer.stalled = true;
    ++counters_.replies_dropped;
    return;
  }
  peer.bytes += size;
  held_bytes_ += size;
  ++counters_.replies_held;
  peer.replies.push_back(Held{std::move(reply), delimited});
}

void RouterSocket::Flush() {
  for (auto it = peers_.begin(); it != peers_.end();) {
    Peer& peer = it->second;
    bool gone = false;
    while (!peer.replies.empty()) {
      Held& held = peer.replies.front();
      const size_t size = HeldSize(held.body);  // before sending empties it
      const Sent sent = TrySend(zmq::buffer(it->first), held.delimited, held.body);
      if (sent == Sent::kFull) break;
      peer.bytes -= size;
      held_bytes_ -= size;
      peer.replies.pop_front();
      if (sent == Sent::kGone) gone = true;
    }
    if (gone) {
      // Everything else held for it goes too.
      for (const Held& held : peer.replies) held_bytes_ -= HeldSize(held.body);
      peer.replies.clear();
      peer.bytes = 0;
    }
    // Drained: it reads again, and is served again.
    it = peer.replies.empty() ? peers_.erase(it) : std::next(it);
  }
}

size_t RouterSocket::stalled_peers() const {
  size_t stalled = 0;
  for (const auto& [id, peer] : peers_) stalled += peer.stalled ? 1 : 0;
  return stalled;
}

void RouterSocket::Close() {
  if (socket_.handle() != nullptr) socket_.close();
}

void DescribeBounds(const RouterSocket& socket, es::v1::ServerBounds* bounds) {
  const ServerSocketCounters& counters = socket.counters();
  const ServerSocketOptions& options = socket.options();
  bounds->set_held_bytes(socket.held_bytes());
  bounds->set_stalled_peers(socket.stalled_peers());
  bounds->set_replies_held_total(counters.replies_held);
  bounds->set_replies_dropped_total(counters.replies_dropped);
  bounds->set_requests_dropped_total(counters.requests_dropped);
  bounds->set_peers_stalled_total(counters.peers_stalled);
  bounds->set_send_hwm(static_cast<uint64_t>(options.send_hwm));
  bounds->set_held_bytes_per_peer(options.held_bytes_per_peer);
  bounds->set_held_bytes_limit(options.held_bytes_total);
}

}  // namespace es::bus
