// esbench account-load: what a cache miss on a long account costs
// command_service, with and without a snapshot. For each of `accounts` pairs
// it writes two accounts of `events` events straight to the store (an
// AccountOpened and credits of 1; not timed): one with no snapshot, one with
// an es.v1.AccountSnapshot `tail` events before its end (as command_service
// writes them every --snapshot-every events). Then it times one GetAccount of
// each through command_service, which has never seen them: the first loads
// the whole stream, the second its snapshot and the last `tail` events. Both
// must show the balance the events add up to.
#include <algorithm>
#include <cstdio>
#include <vector>

#include "bench/latency_histogram.h"
#include "bench/modes.h"
#include "bus/ids.h"
#include "bus/rpc_client.h"
#include "domain/event_codec.h"
#include "domain/stream_ids.h"
#include "es/v1/bank.pb.h"
#include "es/v1/command.pb.h"
#include "es/v1/store.pb.h"

namespace es::bench {
namespace {

using StoreClient = es::bus::RpcClient<es::v1::StoreRequest, es::v1::StoreReply>;
constexpr uint64_t kEventsPerAppend = 1000;

void AddEvent(es::v1::AppendRequest* append, const es::domain::DomainEvent& event) {
  es::domain::EncodedEvent encoded = es::domain::EncodeEvent(event);
  auto* added = append->add_events();
  added->set_event_id(es::bus::NewUuid());
  added->set_type(std::move(encoded.type));
  added->set_data(std::move(encoded.data));
}

// Appends `request`; an empty string on success, else why not.
std::string AppendOk(StoreClient& store, es::v1::StoreRequest& request) {
  auto reply = store.Call(request);
  if (!reply) return "store_service stopped answering";
  if (!reply->has_append()) {
    return reply->has_error() ? reply->error().message() : "unexpected reply to an append";
  }
  return "";
}

// Account `id`: AccountOpened (version 1), then credits of 1 up to `events`
// events; with a snapshot of its state at version `events - tail` when
// `tail` is set.
std::string WriteAccount(StoreClient& store, const std::string& id, uint64_t events,
                         std::optional<uint64_t> tail) {
  const std::string stream = es::domain::AccountStreamId(id);
  uint64_t version = 0;
  while (version < events) {
    es::v1::StoreRequest request;
    auto* append = request.mutable_append();
    append->set_stream_id(stream);
    append->mutable_expected_version()->set_exact(version);
    append->set_command_id(id + "-fill-" + std::to_string(version));
    const uint64_t batch_end = std::min(events, version + kEventsPerAppend);
    for (; version < batch_end; ++version) {
      if (version == 0) {
        es::v1::AccountOpened opened;
        opened.set_account_id(id);
        opened.set_owner("bench");
        AddEvent(append, opened);
      } else {
        es::v1::AccountCredited credited;
        credited.set_account_id(id);
        credited.set_amount(1);
        credited.set_balance(static_cast<int64_t>(version));
        AddEvent(append, credited);
      }
    }
    if (std::string error = AppendOk(store, request); !error.empty()) return error;
  }
  if (!tail) return "";
  const uint64_t at = events - *tail;
  es::v1::AccountSnapshot snapshot;
  snapshot.set_version(at);
  snapshot.set_exists(true);
  snapshot.set_account_id(id);
  snapshot.set_owner("bench");
  snapshot.set_balance(static_cast<int64_t>(at - 1));
  es::v1::StoreRequest request;
  auto* append = request.mutable_append();
  append->set_stream_id(es::domain::SnapshotStreamId(stream));
  append->mutable_expected_version()->set_any(true);
  append->set_command_id(id + "-snapshot");
  auto* event = append->add_events();
  event->set_event_id(es::bus::NewUuid());
  event->set_type(es::domain::TypeNameOf<es::v1::AccountSnapshot>());
  event->set_data(snapshot.SerializeAsString());
  return AppendOk(store, request);
}

}  // namespace

int RunAccountLoadBench(BenchEnv& env, const AccountLoadArgs& args) {
  if (!PingStore(env, env.ping_wait())) {
    return Fail(kUnavailable, "store_service did not answer at " + env.endpoints.store_requests);
  }
  if (!PingCommands(env, env.ping_wait())) {
    return Fail(kUnavailable, "command_service did not answer at " + env.endpoints.commands);
  }
  if (args.tail >= args.events) return Fail(kUsage, "--tail must be below --events");
  const auto deadline = std::chrono::duration_cast<std::chrono::milliseconds>(env.timeout);
  StoreClient store(env.context, env.endpoints.store_requests, env.rpc(deadline));
  es::bus::RpcClient<es::v1::CommandRequest, es::v1::CommandReply> commands(
      env.context, env.endpoints.commands, env.rpc(deadline));

  const std::string tag = NewRunTag();
  auto full_id = [&](uint64_t i) { return tag + "-full" + std::to_string(i); };
  auto snap_id = [&](uint64_t i) { return tag + "-snap" + std::to_string(i); };
  for (uint64_t i = 0; i < args.accounts; ++i) {
    for (auto [id, tail] : {std::pair{full_id(i), std::optional<uint64_t>()},
                            std::pair{snap_id(i), std::optional<uint64_t>(args.tail)}}) {
      if (std::string error = WriteAccount(store, id, args.events, tail); !error.empty()) {
        return Fail(kFailed, "writing account " + id + ": " + error);
      }
    }
  }

  // One cold GetAccount per account; the balance must be events - 1.
  LatencyHistogram full, snap;
  for (uint64_t i = 0; i < args.accounts; ++i) {
    for (auto [id, histogram] : {std::pair{full_id(i), &full}, std::pair{snap_id(i), &snap}}) {
      es::v1::CommandRequest request;
      request.mutable_get_account()->set_account_id(id);
      const auto sent = Clock::now();
      auto reply = commands.Call(request);
      histogram->Record(Clock::now() - sent);
      if (!reply) return Fail(kUnavailable, "command_service stopped answering");
      if (!reply->has_account()) return Fail(kFailed, "GetAccount " + id + " was refused");
      const auto expected = static_cast<int64_t>(args.events - 1);
      if (reply->account().balance() != expected) {
        return Fail(kFailed, "account " + id + " loaded with balance " +
                                 std::to_string(reply->account().balance()) + ", expected " +
                                 std::to_string(expected));
      }
    }
  }
  if (env.json) {
    std::printf(
        "{\"mode\":\"account-load\",\"accounts\":%llu,\"events\":%llu,\"tail\":%llu,"
        "\"full_load_ms\":%s,\"snapshot_load_ms\":%s}\n",
        static_cast<unsigned long long>(args.accounts),
        static_cast<unsigned long long>(args.events), static_cast<unsigned long long>(args.tail),
        full.ToJson().c_str(), snap.ToJson().c_str());
  } else {
    std::printf("account-load: %llu cold loads each of %llu-event accounts\n",
                static_cast<unsigned long long>(args.accounts),
                static_cast<unsigned long long>(args.events));
    std::printf("  whole stream:                        %s\n", full.ToText().c_str());
    std::printf("  snapshot + last %llu events:          %s\n",
                static_cast<unsigned long long>(args.tail), snap.ToText().c_str());
  }
  std::fflush(stdout);
  return kOk;
}

}  // namespace es::bench
