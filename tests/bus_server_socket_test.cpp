// RouterSocket's limits, in one process: a DEALER that never reads fills
// its queue, then its budget of held replies, then is stalled (its replies
// and further requests dropped) while another peer keeps being served; a
// peer that reads late gets every reply, in order; a peer that goes away
// frees what was held for it.
#include "bus/server_socket.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

namespace es::bus {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr size_t kReplyBytes = 64 * 1024;

ServerSocketOptions SmallBudgets() {
  return ServerSocketOptions{.max_frame_bytes = 1 << 20,
                             .send_hwm = 8,
                             .receive_hwm = 1000,
                             .held_bytes_per_peer = 1 << 20,  // 16 replies
                             .held_bytes_total = 4 << 20,
                             .linger_ms = 0};
}

class ServerSocketTest : public ::testing::Test {
 protected:
  ServerSocketTest() : server_(context_, SmallBudgets()) {
    EXPECT_EQ(server_.Bind("tcp://127.0.0.1:*"), "");
  }

  // A DEALER whose own queue holds one message, so what it does not read
  // backs up into the server.
  zmq::socket_t Peer(int receive_hwm) {
    zmq::socket_t peer(context_, zmq::socket_type::dealer);
    peer.set(zmq::sockopt::rcvhwm, receive_hwm);
    peer.set(zmq::sockopt::rcvbuf, 4096);
    peer.set(zmq::sockopt::linger, 0);
    peer.connect(server_.bound_endpoint());
    return peer;
  }
  static void Ask(zmq::socket_t& peer, const std::string& body) {
    peer.send(zmq::message_t(), zmq::send_flags::sndmore);
    peer.send(zmq::buffer(body));
  }
  // Serves for `duration`: every request is answered with a kReplyBytes
  // reply that starts with the request's body.
  void Serve(milliseconds duration) {
    const auto until = Clock::now() + duration;
    while (Clock::now() < until) {
      server_.Flush();
      zmq::pollitem_t item{server_.socket().handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, milliseconds(1));
      while (auto request = server_.Receive()) {
        ++served_;
        std::string reply = request->body.to_string();
        reply.resize(kReplyBytes, '.');
        server_.Send(*request, zmq::message_t(reply.data(), reply.size()));
      }
    }
  }
  // The body of the next reply `peer` has, or "" if none within `timeout`.
  static std::string Answer(zmq::socket_t& peer, milliseconds timeout) {
    zmq::pollitem_t item{peer.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) == 0) return "";
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(peer, std::back_inserter(frames))) return "";
    if (frames.size() != 2 || frames[0].size() != 0) return "<bad framing>";
    return frames[1].to_string().substr(0, frames[1].to_string().find('.'));
  }

  zmq::context_t context_;
  RouterSocket server_;
  uint64_t served_ = 0;
};

TEST_F(ServerSocketTest, APeerThatDoesNotReadIsStalledWithinItsBudgetAndOthersAreServed) {
  zmq::socket_t silent = Peer(1);
  // It keeps asking and never reads: the kernel's socket buffers take the
  // first replies, then its queue fills, then its held budget.
  int asked = 0;
  for (int round = 0; round < 30; ++round) {
    for (int i = 0; i < 200; ++i) Ask(silent, "q" + std::to_string(asked++));
    Serve(milliseconds(50));
    EXPECT_LE(server_.held_bytes(), SmallBudgets().held_bytes_per_peer);
  }

  EXPECT_GT(server_.held_bytes(), 0u);
  EXPECT_EQ(server_.stalled_peers(), 1u);
  EXPECT_GE(server_.counters().peers_stalled, 1u);
  EXPECT_GT(server_.counters().replies_dropped, 0u);
  EXPECT_GT(server_.counters().requests_dropped, 0u) << "a stalled peer's requests cost no work";
  EXPECT_LT(served_, static_cast<uint64_t>(asked) / 2) << "most of its requests were not served";

  zmq::socket_t reader = Peer(1000);
  Ask(reader, "hello");
  std::string answer;
  for (int turn = 0; turn < 100 && answer.empty(); ++turn) {
    Serve(milliseconds(10));
    answer = Answer(reader, milliseconds(10));
  }
  EXPECT_EQ(answer, "hello") << "another peer is served while one is stalled";
}

TEST_F(ServerSocketTest, APeerThatReadsLateGetsEveryHeldReplyInOrder) {
  zmq::socket_t late = Peer(1);
  const int count = 12;  // past its queue, within its held budget
  for (int i = 0; i < count; ++i) Ask(late, "r" + std::to_string(i));
  Serve(milliseconds(300));
  EXPECT_GT(server_.counters().replies_held, 0u) << "the burst went past the queue";
  EXPECT_EQ(server_.stalled_peers(), 0u);

  for (int i = 0; i < count; ++i) {
    std::string answer;
    for (int turn = 0; turn < 200 && answer.empty(); ++turn) {
      Serve(milliseconds(2));
      answer = Answer(late, milliseconds(2));
    }
    EXPECT_EQ(answer, "r" + std::to_string(i));
  }
  EXPECT_EQ(server_.held_bytes(), 0u);
  EXPECT_EQ(server_.counters().replies_dropped, 0u);
}

TEST_F(ServerSocketTest, WhatWasHeldForAPeerThatLeftIsFreed) {
  {
    zmq::socket_t gone = Peer(1);
    for (int round = 0; round < 30 && server_.held_bytes() == 0; ++round) {
      for (int i = 0; i < 200; ++i) Ask(gone, "g" + std::to_string(i));
      Serve(milliseconds(50));
    }
    ASSERT_GT(server_.held_bytes(), 0u);
  }  // closed: the connection goes
  const auto until = Clock::now() + std::chrono::seconds(10);
  while (server_.held_bytes() > 0 && Clock::now() < until) Serve(milliseconds(20));
  EXPECT_EQ(server_.held_bytes(), 0u);
  EXPECT_EQ(server_.stalled_peers(), 0u);
}

TEST_F(ServerSocketTest, ARequestWithoutItsDelimiterIsAnsweredWithoutOne) {
  zmq::socket_t peer = Peer(1000);
  peer.send(zmq::buffer(std::string("undelimited")));
  std::optional<RoutedRequest> request;
  for (int turn = 0; turn < 1000 && !request; ++turn) {
    zmq::pollitem_t item{server_.socket().handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, milliseconds(10));
    request = server_.Receive();
  }
  ASSERT_TRUE(request.has_value());
  EXPECT_FALSE(request->delimited);
  ASSERT_TRUE(request->frame_error.has_value());
  server_.Send(*request, zmq::message_t(std::string("why")));

  zmq::pollitem_t item{peer.handle(), 0, ZMQ_POLLIN, 0};
  ASSERT_EQ(zmq::poll(&item, 1, milliseconds(5000)), 1);
  std::vector<zmq::message_t> frames;
  ASSERT_TRUE(zmq::recv_multipart(peer, std::back_inserter(frames)));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].to_string(), "why");
}

}  // namespace
}  // namespace es::bus
