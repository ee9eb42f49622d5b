#include "tests/support/bank_system.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "tests/support/store_process.h"
#include "tests/support/store_requests.h"
#include "tests/support/store_test_client.h"

namespace es::testing {

BankSystem::BankSystem(const TempDir& dir) : BankSystem(dir, Options{}) {}

BankSystem::BankSystem(const TempDir& dir, Options options)
    : dir_(dir), options_(std::move(options)) {
  store_.emplace(StartStore(dir_));
  for (size_t i = 0; i < std::max<size_t>(options_.command_services, 1); ++i) {
    command_services_.push_back(StartCommandServiceAt(i, "tcp://127.0.0.1:*"));
    command_endpoints_.push_back(command_services_.back().endpoint("commands"));
  }
  if (options_.start_saga) StartSaga();
  if (options_.start_query) StartQuery();
}

void BankSystem::StartQuery() {
  if (query_running()) throw std::logic_error("StartQuery: query_service is already running");
  query_.reset();
  std::vector<std::string> args = {
      "--data-dir",       dir_.File("query"),
      "--store-requests", store_requests(),
      "--store-events",   store_events(),
      "--bind",           queries_.empty() ? "tcp://127.0.0.1:*" : queries_};
  args.insert(args.end(), options_.query_args.begin(), options_.query_args.end());
  query_.emplace(ServiceProcess::Start(BinaryPath("query_service"), args, dir_.File("query.log")));
  queries_ = query_->endpoint("queries");
}

ExitStatus BankSystem::KillQuery() {
  if (!query_running()) throw std::logic_error("KillQuery: query_service is not running");
  return query_->Kill9();
}

const std::string& BankSystem::queries() const {
  if (!query_running()) throw std::logic_error("queries: query_service is not running");
  return queries_;
}

ServiceProcess BankSystem::StartCommandServiceAt(size_t index, const std::string& bind) const {
  std::vector<std::string> args = {"--bind", bind, "--store-requests", store_requests()};
  args.insert(args.end(), options_.command_args.begin(), options_.command_args.end());
  return ServiceProcess::Start(BinaryPath("command_service"), args,
                               dir_.File("command-" + std::to_string(index) + ".log"));
}

void BankSystem::StartSaga() {
  if (saga_running()) throw std::logic_error("StartSaga: saga_service is already running");
  saga_.reset();
  std::vector<std::string> args = {
      "--data-dir",   dir_.File("saga"), "--store-requests", store_requests(), "--store-events",
      store_events(), "--commands",      commands(0),        "--bind-control", "tcp://127.0.0.1:*"};
  args.insert(args.end(), options_.saga_args.begin(), options_.saga_args.end());
  saga_.emplace(ServiceProcess::Start(BinaryPath("saga_service"), args, dir_.File("saga.log")));
  saga_control_ = saga_->endpoint("control");
}

ExitStatus BankSystem::KillSaga() {
  if (!saga_running()) throw std::logic_error("KillSaga: saga_service is not running");
  return saga_->Kill9();
}

void BankSystem::RestartCommandService(size_t index) {
  ServiceProcess& service = command_services_.at(index);
  ExitStatus status = service.Terminate();
  if (!status.exited || status.exit_code != 0) {
    throw std::runtime_error("command_service " + std::to_string(index) +
                             " did not stop cleanly on SIGTERM; its log:\n" + service.ReadLog());
  }
  service = StartCommandServiceAt(index, command_endpoints_.at(index));
}

const std::string& BankSystem::saga_control() const {
  if (!saga_running()) throw std::logic_error("saga_control: saga_service is not running");
  return saga_control_;
}

std::vector<std::string> BankSystem::EsctlArgs(const std::vector<std::string>& args,
                                               size_t command_service) const {
  std::vector<std::string> full = {"--store",      store_requests(), "--events",
                                   store_events(), "--commands",     commands(command_service)};
  if (saga_running()) {
    full.push_back("--saga");
    full.push_back(saga_control_);
  }
  if (query_running()) {
    full.push_back("--queries");
    full.push_back(queries_);
  }
  if (std::find(args.begin(), args.end(), "--timeout") == args.end()) {
    full.push_back("--timeout");
    full.push_back("15000");
  }
  full.insert(full.end(), args.begin(), args.end());
  return full;
}

CapturedRun BankSystem::Esctl(const std::vector<std::string>& args, size_t command_service,
                              std::chrono::milliseconds timeout) const {
  return RunCaptured(BinaryPath("esctl"), EsctlArgs(args, command_service), timeout);
}

std::vector<es::v1::EventRecord> BankSystem::ReadLog(zmq::context_t& context,
                                                     const std::string& stream_prefix) const {
  StoreTestClient client(context, store_requests());
  std::vector<es::v1::EventRecord> events;
  uint64_t from = 1;
  while (true) {
    es::v1::StoreReply reply = client.Call(ReadAllRequest(from, 1000, stream_prefix));
    if (!reply.has_read_all()) {
      throw std::runtime_error("read_all from " + std::to_string(from) +
                               " failed: " + reply.DebugString());
    }
    const es::v1::ReadAllResult& page = reply.read_all();
    events.insert(events.end(), page.events().begin(), page.events().end());
    if (page.scanned_through() >= page.head_position()) return events;
    if (page.scanned_through() < from) {
      throw std::runtime_error("read_all from " + std::to_string(from) + " made no progress");
    }
    from = page.scanned_through() + 1;
  }
}

uint64_t BankSystem::StoreHead(zmq::context_t& context) const {
  es::v1::StoreReply reply = CallStore(context, store_requests(), PingRequest());
  if (!reply.has_pong()) throw std::runtime_error("store ping failed: " + reply.DebugString());
  return reply.pong().head_position();
}

}  // namespace es::testing
