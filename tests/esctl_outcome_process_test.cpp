// esctl tells the truth about a write whose outcome it cannot know. A write
// that times out, or that command_service answers UNAVAILABLE (its store
// did not answer), may still take effect: esctl prints the command id it
// used, says the outcome is unknown and how to learn it (the same command
// with --command-id), and exits 3. Every refusal, COMMAND_ID_CONFLICT too,
// is exit 1 with the code's name and the message.
//
// esctl runs as a child process against a real command_service whose store
// is not running, against no command_service at all, and against a fake
// command_service (a ROUTER in this test) that answers what the test says,
// or never answers.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "bus/router_frames.h"
#include "es/v1/command.pb.h"
#include "tests/support/captured_run.h"
#include "tests/support/service_process.h"
#include "tests/support/temp_dir.h"

namespace es::testing {
namespace {

using std::chrono::milliseconds;

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

// A command_service stand-in: answers each CommandRequest with what
// `answer` returns (request_id set), or not at all when it returns nullopt.
class FakeCommandService {
 public:
  using Answer = std::function<std::optional<es::v1::CommandReply>(const es::v1::CommandRequest&)>;
  explicit FakeCommandService(Answer answer)
      : router_(context_, zmq::socket_type::router), answer_(std::move(answer)) {
    router_.set(zmq::sockopt::linger, 0);
    router_.bind("tcp://127.0.0.1:*");
    endpoint_ = router_.get(zmq::sockopt::last_endpoint);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeCommandService() {
    stop_ = true;
    thread_.join();
  }
  const std::string& endpoint() const { return endpoint_; }
  // Every command id received (a resend by esctl's Lazy Pirate counts again).
  std::vector<std::string> command_ids() const {
    std::lock_guard lock(mutex_);
    return command_ids_;
  }

 private:
  void Serve() {
    while (!stop_) {
      zmq::pollitem_t item{static_cast<void*>(router_), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, milliseconds(10));
      while (auto routed = es::bus::ReceiveRouted(router_)) {
        es::v1::CommandRequest request;
        if (!request.ParseFromArray(routed->body.data(), static_cast<int>(routed->body.size()))) {
          continue;
        }
        if (request.has_command()) {
          std::lock_guard lock(mutex_);
          command_ids_.push_back(request.command().command_id());
        }
        std::optional<es::v1::CommandReply> reply = answer_(request);
        if (!reply) continue;
        reply->set_request_id(request.request_id());
        es::bus::SendRouted(router_, routed->identity, reply->SerializeAsString());
      }
    }
  }

  zmq::context_t context_{1};
  zmq::socket_t router_;
  std::string endpoint_;
  Answer answer_;
  mutable std::mutex mutex_;
  std::vector<std::string> command_ids_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

es::v1::CommandReply Refusal(es::v1::RefusalCode code, const std::string& message) {
  es::v1::CommandReply reply;
  reply.mutable_outcome()->set_accepted(false);
  reply.mutable_outcome()->set_refusal_code(code);
  reply.mutable_outcome()->set_message(message);
  return reply;
}

class EsctlOutcomeTest : public ::testing::Test {
 protected:
  // esctl with every endpoint given: commands at `commands`, the rest at a
  // refused port (no run reaches a default port).
  CapturedRun Esctl(const std::string& commands, const std::vector<std::string>& args,
                    int timeout_ms = 1500) {
    std::vector<std::string> argv = {"--commands", commands,
                                     "--store",    refusing_.endpoint(),
                                     "--events",   refusing_.endpoint(),
                                     "--saga",     refusing_.endpoint(),
                                     "--timeout",  std::to_string(timeout_ms)};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCaptured(BinaryPath("esctl"), argv);
  }

  // Exit 3; stderr says the outcome is unknown, names the command id and
  // the command line that learns it: the same command with that id.
  static void ExpectOutcomeUnknown(const CapturedRun& run, const std::string& command_id,
                                   const std::string& repeat) {
    EXPECT_TRUE(run.exited && run.exit_code == 3) << run.Describe();
    EXPECT_NE(run.err.find("outcome unknown"), std::string::npos) << run.Describe();
    EXPECT_NE(run.err.find(repeat + " --command-id " + command_id), std::string::npos)
        << "expected '" << repeat << " --command-id " << command_id << "' in " << run.Describe();
  }

  TempDir dir_;
  RefusingPort refusing_;
};

TEST_F(EsctlOutcomeTest, AWriteToACommandServiceWhoseStoreIsDownHasAnUnknownOutcome) {
  // The store is not running: command_service answers UNAVAILABLE once its
  // store timeout passes, before esctl's own timeout.
  ServiceProcess commands =
      ServiceProcess::Start(BinaryPath("command_service"),
                            {"--bind", "tcp://127.0.0.1:*", "--store-requests",
                             refusing_.endpoint(), "--store-timeout-ms", "300"},
                            dir_.File("command_service.log"));
  const std::string endpoint = commands.endpoint("commands");

  CapturedRun credit = Esctl(endpoint, {"credit", "acct-1", "250", "--command-id", "cmd-42"}, 5000);
  ExpectOutcomeUnknown(credit, "cmd-42", "esctl --commands " + endpoint + " credit acct-1 250");
  EXPECT_NE(credit.err.find("could not reach the store"), std::string::npos) << credit.Describe();
  EXPECT_EQ(credit.out, "");

  // --json: the same on stderr, and one object on stdout a script can read.
  CapturedRun json =
      Esctl(endpoint, {"--json", "debit", "acct-1", "7", "--command-id", "cmd-43"}, 5000);
  ExpectOutcomeUnknown(json, "cmd-43", "debit acct-1 7");
  EXPECT_EQ(json.out,
            "{\"account_id\":\"acct-1\",\"command_id\":\"cmd-43\",\"outcome\":\"unknown\"}\n");

  // A query that cannot reach the store is unavailable (3), not refused (1).
  CapturedRun query = Esctl(endpoint, {"account", "acct-1"}, 5000);
  EXPECT_TRUE(query.exited && query.exit_code == 3) << query.Describe();
  EXPECT_EQ(query.err.find("outcome unknown"), std::string::npos) << query.Describe();
  commands.Terminate();
}

TEST_F(EsctlOutcomeTest, AWriteThatTimesOutPrintsTheIdsItChoseAndHowToRepeatIt) {
  // Nobody listens: esctl's own timeout passes.
  CapturedRun open =
      Esctl(refusing_.endpoint(),
            {"open-account", "--owner", "Ann O'Hara", "--initial-balance", "100"}, 300);
  EXPECT_TRUE(open.exited && open.exit_code == 3) << open.Describe();
  EXPECT_NE(open.err.find("outcome unknown"), std::string::npos) << open.Describe();
  EXPECT_NE(open.err.find("did not answer"), std::string::npos) << open.Describe();
  // The fresh ids esctl chose are printed: repeating needs both, or it would
  // be a different command.
  EXPECT_NE(open.err.find("open-account --owner 'Ann O'\\''Hara' --initial-balance 100 "
                          "--account-id "),
            std::string::npos)
      << open.Describe();
  EXPECT_NE(open.err.find(" --command-id "), std::string::npos) << open.Describe();

  // A service that takes the request and never answers: the request was
  // delivered, the outcome is unknown all the more.
  FakeCommandService silent([](const es::v1::CommandRequest&) { return std::nullopt; });
  CapturedRun transfer = Esctl(silent.endpoint(),
                               {"transfer", "acct-1", "acct-2", "5", "--transfer-id", "t-1",
                                "--command-id", "cmd-7", "--wait"},
                               500);
  ExpectOutcomeUnknown(transfer, "cmd-7", "transfer acct-1 acct-2 5 --transfer-id t-1");
  ASSERT_FALSE(silent.command_ids().empty());
  EXPECT_EQ(silent.command_ids().front(), "cmd-7");
}

TEST_F(EsctlOutcomeTest, UnavailableFromCommandServiceIsAnUnknownOutcomeWithTheIdItSent) {
  FakeCommandService unavailable([](const es::v1::CommandRequest& request) {
    if (!request.has_command()) return std::optional<es::v1::CommandReply>();
    return std::optional(
        Refusal(es::v1::REFUSAL_CODE_UNAVAILABLE, "the store did not answer within 10000 ms"));
  });

  CapturedRun close = Esctl(unavailable.endpoint(), {"close-account", "acct-9"});

  ASSERT_FALSE(unavailable.command_ids().empty());
  const std::string sent = unavailable.command_ids().front();
  EXPECT_EQ(sent.size(), 36u) << "a fresh UUID: " << sent;
  ExpectOutcomeUnknown(close, sent, "close-account acct-9");
}

TEST_F(EsctlOutcomeTest, EveryRefusalIsExitOneWithItsNameAndMessage) {
  es::v1::RefusalCode code = es::v1::REFUSAL_CODE_COMMAND_ID_CONFLICT;
  std::string message;
  FakeCommandService refusing(
      [&](const es::v1::CommandRequest&) { return std::optional(Refusal(code, message)); });
  const auto run = [&](es::v1::RefusalCode next, const std::string& text) {
    code = next;
    message = text;
    return Esctl(refusing.endpoint(), {"credit", "acct-1", "5", "--command-id", "cmd-1"});
  };

  CapturedRun conflict = run(es::v1::REFUSAL_CODE_COMMAND_ID_CONFLICT,
                             "command id cmd-1 was first used for DebitAccount acct-1 5");
  EXPECT_TRUE(conflict.exited && conflict.exit_code == 1) << conflict.Describe();
  EXPECT_EQ(conflict.err,
            "esctl: refused (COMMAND_ID_CONFLICT): command id cmd-1 was first used for "
            "DebitAccount acct-1 5\n");

  // Every code this build knows prints by its name in command.proto.
  for (int number = 1; es::v1::RefusalCode_IsValid(number); ++number) {
    const auto next = static_cast<es::v1::RefusalCode>(number);
    if (next == es::v1::REFUSAL_CODE_UNAVAILABLE) continue;  // an unknown outcome, above
    std::string name = es::v1::RefusalCode_Name(next).substr(std::string("REFUSAL_CODE_").size());
    CapturedRun refused = run(next, "because " + name);
    EXPECT_TRUE(refused.exited && refused.exit_code == 1) << refused.Describe();
    EXPECT_EQ(refused.err, "esctl: refused (" + name + "): because " + name + "\n");
  }

  // A code from a newer command_service: still exit 1, by its number.
  CapturedRun newer = run(static_cast<es::v1::RefusalCode>(99), "a future refusal");
  EXPECT_TRUE(newer.exited && newer.exit_code == 1) << newer.Describe();
  EXPECT_EQ(newer.err, "esctl: refused (code 99): a future refusal\n");
}

}  // namespace
}  // namespace es::testing
