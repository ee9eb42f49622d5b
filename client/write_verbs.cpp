// esctl open-account | credit | debit | close-account | transfer | account |
// transfer-status
#include <cstdio>
#include <thread>

#include "bus/event_json.h"
#include "bus/ids.h"
#include "client/esctl.h"
#include "es/v1/command.pb.h"

namespace es::client {
namespace {

using CommandClient = es::bus::RpcClient<es::v1::CommandRequest, es::v1::CommandReply>;

std::string RefusalName(es::v1::RefusalCode code) {
  std::string name = es::v1::RefusalCode_Name(code);
  const std::string prefix = "REFUSAL_CODE_";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  return name;
}

// Sends one request to command_service. On success `reply` holds the answer
// and kOk is returned; otherwise the exit code, with the reason printed.
int Ask(Esctl& esctl, es::v1::CommandRequest& request, es::v1::CommandReply& reply) {
  CommandClient client(esctl.context, esctl.endpoints.commands, esctl.rpc());
  auto answer = client.Call(request);
  if (!answer) {
    return Fail(kUnavailable, "command_service did not answer at " + esctl.endpoints.commands +
                                  " within " + std::to_string(esctl.timeout.count()) + " ms");
  }
  reply = std::move(*answer);
  if (reply.has_error()) return Fail(kRefused, "bad request: " + reply.error().message());
  return kOk;
}

// Sends `command` (with the caller's command id, or a fresh one) and prints
// the outcome; `id_key`/`id_value` name the aggregate for the output.
int Send(Esctl& esctl, const WriteArgs& write, es::v1::Command command, const std::string& id_key,
         const std::string& id_value, bool print = true) {
  command.set_command_id(write.command_id.empty() ? es::bus::NewUuid() : write.command_id);
  es::v1::CommandRequest request;
  *request.mutable_command() = std::move(command);
  es::v1::CommandReply reply;
  if (int code = Ask(esctl, request, reply); code != kOk) return code;
  if (!reply.has_outcome()) return Fail(kRefused, "unexpected reply from command_service");
  const auto& outcome = reply.outcome();
  if (!outcome.accepted()) {
    return Fail(kRefused,
                "refused (" + RefusalName(outcome.refusal_code()) + "): " + outcome.message());
  }
  if (!print) return kOk;
  if (esctl.json) {
    std::printf(
        "{%s:%s,\"command_id\":%s,\"version\":%llu,\"global_position\":%llu,"
        "\"duplicate\":%s}\n",
        es::bus::JsonQuote(id_key).c_str(), es::bus::JsonQuote(id_value).c_str(),
        es::bus::JsonQuote(request.command().command_id()).c_str(),
        static_cast<unsigned long long>(outcome.version()),
        static_cast<unsigned long long>(outcome.global_position()),
        outcome.duplicate() ? "true" : "false");
  } else {
    std::printf("%s\n", id_value.c_str());
  }
  return kOk;
}

void PrintAccount(const Esctl& esctl, const es::v1::AccountView& a) {
  if (esctl.json) {
    std::printf(
        "{\"account_id\":%s,\"owner\":%s,\"balance\":%lld,\"version\":%llu,\"status\":%s}\n",
        es::bus::JsonQuote(a.account_id()).c_str(), es::bus::JsonQuote(a.owner()).c_str(),
        static_cast<long long>(a.balance()), static_cast<unsigned long long>(a.version()),
        es::bus::JsonQuote(a.status()).c_str());
  } else {
    std::printf("account %s owner=%s balance=%lld version=%llu status=%s\n", a.account_id().c_str(),
                a.owner().c_str(), static_cast<long long>(a.balance()),
                static_cast<unsigned long long>(a.version()), a.status().c_str());
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
  if (reply.has_outcome()) {
    return Fail(kRefused, "refused (" + RefusalName(reply.outcome().refusal_code()) +
                              "): " + reply.outcome().message());
  }
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
      if (esctl.json) {
        std::printf("{\"transfer_id\":%s,\"state\":%s}\n", es::bus::JsonQuote(id).c_str(),
                    es::bus::JsonQuote(view.state()).c_str());
      } else {
        std::printf("%s %s\n", id.c_str(), view.state().c_str());
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

int RunAccount(Esctl& esctl, const std::string& account) {
  es::v1::CommandRequest request;
  request.mutable_get_account()->set_account_id(account);
  es::v1::CommandReply reply;
  if (int code = Ask(esctl, request, reply); code != kOk) return code;
  if (reply.has_outcome()) {
    return Fail(kRefused, "refused (" + RefusalName(reply.outcome().refusal_code()) +
                              "): " + reply.outcome().message());
  }
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
