// Every binary (esctl, store_service, command_service, saga_service, query_service,
// esbench, eschaos) refuses a malformed endpoint, from a flag or from the
// environment, with exit 2 and a message naming it, before it opens or
// binds anything. ZeroMQ alone throws zmq::error_t from bind/connect, which
// aborted esctl with exit 134 on `--store localhost:7100`.
//
// The endpoints a binary would otherwise use are explicit and harmless (a
// free port picked by the OS to bind, a refused port to connect to), so a
// binary that wrongly accepts its command line reaches no other test's
// service; it is killed at the run's timeout and the test fails.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/captured_run.h"
#include "tests/support/service_process.h"
#include "tests/support/temp_dir.h"

namespace es::testing {
namespace {

// A TCP port on 127.0.0.1 that is bound but not listening: connecting to it
// is refused while this object lives.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
      close(fd_);
      throw std::runtime_error("bind failed");
    }
    endpoint_ = "tcp://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  }
  ~RefusingPort() { close(fd_); }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
  const std::string& endpoint() const { return endpoint_; }

 private:
  int fd_ = -1;
  std::string endpoint_;
};

const std::string kAny = "tcp://127.0.0.1:*";

class EndpointFlagsTest : public ::testing::Test {
 protected:
  // Runs `binary` with `args`, and with `env` ("NAME=VALUE") added to the
  // environment when not empty.
  CapturedRun Run(const std::string& binary, const std::vector<std::string>& args,
                  const std::string& env = "") {
    std::vector<std::string> argv;
    if (!env.empty()) argv.push_back(env);
    argv.push_back(BinaryPath(binary));
    argv.insert(argv.end(), args.begin(), args.end());
    // env(1) adds the variable; with nothing to add it just runs the binary.
    return RunCaptured("/usr/bin/env", argv, std::chrono::seconds(15));
  }

  // Exit 2; stderr names the bad endpoint and where it came from.
  static void ExpectRefused(const CapturedRun& run, const std::string& endpoint,
                            const std::string& source) {
    EXPECT_TRUE(run.exited && run.exit_code == 2) << run.Describe();
    EXPECT_NE(run.err.find("'" + endpoint + "'"), std::string::npos) << run.Describe();
    EXPECT_NE(run.err.find(source), std::string::npos) << run.Describe();
    EXPECT_EQ(run.err.find("terminate called"), std::string::npos) << run.Describe();
  }

  TempDir dir_;
  RefusingPort refusing_;
};

TEST_F(EndpointFlagsTest, EsctlExitsTwoNamingABadEndpointFlagOrVariable) {
  const std::string other = refusing_.endpoint();
  ExpectRefused(Run("esctl", {"--store", "localhost:7100", "--timeout", "300", "ping"}),
                "localhost:7100", "--store");
  ExpectRefused(Run("esctl", {"--commands", "tcp://127.0.0.1:notaport", "--store", other,
                              "--timeout", "300", "credit", "a", "1"}),
                "tcp://127.0.0.1:notaport", "--commands");
  ExpectRefused(Run("esctl", {"--timeout", "300", "ping"}, "ES_STORE_REQUESTS=garbage"), "garbage",
                "ES_STORE_REQUESTS");
  ExpectRefused(Run("esctl", {"--store", other, "--timeout", "300", "subscribe", "--count", "1"},
                    "ES_STORE_EVENTS=tcp://*:7101"),
                "tcp://*:7101", "ES_STORE_EVENTS");
}

TEST_F(EndpointFlagsTest, StoreServiceExitsTwoBeforeItCreatesItsDataDir) {
  const std::string data = dir_.File("store");
  ExpectRefused(Run("store_service", {"--data-dir", data, "--bind-requests", "localhost:7100",
                                      "--bind-events", kAny}),
                "localhost:7100", "--bind-requests");
  ExpectRefused(Run("store_service", {"--data-dir", data, "--bind-requests", kAny},
                    "ES_STORE_EVENTS=garbage"),
                "garbage", "ES_STORE_EVENTS");
  EXPECT_FALSE(std::filesystem::exists(data));
}

TEST_F(EndpointFlagsTest, CommandServiceExitsTwoNamingABadEndpointFlagOrVariable) {
  ExpectRefused(Run("command_service",
                    {"--bind", "localhost:7102", "--store-requests", refusing_.endpoint()}),
                "localhost:7102", "--bind");
  ExpectRefused(Run("command_service", {"--bind", kAny}, "ES_STORE_REQUESTS=garbage"), "garbage",
                "ES_STORE_REQUESTS");
}

TEST_F(EndpointFlagsTest, SagaServiceExitsTwoNamingABadEndpointFlagOrVariable) {
  const std::string other = refusing_.endpoint();
  const std::vector<std::string> base = {"--data-dir", dir_.File("saga"), "--store-requests",
                                         other,        "--store-events",  other};
  std::vector<std::string> bad_flag = base;
  bad_flag.insert(bad_flag.end(), {"--commands", "localhost:7102", "--bind-control", kAny});
  ExpectRefused(Run("saga_service", bad_flag), "localhost:7102", "--commands");
  std::vector<std::string> bad_env = base;
  bad_env.insert(bad_env.end(), {"--commands", other});
  ExpectRefused(Run("saga_service", bad_env, "ES_SAGA_CONTROL=udp://127.0.0.1:7103"),
                "udp://127.0.0.1:7103", "ES_SAGA_CONTROL");
}

TEST_F(EndpointFlagsTest, QueryServiceExitsTwoBeforeItCreatesItsDataDir) {
  const std::string other = refusing_.endpoint();
  const std::string data = dir_.File("query");
  ExpectRefused(Run("query_service", {"--data-dir", data, "--store-requests", other,
                                      "--store-events", other, "--bind", "localhost:7104"}),
                "localhost:7104", "--bind");
  ExpectRefused(
      Run("query_service", {"--data-dir", data, "--store-requests", other, "--store-events", other},
          "ES_QUERIES=tcp://127.0.0.1:99999"),
      "tcp://127.0.0.1:99999", "ES_QUERIES");
  ExpectRefused(Run("query_service", {"--data-dir", data, "--store-requests", "garbage",
                                      "--store-events", other, "--bind", kAny}),
                "garbage", "--store-requests");
  EXPECT_FALSE(std::filesystem::exists(data));
  ExpectRefused(Run("esctl", {"--queries", "localhost:7104", "--timeout", "300", "totals"}),
                "localhost:7104", "--queries");
}

TEST_F(EndpointFlagsTest, EsbenchExitsTwoNamingABadEndpointFlagOrVariable) {
  const std::string other = refusing_.endpoint();
  ExpectRefused(Run("esbench", {"--store", "localhost:7100", "--events", other, "--commands", other,
                                "--saga", other, "--timeout-s", "1", "append", "--count", "10"}),
                "localhost:7100", "--store");
  ExpectRefused(Run("esbench",
                    {"--store", other, "--events", other, "--saga", other, "--timeout-s", "1",
                     "transfers", "--accounts", "2", "--transfers", "1"},
                    "ES_COMMANDS=garbage"),
                "garbage", "ES_COMMANDS");
}

TEST_F(EndpointFlagsTest, EschaosListenerExitsTwoNamingABadEndpointFlag) {
  // eschaos binds its services on free ports itself and reads no endpoint
  // variable; its listener subcommand takes the store's endpoints as flags.
  ExpectRefused(Run("eschaos", {"listener", "--store", "localhost:7100", "--events",
                                refusing_.endpoint(), "--out", dir_.File("listener.events")}),
                "localhost:7100", "--store");
  ExpectRefused(Run("eschaos", {"listener", "--store", refusing_.endpoint(), "--events",
                                "tcp://127.0.0.1", "--out", dir_.File("listener.events")}),
                "tcp://127.0.0.1", "--events");
}

}  // namespace
}  // namespace es::testing
