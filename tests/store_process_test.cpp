// The real store_service binary: durability across kill -9 and SIGTERM,
// the live event stream, heartbeats, and its command line. Every test runs
// for each storage engine (--engine sqlite, --engine log, and the log
// engine with small segments).
#include "tests/support/store_process.h"

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "tests/store_engine_variants.h"
#include "tests/support/live_test_subscriber.h"
#include "tests/support/proto_equals.h"
#include "tests/support/store_requests.h"
#include "tests/support/store_test_client.h"
#include "tests/support/temp_dir.h"

namespace es::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Every event in the store, read over the wire in pages.
std::vector<es::v1::EventRecord> ReadWholeLog(zmq::context_t& context,
                                              const std::string& endpoint) {
  StoreTestClient client(context, endpoint);
  std::vector<es::v1::EventRecord> events;
  uint64_t from = 1;
  while (true) {
    es::v1::StoreReply reply = client.Call(ReadAllRequest(from, 500));
    EXPECT_TRUE(reply.has_read_all()) << reply.DebugString();
    if (!reply.has_read_all()) return events;
    const es::v1::ReadAllResult& page = reply.read_all();
    events.insert(events.end(), page.events().begin(), page.events().end());
    if (page.scanned_through() >= page.head_position()) return events;
    from = page.scanned_through() + 1;
  }
}

// Checks the log's shape: positions 1..n in order, each stream's versions
// 1..k in order.
void ExpectGapFreeLog(const std::vector<es::v1::EventRecord>& events) {
  std::map<std::string, uint64_t> versions;
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i].global_position(), i + 1);
    ASSERT_EQ(events[i].stream_version(), ++versions[events[i].stream_id()])
        << "at position " << i + 1;
  }
}

class StoreProcessTest : public ::testing::TestWithParam<StoreVariant> {
 protected:
  // The store on dir_, with this test's engine.
  ServiceProcess Start(const std::vector<std::string>& extra_args = {}) {
    return StartStore(dir_, VariantArgs(GetParam(), extra_args));
  }

  TempDir dir_;
  zmq::context_t context_;
};

INSTANTIATE_TEST_SUITE_P(Engines, StoreProcessTest,
                         ::testing::ValuesIn(StoreEngineVariantsWithSmallSegments()),
                         StoreVariantName);

// Durable before visible: whatever a client was told (an ack) or a
// subscriber was shown (a published event) survives kill -9. The kill comes
// right after the last ack, while the store is idle: a store that acked
// before its commit was durable would lose the last batch.
TEST_P(StoreProcessTest, KeepsEveryAcknowledgedAndPublishedEventAcrossKill9) {
  constexpr int kClients = 4;
  constexpr int kAppendsPerClient = 500;
  constexpr int kInFlightPerClient = 50;
  constexpr int kEventsPerAppend = 2;
  ServiceProcess store = Start();
  LiveTestSubscriber subscriber(context_, store.endpoint("events"));
  ASSERT_TRUE(subscriber.WaitForHeartbeat());

  auto command_id = [](uint64_t request_id) { return "cmd-" + std::to_string(request_id); };
  std::vector<std::unique_ptr<StoreTestClient>> clients;
  std::vector<int> sent(kClients, 0);
  auto send_next = [&](int c) {
    const uint64_t request_id = static_cast<uint64_t>(c) * 1'000'000 + sent[c];
    es::v1::StoreRequest request =
        AppendRequestOf(MakeAppend("stream-" + std::to_string((c * 7 + sent[c]) % 13),
                                   command_id(request_id), ExpectAny(), kEventsPerAppend));
    request.set_request_id(request_id);
    clients[c]->Send(request);
    ++sent[c];
  };
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(std::make_unique<StoreTestClient>(context_, store.endpoint("requests")));
    for (int i = 0; i < kInFlightPerClient; ++i) send_next(c);
  }

  std::map<std::string, es::v1::AppendResult> acked;  // by command id
  std::vector<es::v1::EventRecord> published;
  while (acked.size() < size_t{kClients * kAppendsPerClient}) {
    std::array<zmq::pollitem_t, kClients + 1> items{};
    for (int c = 0; c < kClients; ++c) items[c] = {clients[c]->socket().handle(), 0, ZMQ_POLLIN, 0};
    items[kClients] = {subscriber.socket().handle(), 0, ZMQ_POLLIN, 0};
    ASSERT_GT(zmq::poll(items, seconds(10)), 0) << "the store stopped answering";
    for (int c = 0; c < kClients; ++c) {
      if (!(items[c].revents & ZMQ_POLLIN)) continue;
      std::optional<es::v1::StoreReply> reply = clients[c]->Receive(milliseconds(0));
      ASSERT_TRUE(reply.has_value());
      ASSERT_TRUE(reply->has_append()) << reply->DebugString();
      acked[command_id(reply->request_id())] = reply->append();
      if (sent[c] < kAppendsPerClient) send_next(c);
    }
    if (items[kClients].revents & ZMQ_POLLIN) {
      std::optional<LiveFrame> frame = subscriber.Next(milliseconds(0));
      if (frame && frame->message.has_event()) published.push_back(frame->message.event());
    }
  }
  store.Kill9();

  store = Start();
  std::vector<es::v1::EventRecord> log = ReadWholeLog(context_, store.endpoint("requests"));
  ExpectGapFreeLog(log);
  for (const auto& [command, result] : acked) {
    SCOPED_TRACE(command);
    ASSERT_LE(result.last_position(), log.size());
    for (uint64_t k = 0; k < kEventsPerAppend; ++k) {
      const es::v1::EventRecord& event = log[result.first_position() + k - 1];
      EXPECT_EQ(event.command_id(), command);
      EXPECT_EQ(event.stream_id(), result.stream_id());
      EXPECT_EQ(event.stream_version(), result.first_version() + k);
      EXPECT_EQ(event.event_id(), command + "/" + std::to_string(k));
    }
  }
  for (const es::v1::EventRecord& event : published) {
    ASSERT_LE(event.global_position(), log.size());
    EXPECT_TRUE(ProtoEquals(event, log[event.global_position() - 1]));
  }
  EXPECT_EQ(log.size(), acked.size() * kEventsPerAppend) << "the log holds unacknowledged events";
}

TEST_P(StoreProcessTest, ExitsZeroOnSigtermAndKeepsItsData) {
  ServiceProcess store = Start();
  es::v1::StoreReply appended =
      CallStore(context_, store.endpoint("requests"),
                AppendRequestOf(MakeAppend("account-7", "open-7", ExpectNoStream(), 3)));
  ASSERT_TRUE(appended.has_append()) << appended.DebugString();

  ExitStatus exit = store.Terminate();

  EXPECT_TRUE(exit.exited);
  EXPECT_EQ(exit.exit_code, 0) << store.ReadLog();
  EXPECT_FALSE(exit.timed_out);
  store = Start();
  es::v1::StoreReply read =
      CallStore(context_, store.endpoint("requests"), ReadStreamRequest("account-7", 1));
  ASSERT_TRUE(read.has_read_stream()) << read.DebugString();
  ASSERT_EQ(read.read_stream().events_size(), 3);
  EXPECT_EQ(read.read_stream().events(2).command_id(), "open-7");
  EXPECT_EQ(read.read_stream().events(2).global_position(), 3u);
}

TEST_P(StoreProcessTest, PublishesCommittedEventsInGlobalOrderWithTheStreamAsTopic) {
  constexpr int kAppends = 200;
  constexpr int kEventsPerAppend = 3;
  ServiceProcess store = Start();
  LiveTestSubscriber subscriber(context_, store.endpoint("events"));
  ASSERT_TRUE(subscriber.WaitForHeartbeat());  // subscribed: nothing can be missed now
  StoreTestClient client(context_, store.endpoint("requests"));

  for (int i = 0; i < kAppends; ++i) {
    es::v1::StoreRequest request =
        AppendRequestOf(MakeAppend("stream-" + std::to_string(i % 9), "cmd-" + std::to_string(i),
                                   ExpectAny(), kEventsPerAppend));
    request.set_request_id(i);
    client.Send(request);  // pipelined: they arrive in a few group commits
  }
  std::map<std::string, es::v1::AppendResult> acked;
  for (int i = 0; i < kAppends; ++i) {
    std::optional<es::v1::StoreReply> reply = client.Receive(seconds(10));
    ASSERT_TRUE(reply.has_value());
    ASSERT_TRUE(reply->has_append()) << reply->DebugString();
    acked["cmd-" + std::to_string(reply->request_id())] = reply->append();
  }

  uint64_t expected_position = 1;
  while (expected_position <= kAppends * kEventsPerAppend) {
    std::optional<LiveFrame> frame = subscriber.NextMatching(
        [](const LiveFrame& f) { return f.message.has_event(); }, seconds(10));
    ASSERT_TRUE(frame.has_value()) << "missing the event at " << expected_position;
    const es::v1::EventRecord& event = frame->message.event();
    EXPECT_EQ(event.global_position(), expected_position);
    EXPECT_EQ(frame->topic, event.stream_id());
    const es::v1::AppendResult& result = acked.at(event.command_id());
    const uint64_t index = event.global_position() - result.first_position();
    EXPECT_LT(index, kEventsPerAppend);
    EXPECT_EQ(event.stream_id(), result.stream_id());
    EXPECT_EQ(event.stream_version(), result.first_version() + index);
    expected_position = event.global_position() + 1;
  }
}

// A subscriber to the batch topic gets every committed event, in global
// order, at most 16 to a message, beside a per-event subscriber.
TEST_P(StoreProcessTest, PublishesBatchesOfEventsToTheBatchTopicInGlobalOrder) {
  constexpr int kAppends = 100;
  constexpr int kEventsPerAppend = 3;
  ServiceProcess store = Start();
  LiveTestSubscriber batches(context_, store.endpoint("events"),
                             std::string("\x02"
                                         "batch",
                                         6));
  LiveTestSubscriber singles(context_, store.endpoint("events"));
  ASSERT_TRUE(batches.WaitForHeartbeat());
  ASSERT_TRUE(singles.WaitForHeartbeat());
  StoreTestClient client(context_, store.endpoint("requests"));
  for (int i = 0; i < kAppends; ++i) {
    es::v1::StoreRequest request =
        AppendRequestOf(MakeAppend("stream-" + std::to_string(i % 7), "cmd-" + std::to_string(i),
                                   ExpectAny(), kEventsPerAppend));
    request.set_request_id(i);
    client.Send(request);  // pipelined: several appends to a group commit
  }
  for (int i = 0; i < kAppends; ++i) ASSERT_TRUE(client.Receive(seconds(10)).has_value());

  const std::vector<es::v1::EventRecord> log = ReadWholeLog(context_, store.endpoint("requests"));
  ASSERT_EQ(log.size(), static_cast<size_t>(kAppends * kEventsPerAppend));
  size_t next = 0;
  int messages = 0;
  while (next < log.size()) {
    std::optional<LiveFrame> frame =
        batches.NextMatching([](const LiveFrame& f) { return f.message.has_batch(); }, seconds(10));
    ASSERT_TRUE(frame.has_value()) << "no batch with the event at " << next + 1;
    EXPECT_EQ(frame->topic, std::string("\x02"
                                        "batch",
                                        6));
    const auto& events = frame->message.batch().events();
    ASSERT_GE(events.size(), 1);
    ASSERT_LE(events.size(), 16);
    ++messages;
    for (const es::v1::EventRecord& event : events) {
      ASSERT_LT(next, log.size());
      EXPECT_TRUE(ProtoEquals(event, log[next])) << "at position " << next + 1;
      ++next;
    }
  }
  EXPECT_GE(messages, static_cast<int>(log.size() / 16));
  // The per-event subscriber still gets one message per event.
  for (size_t position = 1; position <= log.size(); ++position) {
    std::optional<LiveFrame> frame =
        singles.NextMatching([](const LiveFrame& f) { return f.message.has_event(); }, seconds(10));
    ASSERT_TRUE(frame.has_value()) << "missing the event at " << position;
    ASSERT_EQ(frame->message.event().global_position(), position);
  }
}

TEST_P(StoreProcessTest, HeartbeatCarriesTheHeadAcrossRestart) {
  ServiceProcess store = Start({"--heartbeat-ms", "20"});
  LiveTestSubscriber subscriber(context_, store.endpoint("events"));
  std::optional<es::v1::Heartbeat> first = subscriber.WaitForHeartbeat();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->head_position(), 0u);
  const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  EXPECT_NEAR(static_cast<double>(first->sent_at_us()), static_cast<double>(now_us), 10e6);

  ASSERT_TRUE(CallStore(context_, store.endpoint("requests"),
                        AppendRequestOf(MakeAppend("s", "c1", ExpectAny(), 5)))
                  .has_append());
  std::optional<es::v1::Heartbeat> after = subscriber.WaitForHeartbeat(seconds(10), 1);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->head_position(), 5u);

  store.Kill9();
  store = Start();
  LiveTestSubscriber resubscriber(context_, store.endpoint("events"));
  std::optional<es::v1::Heartbeat> recovered = resubscriber.WaitForHeartbeat();
  ASSERT_TRUE(recovered.has_value());
  EXPECT_EQ(recovered->head_position(), 5u);
}

TEST_P(StoreProcessTest, AnswersReadsPingAndStatsOverTheWire) {
  ServiceProcess store = Start();
  StoreTestClient client(context_, store.endpoint("requests"));
  ASSERT_TRUE(
      client.Call(AppendRequestOf(MakeAppend("acct-1", "c1", ExpectNoStream(), 2))).has_append());
  ASSERT_TRUE(
      client.Call(AppendRequestOf(MakeAppend("xfer-1", "c2", ExpectNoStream(), 1))).has_append());
  ASSERT_TRUE(
      client.Call(AppendRequestOf(MakeAppend("acct-1", "c3", ExpectExact(2), 1))).has_append());

  es::v1::StoreReply stream = client.Call(ReadStreamRequest("acct-1", 2));
  es::v1::StoreReply accounts = client.Call(ReadAllRequest(1, 0, "acct-"));
  es::v1::StoreReply pong = client.Call(PingRequest());
  es::v1::StoreRequest stats_request;
  stats_request.mutable_stats();
  es::v1::StoreReply stats = client.Call(stats_request);

  ASSERT_TRUE(stream.has_read_stream()) << stream.DebugString();
  ASSERT_EQ(stream.read_stream().events_size(), 2);
  EXPECT_EQ(stream.read_stream().events(1).global_position(), 4u);
  EXPECT_TRUE(stream.read_stream().end_of_stream());
  ASSERT_TRUE(accounts.has_read_all()) << accounts.DebugString();
  EXPECT_EQ(accounts.read_all().events_size(), 3);
  EXPECT_EQ(accounts.read_all().scanned_through(), 4u);
  ASSERT_TRUE(pong.has_pong());
  EXPECT_EQ(pong.pong().head_position(), 4u);
  EXPECT_EQ(pong.pong().service(), "store_service");
  EXPECT_EQ(pong.pong().pid(), static_cast<uint32_t>(store.pid()));
  ASSERT_TRUE(stats.has_stats()) << stats.DebugString();
  EXPECT_EQ(stats.stats().head_position(), 4u);
  EXPECT_EQ(stats.stats().stream_count(), 2u);
  EXPECT_EQ(stats.stats().appends_total(), 3u);
  EXPECT_EQ(stats.stats().events_appended_total(), 4u);
  EXPECT_EQ(stats.stats().commits_total(), 3u);
  EXPECT_GT(stats.stats().events_per_s(), 0.0);
  EXPECT_EQ(stats.stats().engine(), GetParam().engine);
  EXPECT_GT(stats.stats().rss_bytes(), 0u);
}

// stream_versions: each stream's current version in the order asked (0 for
// none), the head, and a clear refusal past the limit of 10,000 ids.
TEST_P(StoreProcessTest, AnswersStreamVersionsInTheOrderAskedAndBoundsTheirNumber) {
  ServiceProcess store = Start();
  StoreTestClient client(context_, store.endpoint("requests"));
  ASSERT_TRUE(
      client.Call(AppendRequestOf(MakeAppend("acct-1", "c1", ExpectNoStream(), 2))).has_append());
  ASSERT_TRUE(
      client.Call(AppendRequestOf(MakeAppend("xfer-1", "c2", ExpectNoStream(), 1))).has_append());

  es::v1::StoreRequest ask;
  for (const char* id : {"xfer-1", "nobody", "acct-1", "xfer-1"}) {
    ask.mutable_stream_versions()->add_stream_ids(id);
  }
  es::v1::StoreReply versions = client.Call(ask);
  ASSERT_TRUE(versions.has_stream_versions()) << versions.DebugString();
  ASSERT_EQ(versions.stream_versions().versions_size(), 4);
  EXPECT_EQ(versions.stream_versions().versions(0), 1u);
  EXPECT_EQ(versions.stream_versions().versions(1), 0u);
  EXPECT_EQ(versions.stream_versions().versions(2), 2u);
  EXPECT_EQ(versions.stream_versions().versions(3), 1u);
  EXPECT_EQ(versions.stream_versions().head_position(), 3u);

  es::v1::StoreRequest too_many;
  for (int i = 0; i < 10'001; ++i) too_many.mutable_stream_versions()->add_stream_ids("s");
  es::v1::StoreReply refused = client.Call(too_many);
  ASSERT_TRUE(refused.has_error()) << refused.DebugString();
  EXPECT_EQ(refused.error().code(), es::v1::ERROR_CODE_TOO_LARGE);
  EXPECT_NE(refused.error().message().find("10000"), std::string::npos) << refused.error().message();
}

// list_streams: the streams in id order, filtered by prefix, paged with a
// cursor, each with its version; a refusal would be a bug, an empty page
// past the end is the answer.
TEST_P(StoreProcessTest, ListsStreamsInIdOrderByPrefixInPages) {
  ServiceProcess store = Start();
  StoreTestClient client(context_, store.endpoint("requests"));
  // Created out of id order, some with several events.
  for (const char* id : {"b-3", "a-2", "b-1", "c-1", "b-2", "a-1"}) {
    ASSERT_TRUE(client.Call(AppendRequestOf(MakeAppend(id, std::string("c-") + id, ExpectAny(), 1)))
                    .has_append());
  }
  ASSERT_TRUE(client.Call(AppendRequestOf(MakeAppend("b-2", "more", ExpectAny(), 3))).has_append());

  auto list = [&](const std::string& prefix, const std::string& after, uint32_t count) {
    es::v1::StoreRequest request;
    request.mutable_list_streams()->set_prefix(prefix);
    request.mutable_list_streams()->set_after(after);
    request.mutable_list_streams()->set_max_count(count);
    es::v1::StoreReply reply = client.Call(request);
    EXPECT_TRUE(reply.has_list_streams()) << reply.DebugString();
    return reply.list_streams();
  };
  auto ids = [](const es::v1::ListStreamsResult& page) {
    std::string all;
    for (const auto& info : page.streams()) {
      all += info.stream_id() + "@" + std::to_string(info.version()) + " ";
    }
    return all;
  };

  EXPECT_EQ(ids(list("", "", 0)), "a-1@1 a-2@1 b-1@1 b-2@4 b-3@1 c-1@1 ");
  EXPECT_EQ(list("", "", 0).next_after(), "") << "one page holds them all";
  const es::v1::ListStreamsResult first = list("b-", "", 2);
  EXPECT_EQ(ids(first), "b-1@1 b-2@4 ");
  EXPECT_EQ(first.next_after(), "b-2");
  const es::v1::ListStreamsResult second = list("b-", first.next_after(), 2);
  EXPECT_EQ(ids(second), "b-3@1 ");
  EXPECT_EQ(second.next_after(), "");
  EXPECT_EQ(ids(list("z", "", 10)), "");
}

// The two reads behind account snapshots: a stream's last events
// (from_end), and which append carried a command id, with its events.
TEST_P(StoreProcessTest, ReadsAStreamsLastEventsAndFindsAnAppendByItsCommandId) {
  ServiceProcess store = Start();
  StoreTestClient client(context_, store.endpoint("requests"));
  ASSERT_TRUE(
      client.Call(AppendRequestOf(MakeAppend("s", "c1", ExpectNoStream(), 3))).has_append());
  ASSERT_TRUE(
      client.Call(AppendRequestOf(MakeAppend("t", "c2", ExpectNoStream(), 1))).has_append());
  ASSERT_TRUE(client.Call(AppendRequestOf(MakeAppend("s", "c3", ExpectExact(3), 2))).has_append());

  es::v1::StoreRequest last_request = ReadStreamRequest("s", 1, 2);
  last_request.mutable_read_stream()->set_from_end(true);
  es::v1::StoreReply last = client.Call(last_request);
  ASSERT_TRUE(last.has_read_stream()) << last.DebugString();
  ASSERT_EQ(last.read_stream().events_size(), 2);
  EXPECT_EQ(last.read_stream().events(0).stream_version(), 4u);
  EXPECT_EQ(last.read_stream().events(1).stream_version(), 5u);
  last_request.mutable_read_stream()->set_stream_id("nothing");
  es::v1::StoreReply none = client.Call(last_request);
  ASSERT_TRUE(none.has_read_stream()) << none.DebugString();
  EXPECT_EQ(none.read_stream().events_size(), 0);

  es::v1::StoreRequest find;
  find.mutable_find_command()->set_command_id("c1");
  es::v1::StoreReply found = client.Call(find);
  ASSERT_TRUE(found.has_find_command()) << found.DebugString();
  EXPECT_TRUE(found.find_command().found());
  EXPECT_EQ(found.find_command().append().stream_id(), "s");
  EXPECT_EQ(found.find_command().append().first_version(), 1u);
  EXPECT_EQ(found.find_command().append().last_version(), 3u);
  ASSERT_EQ(found.find_command().events_size(), 3);
  EXPECT_EQ(found.find_command().events(2).event_id(), "c1/2");
  EXPECT_EQ(found.find_command().events(2).command_id(), "c1");

  find.mutable_find_command()->set_command_id("never");
  es::v1::StoreReply missing = client.Call(find);
  ASSERT_TRUE(missing.has_find_command()) << missing.DebugString();
  EXPECT_FALSE(missing.find_command().found());
  EXPECT_EQ(missing.find_command().events_size(), 0);

  find.mutable_find_command()->set_command_id("");
  es::v1::StoreReply empty = client.Call(find);
  ASSERT_TRUE(empty.has_error()) << empty.DebugString();
  EXPECT_EQ(empty.error().code(), es::v1::ERROR_CODE_BAD_REQUEST);
}

TEST_P(StoreProcessTest, RefusesAStaleAppendWithTheCurrentVersionInTheError) {
  ServiceProcess store = Start();
  StoreTestClient client(context_, store.endpoint("requests"));
  ASSERT_TRUE(
      client.Call(AppendRequestOf(MakeAppend("s", "c1", ExpectNoStream(), 2))).has_append());

  es::v1::StoreReply stale = client.Call(AppendRequestOf(MakeAppend("s", "c2", ExpectExact(1))));
  es::v1::StoreReply retry = client.Call(AppendRequestOf(MakeAppend("s", "c1", ExpectNoStream())));

  ASSERT_TRUE(stale.has_error()) << stale.DebugString();
  EXPECT_EQ(stale.error().code(), es::v1::ERROR_CODE_WRONG_EXPECTED_VERSION);
  EXPECT_EQ(stale.error().current_version(), 2u);
  ASSERT_TRUE(retry.has_append()) << retry.DebugString();
  EXPECT_TRUE(retry.append().duplicate());
  EXPECT_EQ(retry.append().last_position(), 2u);
}

// append_many: each append judged on its own and in order (a later one
// sees an earlier one), one refused does not refuse the rest, one reply for
// all; the accepted ones are published, survive kill -9, and a resend of the
// whole message writes nothing new.
TEST_P(StoreProcessTest, AppendManyJudgesEachAppendOnItsOwnAndAnswersThemTogether) {
  ServiceProcess store = Start();
  LiveTestSubscriber subscriber(context_, store.endpoint("events"));
  ASSERT_TRUE(subscriber.WaitForHeartbeat());
  StoreTestClient client(context_, store.endpoint("requests"));
  const es::v1::StoreReply first =
      client.Call(AppendRequestOf(MakeAppend("s-1", "c0", ExpectNoStream())));
  ASSERT_TRUE(first.has_append()) << first.DebugString();

  es::v1::StoreRequest request;
  request.set_request_id(77);
  auto* many = request.mutable_append_many();
  *many->add_appends() = MakeAppend("a", "c1", ExpectNoStream(), 2);  // positions 2-3
  *many->add_appends() = MakeAppend("a", "c2", ExpectExact(2));       // sees c1: position 4
  *many->add_appends() = MakeAppend("s-1", "c3", ExpectNoStream());   // s-1 exists
  *many->add_appends() = MakeAppend("", "c4", ExpectAny());           // malformed
  *many->add_appends() = MakeAppend("b", "c0", ExpectAny());          // c0 is stored: a repeat
  *many->add_appends() = MakeAppend("b", "c5", ExpectAny());          // position 5
  client.Send(request);
  const es::v1::StoreReply reply = client.Receive(seconds(10)).value_or(es::v1::StoreReply());

  ASSERT_TRUE(reply.has_append_many()) << reply.DebugString();
  EXPECT_EQ(reply.request_id(), 77u);
  const auto& results = reply.append_many().results();
  ASSERT_EQ(results.size(), 6);
  ASSERT_TRUE(results[0].has_append()) << results[0].DebugString();
  EXPECT_EQ(results[0].append().first_position(), 2u);
  EXPECT_EQ(results[0].append().last_version(), 2u);
  ASSERT_TRUE(results[1].has_append()) << results[1].DebugString();
  EXPECT_EQ(results[1].append().first_position(), 4u);
  EXPECT_EQ(results[1].append().last_version(), 3u);
  ASSERT_TRUE(results[2].has_error()) << results[2].DebugString();
  EXPECT_EQ(results[2].error().code(), es::v1::ERROR_CODE_WRONG_EXPECTED_VERSION);
  EXPECT_EQ(results[2].error().current_version(), 1u);
  ASSERT_TRUE(results[3].has_error()) << results[3].DebugString();
  EXPECT_EQ(results[3].error().code(), es::v1::ERROR_CODE_BAD_REQUEST);
  ASSERT_TRUE(results[4].has_append()) << results[4].DebugString();
  EXPECT_TRUE(results[4].append().duplicate());
  EXPECT_EQ(results[4].append().stream_id(), "s-1");
  EXPECT_EQ(results[4].append().first_position(), 1u);
  ASSERT_TRUE(results[5].has_append()) << results[5].DebugString();
  EXPECT_EQ(results[5].append().first_position(), 5u);
  EXPECT_FALSE(results[5].append().duplicate());

  // Published in global order, topic = stream.
  for (uint64_t position = 1; position <= 5; ++position) {
    std::optional<LiveFrame> frame = subscriber.NextMatching(
        [](const LiveFrame& f) { return f.message.has_event(); }, seconds(10));
    ASSERT_TRUE(frame.has_value()) << "missing the event at " << position;
    EXPECT_EQ(frame->message.event().global_position(), position);
    EXPECT_EQ(frame->topic, frame->message.event().stream_id());
  }

  // The same message again: every accepted append is now a repeat.
  const es::v1::StoreReply again = client.Call(request);
  ASSERT_TRUE(again.has_append_many()) << again.DebugString();
  ASSERT_EQ(again.append_many().results_size(), 6);
  for (int i : {0, 1, 4, 5}) {
    ASSERT_TRUE(again.append_many().results(i).has_append()) << again.DebugString();
    EXPECT_TRUE(again.append_many().results(i).append().duplicate()) << "append " << i;
    EXPECT_EQ(again.append_many().results(i).append().first_position(),
              results[i].append().first_position());
  }

  store.Kill9();
  store = Start();
  const std::vector<es::v1::EventRecord> log = ReadWholeLog(context_, store.endpoint("requests"));
  ExpectGapFreeLog(log);
  ASSERT_EQ(log.size(), 5u);
  EXPECT_EQ(log[1].command_id(), "c1");
  EXPECT_EQ(log[3].command_id(), "c2");
  EXPECT_EQ(log[4].command_id(), "c5");
}

TEST_P(StoreProcessTest, RefusesAnAppendManyOverTheAppendLimitWhole) {
  ServiceProcess store = Start();
  StoreTestClient client(context_, store.endpoint("requests"));
  es::v1::StoreRequest request;
  auto* many = request.mutable_append_many();
  for (int i = 0; i < 10'001; ++i) {
    *many->add_appends() = MakeAppend("t", "m" + std::to_string(i), ExpectAny());
  }

  es::v1::StoreReply reply = client.Call(request);

  ASSERT_TRUE(reply.has_error()) << reply.DebugString();
  EXPECT_EQ(reply.error().code(), es::v1::ERROR_CODE_TOO_LARGE);
  EXPECT_NE(reply.error().message().find("10000"), std::string::npos) << reply.error().message();
  es::v1::StoreReply pong = client.Call(PingRequest());
  ASSERT_TRUE(pong.has_pong()) << pong.DebugString();
  EXPECT_EQ(pong.pong().head_position(), 0u);
}

TEST_P(StoreProcessTest, ASecondStoreOnTheSameDataDirExitsWithAnError) {
  ServiceProcess store = Start();

  ExitStatus second =
      ServiceProcess::Run(BinaryPath("store_service"), StoreArgs(dir_, VariantArgs(GetParam())),
                          dir_.File("second.log"));

  EXPECT_TRUE(second.exited);
  EXPECT_EQ(second.exit_code, 1);
}

TEST_P(StoreProcessTest, RefusesADataDirHoldingTheOtherEnginesData) {
  ServiceProcess store = Start();
  ASSERT_TRUE(CallStore(context_, store.endpoint("requests"),
                        AppendRequestOf(MakeAppend("s", "c1", ExpectNoStream())))
                  .has_append());
  ASSERT_EQ(store.Terminate().exit_code, 0);
  const std::string other = GetParam().engine == "log" ? "sqlite" : "log";

  ExitStatus exit = ServiceProcess::Run(
      BinaryPath("store_service"), StoreArgs(dir_, {"--engine", other}), dir_.File("other.log"));

  EXPECT_TRUE(exit.exited);
  EXPECT_EQ(exit.exit_code, 1);
  std::ifstream log(dir_.File("other.log"));
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("start with --engine " + GetParam().engine), std::string::npos) << text;
  // The data is untouched: the right engine still reads it.
  store = Start();
  es::v1::StoreReply pong = CallStore(context_, store.endpoint("requests"), PingRequest());
  ASSERT_TRUE(pong.has_pong()) << pong.DebugString();
  EXPECT_EQ(pong.pong().head_position(), 1u);
}

TEST_P(StoreProcessTest, RejectsAnUnknownFlagWithExitStatus2) {
  ExitStatus exit =
      ServiceProcess::Run(BinaryPath("store_service"), {"--no-such-flag"}, dir_.File("flags.log"));

  EXPECT_TRUE(exit.exited);
  EXPECT_EQ(exit.exit_code, 2);
}

TEST(StoreCommandLineTest, UsesTheLogEngineByDefault) {
  TempDir dir;
  zmq::context_t context;
  ServiceProcess store = StartStore(dir);
  es::v1::StoreRequest stats_request;
  stats_request.mutable_stats();

  es::v1::StoreReply stats = CallStore(context, store.endpoint("requests"), stats_request);

  ASSERT_TRUE(stats.has_stats()) << stats.DebugString();
  EXPECT_EQ(stats.stats().engine(), "log");
  EXPECT_TRUE(std::filesystem::is_directory(dir.File("store") + "/log"));
}

TEST(StoreCommandLineTest, RefusesAnUnknownEngineAndDbWithTheLogEngine) {
  TempDir dir;
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--engine", "rocksdb"},
        std::vector<std::string>{"--engine", "log", "--db", dir.File("x.db")}}) {
    ExitStatus exit = ServiceProcess::Run(BinaryPath("store_service"), StoreArgs(dir, args),
                                          dir.File("flags.log"));
    EXPECT_TRUE(exit.exited);
    EXPECT_EQ(exit.exit_code, 2) << args[1];
  }
}

}  // namespace
}  // namespace es::testing
