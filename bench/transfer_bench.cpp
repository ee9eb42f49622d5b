// esbench transfers: money transfers end to end (command_service -> store ->
// saga_service -> command_service ... -> terminal event), and a check that
// no money was created or lost.
//
// Accounts: account i opens with 1,000,000 if i % 4 is 0 or 1, with 2,000 if
// i % 4 == 2 and with 0 if i % 4 == 3. Each transfer moves a uniformly drawn
// 1..2,000 between a uniformly drawn pair of distinct accounts (seeded
// std::mt19937_64), so that the poorer quarter-accounts run dry now and then
// and some transfers fail for lack of funds.
//
// A transfer's latency runs from sending its CreateMoneyTransfer to seeing its
// terminal event (MoneyTransferCompleted, ...FailedDueToLackOfFunds or
// ...FailedDueToRefusedCredit) through a bus::CatchUpSubscriber started at the
// store's head before the first transfer. The subscriber takes every stream
// and skips what is not a transfer's: a filtered one must confirm each
// held-back event with a store read (its positions are not contiguous), which
// would add a read's latency to every transfer measured. A transfer is in
// flight until its terminal event.
//
// commands = 5 per completed transfer (create, debit source, mark debited,
// credit target, complete), 3 per transfer failed for lack of funds (create,
// debit attempt, fail) and 6 per transfer failed by a refused credit (create,
// debit, mark debited, credit attempt, refund, fail); the bench closes no
// account, so the last kind does not occur here.
#include <cstdio>
#include <random>
#include <unordered_map>
#include <vector>

#include "bench/latency_histogram.h"
#include "bench/modes.h"
#include "bench/progress.h"
#include "bus/async_rpc.h"
#include "bus/catch_up_subscriber.h"
#include "domain/stream_ids.h"
#include "es/v1/command.pb.h"

namespace es::bench {
namespace {

using CommandRpc = es::bus::AsyncRpc<es::v1::CommandRequest, es::v1::CommandReply>;

constexpr int64_t kMaxAmount = 2000;

int64_t InitialBalance(uint64_t account) {
  switch (account % 4) {
    case 0:
    case 1:
      return 1'000'000;
    case 2:
      return 2'000;
    default:
      return 0;
  }
}

void PumpOnce(CommandRpc& rpc, std::chrono::milliseconds wait) {
  zmq::pollitem_t item{static_cast<void*>(rpc.socket()), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, wait);
  rpc.DispatchReplies();
  rpc.Tick();
}

// Sends requests 0..count-1 built by `make`, at most `in_flight` outstanding,
// and hands each reply to `on_reply`. False if a request went unanswered.
template <typename Make, typename OnReply>
bool Pipeline(CommandRpc& rpc, uint64_t count, uint64_t in_flight, Make make, OnReply on_reply,
              std::atomic<uint64_t>& done) {
  uint64_t next = 0;
  bool unanswered = false;
  while (true) {
    while (!unanswered && next < count && rpc.in_flight() < in_flight) {
      es::v1::CommandRequest request = make(next);
      const uint64_t i = next++;
      rpc.Call(request, [&, i](std::optional<es::v1::CommandReply> reply) {
        if (!reply) {
          unanswered = true;
          return;
        }
        on_reply(i, *reply);
        done.fetch_add(1, std::memory_order_relaxed);
      });
    }
    if (rpc.in_flight() == 0 && (next >= count || unanswered)) break;
    PumpOnce(rpc, std::chrono::milliseconds(100));
  }
  return !unanswered;
}

std::string Describe(const es::v1::CommandReply& reply) {
  if (reply.has_error()) return "bad request: " + reply.error().message();
  if (reply.has_outcome()) {
    return es::v1::RefusalCode_Name(reply.outcome().refusal_code()) + ": " +
           reply.outcome().message();
  }
  return "unexpected reply";
}

enum class Terminal { kNone, kCompleted, kLackOfFunds, kRefusedCredit };

Terminal TerminalOf(const std::string& type) {
  if (type == "es.v1.MoneyTransferCompleted") return Terminal::kCompleted;
  if (type == "es.v1.MoneyTransferFailedDueToLackOfFunds") return Terminal::kLackOfFunds;
  if (type == "es.v1.MoneyTransferFailedDueToRefusedCredit") return Terminal::kRefusedCredit;
  return Terminal::kNone;
}

}  // namespace

int RunTransferBench(BenchEnv& env, const TransferArgs& args) {
  const auto head = PingStore(env, env.ping_wait());
  if (!head) {
    return Fail(kUnavailable, "store_service did not answer at " + env.endpoints.store_requests);
  }
  if (!PingCommands(env, env.ping_wait())) {
    return Fail(kUnavailable, "command_service did not answer at " + env.endpoints.commands);
  }
  if (!PingSaga(env, env.ping_wait())) {
    return Fail(kUnavailable, "saga_service did not answer at " + env.endpoints.saga_control);
  }
  const auto deadline = std::chrono::duration_cast<std::chrono::milliseconds>(env.timeout);
  CommandRpc rpc(env.context, env.endpoints.commands,
                 es::bus::AsyncChannel::Options{
                     .attempt_timeout = std::min(deadline, std::chrono::milliseconds(3000)),
                     .deadline = deadline});
  const std::string tag = NewRunTag();
  auto account_id = [&](uint64_t i) { return tag + "-a" + std::to_string(i); };

  // 1. Open the accounts.
  int64_t initial_total = 0;
  for (uint64_t i = 0; i < args.accounts; ++i) initial_total += InitialBalance(i);
  {
    std::atomic<uint64_t> opened{0};
    Progress progress("transfers: opening accounts", "accounts", args.accounts, opened);
    std::string refusal;
    bool ok = Pipeline(
        rpc, args.accounts, args.in_flight,
        [&](uint64_t i) {
          es::v1::CommandRequest request;
          auto* command = request.mutable_command();
          command->set_command_id(tag + "-open-" + std::to_string(i));
          auto* open = command->mutable_open_account();
          open->set_account_id(account_id(i));
          open->set_owner("bench " + std::to_string(i));
          open->set_initial_balance(InitialBalance(i));
          return request;
        },
        [&](uint64_t, const es::v1::CommandReply& reply) {
          if (refusal.empty() && !(reply.has_outcome() && reply.outcome().accepted())) {
            refusal = Describe(reply);
          }
        },
        opened);
    progress.Stop();
    if (!ok) return Fail(kUnavailable, "command_service stopped answering while opening accounts");
    if (!refusal.empty()) return Fail(kFailed, "opening an account was refused: " + refusal);
  }

  // 2. Follow the transfers' events from the head, before the first transfer.
  const auto start_head = PingStore(env, env.ping_wait());
  if (!start_head) return Fail(kUnavailable, "store_service stopped answering");
  es::bus::CatchUpOptions options;
  options.store_requests = env.endpoints.store_requests;
  options.store_events = env.endpoints.store_events;
  options.from_position = *start_head + 1;
  es::bus::CatchUpSubscriber subscriber(env.context, options);
  // Let the SUB connection come up (a late join would be repaired, but would
  // count against the first transfers' latency).
  for (auto until = Clock::now() + std::chrono::milliseconds(300); Clock::now() < until;) {
    subscriber.Next(std::chrono::milliseconds(50));
  }

  // 3. The transfers.
  std::mt19937_64 engine(args.seed);
  std::unordered_map<std::string, Clock::time_point> pending;  // transfer id -> sent
  pending.reserve(static_cast<size_t>(args.in_flight) * 2);
  LatencyHistogram latency;
  uint64_t sent = 0, completed = 0, lack_of_funds = 0, refused_credit = 0, refused = 0;
  std::string first_refusal;
  bool unanswered = false, stalled = false;
  std::atomic<uint64_t> finished{0};
  Clock::time_point began{}, last_terminal{};
  auto last_stall_check = Clock::now();
  {
    Progress progress("transfers", "transfers", args.transfers, finished);
    began = Clock::now();
    while (finished.load(std::memory_order_relaxed) < args.transfers) {
      while (!unanswered && sent < args.transfers && pending.size() < args.in_flight) {
        const uint64_t from = engine() % args.accounts;
        uint64_t to = engine() % (args.accounts - 1);
        if (to >= from) ++to;
        const int64_t amount = 1 + static_cast<int64_t>(engine() % kMaxAmount);
        std::string id = tag + "-t" + std::to_string(sent);
        es::v1::CommandRequest request;
        auto* command = request.mutable_command();
        command->set_command_id(tag + "-create-" + std::to_string(sent));
        auto* create = command->mutable_create_money_transfer();
        create->set_transfer_id(id);
        create->set_from_account(account_id(from));
        create->set_to_account(account_id(to));
        create->set_amount(amount);
        ++sent;
        pending.emplace(id, Clock::now());
        rpc.Call(request, [&, id](std::optional<es::v1::CommandReply> reply) {
          if (!reply) {
            unanswered = true;
            return;
          }
          if (reply->has_outcome() && reply->outcome().accepted()) return;
          // Refused at once: no saga, no terminal event.
          if (first_refusal.empty()) first_refusal = Describe(*reply);
          if (pending.erase(id) > 0) {
            ++refused;
            finished.fetch_add(1, std::memory_order_relaxed);
          }
        });
      }
      if (unanswered) break;

      zmq::pollitem_t items[2] = {{static_cast<void*>(rpc.socket()), 0, ZMQ_POLLIN, 0},
                                  {static_cast<void*>(subscriber.live_socket()), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, std::chrono::milliseconds(10));
      rpc.DispatchReplies();
      rpc.Tick();
      while (auto event = subscriber.Next(std::chrono::milliseconds(0))) {
        const Terminal terminal = TerminalOf(event->type());
        if (terminal == Terminal::kNone) continue;
        const std::string& stream = event->stream_id();
        if (!stream.starts_with(es::domain::kTransferStreamPrefix)) continue;
        auto it = pending.find(stream.substr(es::domain::kTransferStreamPrefix.size()));
        if (it == pending.end()) continue;  // another run's transfer, or refused
        const auto now = Clock::now();
        latency.Record(now - it->second);
        pending.erase(it);
        last_terminal = now;
        switch (terminal) {
          case Terminal::kCompleted:
            ++completed;
            break;
          case Terminal::kLackOfFunds:
            ++lack_of_funds;
            break;
          case Terminal::kRefusedCredit:
            ++refused_credit;
            break;
          case Terminal::kNone:
            break;
        }
        finished.fetch_add(1, std::memory_order_relaxed);
      }

      const auto now = Clock::now();
      if (now - last_stall_check >= std::chrono::seconds(1)) {
        last_stall_check = now;
        for (const auto& [id, at] : pending) {
          if (now - at >= env.timeout) {
            stalled = true;
            break;
          }
        }
        if (stalled) break;
      }
    }
  }
  const uint64_t failed = lack_of_funds + refused_credit;
  const uint64_t terminal_count = completed + failed;
  const double seconds =
      SecondsSince(began, last_terminal == Clock::time_point{} ? Clock::now() : last_terminal);
  const uint64_t commands = 5 * completed + 3 * lack_of_funds + 6 * refused_credit + refused;
  if (unanswered) {
    return Fail(kUnavailable, "command_service did not answer a CreateMoneyTransfer within " +
                                  std::to_string(env.timeout.count()) + " s");
  }

  // 4. Read every account back: the balances must add up to what was opened.
  int64_t final_total = 0;
  uint64_t unreadable = 0;
  {
    std::atomic<uint64_t> read{0};
    Progress progress("transfers: reading balances", "accounts", args.accounts, read);
    bool ok = Pipeline(
        rpc, args.accounts, args.in_flight,
        [&](uint64_t i) {
          es::v1::CommandRequest request;
          request.mutable_get_account()->set_account_id(account_id(i));
          return request;
        },
        [&](uint64_t, const es::v1::CommandReply& reply) {
          if (reply.has_account()) {
            final_total += reply.account().balance();
          } else {
            ++unreadable;
          }
        },
        read);
    progress.Stop();
    if (!ok) return Fail(kUnavailable, "command_service stopped answering while reading balances");
  }
  const bool money_conserved = unreadable == 0 && final_total == initial_total;
  const uint64_t unfinished = args.transfers - terminal_count - refused;

  const double transfers_per_s = PerSecond(static_cast<double>(terminal_count), seconds);
  const double commands_per_s = PerSecond(static_cast<double>(commands), seconds);
  if (env.json) {
    std::printf(
        "{\"mode\":\"transfers\",\"accounts\":%llu,\"in_flight\":%llu,\"seed\":%llu,"
        "\"transfers\":%llu,\"completed\":%llu,\"failed\":%llu,\"refused\":%llu,"
        "\"unfinished\":%llu,\"seconds\":%.3f,\"transfers_per_s\":%.1f,\"commands\":%llu,"
        "\"commands_per_s\":%.1f,\"latency_ms\":%s,\"initial_total\":%lld,\"final_total\":%lld,"
        "\"money_conserved\":%s,\"subscriber\":{\"live\":%llu,\"read\":%llu,\"repairs\":%llu}}\n",
        static_cast<unsigned long long>(args.accounts),
        static_cast<unsigned long long>(args.in_flight), static_cast<unsigned long long>(args.seed),
        static_cast<unsigned long long>(args.transfers), static_cast<unsigned long long>(completed),
        static_cast<unsigned long long>(failed), static_cast<unsigned long long>(refused),
        static_cast<unsigned long long>(unfinished), seconds, transfers_per_s,
        static_cast<unsigned long long>(commands), commands_per_s, latency.ToJson().c_str(),
        static_cast<long long>(initial_total), static_cast<long long>(final_total),
        money_conserved ? "true" : "false",
        static_cast<unsigned long long>(subscriber.counters().live_events),
        static_cast<unsigned long long>(subscriber.counters().read_events),
        static_cast<unsigned long long>(subscriber.counters().repairs));
  } else {
    std::printf("transfers: %llu accounts, %llu transfers, %llu in flight, seed %llu\n",
                static_cast<unsigned long long>(args.accounts),
                static_cast<unsigned long long>(args.transfers),
                static_cast<unsigned long long>(args.in_flight),
                static_cast<unsigned long long>(args.seed));
    std::printf(
        "  %llu completed, %llu failed (lack of funds %llu, refused credit %llu), "
        "%llu refused, %llu unfinished\n",
        static_cast<unsigned long long>(completed), static_cast<unsigned long long>(failed),
        static_cast<unsigned long long>(lack_of_funds),
        static_cast<unsigned long long>(refused_credit), static_cast<unsigned long long>(refused),
        static_cast<unsigned long long>(unfinished));
    std::printf("  %.2f s: %s transfers/s, %s commands/s\n", seconds,
                Grouped(transfers_per_s).c_str(), Grouped(commands_per_s).c_str());
    std::printf("  latency (create to terminal event): %s\n", latency.ToText().c_str());
    std::printf("  money conserved: %s (opened %lld, now %lld%s)\n", money_conserved ? "yes" : "NO",
                static_cast<long long>(initial_total), static_cast<long long>(final_total),
                unreadable > 0 ? (", " + std::to_string(unreadable) + " unreadable").c_str() : "");
  }
  std::fflush(stdout);
  if (stalled || unfinished > 0) {
    return Fail(kFailed, std::to_string(unfinished) + " transfer(s) did not finish within " +
                             std::to_string(env.timeout.count()) + " s");
  }
  if (refused > 0) {
    return Fail(kFailed, std::to_string(refused) + " transfer(s) refused; first: " + first_refusal);
  }
  if (!money_conserved) return Fail(kFailed, "money was not conserved");
  return kOk;
}

}  // namespace es::bench
