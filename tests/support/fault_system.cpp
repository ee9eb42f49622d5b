#include "tests/support/fault_system.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "tests/support/store_process.h"
#include "tests/support/store_requests.h"
#include "tests/support/store_test_client.h"

namespace es::testing {

ServiceProcess StartCommandService(const TempDir& dir, const std::string& store_requests,
                                   const std::string& bind,
                                   const std::vector<std::string>& extra_args) {
  std::vector<std::string> args = {"--bind", bind, "--store-requests", store_requests};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  return ServiceProcess::Start(BinaryPath("command_service"), args, dir.File("command.log"));
}

ServiceProcess StartSagaService(const TempDir& dir, const std::string& store_requests,
                                const std::string& store_events, const std::string& commands,
                                const std::vector<std::string>& extra_args) {
  std::vector<std::string> args = {
      "--data-dir", dir.File("saga"), "--store-requests", store_requests,   "--store-events",
      store_events, "--commands",     commands,           "--bind-control", "tcp://127.0.0.1:*"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  return ServiceProcess::Start(BinaryPath("saga_service"), args, dir.File("saga.log"));
}

void FaultSystem::StartStore(const std::vector<std::string>& extra_args) {
  store.reset();
  store.emplace(es::testing::StartStore(dir_, extra_args));
}

void FaultSystem::StartCommand(const std::string& bind,
                               const std::vector<std::string>& extra_args) {
  command.reset();
  command.emplace(StartCommandService(dir_, store_requests(), bind, extra_args));
}

void FaultSystem::StartSaga(const std::vector<std::string>& extra_args) {
  saga.reset();
  saga.emplace(StartSagaService(dir_, store_requests(), store_events(), commands(), extra_args));
}

es::v1::CommandRequest GetAccountRequest(const std::string& account_id) {
  es::v1::CommandRequest request;
  request.mutable_get_account()->set_account_id(account_id);
  return request;
}

es::v1::CommandRequest GetTransferRequest(const std::string& transfer_id) {
  es::v1::CommandRequest request;
  request.mutable_get_transfer()->set_transfer_id(transfer_id);
  return request;
}

es::v1::CommandReply CallCommands(CommandClient& client, es::v1::CommandRequest request) {
  std::optional<es::v1::CommandReply> reply = client.Call(request);
  if (!reply) {
    throw std::runtime_error("command_service at " + client.endpoint() + " did not answer " +
                             request.ShortDebugString());
  }
  return *reply;
}

CommandClient MakeCommandClient(zmq::context_t& context, const std::string& endpoint,
                                std::chrono::milliseconds deadline) {
  return CommandClient(context, endpoint,
                       es::bus::RpcOptions{.attempt_timeout = std::chrono::milliseconds(2000),
                                           .deadline = deadline});
}

std::optional<es::v1::SagaStats> SagaStatsOf(zmq::context_t& context, const std::string& control,
                                             std::chrono::milliseconds timeout) {
  es::bus::RpcClient<es::v1::SagaRequest, es::v1::SagaReply> client(
      context, control, es::bus::RpcOptions{.attempt_timeout = timeout, .deadline = timeout});
  es::v1::SagaRequest request;
  request.mutable_stats();
  std::optional<es::v1::SagaReply> reply = client.Call(request);
  if (!reply || !reply->has_stats()) return std::nullopt;
  return reply->stats();
}

std::vector<es::v1::EventRecord> ReadLogFromStore(zmq::context_t& context,
                                                  const std::string& endpoint, uint32_t page_size) {
  StoreTestClient client(context, endpoint);
  std::vector<es::v1::EventRecord> events;
  uint64_t from = 1;
  while (true) {
    es::v1::StoreReply reply = client.Call(ReadAllRequest(from, page_size));
    if (!reply.has_read_all()) {
      throw std::runtime_error("read_all from " + std::to_string(from) +
                               " failed: " + reply.ShortDebugString());
    }
    const es::v1::ReadAllResult& page = reply.read_all();
    events.insert(events.end(), page.events().begin(), page.events().end());
    if (page.scanned_through() >= page.head_position()) return events;
    from = page.scanned_through() + 1;
  }
}

std::optional<std::vector<std::string>> StoreEngineArgs(const TempDir& dir,
                                                        const std::string& engine) {
  const std::string output = dir.File("store-help.txt");
  ServiceProcess::Run(BinaryPath("store_service"), {"--help"}, output);
  std::ifstream in(output);
  std::stringstream help;
  help << in.rdbuf();
  if (help.str().find("--engine") != std::string::npos) {
    return std::vector<std::string>{"--engine", engine};
  }
  if (engine == "sqlite") return std::vector<std::string>{};
  return std::nullopt;
}

uint64_t ResidentBytesOf(pid_t pid) {
  std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
  uint64_t total_pages = 0;
  uint64_t resident_pages = 0;
  if (!(statm >> total_pages >> resident_pages)) return 0;
  return resident_pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace es::testing
