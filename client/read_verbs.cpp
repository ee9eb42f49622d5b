// esctl events | subscribe | ping | stats
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>
#include <vector>

#include "bus/catch_up_subscriber.h"
#include "bus/event_json.h"
#include "client/esctl.h"
#include "domain/stream_ids.h"
#include "es/v1/command.pb.h"
#include "es/v1/query.pb.h"
#include "es/v1/saga.pb.h"
#include "es/v1/store.pb.h"

namespace es::client {
namespace {

using StoreClient = es::bus::RpcClient<es::v1::StoreRequest, es::v1::StoreReply>;

std::atomic<bool> interrupted{false};
void OnInterrupt(int) { interrupted = true; }

void PrintEvent(const Esctl& esctl, const es::v1::EventRecord& event) {
  std::string line = esctl.json ? es::bus::EventToJson(event) : es::bus::EventToText(event);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
}

int StoreError(const es::v1::Error& error) {
  return Fail(kRefused, "store refused: " + error.message());
}

int Unavailable(const std::string& service, const std::string& endpoint) {
  return Fail(kUnavailable, service + " did not answer at " + endpoint);
}

}  // namespace

es::bus::RpcOptions Esctl::rpc() const {
  return es::bus::RpcOptions{.attempt_timeout = std::min(timeout, std::chrono::milliseconds(1000)),
                             .deadline = timeout};
}

int Fail(ExitCode code, const std::string& message) {
  std::fprintf(stderr, "esctl: %s\n", message.c_str());
  return code;
}

namespace {

// The stream `asked` names: itself if it has events, else the account's or
// the transfer's of that id (a bare id, as a user has it). Sets `*stream`,
// or returns an exit code saying why not.
int ResolveStream(StoreClient& store, const std::string& asked, std::string* stream) {
  const std::vector<std::string> candidates = {asked, es::domain::AccountStreamId(asked),
                                               es::domain::TransferStreamId(asked)};
  es::v1::StoreRequest request;
  for (const std::string& id : candidates) request.mutable_stream_versions()->add_stream_ids(id);
  auto reply = store.Call(request);
  if (!reply) return Unavailable("store_service", store.endpoint());
  if (reply->has_error()) return StoreError(reply->error());
  const auto& versions = reply->stream_versions().versions();
  if (versions.size() != 3) return Fail(kRefused, "unexpected reply from store_service");
  if (versions[0] > 0) {
    *stream = asked;
    return kOk;
  }
  if (versions[1] > 0 && versions[2] > 0) {
    return Fail(kUsage, "stream " + asked + " has no events, and both " + candidates[1] +
                            " and " + candidates[2] + " do: name one");
  }
  if (versions[1] > 0 || versions[2] > 0) {
    *stream = versions[1] > 0 ? candidates[1] : candidates[2];
    return kOk;
  }
  return Fail(kRefused, "no events in stream " + asked + ", nor in " + candidates[1] + " or " +
                            candidates[2] +
                            " (stream ids are account-ID, transfer-ID, snapshot-account-ID; "
                            "esctl events lists every event)");
}

}  // namespace

int RunEvents(Esctl& esctl, const EventsArgs& requested) {
  StoreClient store(esctl.context, esctl.endpoints.store_requests, esctl.rpc());
  EventsArgs args = requested;
  if (!args.stream.empty()) {
    if (int code = ResolveStream(store, requested.stream, &args.stream); code != kOk) return code;
  }
  uint64_t printed = 0;
  uint64_t next = std::max<uint64_t>(args.from, 1);
  uint64_t limit = args.limit;
  if (args.last > 0) {
    // The newest N: from N before the end of the log (its head), or of the
    // stream (its version), then forwards as usual.
    limit = args.last;
    es::v1::StoreRequest request;
    if (args.stream.empty()) {
      request.mutable_ping();
    } else {
      request.mutable_stream_versions()->add_stream_ids(args.stream);
    }
    auto reply = store.Call(request);
    if (!reply) return Unavailable("store_service", store.endpoint());
    if (reply->has_error()) return StoreError(reply->error());
    const uint64_t end = args.stream.empty() ? reply->pong().head_position()
                                             : (reply->stream_versions().versions_size() == 1
                                                    ? reply->stream_versions().versions(0)
                                                    : 0);
    next = end > args.last ? end - args.last + 1 : 1;
  }
  while (limit == 0 || printed < limit) {
    uint32_t page = 1000;
    if (limit != 0) page = static_cast<uint32_t>(std::min<uint64_t>(page, limit - printed));
    es::v1::StoreRequest request;
    if (!args.stream.empty()) {
      auto* read = request.mutable_read_stream();
      read->set_stream_id(args.stream);
      read->set_from_version(next);
      read->set_max_count(page);
    } else {
      auto* read = request.mutable_read_all();
      read->set_from_position(next);
      read->set_max_count(page);
    }
    auto reply = store.Call(request);
    if (!reply) return Unavailable("store_service", store.endpoint());
    if (reply->has_error()) return StoreError(reply->error());
    const auto& events =
        args.stream.empty() ? reply->read_all().events() : reply->read_stream().events();
    for (const auto& event : events) PrintEvent(esctl, event);
    printed += events.size();
    if (events.empty()) break;
    const auto& last = events[events.size() - 1];
    next = (args.stream.empty() ? last.global_position() : last.stream_version()) + 1;
    if (!args.stream.empty() && reply->read_stream().end_of_stream()) break;
  }
  std::fflush(stdout);
  return kOk;
}

int RunStreams(Esctl& esctl, const std::string& prefix, uint64_t limit) {
  StoreClient store(esctl.context, esctl.endpoints.store_requests, esctl.rpc());
  std::string after;
  uint64_t printed = 0;
  do {
    es::v1::StoreRequest request;
    auto* list = request.mutable_list_streams();
    list->set_prefix(prefix);
    list->set_after(after);
    list->set_max_count(static_cast<uint32_t>(limit == 0 ? 1000 : std::min<uint64_t>(1000, limit - printed)));
    auto reply = store.Call(request);
    if (!reply) return Unavailable("store_service", store.endpoint());
    if (reply->has_error()) return StoreError(reply->error());
    if (!reply->has_list_streams()) {
      return Fail(kRefused, "store_service does not list streams (an older store?)");
    }
    for (const es::v1::StreamInfo& info : reply->list_streams().streams()) {
      if (esctl.json) {
        std::printf("{\"stream_id\":%s,\"version\":%llu}\n", es::bus::JsonQuote(info.stream_id()).c_str(),
                    static_cast<unsigned long long>(info.version()));
      } else {
        std::printf("%s %llu\n", info.stream_id().c_str(),
                    static_cast<unsigned long long>(info.version()));
      }
      ++printed;
    }
    after = reply->list_streams().next_after();
  } while (!after.empty() && (limit == 0 || printed < limit));
  std::fflush(stdout);
  return kOk;
}

int RunSubscribe(Esctl& esctl, const SubscribeArgs& args) {
  uint64_t from = 1;
  if (args.from >= 0) {
    from = std::max<int64_t>(args.from, 1);
  } else {
    StoreClient store(esctl.context, esctl.endpoints.store_requests, esctl.rpc());
    es::v1::StoreRequest ping;
    ping.mutable_ping();
    auto reply = store.Call(ping);
    if (!reply || !reply->has_pong()) return Unavailable("store_service", store.endpoint());
    from = reply->pong().head_position() + 1;
  }
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  es::bus::CatchUpOptions options{.store_requests = esctl.endpoints.store_requests,
                                  .store_events = esctl.endpoints.store_events,
                                  .from_position = from,
                                  .stream_prefix = args.filter};
  options.name = args.name;
  options.rpc = esctl.rpc();
  es::bus::CatchUpSubscriber subscriber(esctl.context, options);
  uint64_t seen = 0;
  while (!interrupted && (args.count == 0 || seen < args.count)) {
    auto event = subscriber.Next(std::chrono::milliseconds(200));
    if (!event) {
      std::fflush(stdout);
      continue;
    }
    PrintEvent(esctl, *event);
    // A live tail: when stdout is a pipe (fully buffered), each event must
    // leave now, not once 4 KiB have piled up under a steady trickle.
    std::fflush(stdout);
    ++seen;
  }
  std::fflush(stdout);
  return kOk;
}

namespace {

// One ping over any of the services' request/reply pairs: nullopt when it
// did not answer with a Pong in time.
template <typename Request, typename Reply>
std::optional<es::v1::Pong> PingOver(Esctl& esctl, const std::string& endpoint) {
  es::bus::RpcClient<Request, Reply> client(esctl.context, endpoint, esctl.rpc());
  Request request;
  request.mutable_ping();
  auto reply = client.Call(request);
  if (!reply || !reply->has_pong()) return std::nullopt;
  return reply->pong();
}

}  // namespace

int RunPing(Esctl& esctl, const std::string& service) {
  const auto start = std::chrono::steady_clock::now();
  auto elapsed_ms = [&] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
  };
  std::string endpoint;
  std::optional<es::v1::Pong> pong;
  if (service == "store") {
    pong = PingOver<es::v1::StoreRequest, es::v1::StoreReply>(
        esctl, endpoint = esctl.endpoints.store_requests);
  } else if (service == "commands") {
    pong = PingOver<es::v1::CommandRequest, es::v1::CommandReply>(
        esctl, endpoint = esctl.endpoints.commands);
  } else if (service == "saga") {
    pong = PingOver<es::v1::SagaRequest, es::v1::SagaReply>(
        esctl, endpoint = esctl.endpoints.saga_control);
  } else if (service == "queries") {
    pong = PingOver<es::v1::QueryRequest, es::v1::QueryReply>(esctl,
                                                              endpoint = esctl.endpoints.queries);
  } else {
    return Fail(kUsage, "unknown service '" + service + "' (store, commands, saga or queries)");
  }
  if (!pong) return Unavailable(service, endpoint);
  const auto head = static_cast<unsigned long long>(pong->head_position());
  const unsigned pid = pong->pid();
  if (esctl.json) {
    std::printf(
        "{\"service\":\"%s\",\"ok\":true,\"head_position\":%llu,\"pid\":%u,\"ms\":%.3f}\n",
        service.c_str(), head, pid, elapsed_ms());
  } else {
    std::printf("%s ok head=%llu pid=%u %.3f ms\n", service.c_str(), head, pid, elapsed_ms());
  }
  return kOk;
}

namespace {

// A request socket's bounds (es.v1.ServerBounds): a JSON object's members
// (",\"bounds\":{...}") or text (" held=... stalled_peers=...").
std::string BoundsText(const es::v1::ServerBounds& b, bool json) {
  using ull = unsigned long long;
  char buf[512];
  if (json) {
    std::snprintf(buf, sizeof buf,
                  ",\"bounds\":{\"held_bytes\":%llu,\"stalled_peers\":%llu,"
                  "\"replies_held_total\":%llu,\"replies_dropped_total\":%llu,"
                  "\"requests_dropped_total\":%llu,\"peers_stalled_total\":%llu,"
                  "\"send_hwm\":%llu,\"held_bytes_per_peer\":%llu,\"held_bytes_limit\":%llu}",
                  (ull)b.held_bytes(), (ull)b.stalled_peers(), (ull)b.replies_held_total(),
                  (ull)b.replies_dropped_total(), (ull)b.requests_dropped_total(),
                  (ull)b.peers_stalled_total(), (ull)b.send_hwm(), (ull)b.held_bytes_per_peer(),
                  (ull)b.held_bytes_limit());
  } else {
    std::snprintf(buf, sizeof buf,
                  " held=%lluB stalled_peers=%llu replies_dropped=%llu requests_dropped=%llu",
                  (ull)b.held_bytes(), (ull)b.stalled_peers(), (ull)b.replies_dropped_total(),
                  (ull)b.requests_dropped_total());
  }
  return buf;
}

}  // namespace

int RunStats(Esctl& esctl) {
  // Each service is asked on its own, briefly: one that is down is reported
  // as such, and the others are still shown.
  es::bus::RpcOptions brief = esctl.rpc();
  brief.deadline = std::min(brief.deadline, std::chrono::milliseconds(1500));
  brief.attempt_timeout = std::min(brief.attempt_timeout, brief.deadline);
  int answered = 0;
  auto unavailable = [&](const char* service, const std::string& endpoint) {
    if (esctl.json) {
      std::printf("{\"service\":\"%s\",\"available\":false,\"endpoint\":%s}\n", service,
                  es::bus::JsonQuote(endpoint).c_str());
    } else {
      std::printf("%s: unavailable at %s\n", service, endpoint.c_str());
    }
  };
  using ull = unsigned long long;

  StoreClient store(esctl.context, esctl.endpoints.store_requests, brief);
  es::v1::StoreRequest store_request;
  store_request.mutable_stats();
  auto store_reply = store.Call(store_request);
  if (store_reply && store_reply->has_stats()) {
    ++answered;
    const auto& s = store_reply->stats();
    std::string listeners;
    for (const auto& l : s.listeners()) {
      if (esctl.json) {
        if (!listeners.empty()) listeners += ",";
        char buf[256];
        std::snprintf(
            buf, sizeof buf,
            "{\"name\":%s,\"checkpoint\":%llu,\"lag\":%llu,\"seconds_since_report\":%.1f}",
            es::bus::JsonQuote(l.subscriber()).c_str(), (ull)l.position(), (ull)l.lag(),
            l.seconds_since_report());
        listeners += buf;
      } else {
        char buf[256];
        std::snprintf(
            buf, sizeof buf, "\n  listener %s: checkpoint=%llu lag=%llu (reported %.1f s ago)",
            l.subscriber().c_str(), (ull)l.position(), (ull)l.lag(), l.seconds_since_report());
        listeners += buf;
      }
    }
    if (esctl.json) {
      std::printf(
          "{\"service\":\"store\",\"available\":true,\"head_position\":%llu,\"streams\":%llu,"
          "\"appends_total\":%llu,\"events_total\":%llu,\"appends_per_s\":%.1f,\"events_per_s\":%."
          "1f,"
          "\"commits_total\":%llu,\"subscribers\":%llu,\"engine\":%s,\"rss_bytes\":%llu,"
          "\"pending_append_bytes\":%llu%s,\"listeners\":[%s]}\n",
          (ull)s.head_position(), (ull)s.stream_count(), (ull)s.appends_total(),
          (ull)s.events_appended_total(), s.appends_per_s(), s.events_per_s(),
          (ull)s.commits_total(), (ull)s.subscribers(), es::bus::JsonQuote(s.engine()).c_str(),
          (ull)s.rss_bytes(), (ull)s.pending_append_bytes(), BoundsText(s.bounds(), true).c_str(),
          listeners.c_str());
    } else {
      std::printf(
          "store_service: head=%llu streams=%llu appends=%llu events=%llu appends/s=%.1f "
          "events/s=%.1f commits=%llu subscribers=%llu engine=%s rss=%.1fMiB "
          "pending_appends=%lluB%s%s\n",
          (ull)s.head_position(), (ull)s.stream_count(), (ull)s.appends_total(),
          (ull)s.events_appended_total(), s.appends_per_s(), s.events_per_s(),
          (ull)s.commits_total(), (ull)s.subscribers(), s.engine().c_str(),
          s.rss_bytes() / 1048576.0, (ull)s.pending_append_bytes(),
          BoundsText(s.bounds(), false).c_str(), listeners.c_str());
    }
  } else {
    unavailable("store", esctl.endpoints.store_requests);
  }

  es::bus::RpcClient<es::v1::CommandRequest, es::v1::CommandReply> commands(
      esctl.context, esctl.endpoints.commands, brief);
  es::v1::CommandRequest command_request;
  command_request.mutable_stats();
  auto command_reply = commands.Call(command_request);
  if (command_reply && command_reply->has_stats()) {
    ++answered;
    const auto& c = command_reply->stats();
    std::printf(esctl.json
                    ? "{\"service\":\"commands\",\"available\":true,\"commands_total\":%llu,"
                      "\"commands_refused\":%llu,\"concurrency_retries\":%llu,"
                      "\"cached_aggregates\":%llu,\"commands_per_s\":%.1f,\"rss_bytes\":%llu,"
                      "\"snapshots_written\":%llu,\"snapshots_loaded\":%llu,"
                      "\"events_loaded\":%llu,\"command_lookups\":%llu,\"appends_sent\":%llu,"
                      "\"append_requests\":%llu,\"command_id_conflicts\":%llu,"
                      "\"stream_reads\":%llu,\"version_probes\":%llu,\"probe_requests\":%llu,"
                      "\"requests_in_flight\":%llu,\"requests_over_limit\":%llu%s}\n"
                    : "command_service: commands=%llu refused=%llu conflicts_retried=%llu "
                      "cached_aggregates=%llu commands/s=%.1f rss=%llu bytes "
                      "snapshots_written=%llu snapshots_loaded=%llu events_loaded=%llu "
                      "command_lookups=%llu appends_sent=%llu append_requests=%llu "
                      "command_id_conflicts=%llu stream_reads=%llu version_probes=%llu "
                      "probe_requests=%llu in_flight=%llu over_limit=%llu%s\n",
                (ull)c.commands_total(), (ull)c.commands_refused(), (ull)c.concurrency_retries(),
                (ull)c.cached_aggregates(), c.commands_per_s(), (ull)c.rss_bytes(),
                (ull)c.snapshots_written(), (ull)c.snapshots_loaded(), (ull)c.events_loaded(),
                (ull)c.command_lookups(), (ull)c.appends_sent(), (ull)c.append_requests(),
                (ull)c.command_id_conflicts(), (ull)c.stream_reads(), (ull)c.version_probes(),
                (ull)c.probe_requests(), (ull)c.requests_in_flight(),
                (ull)c.requests_over_limit(), BoundsText(c.bounds(), esctl.json).c_str());
  } else {
    unavailable("commands", esctl.endpoints.commands);
  }

  es::bus::RpcClient<es::v1::SagaRequest, es::v1::SagaReply> saga(
      esctl.context, esctl.endpoints.saga_control, brief);
  es::v1::SagaRequest saga_request;
  saga_request.mutable_stats();
  auto saga_reply = saga.Call(saga_request);
  if (saga_reply && saga_reply->has_stats()) {
    ++answered;
    const auto& g = saga_reply->stats();
    std::string parked;  // the parked transfers' ids: a JSON list's items, or " id id ..."
    for (const std::string& id : g.parked_transfers()) {
      parked += esctl.json ? (parked.empty() ? "" : ",") + es::bus::JsonQuote(id) : " " + id;
    }
    if (!esctl.json && !parked.empty()) parked = " parked_transfers:" + parked;
    std::printf(esctl.json
                    ? "{\"service\":\"saga\",\"available\":true,\"checkpoint\":%llu,"
                      "\"head_position\":%llu,\"lag\":%llu,\"transfers_in_flight\":%llu,"
                      "\"transfers_completed\":%llu,\"transfers_failed\":%llu,"
                      "\"commands_sent\":%llu,\"command_retries\":%llu,\"rss_bytes\":%llu,"
                      "\"alarms\":%llu,\"transfers_parked\":%llu,\"parked_transfers\":[%s]}\n"
                    : "saga_service: checkpoint=%llu head=%llu lag=%llu in_flight=%llu "
                      "completed=%llu failed=%llu commands_sent=%llu retries=%llu rss=%llu bytes "
                      "alarms=%llu parked=%llu%s\n",
                (ull)g.checkpoint(), (ull)g.head_position(), (ull)g.lag(),
                (ull)g.transfers_in_flight(), (ull)g.transfers_completed(),
                (ull)g.transfers_failed(), (ull)g.commands_sent(), (ull)g.command_retries(),
                (ull)g.rss_bytes(), (ull)g.alarms(), (ull)g.transfers_parked(), parked.c_str());
  } else {
    unavailable("saga", esctl.endpoints.saga_control);
  }

  es::bus::RpcClient<es::v1::QueryRequest, es::v1::QueryReply> queries(
      esctl.context, esctl.endpoints.queries, brief);
  es::v1::QueryRequest query_request;
  query_request.mutable_stats();
  auto query_reply = queries.Call(query_request);
  if (query_reply && query_reply->has_stats()) {
    ++answered;
    const auto& q = query_reply->stats();
    std::printf(
        esctl.json ? "{\"service\":\"queries\",\"available\":true,\"position\":%llu,"
                     "\"head_position\":%llu,\"lag\":%llu,\"events_applied\":%llu,"
                     "\"events_ignored\":%llu,\"transactions\":%llu,\"queries\":%llu,"
                     "\"stale_answers\":%llu,\"queries_waiting\":%llu,"
                     "\"position_repairs\":%llu,\"rss_bytes\":%llu,\"rebuild_running\":%s,"
                     "\"rebuild_position\":%llu,\"rebuilds_completed\":%llu}\n"
                   : "query_service: position=%llu head=%llu lag=%llu applied=%llu ignored=%llu "
                     "transactions=%llu queries=%llu stale=%llu waiting=%llu repairs=%llu "
                     "rss=%llu bytes rebuild_running=%s rebuild_position=%llu rebuilds=%llu\n",
        (ull)q.position(), (ull)q.head_position(), (ull)q.lag(), (ull)q.events_applied(),
        (ull)q.events_ignored(), (ull)q.transactions(), (ull)q.queries(), (ull)q.stale_answers(),
        (ull)q.queries_waiting(), (ull)q.position_repairs(), (ull)q.rss_bytes(),
        q.rebuild().running() ? "true" : "false", (ull)q.rebuild().position(),
        (ull)q.rebuild().rebuilds_completed());
  } else {
    unavailable("queries", esctl.endpoints.queries);
  }
  std::fflush(stdout);
  if (answered == 0) return Fail(kUnavailable, "no service answered");
  return kOk;
}

}  // namespace es::client
