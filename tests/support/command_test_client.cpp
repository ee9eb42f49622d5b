#include "tests/support/command_test_client.h"

#include <array>
#include <iterator>
#include <stdexcept>
#include <zmq_addon.hpp>

namespace es::testing {

CommandTestClient::CommandTestClient(zmq::context_t& context, const std::string& endpoint)
    : socket_(context, zmq::socket_type::dealer) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.set(zmq::sockopt::sndhwm, 100'000);
  socket_.set(zmq::sockopt::rcvhwm, 100'000);
  socket_.connect(endpoint);
}

void CommandTestClient::Send(const es::v1::CommandRequest& request) {
  SendFrames({std::string(), request.SerializeAsString()});
}

void CommandTestClient::SendFrames(const std::vector<std::string>& frames) {
  for (size_t i = 0; i < frames.size(); ++i) {
    socket_.send(zmq::buffer(frames[i]),
                 i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

std::optional<es::v1::CommandReply> CommandTestClient::Receive(std::chrono::milliseconds timeout) {
  std::array<zmq::pollitem_t, 1> items{{{socket_.handle(), 0, ZMQ_POLLIN, 0}}};
  if (zmq::poll(items, timeout) == 0) return std::nullopt;
  std::vector<zmq::message_t> frames;
  if (!zmq::recv_multipart(socket_, std::back_inserter(frames))) return std::nullopt;
  if (frames.size() != 2 || frames[0].size() != 0) {
    throw std::runtime_error(
        "reply is not [empty][CommandReply]: " + std::to_string(frames.size()) + " frames");
  }
  es::v1::CommandReply reply;
  if (!reply.ParseFromArray(frames[1].data(), static_cast<int>(frames[1].size()))) {
    throw std::runtime_error("reply frame is not a CommandReply");
  }
  return reply;
}

es::v1::CommandReply CommandTestClient::Call(es::v1::CommandRequest request,
                                             std::chrono::milliseconds timeout) {
  const uint64_t request_id = next_request_id_++;
  request.set_request_id(request_id);
  Send(request);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    std::optional<es::v1::CommandReply> reply =
        Receive(std::max(remaining, std::chrono::milliseconds(0)));
    if (!reply) {
      throw std::runtime_error("no reply to request " + std::to_string(request_id) + " within " +
                               std::to_string(timeout.count()) + " ms");
    }
    if (reply->request_id() == request_id) return *reply;
    // A late reply to an earlier request: not ours.
  }
}

es::v1::CommandRequest CommandRequestWith(es::v1::Command command) {
  es::v1::CommandRequest request;
  *request.mutable_command() = std::move(command);
  return request;
}

es::v1::Command OpenAccountWith(const std::string& command_id, const std::string& account_id,
                                const std::string& owner, int64_t initial_balance) {
  es::v1::Command command;
  command.set_command_id(command_id);
  auto* open = command.mutable_open_account();
  open->set_account_id(account_id);
  open->set_owner(owner);
  open->set_initial_balance(initial_balance);
  return command;
}

es::v1::Command CreditWith(const std::string& command_id, const std::string& account_id,
                           int64_t amount) {
  es::v1::Command command;
  command.set_command_id(command_id);
  command.mutable_credit_account()->set_account_id(account_id);
  command.mutable_credit_account()->set_amount(amount);
  return command;
}

es::v1::Command DebitWith(const std::string& command_id, const std::string& account_id,
                          int64_t amount) {
  es::v1::Command command;
  command.set_command_id(command_id);
  command.mutable_debit_account()->set_account_id(account_id);
  command.mutable_debit_account()->set_amount(amount);
  return command;
}

es::v1::Command TransferWith(const std::string& command_id, const std::string& transfer_id,
                             const std::string& from, const std::string& to, int64_t amount) {
  es::v1::Command command;
  command.set_command_id(command_id);
  auto* create = command.mutable_create_money_transfer();
  create->set_transfer_id(transfer_id);
  create->set_from_account(from);
  create->set_to_account(to);
  create->set_amount(amount);
  return command;
}

}  // namespace es::testing
