// A blocking client of command_service's request socket, for tests only
// (see dealer_test_client.h), and builders for its requests.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "es/v1/command.pb.h"
#include "tests/support/dealer_test_client.h"

namespace es::testing {

using CommandTestClient = DealerTestClient<es::v1::CommandRequest, es::v1::CommandReply>;

// Request builders.
es::v1::CommandRequest CommandRequestWith(es::v1::Command command);
es::v1::Command OpenAccountWith(const std::string& command_id, const std::string& account_id,
                                const std::string& owner, int64_t initial_balance);
es::v1::Command CreditWith(const std::string& command_id, const std::string& account_id,
                           int64_t amount);
es::v1::Command DebitWith(const std::string& command_id, const std::string& account_id,
                          int64_t amount);
es::v1::Command CloseAccountWith(const std::string& command_id, const std::string& account_id);
es::v1::Command TransferWith(const std::string& command_id, const std::string& transfer_id,
                             const std::string& from, const std::string& to, int64_t amount);

// A transfer's steps, as the saga sends them (their ids must start "saga-").
es::v1::Command DebitForTransferWith(const std::string& command_id, const std::string& account_id,
                                     const std::string& transfer_id, int64_t amount);
es::v1::Command CreditForTransferWith(const std::string& command_id,
                                      const std::string& account_id,
                                      const std::string& transfer_id, int64_t amount,
                                      const std::string& source_account);
es::v1::Command RefundForTransferWith(const std::string& command_id,
                                      const std::string& account_id,
                                      const std::string& transfer_id, int64_t amount);

}  // namespace es::testing
