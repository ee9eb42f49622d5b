// command_service's per-turn batching of store requests, without a socket:
// AppendBatcher (one append alone, several as append_many, each answer
// handed back to its own append) and VersionProbe (one stream_versions
// request for the turn's cached streams, each asked once).
#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "command_service/append_batcher.h"
#include "command_service/version_probe.h"

namespace es::command {
namespace {

using Answer = std::function<void(std::optional<es::v1::StoreReply>)>;

// Records what was sent; answers later, by hand.
struct FakeStore {
  std::vector<es::v1::StoreRequest> sent;
  std::vector<Answer> answers;
  auto Sender() {
    return [this](es::v1::StoreRequest request, Answer answer) {
      sent.push_back(std::move(request));
      answers.push_back(std::move(answer));
    };
  }
};

es::v1::AppendRequest AppendTo(const std::string& stream) {
  es::v1::AppendRequest append;
  append.set_stream_id(stream);
  append.set_command_id("c-" + stream);
  return append;
}

es::v1::AppendResult Written(const std::string& stream, uint64_t version) {
  es::v1::AppendResult result;
  result.set_stream_id(stream);
  result.set_first_version(version);
  result.set_last_version(version);
  return result;
}

TEST(AppendBatcher, SendsOneAppendAloneAndAnswersIt) {
  AppendBatcher batcher;
  FakeStore store;
  std::optional<es::v1::StoreReply> got;
  batcher.Add(AppendTo("a"), [&](std::optional<es::v1::StoreReply> reply) { got = reply; });
  EXPECT_EQ(batcher.Flush(store.Sender()), 1u);
  ASSERT_EQ(store.sent.size(), 1u);
  ASSERT_TRUE(store.sent[0].has_append()) << store.sent[0].DebugString();
  EXPECT_EQ(store.sent[0].append().stream_id(), "a");
  EXPECT_EQ(batcher.queued(), 0u);

  es::v1::StoreReply reply;
  *reply.mutable_append() = Written("a", 3);
  store.answers[0](reply);
  ASSERT_TRUE(got && got->has_append());
  EXPECT_EQ(got->append().last_version(), 3u);
}

TEST(AppendBatcher, SendsSeveralAsAppendManyAndSplitsTheAnswerInOrder) {
  AppendBatcher batcher;
  FakeStore store;
  std::vector<std::optional<es::v1::StoreReply>> got(3);
  for (int i = 0; i < 3; ++i) {
    batcher.Add(AppendTo("s" + std::to_string(i)),
                [&got, i](std::optional<es::v1::StoreReply> reply) { got[i] = reply; });
  }
  EXPECT_EQ(batcher.Flush(store.Sender()), 1u);
  ASSERT_EQ(store.sent.size(), 1u);
  ASSERT_TRUE(store.sent[0].has_append_many());
  ASSERT_EQ(store.sent[0].append_many().appends_size(), 3);
  EXPECT_EQ(store.sent[0].append_many().appends(2).stream_id(), "s2");

  es::v1::StoreReply reply;
  auto* many = reply.mutable_append_many();
  *many->add_results()->mutable_append() = Written("s0", 1);
  many->add_results()->mutable_error()->set_code(es::v1::ERROR_CODE_WRONG_EXPECTED_VERSION);
  *many->add_results()->mutable_append() = Written("s2", 7);
  store.answers[0](reply);
  ASSERT_TRUE(got[0] && got[0]->has_append());
  EXPECT_EQ(got[0]->append().stream_id(), "s0");
  ASSERT_TRUE(got[1] && got[1]->has_error());
  EXPECT_EQ(got[1]->error().code(), es::v1::ERROR_CODE_WRONG_EXPECTED_VERSION);
  ASSERT_TRUE(got[2] && got[2]->has_append());
  EXPECT_EQ(got[2]->append().last_version(), 7u);
}

TEST(AppendBatcher, GivesEveryAppendTheSameAnswerWhenTheWholeBatchFails) {
  AppendBatcher batcher;
  FakeStore store;
  int silent = 0;
  int refused = 0;
  for (int i = 0; i < 2; ++i) {
    batcher.Add(AppendTo("s" + std::to_string(i)), [&](std::optional<es::v1::StoreReply> reply) {
      if (!reply) ++silent;
      else if (reply->has_error()) ++refused;
    });
  }
  batcher.Flush(store.Sender());
  store.answers[0](std::nullopt);  // no reply in time
  EXPECT_EQ(silent, 2);

  for (int i = 0; i < 2; ++i) {
    batcher.Add(AppendTo("t" + std::to_string(i)), [&](std::optional<es::v1::StoreReply> reply) {
      if (reply && reply->has_error()) ++refused;
    });
  }
  batcher.Flush(store.Sender());
  es::v1::StoreReply whole;
  whole.mutable_error()->set_code(es::v1::ERROR_CODE_TOO_LARGE);
  store.answers[1](whole);
  EXPECT_EQ(refused, 2);

  // An answer with the wrong number of results is no answer to trust.
  std::vector<std::optional<es::v1::StoreReply>> split =
      SplitAppendManyAnswer(es::v1::StoreReply(), 2);
  ASSERT_EQ(split.size(), 2u);
  EXPECT_FALSE(split[0]->has_append_many() || split[0]->has_append());
}

TEST(AppendBatcher, SplitsMoreThanOneMessageCanHold) {
  AppendBatcher batcher;
  FakeStore store;
  const size_t count = AppendBatcher::kMaxPerMessage * 2 + 1;
  for (size_t i = 0; i < count; ++i) {
    batcher.Add(AppendTo("s" + std::to_string(i)), [](std::optional<es::v1::StoreReply>) {});
  }
  EXPECT_EQ(batcher.Flush(store.Sender()), 3u);
  ASSERT_EQ(store.sent.size(), 3u);
  EXPECT_EQ(store.sent[0].append_many().appends_size(),
            static_cast<int>(AppendBatcher::kMaxPerMessage));
  EXPECT_TRUE(store.sent[2].has_append()) << "the one left over goes alone";
}

TEST(VersionProbe, AsksForEachStreamOnceAndAnswersEveryWaiter) {
  VersionProbe probe;
  FakeStore store;
  std::vector<std::optional<uint64_t>> got(3);
  probe.Add("account-a", [&](std::optional<uint64_t> v) { got[0] = v; });
  probe.Add("account-b", [&](std::optional<uint64_t> v) { got[1] = v; });
  probe.Add("account-a", [&](std::optional<uint64_t> v) { got[2] = v; });
  EXPECT_EQ(probe.queued(), 2u);
  EXPECT_EQ(probe.Flush(store.Sender()), 1u);
  EXPECT_EQ(probe.queued(), 0u);
  ASSERT_EQ(store.sent.size(), 1u);
  ASSERT_TRUE(store.sent[0].has_stream_versions());
  const auto& ids = store.sent[0].stream_versions().stream_ids();
  ASSERT_EQ(ids.size(), 2);
  EXPECT_EQ(ids[0], "account-a");
  EXPECT_EQ(ids[1], "account-b");

  es::v1::StoreReply reply;
  reply.mutable_stream_versions()->add_versions(5);
  reply.mutable_stream_versions()->add_versions(0);
  store.answers[0](reply);
  EXPECT_EQ(got[0], std::optional<uint64_t>(5));
  EXPECT_EQ(got[1], std::optional<uint64_t>(0));
  EXPECT_EQ(got[2], std::optional<uint64_t>(5));
}

TEST(VersionProbe, AnswersNoVersionWhenTheStoreFailsOrAnswersAmiss) {
  VersionProbe probe;
  FakeStore store;
  int unknown = 0;
  auto count_unknown = [&](std::optional<uint64_t> v) { unknown += v ? 0 : 1; };
  probe.Add("a", count_unknown);
  probe.Add("b", count_unknown);
  probe.Flush(store.Sender());
  store.answers[0](std::nullopt);
  EXPECT_EQ(unknown, 2);

  probe.Add("a", count_unknown);
  probe.Add("b", count_unknown);
  probe.Flush(store.Sender());
  es::v1::StoreReply short_reply;  // one version for two streams
  short_reply.mutable_stream_versions()->add_versions(1);
  store.answers[1](short_reply);
  EXPECT_EQ(unknown, 4);
}

TEST(VersionProbe, SplitsMoreStreamsThanOneRequestCarries) {
  VersionProbe probe;
  FakeStore store;
  for (size_t i = 0; i < VersionProbe::kMaxPerMessage + 1; ++i) {
    probe.Add("s" + std::to_string(i), [](std::optional<uint64_t>) {});
  }
  EXPECT_EQ(probe.Flush(store.Sender()), 2u);
  ASSERT_EQ(store.sent.size(), 2u);
  EXPECT_EQ(store.sent[1].stream_versions().stream_ids_size(), 1);
}

TEST(VersionProbe, AProbeAddedByAnAnswerWaitsForTheNextFlush) {
  VersionProbe probe;
  FakeStore store;
  bool second = false;
  probe.Add("a", [&](std::optional<uint64_t>) {
    probe.Add("a", [&](std::optional<uint64_t>) { second = true; });
  });
  probe.Flush(store.Sender());
  es::v1::StoreReply reply;
  reply.mutable_stream_versions()->add_versions(1);
  store.answers[0](reply);
  EXPECT_FALSE(second);
  EXPECT_EQ(probe.queued(), 1u);
  probe.Flush(store.Sender());
  store.answers[1](reply);
  EXPECT_TRUE(second);
}

}  // namespace
}  // namespace es::command
