// The bank's domain events as one value type. Each alternative is the
// bank.proto message of the same name, so an event is stored as (its full
// protobuf name, its serialized bytes): see event_codec.h.
#pragma once

#include <type_traits>
#include <variant>

#include "es/v1/bank.pb.h"

namespace es::domain {

// Events of the Account aggregate (stream "account-<id>").
using AccountEvent =
    std::variant<es::v1::AccountOpened, es::v1::AccountCredited, es::v1::AccountDebited,
                 es::v1::AccountDebitFailed, es::v1::AccountDebitedBecauseOfMoneyTransfer,
                 es::v1::AccountCreditedBecauseOfMoneyTransfer,
                 es::v1::AccountDebitBecauseOfMoneyTransferFailed,
                 es::v1::AccountCreditBecauseOfMoneyTransferFailed,
                 es::v1::AccountRefundedBecauseOfMoneyTransfer, es::v1::AccountClosed>;

// Events of the MoneyTransfer aggregate (stream "transfer-<id>").
using TransferEvent =
    std::variant<es::v1::MoneyTransferCreated, es::v1::MoneyTransferDebited,
                 es::v1::MoneyTransferCompleted, es::v1::MoneyTransferFailedDueToLackOfFunds,
                 es::v1::MoneyTransferFailedDueToRefusedCredit>;

namespace internal {
template <typename A, typename B>
struct JoinedVariant;
template <typename... As, typename... Bs>
struct JoinedVariant<std::variant<As...>, std::variant<Bs...>> {
  using type = std::variant<As..., Bs...>;
};
template <typename T, typename Variant>
struct IsAlternativeOf;
template <typename T, typename... Ts>
struct IsAlternativeOf<T, std::variant<Ts...>>
    : std::bool_constant<(std::is_same_v<T, Ts> || ...)> {};
}  // namespace internal

// Any event of the bank: account events first, then transfer events.
using DomainEvent = internal::JoinedVariant<AccountEvent, TransferEvent>::type;

// Lets a visitor handle "every event of the other aggregate" in one overload
// while a forgotten event of its own aggregate stays a compile error.
template <typename T>
concept AccountEventMessage = internal::IsAlternativeOf<T, AccountEvent>::value;
template <typename T>
concept TransferEventMessage = internal::IsAlternativeOf<T, TransferEvent>::value;

}  // namespace es::domain
