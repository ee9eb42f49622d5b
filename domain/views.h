// The read views the command service answers GetAccount / GetTransfer with.
#pragma once

#include "domain/account.h"
#include "domain/money_transfer.h"
#include "es/v1/command.pb.h"

namespace es::domain {

// status "Open" or "Closed"; an account that does not exist has status ""
// and empty fields.
es::v1::AccountView ToView(const AccountState& state);

// state "Created", "Debited", "Completed" or "Failed"; failure_reason "",
// "LackOfFunds" or "CreditRefused". A transfer that does not exist has state
// "" and empty fields.
es::v1::TransferView ToView(const TransferState& state);

}  // namespace es::domain
