// EndpointProblem and ResolveEndpoint: the one check of an endpoint's form
// that every binary's flag parsing uses.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "bus/endpoints.h"

namespace es::bus {
namespace {

TEST(EndpointProblem, AcceptsEveryFormTheServicesUse) {
  for (const char* endpoint :
       {"tcp://127.0.0.1:7100", "tcp://localhost:7100", "tcp://bank-1.example.com:65535",
        "tcp://[::1]:7100", "tcp://[fe80::1%eth0]:7100", "ipc:///tmp/es.sock", "ipc://@abstract",
        "inproc://store"}) {
    EXPECT_EQ(EndpointProblem(endpoint, EndpointUse::kConnect), "") << endpoint;
    EXPECT_EQ(EndpointProblem(endpoint, EndpointUse::kBind), "") << endpoint;
  }
  for (const char* endpoint :
       {"tcp://127.0.0.1:*", "tcp://127.0.0.1:0", "tcp://*:7100", "tcp://eth0:7100", "ipc://*"}) {
    EXPECT_EQ(EndpointProblem(endpoint, EndpointUse::kBind), "") << endpoint;
  }
}

TEST(EndpointProblem, NamesWhatIsWrong) {
  struct Case {
    const char* endpoint;
    EndpointUse use;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"localhost:7100", EndpointUse::kConnect, "no transport"},
      {"garbage", EndpointUse::kBind, "no transport"},
      {"", EndpointUse::kConnect, "empty"},
      {"udp://127.0.0.1:7100", EndpointUse::kConnect, "unknown transport 'udp'"},
      {"tcp://", EndpointUse::kConnect, "no address"},
      {"tcp://127.0.0.1", EndpointUse::kConnect, "no port"},
      {"tcp://127.0.0.1:", EndpointUse::kConnect, "no port after the host"},
      {"tcp://:7100", EndpointUse::kConnect, "no host"},
      {"tcp://127.0.0.1:abc", EndpointUse::kConnect, "'abc' is not a port"},
      {"tcp://127.0.0.1:0", EndpointUse::kConnect, "'0' is not a port"},
      {"tcp://127.0.0.1:65536", EndpointUse::kConnect, "'65536' is not a port"},
      {"tcp://127.0.0.1:123456", EndpointUse::kBind, "'123456' is not a port"},
      {"tcp://127.0.0.1:*", EndpointUse::kConnect, "'*' is not a port"},
      {"tcp://*:7100", EndpointUse::kConnect, "can be bound, not connected to"},
      {"tcp://::1:7100", EndpointUse::kConnect, "[ADDRESS]"},
      {"tcp://[::1:7100", EndpointUse::kConnect, "IPv6"},
      {"tcp://local host:7100", EndpointUse::kConnect, "space"},
      {"tcp://127.0.0.1:7100\n", EndpointUse::kConnect, "control character"},
      {"tcp://a/b:7100", EndpointUse::kConnect, "host 'a/b'"},
      {"ipc://", EndpointUse::kBind, "no path"},
      {"ipc://*", EndpointUse::kConnect, "cannot be connected to"},
      {"inproc://", EndpointUse::kConnect, "no name"},
  };
  for (const Case& c : cases) {
    const std::string problem = EndpointProblem(c.endpoint, c.use);
    EXPECT_NE(problem.find(c.says), std::string::npos)
        << "'" << c.endpoint << "' gave '" << problem << "', expected it to say '" << c.says << "'";
  }
  EXPECT_NE(EndpointProblem("ipc:///" + std::string(200, 'x'), EndpointUse::kBind), "");
}

// Sets an environment variable for one test; restores it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_.empty()) {
      unsetenv(name_);
    } else {
      setenv(name_, old_.c_str(), 1);
    }
  }

 private:
  const char* name_;
  std::string old_;
};

std::string ResolveError(EndpointRole role, const std::string& flag_value, EndpointUse use) {
  try {
    ResolveEndpoint(role, "--store", flag_value, use);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(ResolveEndpoint, TakesTheFlagThenTheVariableThenTheBasePort) {
  ScopedEnv base("ES_BASE_PORT", "7200");
  ScopedEnv requests("ES_STORE_REQUESTS", nullptr);
  EXPECT_EQ(ResolveEndpoint(EndpointRole::kStoreRequests, "--store", "", EndpointUse::kConnect),
            "tcp://127.0.0.1:7200");
  EXPECT_EQ(ResolveEndpoint(EndpointRole::kSagaControl, "--saga", "", EndpointUse::kConnect),
            "tcp://127.0.0.1:7203");
  ScopedEnv set("ES_STORE_REQUESTS", "tcp://10.0.0.1:7300");
  EXPECT_EQ(ResolveEndpoint(EndpointRole::kStoreRequests, "--store", "", EndpointUse::kConnect),
            "tcp://10.0.0.1:7300");
  EXPECT_EQ(ResolveEndpoint(EndpointRole::kStoreRequests, "--store", "ipc:///tmp/s",
                            EndpointUse::kConnect),
            "ipc:///tmp/s");
}

TEST(ResolveEndpoint, NamesTheEndpointAndWhereItCameFrom) {
  ScopedEnv requests("ES_STORE_REQUESTS", "garbage");
  const std::string from_flag =
      ResolveError(EndpointRole::kStoreRequests, "localhost:7100", EndpointUse::kConnect);
  EXPECT_NE(from_flag.find("'localhost:7100'"), std::string::npos) << from_flag;
  EXPECT_NE(from_flag.find("--store"), std::string::npos) << from_flag;
  EXPECT_NE(from_flag.find("no transport"), std::string::npos) << from_flag;

  const std::string from_env = ResolveError(EndpointRole::kStoreRequests, "", EndpointUse::kBind);
  EXPECT_NE(from_env.find("'garbage'"), std::string::npos) << from_env;
  EXPECT_NE(from_env.find("ES_STORE_REQUESTS"), std::string::npos) << from_env;

  ScopedEnv unset("ES_STORE_REQUESTS", nullptr);
  ScopedEnv base("ES_BASE_PORT", "port");
  const std::string bad_base =
      ResolveError(EndpointRole::kStoreRequests, "", EndpointUse::kConnect);
  EXPECT_NE(bad_base.find("ES_BASE_PORT"), std::string::npos) << bad_base;
}

}  // namespace
}  // namespace es::bus
