// A blocking client of the store's request socket, for tests only (see
// dealer_test_client.h).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "es/v1/store.pb.h"
#include "tests/support/dealer_test_client.h"

namespace es::testing {

using StoreTestClient = DealerTestClient<es::v1::StoreRequest, es::v1::StoreReply>;

// Opens a connection, makes one call, closes it.
es::v1::StoreReply CallStore(zmq::context_t& context, const std::string& endpoint,
                             const es::v1::StoreRequest& request,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace es::testing
