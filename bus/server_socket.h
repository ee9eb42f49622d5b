// The server side of every request socket, with stated limits whatever a
// peer does. A ROUTER as libzmq gives it has none that hold: with its
// defaults a peer that never reads has every reply queued for it (the store
// once grew to 7.7 GB for one such DEALER), and a reply over the high-water
// mark is silently dropped even for a peer that reads, only slowly.
//
// RouterSocket bounds what is queued for each peer and in total:
//   - libzmq queues at most `send_hwm` replies per peer (ROUTER_MANDATORY,
//     so a full queue is reported, not silently dropped);
//   - past that the server holds a peer's replies itself, in order, up to
//     `held_bytes_per_peer`, and up to `held_bytes_total` for all peers,
//     sending them as the peer's queue drains (Flush);
//   - a peer past its budget is stalled: the reply is dropped (counted),
//     and so are its further requests, unread, until its backlog drains —
//     a client that does not read costs a bounded amount of memory and no
//     work, and every other peer keeps being served.
// So a peer costs at most send_hwm x (largest reply) in libzmq plus
// held_bytes_per_peer here; services keep their replies small enough
// (the store pages its reads) for that to be a small number.
//
// Requests keep the framing of bus/router_frames.h; one without its empty
// delimiter is answered (BAD_REQUEST, in the same undelimited framing).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <zmq.hpp>

#include "bus/router_frames.h"
#include "es/v1/store.pb.h"

namespace es::bus {

struct ServerSocketOptions {
  // Largest request frame libzmq reads; a bigger one disconnects the peer
  // before it is held in memory. Services refuse smaller oversize
  // requests themselves (TOO_LARGE).
  size_t max_frame_bytes = size_t{16} << 20;
  int send_hwm = 256;      // replies libzmq queues per peer
  int receive_hwm = 1000;  // requests libzmq queues per peer before TCP pushes back
  size_t held_bytes_per_peer = size_t{8} << 20;
  size_t held_bytes_total = size_t{64} << 20;
  int linger_ms = 200;
};

// What the socket did about peers that do not read, for stats.
struct ServerSocketCounters {
  uint64_t replies_held = 0;      // replies that waited in the server for a full queue
  uint64_t replies_dropped = 0;   // replies to a stalled peer, dropped
  uint64_t requests_dropped = 0;  // requests from a stalled peer, dropped unread
  uint64_t peers_stalled = 0;     // times a peer went past its budget
};

class RouterSocket {
 public:
  RouterSocket(zmq::context_t& context, ServerSocketOptions options);

  // Binds `endpoint`. Returns an error message naming it, or "".
  std::string Bind(const std::string& endpoint);
  // The endpoint bound (a wildcard port resolved).
  std::string bound_endpoint() const;

  // The next request, without blocking, or nullopt when none is waiting.
  // Requests of stalled peers are dropped here (counted). `*unanswerable`
  // counts messages that cannot be answered at all.
  std::optional<RoutedRequest> Receive(uint64_t* unanswerable = nullptr);

  // Sends `reply` to `request`'s peer in its framing, or holds it while the
  // peer's queue is full, or drops it if the peer is past its budget or
  // gone. Never blocks.
  void Send(const RoutedRequest& request, zmq::message_t reply);
  void Send(const zmq::message_t& identity, bool delimited, zmq::message_t reply);

  // Sends held replies whose peers' queues have room. Call every turn; a
  // loop with held replies should poll with HeldPollTimeout() at most.
  void Flush();
  bool has_held() const { return held_bytes_ != 0; }
  static constexpr std::chrono::milliseconds HeldPollTimeout() {
    return std::chrono::milliseconds(1);
  }
  size_t held_bytes() const { return held_bytes_; }
  size_t stalled_peers() const;
  const ServerSocketCounters& counters() const { return counters_; }
  const ServerSocketOptions& options() const { return options_; }

  zmq::socket_t& socket() { return socket_; }
  void Close();

 private:
  struct Held {
    zmq::message_t body;
    bool delimited;
  };
  struct Peer {
    std::deque<Held> replies;
    size_t bytes = 0;
    bool stalled = false;
  };
  enum class Sent { kSent, kFull, kGone };
  Sent TrySend(zmq::const_buffer identity, bool delimited, zmq::message_t& reply);
  void Hold(Peer& peer, bool delimited, zmq::message_t reply);

  ServerSocketOptions options_;
  zmq::socket_t socket_;
  // Peers with held replies (or stalled), by identity.
  std::unordered_map<std::string, Peer> peers_;
  size_t held_bytes_ = 0;
  ServerSocketCounters counters_;
};

// The socket's limits and counters, for a stats reply.
void DescribeBounds(const RouterSocket& socket, es::v1::ServerBounds* bounds);

}  // namespace es::bus
