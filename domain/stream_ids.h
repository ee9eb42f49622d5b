// Which stream holds an aggregate's events: "account-<account_id>" and
// "transfer-<transfer_id>"; and where command_service keeps an account's
// snapshots: "snapshot-account-<account_id>".
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "es/v1/command.pb.h"

namespace es::domain {

inline constexpr std::string_view kAccountStreamPrefix = "account-";
inline constexpr std::string_view kTransferStreamPrefix = "transfer-";
// Outside "account-", so listeners of account events (and the saga's
// reactions) never see snapshots.
inline constexpr std::string_view kSnapshotStreamPrefix = "snapshot-";

std::string AccountStreamId(std::string_view account_id);
std::string TransferStreamId(std::string_view transfer_id);
// The stream of the snapshots of the account stream `account_stream`.
std::string SnapshotStreamId(std::string_view account_stream);

// The stream `command` is decided against and appended to: the account's for
// an account command, the transfer's for a transfer command. Nothing if the
// command has no body.
std::optional<std::string> StreamOfCommand(const es::v1::Command& command);

}  // namespace es::domain
