// esctl open-account | credit | debit | close-account | transfer | account |
// transfer-status
#include <cctype>
#include <climits>
#include <ctime>
#include <cstdio>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "bus/event_json.h"
#include "bus/ids.h"
#include "client/esctl.h"
#include "domain/aggregate.h"
#include "domain/stream_ids.h"
#include "domain/views.h"
#include "es/v1/command.pb.h"
#include "es/v1/store.pb.h"

namespace es::client {
namespace {

using CommandClient = es::bus::RpcClient<es::v1::CommandRequest, es::v1::CommandReply>;

// Every code by its name in command.proto, so a code added there prints
// without a change here; one this build does not know prints as its number.
std::string RefusalName(es::v1::RefusalCode code) {
  std::string name = es::v1::RefusalCode_Name(code);
  if (name.empty()) return "code " + std::to_string(static_cast<int>(code));
  const std::string prefix = "REFUSAL_CODE_";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  return name;
}

// An outcome that is not "accepted": exit 1 with its code and message,
// except UNAVAILABLE (command_service could not reach the store), which is
// the system being down, not saying no: exit 3.
int Refused(const es::v1::CommandOutcome& outcome) {
  if (outcome.refusal_code() == es::v1::REFUSAL_CODE_UNAVAILABLE) {
    return Fail(kUnavailable, "command_service could not reach the store: " + outcome.message());
  }
  return Fail(kRefused,
              "refused (" + RefusalName(outcome.refusal_code()) + "): " + outcome.message());
}

// Sends one request to command_service. Returns nullopt, with nothing
// printed, if it did not answer within the timeout.
std::optional<es::v1::CommandReply> Call(Esctl& esctl, es::v1::CommandRequest& request) {
  CommandClient client(esctl.context, esctl.endpoints.commands, esctl.rpc());
  return client.Call(request);
}

std::string NoAnswer(const Esctl& esctl) {
  return "command_service did not answer at " + esctl.endpoints.commands + " within " +
         std::to_string(esctl.timeout.count()) + " ms";
}

// Sends one request to command_service. On success `reply` holds the answer
// and kOk is returned; otherwise the exit code, with the reason printed.
int Ask(Esctl& esctl, es::v1::CommandRequest& request, es::v1::CommandReply& reply) {
  auto answer = Call(esctl, request);
  if (!answer) return Fail(kUnavailable, NoAnswer(esctl));
  reply = std::move(*answer);
  if (reply.has_error()) return Fail(kRefused, "bad request: " + reply.error().message());
  return kOk;
}

// `word` as one shell word: as it is when that is safe, else single-quoted.
std::string ShellWord(const std::string& word) {
  bool plain = !word.empty();
  for (char c : word) {
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("@%_+=:,./-").find(c) == std::string_view::npos) {
      plain = false;
    }
  }
  if (plain) return word;
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// The esctl command line that sends `command` again, ids included: a
// repeat must be the very same command, so an id esctl chose (the account's,
// the transfer's) must be given this time; and the endpoint, so that the
// repeat reaches the same service.
std::string RepeatLine(const Esctl& esctl, const es::v1::Command& command) {
  std::vector<std::string> words = {"esctl", "--commands", esctl.endpoints.commands};
  switch (command.body_case()) {
    case es::v1::Command::kOpenAccount: {
      const auto& open = command.open_account();
      words.insert(words.end(),
                   {"open-account", "--owner", open.owner(), "--initial-balance",
                    std::to_string(open.initial_balance()), "--account-id", open.account_id()});
      break;
    }
    case es::v1::Command::kCreditAccount:
      words.insert(words.end(), {"credit", command.credit_account().account_id(),
                                 std::to_string(command.credit_account().amount())});
      break;
    case es::v1::Command::kDebitAccount:
      words.insert(words.end(), {"debit", command.debit_account().account_id(),
                                 std::to_string(command.debit_account().amount())});
      break;
    case es::v1::Command::kCloseAccount:
      words.insert(words.end(), {"close-account", command.close_account().account_id()});
      break;
    case es::v1::Command::kCreateMoneyTransfer: {
      const auto& create = command.create_money_transfer();
      words.insert(words.end(),
                   {"transfer", create.from_account(), create.to_account(),
                    std::to_string(create.amount()), "--transfer-id", create.transfer_id()});
      break;
    }
    default:
      words.push_back("VERB ...");  // not a command esctl sends
      break;
  }
  words.insert(words.end(), {"--command-id", command.command_id()});
  std::string line;
  for (const std::string& word : words) {
    if (!line.empty()) line += ' ';
    line += word == "VERB ..." ? word : ShellWord(word);
  }
  return line;
}

// A write whose outcome esctl cannot know: the request may have reached
// the store (or may still), so "unavailable" alone would invite a retry
// with a fresh id, i.e. a second effect. Says so, with the one way to find
// out, and exits 3.
int OutcomeUnknown(const Esctl& esctl, const es::v1::Command& command, const std::string& id_key,
                   const std::string& id_value, const std::string& why) {
  if (esctl.json) {
    std::printf("{%s:%s,\"command_id\":%s,\"outcome\":\"unknown\"}\n",
                es::bus::JsonQuote(id_key).c_str(), es::bus::JsonQuote(id_value).c_str(),
                es::bus::JsonQuote(command.command_id()).c_str());
    std::fflush(stdout);
  }
  return Fail(kUnavailable, "outcome unknown: " + why + "; command " + command.command_id() +
                                " may have taken effect or may still. To learn its outcome, "
                                "repeat it with the same command id (a repeat has no second "
                                "effect): " +
                                RepeatLine(esctl, command));
}

// Sends `command` (with the caller's command id, or a fresh one) and prints
// the outcome; `id_key`/`id_value` name the aggregate for the output.
int Send(Esctl& esctl, const WriteArgs& write, es::v1::Command command, const std::string& id_key,
         const std::string& id_value, bool print = true) {
  command.set_command_id(write.command_id.empty() ? es::bus::NewUuid() : write.command_id);
  es::v1::CommandRequest request;
  *request.mutable_command() = command;
  auto answer = Call(esctl, request);
  if (!answer) return OutcomeUnknown(esctl, command, id_key, id_value, NoAnswer(esctl));
  const es::v1::CommandReply& reply = *answer;
  if (reply.has_error()) return Fail(kRefused, "bad request: " + reply.error().message());
  if (!reply.has_outcome()) return Fail(kRefused, "unexpected reply from command_service");
  const auto& outcome = reply.outcome();
  if (outcome.refusal_code() == es::v1::REFUSAL_CODE_UNAVAILABLE && !outcome.accepted()) {
    return OutcomeUnknown(esctl, command, id_key, id_value,
                          "command_service could not reach the store (" + outcome.message() + ")");
  }
  if (!outcome.accepted()) return Refused(outcome);
  if (!print) return kOk;
  if (esctl.json) {
    std::printf(
        "{%s:%s,\"command_id\":%s,\"version\":%llu,\"global_position\":%llu,"
        "\"position\":%llu,\"duplicate\":%s}\n",
        es::bus::JsonQuote(id_key).c_str(), es::bus::JsonQuote(id_value).c_str(),
        es::bus::JsonQuote(command.command_id()).c_str(),
        static_cast<unsigned long long>(outcome.version()),
        static_cast<unsigned long long>(outcome.global_position()),
        // What to pass as --at-least to a read that must see this write.
        static_cast<unsigned long long>(outcome.global_position()),
        outcome.duplicate() ? "true" : "false");
  } else {
    std::printf("%s\n", id_value.c_str());
  }
  return kOk;
}

// `a`; with `as_of` (a past state: `bound` and the position of its last
// event then), that too.
void PrintAccount(const Esctl& esctl, const es::v1::AccountView& a,
                  std::optional<uint64_t> as_of = std::nullopt, const std::string& bound = "") {
  std::string extra;
  if (as_of) {
    extra = esctl.json ? ",\"as_of_position\":" + std::to_string(*as_of)
                       : " (" + bound + ": its last event then is at position " +
                             std::to_string(*as_of) + ")";
  }
  if (esctl.json) {
    std::printf(
        "{\"account_id\":%s,\"owner\":%s,\"balance\":%lld,\"version\":%llu,\"status\":%s%s}\n",
        es::bus::JsonQuote(a.account_id()).c_str(), es::bus::JsonQuote(a.owner()).c_str(),
        static_cast<long long>(a.balance()), static_cast<unsigned long long>(a.version()),
        es::bus::JsonQuote(a.status()).c_str(), extra.c_str());
  } else {
    std::printf("account %s owner=%s balance=%lld version=%llu status=%s%s\n",
                a.account_id().c_str(), a.owner().c_str(), static_cast<long long>(a.balance()),
                static_cast<unsigned long long>(a.version()), a.status().c_str(), extra.c_str());
  }
}

void PrintTransfer(const Esctl& esctl, const es::v1::TransferView& t) {
  if (esctl.json) {
    std::printf(
        "{\"transfer_id\":%s,\"from_account\":%s,\"to_account\":%s,\"amount\":%lld,\"state\":%s,"
        "\"version\":%llu,\"failure_reason\":%s}\n",
        es::bus::JsonQuote(t.transfer_id()).c_str(), es::bus::JsonQuote(t.from_account()).c_str(),
        es::bus::JsonQuote(t.to_account()).c_str(), static_cast<long long>(t.amount()),
        es::bus::JsonQuote(t.state()).c_str(), static_cast<unsigned long long>(t.version()),
        es::bus::JsonQuote(t.failure_reason()).c_str());
  } else {
    std::printf("transfer %s from=%s to=%s amount=%lld state=%s version=%llu%s%s\n",
                t.transfer_id().c_str(), t.from_account().c_str(), t.to_account().c_str(),
                static_cast<long long>(t.amount()), t.state().c_str(),
                static_cast<unsigned long long>(t.version()),
                t.failure_reason().empty() ? "" : " reason=", t.failure_reason().c_str());
  }
}

// Fetches a transfer's view; kOk and `view` filled, or an exit code.
int FetchTransfer(Esctl& esctl, const std::string& transfer, es::v1::TransferView& view) {
  es::v1::CommandRequest request;
  request.mutable_get_transfer()->set_transfer_id(transfer);
  es::v1::CommandReply reply;
  if (int code = Ask(esctl, request, reply); code != kOk) return code;
  if (reply.has_outcome()) return Refused(reply.outcome());
  if (!reply.has_transfer()) return Fail(kRefused, "unexpected reply from command_service");
  view = reply.transfer();
  return kOk;
}

}  // namespace

int RunOpenAccount(Esctl& esctl, const WriteArgs& write, const std::string& owner,
                   int64_t initial_balance, const std::string& account_id) {
  es::v1::Command command;
  auto* open = command.mutable_open_account();
  open->set_account_id(account_id.empty() ? es::bus::NewUuid() : account_id);
  open->set_owner(owner);
  open->set_initial_balance(initial_balance);
  return Send(esctl, write, command, "account_id", open->account_id());
}

int RunCredit(Esctl& esctl, const WriteArgs& write, const std::string& account, int64_t amount) {
  es::v1::Command command;
  command.mutable_credit_account()->set_account_id(account);
  command.mutable_credit_account()->set_amount(amount);
  return Send(esctl, write, command, "account_id", account);
}

int RunDebit(Esctl& esctl, const WriteArgs& write, const std::string& account, int64_t amount) {
  es::v1::Command command;
  command.mutable_debit_account()->set_account_id(account);
  command.mutable_debit_account()->set_amount(amount);
  return Send(esctl, write, command, "account_id", account);
}

int RunCloseAccount(Esctl& esctl, const WriteArgs& write, const std::string& account) {
  es::v1::Command command;
  command.mutable_close_account()->set_account_id(account);
  return Send(esctl, write, command, "account_id", account);
}

int RunTransfer(Esctl& esctl, const WriteArgs& write, const std::string& from,
                const std::string& to, int64_t amount, bool wait, const std::string& transfer_id) {
  es::v1::Command command;
  auto* create = command.mutable_create_money_transfer();
  create->set_transfer_id(transfer_id.empty() ? es::bus::NewUuid() : transfer_id);
  create->set_from_account(from);
  create->set_to_account(to);
  create->set_amount(amount);
  const std::string id = create->transfer_id();
  if (!wait) return Send(esctl, write, command, "transfer_id", id);

  // --wait: create quietly, then poll until the saga has finished it.
  if (int code = Send(esctl, write, command, "transfer_id", id, /*print=*/false); code != kOk) {
    return code;
  }

  const auto deadline = std::chrono::steady_clock::now() + esctl.timeout;
  auto pause = std::chrono::milliseconds(2);
  while (true) {
    es::v1::TransferView view;
    if (int fetch = FetchTransfer(esctl, id, view); fetch != kOk) return fetch;
    if (view.state() == "Completed" || view.state() == "Failed") {
      // The id alone (a script takes it as it is); a failed transfer is a
      // refusal, with its reason, like any other.
      if (esctl.json) {
        std::printf("{\"transfer_id\":%s,\"state\":%s,\"failure_reason\":%s}\n",
                    es::bus::JsonQuote(id).c_str(), es::bus::JsonQuote(view.state()).c_str(),
                    es::bus::JsonQuote(view.failure_reason()).c_str());
      } else {
        std::printf("%s\n", id.c_str());
      }
      std::fflush(stdout);
      if (view.state() == "Failed") {
        return Fail(kRefused, "transfer " + id + " failed: " + view.failure_reason());
      }
      return kOk;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Fail(kUnavailable, "transfer " + id + " still " + view.state() + " after " +
                                    std::to_string(esctl.timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
}

std::optional<int64_t> ParseUtcTime(const std::string& text) {
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) return std::nullopt;
  int64_t micros = 0;
  if (*rest == '.') {
    int digits = 0;
    for (++rest; std::isdigit(static_cast<unsigned char>(*rest)); ++rest, ++digits) {
      if (digits < 6) micros = micros * 10 + (*rest - '0');
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 6; ++digits) micros *= 10;
  }
  if (*rest == 'Z') ++rest;
  if (*rest != '\0') return std::nullopt;
  const time_t seconds = timegm(&tm);
  if (seconds == static_cast<time_t>(-1)) return std::nullopt;
  return static_cast<int64_t>(seconds) * 1'000'000 + micros;
}

namespace {

// The account folded from its stream's events up to the bound: every event
// at or before global position `until_position` and recorded at or before
// `until_us` (the store's recorded_at never goes back in global order).
int PrintAccountAt(Esctl& esctl, const std::string& account, uint64_t until_position,
                   int64_t until_us, const std::string& bound) {
  using StoreClient = es::bus::RpcClient<es::v1::StoreRequest, es::v1::StoreReply>;
  StoreClient store(esctl.context, esctl.endpoints.store_requests, esctl.rpc());
  const std::string stream = es::domain::AccountStreamId(account);
  es::domain::AggregateState state = es::domain::AggregateOfStream(stream);
  uint64_t next = 1;
  uint64_t as_of = 0;  // the position of the last event folded
  for (bool past_bound = false; !past_bound;) {
    es::v1::StoreRequest request;
    request.mutable_read_stream()->set_stream_id(stream);
    request.mutable_read_stream()->set_from_version(next);
    request.mutable_read_stream()->set_max_count(1000);
    std::optional<es::v1::StoreReply> reply = store.Call(request);
    if (!reply) return Fail(kUnavailable, "store_service did not answer at " + store.endpoint());
    if (reply->has_error()) return Fail(kRefused, "store refused: " + reply->error().message());
    const auto& events = reply->read_stream().events();
    for (const es::v1::EventRecord& event : events) {
      if (event.global_position() > until_position || event.recorded_at_us() > until_us) {
        past_bound = true;
        break;
      }
      es::domain::Apply(state, event.type(), event.data(), event.stream_version());
      as_of = event.global_position();
    }
    if (events.empty() || reply->read_stream().end_of_stream()) break;
    next = events[events.size() - 1].stream_version() + 1;
  }
  if (!state.corruption().empty()) {
    return Fail(kRefused, "stream " + stream + " is corrupt: " + state.corruption());
  }
  if (!state.account.exists) return Fail(kRefused, "account " + account + " did not exist " + bound);
  es::v1::AccountView view = es::domain::ToView(state.account);
  view.set_version(state.version);
  PrintAccount(esctl, view, as_of, bound);
  return kOk;
}

}  // namespace

int RunAccount(Esctl& esctl, const std::string& account, const AccountAt& at) {
  if (at.position) {
    return PrintAccountAt(esctl, account, *at.position, INT64_MAX,
                          "at position " + std::to_string(*at.position));
  }
  if (!at.time.empty()) {
    std::optional<int64_t> until = ParseUtcTime(at.time);
    if (!until) {
      return Fail(kUsage, "--at-time " + at.time +
                              " is not a UTC time like 2026-12-02T14:05:33Z (or ...33.250Z)");
    }
    return PrintAccountAt(esctl, account, UINT64_MAX, *until, "at " + at.time);
  }
  es::v1::CommandRequest request;
  request.mutable_get_account()->set_account_id(account);
  es::v1::CommandReply reply;
  if (int code = Ask(esctl, request, reply); code != kOk) return code;
  if (reply.has_outcome()) return Refused(reply.outcome());
  if (!reply.has_account()) return Fail(kRefused, "unexpected reply from command_service");
  PrintAccount(esctl, reply.account());
  return kOk;
}

int RunTransferStatus(Esctl& esctl, const std::string& transfer) {
  es::v1::TransferView view;
  if (int code = FetchTransfer(esctl, transfer, view); code != kOk) return code;
  PrintTransfer(esctl, view);
  return kOk;
}

}  // namespace es::client
