// esctl: the operator's tool. Every verb returns one of these exit codes and,
// on anything but success, writes a one-line reason to stderr.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <zmq.hpp>

#include "bus/endpoints.h"
#include "bus/rpc_client.h"

namespace es::client {

enum ExitCode : int {
  kOk = 0,
  kRefused = 1,      // the system answered no
  kUsage = 2,        // the command line is wrong
  kUnavailable = 3,  // a service did not answer in time
};

// What every verb needs: where the services are, how long to wait, how to
// print.
struct Esctl {
  zmq::context_t context{1};
  es::bus::Endpoints endpoints;
  bool json = false;
  std::chrono::milliseconds timeout{5000};

  // Lazy Pirate options for a call that must finish within `timeout`.
  es::bus::RpcOptions rpc() const;
};

// Writes "esctl: <message>" to stderr and returns `code`.
int Fail(ExitCode code, const std::string& message);

// The read side (issue: backbone).
struct EventsArgs {
  std::string stream;
  uint64_t from = 1;
  uint64_t limit = 0;  // 0: all
  uint64_t last = 0;   // >0: only the newest this many (of the log, or of the stream)
};
int RunEvents(Esctl& esctl, const EventsArgs& args);
// The store's streams in id order ("ID VERSION" lines), those starting with
// `prefix`, at most `limit` (0: all).
int RunStreams(Esctl& esctl, const std::string& prefix, uint64_t limit);

struct SubscribeArgs {
  int64_t from = -1;  // -1: only events after the current head
  std::string filter;
  uint64_t count = 0;  // 0: until interrupted
  std::string name;    // report progress to the store under this name
};
int RunSubscribe(Esctl& esctl, const SubscribeArgs& args);

int RunPing(Esctl& esctl, const std::string& service);
int RunStats(Esctl& esctl);

// The bank's verbs (issue: accounts, transfers and the saga).
struct WriteArgs {
  std::string command_id;  // empty: a fresh UUID
};
int RunOpenAccount(Esctl& esctl, const WriteArgs& write, const std::string& owner,
                   int64_t initial_balance, const std::string& account_id);
int RunCredit(Esctl& esctl, const WriteArgs& write, const std::string& account, int64_t amount);
int RunDebit(Esctl& esctl, const WriteArgs& write, const std::string& account, int64_t amount);
int RunCloseAccount(Esctl& esctl, const WriteArgs& write, const std::string& account);
int RunTransfer(Esctl& esctl, const WriteArgs& write, const std::string& from,
                const std::string& to, int64_t amount, bool wait, const std::string& transfer_id);
// `account` as command_service holds it now or, with a bound, as it was at
// a global position or a time: folded by esctl from its stream in the store.
struct AccountAt {
  std::optional<uint64_t> position;  // --at
  std::string time;                  // --at-time, ISO 8601 UTC
};
int RunAccount(Esctl& esctl, const std::string& account, const AccountAt& at);
// Microseconds since the epoch of "2026-12-02T14:05:33Z" (a fraction of a
// second and the Z are optional; UTC only), or nullopt.
std::optional<int64_t> ParseUtcTime(const std::string& text);
int RunTransferStatus(Esctl& esctl, const std::string& transfer);

// The read models (query_service; issue: the query side). Every verb takes
// --at-least POSITION: answered only from a projection at or past it,
// waiting up to --timeout, else exit 3 (stale).
struct QueryArgs {
  uint64_t at_least = 0;
  uint64_t limit = 0;  // 0: every item (paged through)
};
struct AccountsArgs {
  std::string status;  // "", "open" or "closed"
  std::string sort;    // "", "balance", "owner" or "opened"
};
struct TransfersArgs {
  std::string account;
  std::string state;  // "", "Created", "Debited", "Completed" or "Failed"
};
int RunAccounts(Esctl& esctl, const QueryArgs& args, const AccountsArgs& accounts);
int RunHistory(Esctl& esctl, const QueryArgs& args, const std::string& account, uint64_t before);
int RunTransfers(Esctl& esctl, const QueryArgs& args, const TransfersArgs& transfers);
int RunTotals(Esctl& esctl, const QueryArgs& args);

// Asks query_service to rebuild its projection from position 1 (queries are
// served throughout); with `wait`, prints progress until the new one is live.
int RunRebuildProjections(Esctl& esctl, bool wait);

}  // namespace es::client
