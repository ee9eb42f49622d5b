// How domain events are stored and shown: the codec, the JSON used by esctl,
// the read views, and which stream a command targets.
#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "domain/event_codec.h"
#include "domain/stream_ids.h"
#include "domain/views.h"
#include "domain_test_support.h"

namespace es::domain {
namespace {

using namespace es::domain::testing;  // NOLINT: test builders

// One instance of every alternative of DomainEvent, with a distinct field.
template <std::size_t... Index>
std::vector<DomainEvent> OneOfEach(std::index_sequence<Index...>) {
  std::vector<DomainEvent> events;
  (events.push_back([] {
    std::variant_alternative_t<Index, DomainEvent> event;
    if constexpr (requires { event.set_account_id(""); }) {
      event.set_account_id("a" + std::to_string(Index));
    } else {
      event.set_transfer_id("t" + std::to_string(Index));
    }
    return DomainEvent(std::move(event));
  }()),
   ...);
  return events;
}
std::vector<DomainEvent> EveryEventType() {
  return OneOfEach(std::make_index_sequence<std::variant_size_v<DomainEvent>>());
}

TEST(EventCodec, TypeNameIsTheFullProtobufName) {
  es::v1::AccountOpened opened;
  EXPECT_EQ(EncodeEvent(opened).type, "es.v1.AccountOpened");
  EXPECT_EQ(EventTypeName(es::v1::MoneyTransferFailedDueToRefusedCredit{}),
            "es.v1.MoneyTransferFailedDueToRefusedCredit");
}

TEST(EventCodec, EveryEventTypeDecodesToWhatWasEncoded) {
  for (const DomainEvent& event : EveryEventType()) {
    EncodedEvent encoded = EncodeEvent(event);
    std::optional<DomainEvent> decoded = DecodeEvent(encoded.type, encoded.data);
    ASSERT_TRUE(decoded) << encoded.type;
    EXPECT_EQ(decoded->index(), event.index()) << encoded.type;
    EXPECT_EQ(EncodeEvent(*decoded).data, encoded.data) << encoded.type;
  }
}

TEST(EventCodec, KeepsEveryFieldOfAnEvent) {
  es::v1::AccountCreditBecauseOfMoneyTransferFailed failed;
  failed.set_account_id("a2");
  failed.set_transfer_id("t1");
  failed.set_amount(-0x7fffffffffffffff);
  failed.set_reason("account closed");
  failed.set_source_account("a1");
  EncodedEvent encoded = EncodeEvent(failed);
  auto decoded = DecodeEvent(encoded.type, encoded.data);
  ASSERT_TRUE(decoded);
  const auto& back = std::get<es::v1::AccountCreditBecauseOfMoneyTransferFailed>(*decoded);
  EXPECT_EQ(back.account_id(), "a2");
  EXPECT_EQ(back.transfer_id(), "t1");
  EXPECT_EQ(back.amount(), -0x7fffffffffffffff);
  EXPECT_EQ(back.reason(), "account closed");
  EXPECT_EQ(back.source_account(), "a1");
}

TEST(EventCodec, UnknownTypeDoesNotDecode) {
  EXPECT_FALSE(DecodeEvent("es.v1.Nonsense", ""));
  EXPECT_FALSE(DecodeEvent("AccountOpened", ""));  // not the full name
  EXPECT_FALSE(DecodeEvent("es.v1.Command", ""));  // not a domain event
}

TEST(EventCodec, BadBytesDoNotDecode) {
  EXPECT_FALSE(DecodeEvent("es.v1.AccountOpened", std::string("\x0a\x05"
                                                              "ab",
                                                              4)));
  EXPECT_FALSE(DecodeEvent("es.v1.AccountOpened", "\xff\xff\xff"));
}

TEST(EventCodec, EmptyDataDecodesAsAllDefaults) {
  // proto3: an event with every field at its default serializes to nothing.
  auto decoded = DecodeEvent("es.v1.AccountClosed", "");
  ASSERT_TRUE(decoded);
  EXPECT_TRUE(std::holds_alternative<es::v1::AccountClosed>(*decoded));
}

TEST(EventJson, UsesSnakeCaseKeysAndPrintsZeroFields) {
  es::v1::AccountCredited credited;
  credited.set_account_id("a1");
  credited.set_amount(190);
  EncodedEvent encoded = EncodeEvent(credited);
  std::optional<std::string> json = EventToJson(encoded.type, encoded.data);
  ASSERT_TRUE(json);
  EXPECT_EQ(*json, R"({"account_id":"a1","amount":"190","balance":"0"})");
}

TEST(EventJson, NothingForWhatDoesNotDecode) { EXPECT_FALSE(EventToJson("es.v1.Nonsense", "")); }

TEST(Views, AccountViewShowsOpenOrClosed) {
  es::v1::AccountView open = ToView(OpenedAccount("a1", 10));
  EXPECT_EQ(open.account_id(), "a1");
  EXPECT_EQ(open.owner(), "owner of a1");
  EXPECT_EQ(open.balance(), 10);
  EXPECT_EQ(open.version(), 1u);
  EXPECT_EQ(open.status(), "Open");
  AccountState closed = AfterAccountCommand(OpenedAccount("a1", 0), CloseAccountCommand("a1"));
  EXPECT_EQ(ToView(closed).status(), "Closed");
  EXPECT_EQ(ToView(closed).version(), 2u);
}

TEST(Views, UnknownAccountHasEmptyView) {
  EXPECT_EQ(ToView(AccountState{}).status(), "");
  EXPECT_EQ(ToView(AccountState{}).account_id(), "");
}

TEST(Views, TransferViewShowsStateAndFailureReason) {
  es::v1::TransferView created = ToView(TransferAfter({}));
  EXPECT_EQ(created.transfer_id(), "t1");
  EXPECT_EQ(created.from_account(), "a1");
  EXPECT_EQ(created.to_account(), "a2");
  EXPECT_EQ(created.amount(), 25);
  EXPECT_EQ(created.state(), "Created");
  EXPECT_EQ(created.failure_reason(), "");
  EXPECT_EQ(created.version(), 1u);

  EXPECT_EQ(ToView(TransferAfter({DebitTransferCommand("t1")})).state(), "Debited");
  EXPECT_EQ(
      ToView(TransferAfter({DebitTransferCommand("t1"), CompleteTransferCommand("t1")})).state(),
      "Completed");
  es::v1::TransferView lack = ToView(
      TransferAfter({FailTransferCommand("t1", es::v1::TRANSFER_FAILURE_REASON_LACK_OF_FUNDS)}));
  EXPECT_EQ(lack.state(), "Failed");
  EXPECT_EQ(lack.failure_reason(), "LackOfFunds");
  es::v1::TransferView refused = ToView(
      TransferAfter({DebitTransferCommand("t1"),
                     FailTransferCommand("t1", es::v1::TRANSFER_FAILURE_REASON_CREDIT_REFUSED)}));
  EXPECT_EQ(refused.state(), "Failed");
  EXPECT_EQ(refused.failure_reason(), "CreditRefused");
}

TEST(Views, UnknownTransferHasEmptyView) { EXPECT_EQ(ToView(TransferState{}).state(), ""); }

TEST(StreamIds, AccountAndTransferStreamsArePrefixed) {
  EXPECT_EQ(AccountStreamId("42"), "account-42");
  EXPECT_EQ(TransferStreamId("42"), "transfer-42");
}

TEST(StreamIds, AccountCommandsTargetTheAccountStream) {
  for (const es::v1::Command& command :
       {OpenAccountCommand("a1", "Ann", 0), CreditAccountCommand("a1", 1),
        DebitAccountCommand("a1", 1), CloseAccountCommand("a1"),
        DebitForTransferCommand("a1", "t1", 1), CreditForTransferCommand("a1", "t1", 1, "a0"),
        RefundForTransferCommand("a1", "t1", 1)}) {
    EXPECT_EQ(StreamOfCommand(command), "account-a1") << command.ShortDebugString();
  }
}

TEST(StreamIds, TransferCommandsTargetTheTransferStream) {
  for (const es::v1::Command& command :
       {CreateTransferCommand("t1", "a1", "a2", 1), DebitTransferCommand("t1"),
        CompleteTransferCommand("t1"),
        FailTransferCommand("t1", es::v1::TRANSFER_FAILURE_REASON_LACK_OF_FUNDS)}) {
    EXPECT_EQ(StreamOfCommand(command), "transfer-t1") << command.ShortDebugString();
  }
}

TEST(StreamIds, CommandWithoutBodyTargetsNoStream) {
  EXPECT_FALSE(StreamOfCommand(es::v1::Command{}));
}

}  // namespace
}  // namespace es::domain
