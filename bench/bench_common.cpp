#include "bench/bench_common.h"

#include <cmath>
#include <cstdio>

#include "bus/ids.h"
#include "es/v1/command.pb.h"
#include "es/v1/saga.pb.h"
#include "es/v1/store.pb.h"

namespace es::bench {

es::bus::RpcOptions BenchEnv::rpc(std::chrono::milliseconds deadline) const {
  return es::bus::RpcOptions{.attempt_timeout = std::min(deadline, std::chrono::milliseconds(1000)),
                             .deadline = deadline};
}

int Fail(ExitCode code, const std::string& message) {
  std::fprintf(stderr, "esbench: %s\n", message.c_str());
  return code;
}

std::optional<uint64_t> PingStore(BenchEnv& env, std::chrono::milliseconds wait) {
  es::bus::RpcClient<es::v1::StoreRequest, es::v1::StoreReply> store(
      env.context, env.endpoints.store_requests, env.rpc(wait));
  es::v1::StoreRequest request;
  request.mutable_ping();
  auto reply = store.Call(request);
  if (!reply || !reply->has_pong()) return std::nullopt;
  return reply->pong().head_position();
}

bool PingCommands(BenchEnv& env, std::chrono::milliseconds wait) {
  es::bus::RpcClient<es::v1::CommandRequest, es::v1::CommandReply> commands(
      env.context, env.endpoints.commands, env.rpc(wait));
  es::v1::CommandRequest request;
  request.mutable_ping();
  auto reply = commands.Call(request);
  return reply && reply->has_pong();
}

bool PingSaga(BenchEnv& env, std::chrono::milliseconds wait) {
  es::bus::RpcClient<es::v1::SagaRequest, es::v1::SagaReply> saga(
      env.context, env.endpoints.saga_control, env.rpc(wait));
  es::v1::SagaRequest request;
  request.mutable_ping();
  auto reply = saga.Call(request);
  return reply && reply->has_pong();
}

std::string NewRunTag() { return "b" + es::bus::NewUuid().substr(0, 8); }

double SecondsSince(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double>(end - start).count();
}

double PerSecond(double count, double seconds) { return seconds > 0 ? count / seconds : 0; }

std::string Grouped(double value) {
  const long long whole = std::llround(value);
  std::string digits = std::to_string(whole < 0 ? -whole : whole);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return whole < 0 ? "-" + out : out;
}

}  // namespace es::bench
