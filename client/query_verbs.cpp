// esctl accounts | history | transfers | totals: the read models of
// query_service (query.proto), each optionally at least at a position.
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <optional>
#include <thread>

#include "client/esctl.h"
#include "es/v1/query.pb.h"

namespace es::client {
namespace {

using QueryClient = es::bus::RpcClient<es::v1::QueryRequest, es::v1::QueryReply>;
using ull = unsigned long long;

// "2026-12-02T06:24:50.123456Z" for microseconds since the epoch.
std::string IsoTime(int64_t us) {
  if (us <= 0) return "-";
  const std::time_t seconds = static_cast<std::time_t>(us / 1000000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%06lldZ", buf, static_cast<long long>(us % 1000000));
  return out;
}

// An enum value's name without its prefix, e.g. "OPEN" for
// ACCOUNT_STATUS_OPEN.
template <typename Enum>
std::string ShortName(const std::string& full, const std::string& prefix) {
  return full.rfind(prefix, 0) == 0 ? full.substr(prefix.size()) : full;
}

void PrintJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  json += '\n';
  std::fwrite(json.data(), 1, json.size(), stdout);
}

// Pages through a list query: `ask(request, page_limit)` fills the body of
// the request (with the cursor it is given), `take(reply)` keeps the
// page's items and returns how many and the next cursor. Returns an exit
// code; `*position` is the position of the newest page.
class Pager {
 public:
  Pager(Esctl& esctl, const QueryArgs& args) : esctl_(esctl), args_(args) {}

  template <typename Fill, typename Take>
  int Run(uint64_t limit, Fill fill, Take take, uint64_t* position) {
    es::bus::RpcOptions rpc = esctl_.rpc();
    // A query that waits must not be sent again before it is answered.
    if (args_.at_least > 0) rpc.attempt_timeout = rpc.deadline;
    QueryClient client(esctl_.context, esctl_.endpoints.queries, rpc);
    std::string cursor;
    uint64_t got = 0;
    uint64_t min_position = args_.at_least;
    while (true) {
      es::v1::QueryRequest request;
      request.set_min_position(min_position);
      if (min_position > 0) {
        request.set_wait_ms(static_cast<uint32_t>(std::min<int64_t>(
            esctl_.timeout.count() > 200 ? esctl_.timeout.count() - 100 : esctl_.timeout.count(),
            UINT32_MAX)));
      }
      const uint32_t page =
          static_cast<uint32_t>(limit == 0 ? 1000 : std::min<uint64_t>(1000, limit - got));
      fill(request, page, cursor);
      auto reply = client.Call(request);
      if (!reply) {
        return Fail(kUnavailable, "query_service did not answer at " + client.endpoint());
      }
      if (reply->has_error()) return Fail(kRefused, "bad query: " + reply->error().message());
      if (reply->status() == es::v1::QUERY_STATUS_STALE) {
        return Fail(kUnavailable, "stale: query_service is at position " +
                                      std::to_string(reply->position()) + ", not yet at " +
                                      std::to_string(min_position));
      }
      *position = std::max(*position, reply->position());
      min_position = *position;  // later pages never go back
      auto [items, next] = take(*reply);
      got += items;
      if (next.empty() || (limit != 0 && got >= limit)) return kOk;
      cursor = std::move(next);
    }
  }

 private:
  Esctl& esctl_;
  const QueryArgs& args_;
};

}  // namespace

int RunAccounts(Esctl& esctl, const QueryArgs& args, const AccountsArgs& accounts) {
  es::v1::AccountPage all;
  uint64_t position = 0;
  es::v1::AccountStatus status = es::v1::ACCOUNT_STATUS_UNSPECIFIED;
  if (accounts.status == "open") status = es::v1::ACCOUNT_STATUS_OPEN;
  if (accounts.status == "closed") status = es::v1::ACCOUNT_STATUS_CLOSED;
  es::v1::AccountSort sort = es::v1::ACCOUNT_SORT_UNSPECIFIED;
  if (accounts.sort == "balance") sort = es::v1::ACCOUNT_SORT_BALANCE;
  if (accounts.sort == "owner") sort = es::v1::ACCOUNT_SORT_OWNER;
  if (accounts.sort == "opened") sort = es::v1::ACCOUNT_SORT_OPENED;
  Pager pager(esctl, args);
  const int code = pager.Run(
      args.limit,
      [&](es::v1::QueryRequest& request, uint32_t page, const std::string& cursor) {
        auto* list = request.mutable_list_accounts();
        list->set_status(status);
        list->set_sort(sort);
        list->set_limit(page);
        list->set_cursor(cursor);
      },
      [&](const es::v1::QueryReply& reply) {
        for (const auto& row : reply.accounts().accounts()) *all.add_accounts() = row;
        return std::pair<uint64_t, std::string>(reply.accounts().accounts_size(),
                                                reply.accounts().next_cursor());
      },
      &position);
  if (code != kOk) return code;
  if (esctl.json) {
    es::v1::QueryReply out;
    out.set_status(es::v1::QUERY_STATUS_OK);
    out.set_position(position);
    *out.mutable_accounts() = std::move(all);
    PrintJson(out);
  } else {
    for (const auto& a : all.accounts()) {
      std::printf("%s owner=%s balance=%lld status=%s version=%llu opened=%s last_activity=%s\n",
                  a.account_id().c_str(), a.owner().c_str(), static_cast<long long>(a.balance()),
                  a.status() == es::v1::ACCOUNT_STATUS_CLOSED ? "Closed" : "Open", (ull)a.version(),
                  IsoTime(a.opened_at_us()).c_str(), IsoTime(a.last_activity_at_us()).c_str());
    }
    std::printf("(%d accounts at position %llu)\n", all.accounts_size(), (ull)position);
  }
  std::fflush(stdout);
  return kOk;
}

int RunHistory(Esctl& esctl, const QueryArgs& args, const std::string& account, uint64_t before) {
  es::v1::MovementPage all;
  uint64_t position = 0;
  Pager pager(esctl, args);
  const int code = pager.Run(
      args.limit,
      [&](es::v1::QueryRequest& request, uint32_t page, const std::string& cursor) {
        auto* history = request.mutable_get_history();
        history->set_account_id(account);
        history->set_before_position(before);
        history->set_limit(page);
        history->set_cursor(cursor);
      },
      [&](const es::v1::QueryReply& reply) {
        for (const auto& m : reply.history().movements()) *all.add_movements() = m;
        return std::pair<uint64_t, std::string>(reply.history().movements_size(),
                                                reply.history().next_cursor());
      },
      &position);
  if (code != kOk) return code;
  if (esctl.json) {
    es::v1::QueryReply out;
    out.set_status(es::v1::QUERY_STATUS_OK);
    out.set_position(position);
    *out.mutable_history() = std::move(all);
    PrintJson(out);
  } else {
    for (const auto& m : all.movements()) {
      std::string kind =
          ShortName<es::v1::MovementKind>(es::v1::MovementKind_Name(m.kind()), "MOVEMENT_KIND_");
      std::transform(kind.begin(), kind.end(), kind.begin(),
                     [](char c) { return c == '_' ? '-' : static_cast<char>(std::tolower(c)); });
      std::printf("%llu %s amount=%lld balance=%lld%s%s at=%s\n", (ull)m.position(), kind.c_str(),
                  static_cast<long long>(m.amount()), static_cast<long long>(m.balance_after()),
                  m.transfer_id().empty() ? "" : " transfer=", m.transfer_id().c_str(),
                  IsoTime(m.at_us()).c_str());
    }
    std::printf("(%d movements of account %s at position %llu)\n", all.movements_size(),
                account.c_str(), (ull)position);
  }
  std::fflush(stdout);
  return kOk;
}

int RunTransfers(Esctl& esctl, const QueryArgs& args, const TransfersArgs& transfers) {
  es::v1::TransferPage all;
  uint64_t position = 0;
  es::v1::TransferState state = es::v1::TRANSFER_STATE_UNSPECIFIED;
  if (transfers.state == "Created") state = es::v1::TRANSFER_STATE_CREATED;
  if (transfers.state == "Debited") state = es::v1::TRANSFER_STATE_DEBITED;
  if (transfers.state == "Completed") state = es::v1::TRANSFER_STATE_COMPLETED;
  if (transfers.state == "Failed") state = es::v1::TRANSFER_STATE_FAILED;
  Pager pager(esctl, args);
  const int code = pager.Run(
      args.limit,
      [&](es::v1::QueryRequest& request, uint32_t page, const std::string& cursor) {
        auto* list = request.mutable_list_transfers();
        list->set_account_id(transfers.account);
        list->set_state(state);
        list->set_limit(page);
        list->set_cursor(cursor);
      },
      [&](const es::v1::QueryReply& reply) {
        for (const auto& t : reply.transfers().transfers()) *all.add_transfers() = t;
        return std::pair<uint64_t, std::string>(reply.transfers().transfers_size(),
                                                reply.transfers().next_cursor());
      },
      &position);
  if (code != kOk) return code;
  if (esctl.json) {
    es::v1::QueryReply out;
    out.set_status(es::v1::QUERY_STATUS_OK);
    out.set_position(position);
    *out.mutable_transfers() = std::move(all);
    PrintJson(out);
  } else {
    static const char* const kStates[] = {"?", "Created", "Debited", "Completed", "Failed"};
    for (const auto& t : all.transfers()) {
      const int s = t.state() >= 0 && t.state() <= 4 ? t.state() : 0;
      std::printf("%s from=%s to=%s amount=%lld state=%s%s%s created=%s finished=%s\n",
                  t.transfer_id().c_str(), t.from_account().c_str(), t.to_account().c_str(),
                  static_cast<long long>(t.amount()), kStates[s],
                  t.failure_reason().empty() ? "" : " reason=", t.failure_reason().c_str(),
                  IsoTime(t.created_at_us()).c_str(), IsoTime(t.finished_at_us()).c_str());
    }
    std::printf("(%d transfers at position %llu)\n", all.transfers_size(), (ull)position);
  }
  std::fflush(stdout);
  return kOk;
}

int RunTotals(Esctl& esctl, const QueryArgs& args) {
  es::v1::QueryReply totals;
  uint64_t position = 0;
  Pager pager(esctl, args);
  const int code = pager.Run(
      1,
      [&](es::v1::QueryRequest& request, uint32_t, const std::string&) {
        request.mutable_get_totals();
      },
      [&](const es::v1::QueryReply& reply) {
        totals = reply;
        return std::pair<uint64_t, std::string>(1, "");
      },
      &position);
  if (code != kOk) return code;
  totals.clear_request_id();
  if (esctl.json) {
    PrintJson(totals);
  } else {
    const es::v1::Totals& t = totals.totals();
    std::printf(
        "position=%llu accounts_open=%llu accounts_closed=%llu money_in_accounts=%lld "
        "money_in_flight=%lld money_deposited=%lld money_withdrawn=%lld transfers: "
        "created=%llu debited=%llu completed=%llu failed=%llu%s\n",
        (ull)totals.position(), (ull)t.accounts_open(), (ull)t.accounts_closed(),
        static_cast<long long>(t.money_in_accounts()), static_cast<long long>(t.money_in_flight()),
        static_cast<long long>(t.money_deposited()), static_cast<long long>(t.money_withdrawn()),
        (ull)t.transfers_created(), (ull)t.transfers_debited(), (ull)t.transfers_completed(),
        (ull)t.transfers_failed(), t.clamped() ? " (sums clamped to int64)" : "");
  }
  std::fflush(stdout);
  return kOk;
}

int RunRebuildProjections(Esctl& esctl, bool wait) {
  QueryClient client(esctl.context, esctl.endpoints.queries, esctl.rpc());
  auto ask = [&](auto fill) -> std::optional<es::v1::RebuildStatus> {
    es::v1::QueryRequest request;
    fill(request);
    auto reply = client.Call(request);
    if (!reply) return std::nullopt;
    if (reply->has_rebuild()) return reply->rebuild();
    if (reply->has_stats()) return reply->stats().rebuild();
    return std::nullopt;
  };
  std::optional<es::v1::RebuildStatus> started =
      ask([](es::v1::QueryRequest& r) { r.mutable_rebuild_projections(); });
  if (!started) {
    return Fail(kUnavailable, "query_service did not answer at " + esctl.endpoints.queries);
  }
  const uint64_t completed_before = started->rebuilds_completed();
  auto print = [&](const es::v1::RebuildStatus& status) {
    if (esctl.json) {
      PrintJson(status);
    } else if (status.running()) {
      std::printf("rebuilding: position %llu of %llu, %.1f s\n", (ull)status.position(),
                  (ull)status.target_position(), status.seconds());
    } else {
      std::printf("rebuilt in %.1f s; the new projection is live\n", status.seconds());
    }
    std::fflush(stdout);
  };
  print(*started);
  if (!wait) return kOk;
  // Progress about once a second until it is live. Each poll is bounded by
  // --timeout; the rebuild itself by the log's length.
  for (int poll = 1;; ++poll) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    std::optional<es::v1::RebuildStatus> status =
        ask([](es::v1::QueryRequest& r) { r.mutable_stats(); });
    if (!status) {
      return Fail(kUnavailable, "query_service stopped answering at " + esctl.endpoints.queries +
                                    " during the rebuild");
    }
    if (status->rebuilds_completed() > completed_before && !status->running()) {
      print(*status);
      return kOk;
    }
    if (poll % 4 == 0) print(*status);
  }
}

}  // namespace es::client
