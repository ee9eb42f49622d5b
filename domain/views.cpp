#include "domain/views.h"

#include <string>

namespace es::domain {

es::v1::AccountView ToView(const AccountState& state) {
  es::v1::AccountView view;
  if (!state.exists) return view;
  view.set_account_id(state.account_id);
  view.set_owner(state.owner);
  view.set_balance(state.balance);
  view.set_version(state.version);
  view.set_status(state.closed ? "Closed" : "Open");
  return view;
}

es::v1::TransferView ToView(const TransferState& state) {
  es::v1::TransferView view;
  if (!state.exists) return view;
  view.set_transfer_id(state.transfer_id);
  view.set_from_account(state.from_account);
  view.set_to_account(state.to_account);
  view.set_amount(state.amount);
  view.set_state(std::string(TransferStatusName(state.status)));
  view.set_version(state.version);
  view.set_failure_reason(std::string(TransferFailureName(state.failure_reason)));
  return view;
}

}  // namespace es::domain
