#include "tests/support/store_test_client.h"

namespace es::testing {

es::v1::StoreReply CallStore(zmq::context_t& context, const std::string& endpoint,
                             const es::v1::StoreRequest& request,
                             std::chrono::milliseconds timeout) {
  StoreTestClient client(context, endpoint);
  return client.Call(request, timeout);
}

}  // namespace es::testing
