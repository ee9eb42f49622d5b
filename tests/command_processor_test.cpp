// CommandProcessor without a socket: the processor talks to an in-memory
// store through its StoreCall, and the test delivers the store's replies
// by hand, so orderings that are races between processes are steps here.
// What it shows: a first outcome is final (refused or accepted) across
// instances and evictions; an id reused for another command is refused
// COMMAND_ID_CONFLICT; two instances on one store answer as one would; a
// cached stream costs one batched version probe, not a read.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "command_service/command_processor.h"
#include "tests/support/command_test_client.h"

namespace es::command {
namespace {

using es::testing::CreditWith;
using es::testing::DebitWith;
using es::testing::OpenAccountWith;
using es::testing::TransferWith;

// The store's rules that the processor relies on: expected versions, one
// use per command id, gap-free versions and positions. Replies queue until
// Deliver(), as they would on the wire.
class MemoryStore {
 public:
  StoreCall Caller() {
    return [this](es::v1::StoreRequest& request, StoreReplyCallback reply) {
      ++requests[request.body_case()];
      queued_.push_back({Answer(request), std::move(reply), request.body_case()});
    };
  }
  // Hands every queued reply to its caller (those they cause wait); a
  // silent store's requests get no answer in time (nullopt).
  void Deliver() {
    std::deque<Queued> now = std::move(queued_);
    queued_.clear();
    for (Queued& q : now) {
      q.reply(silent || silent_to.contains(q.kind) ? std::nullopt : std::move(q.answer));
    }
  }
  bool idle() const { return queued_.empty(); }
  uint64_t head() const { return log_.size(); }

  std::map<int, int> requests;  // by StoreRequest body case
  bool silent = false;
  std::set<int> silent_to;  // body cases it does not answer

 private:
  struct Queued {
    std::optional<es::v1::StoreReply> answer;
    StoreReplyCallback reply;
    int kind;
  };

  es::v1::StoreReply Answer(const es::v1::StoreRequest& request) {
    es::v1::StoreReply reply;
    switch (request.body_case()) {
      case es::v1::StoreRequest::kAppend:
        Append(request.append(), reply.mutable_append(), reply.mutable_error());
        if (reply.error().code() == es::v1::ERROR_CODE_UNSPECIFIED) reply.clear_error();
        break;
      case es::v1::StoreRequest::kAppendMany:
        for (const auto& append : request.append_many().appends()) {
          auto* item = reply.mutable_append_many()->add_results();
          es::v1::AppendResult result;
          es::v1::Error error;
          Append(append, &result, &error);
          if (error.code() != es::v1::ERROR_CODE_UNSPECIFIED) {
            *item->mutable_error() = error;
          } else {
            *item->mutable_append() = result;
          }
        }
        break;
      case es::v1::StoreRequest::kReadStream: {
        const auto& read = request.read_stream();
        const std::vector<es::v1::EventRecord>& stream = streams_[read.stream_id()];
        auto* result = reply.mutable_read_stream();
        result->set_stream_id(read.stream_id());
        result->set_stream_version(stream.size());
        uint64_t from = read.from_version() == 0 ? 1 : read.from_version();
        if (read.from_end()) from = stream.size() > 0 ? stream.size() : 1;
        for (uint64_t v = from; v <= stream.size(); ++v) *result->add_events() = stream[v - 1];
        result->set_end_of_stream(true);
        break;
      }
      case es::v1::StoreRequest::kFindCommand: {
        auto it = commands_.find(request.find_command().command_id());
        auto* found = reply.mutable_find_command();
        if (it == commands_.end()) break;
        found->set_found(true);
        *found->mutable_append() = it->second;
        const auto& stream = streams_[it->second.stream_id()];
        for (uint64_t v = it->second.first_version(); v <= it->second.last_version(); ++v) {
          *found->add_events() = stream[v - 1];
        }
        break;
      }
      case es::v1::StoreRequest::kStreamVersions:
        for (const auto& id : request.stream_versions().stream_ids()) {
          reply.mutable_stream_versions()->add_versions(streams_[id].size());
        }
        reply.mutable_stream_versions()->set_head_position(log_.size());
        break;
      default:
        reply.mutable_error()->set_code(es::v1::ERROR_CODE_BAD_REQUEST);
    }
    return reply;
  }

  void Append(const es::v1::AppendRequest& append, es::v1::AppendResult* result,
              es::v1::Error* error) {
    if (auto it = commands_.find(append.command_id()); it != commands_.end()) {
      *result = it->second;
      result->set_duplicate(true);
      return;
    }
    std::vector<es::v1::EventRecord>& stream = streams_[append.stream_id()];
    const auto& expected = append.expected_version();
    if ((expected.has_exact() && expected.exact() != stream.size()) ||
        (expected.has_no_stream() && !stream.empty())) {
      error->set_code(es::v1::ERROR_CODE_WRONG_EXPECTED_VERSION);
      error->set_current_version(stream.size());
      return;
    }
    result->set_stream_id(append.stream_id());
    result->set_first_version(stream.size() + 1);
    result->set_first_position(log_.size() + 1);
    for (const auto& event : append.events()) {
      es::v1::EventRecord record;
      record.set_event_id(event.event_id());
      record.set_stream_id(append.stream_id());
      record.set_stream_version(stream.size() + 1);
      record.set_global_position(log_.size() + 1);
      record.set_type(event.type());
      record.set_data(event.data());
      record.set_command_id(append.command_id());
      stream.push_back(record);
      log_.push_back(record);
    }
    result->set_last_version(stream.size());
    result->set_last_position(log_.size());
    commands_[append.command_id()] = *result;
  }

  std::map<std::string, std::vector<es::v1::EventRecord>> streams_;
  std::vector<es::v1::EventRecord> log_;
  std::map<std::string, es::v1::AppendResult> commands_;
  std::deque<Queued> queued_;
};

// One command_service instance's processor on the shared store.
struct Instance {
  Instance(MemoryStore& store, size_t cache_capacity = 1000)
      : processor(store.Caller(), cache_capacity, /*max_conflict_retries=*/8) {}
  CommandProcessor processor;
};

class CommandProcessorTest : public ::testing::Test {
 protected:
  // Sends one request through `instance` and runs the loop until it is
  // answered, as the server's loop would (deferred work, then the turn's
  // store requests, then the store's replies).
  es::v1::CommandReply Call(Instance& instance, es::v1::CommandRequest request) {
    std::optional<es::v1::CommandReply> answer;
    instance.processor.Handle(std::move(request),
                              [&](es::v1::CommandReply reply) { answer = std::move(reply); });
    for (int turn = 0; !answer && turn < 1000; ++turn) {
      instance.processor.RunDeferred();
      instance.processor.FlushStoreRequests();
      store_.Deliver();
    }
    EXPECT_TRUE(answer.has_value()) << "no answer after 1000 turns";
    return answer.value_or(es::v1::CommandReply());
  }
  es::v1::CommandOutcome Send(Instance& instance, const es::v1::Command& command) {
    es::v1::CommandReply reply = Call(instance, es::testing::CommandRequestWith(command));
    EXPECT_TRUE(reply.has_outcome()) << reply.DebugString();
    return reply.outcome();
  }
  es::v1::CommandReply GetAccount(Instance& instance, const std::string& id) {
    es::v1::CommandRequest request;
    request.mutable_get_account()->set_account_id(id);
    return Call(instance, request);
  }

  MemoryStore store_;
};

TEST_F(CommandProcessorTest, ARefusedIdStaysRefusedOnAnotherInstanceAfterTheCauseIsGone) {
  Instance first(store_);
  Instance second(store_);
  ASSERT_TRUE(Send(first, OpenAccountWith("open-a", "A", "Ann", 500)).accepted());
  const es::v1::Command transfer = TransferWith("X", "T1", "A", "B", 100);
  const es::v1::CommandOutcome refused = Send(first, transfer);
  ASSERT_EQ(refused.refusal_code(), es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT) << refused.DebugString();
  ASSERT_TRUE(Send(second, OpenAccountWith("open-b", "B", "Bob", 0)).accepted());

  for (Instance* instance : {&first, &second}) {
    const es::v1::CommandOutcome again = Send(*instance, transfer);
    EXPECT_EQ(again.refusal_code(), es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT) << again.DebugString();
    EXPECT_TRUE(again.duplicate());
    EXPECT_EQ(again.version(), refused.version());
  }
  Instance restarted(store_);  // nothing cached: the store's record answers
  EXPECT_EQ(Send(restarted, transfer).refusal_code(), es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT);
}

TEST_F(CommandProcessorTest, AnIdReusedForAnotherCommandIsAConflictThatWritesNothing) {
  Instance instance(store_);
  ASSERT_TRUE(Send(instance, OpenAccountWith("open-a", "A", "Ann", 500)).accepted());
  ASSERT_TRUE(Send(instance, CreditWith("c1", "A", 10)).accepted());
  const uint64_t head = store_.head();
  for (const es::v1::Command& other :
       {CreditWith("c1", "A", 11), CreditWith("c1", "B", 10), OpenAccountWith("c1", "C", "C", 0)}) {
    const es::v1::CommandOutcome outcome = Send(instance, other);
    EXPECT_EQ(outcome.refusal_code(), es::v1::REFUSAL_CODE_COMMAND_ID_CONFLICT)
        << other.DebugString() << outcome.DebugString();
    EXPECT_NE(outcome.message().find("account-A"), std::string::npos) << outcome.message();
  }
  EXPECT_EQ(store_.head(), head) << "a conflict writes nothing";
  EXPECT_TRUE(Send(instance, CreditWith("c1", "A", 10)).duplicate()) << "the same command repeats";
}

TEST_F(CommandProcessorTest, AnEvictedAggregateAnswersARepeatFromTheStore) {
  Instance tiny(store_, /*cache_capacity=*/1);
  ASSERT_TRUE(Send(tiny, OpenAccountWith("open-a", "A", "Ann", 0)).accepted());
  const es::v1::CommandOutcome first = Send(tiny, es::testing::CloseAccountWith("close-a", "A"));
  ASSERT_TRUE(first.accepted()) << first.DebugString();
  for (int i = 0; i < 5; ++i) {
    Send(tiny, OpenAccountWith("open-" + std::to_string(i), "X" + std::to_string(i), "X", 1));
  }
  const es::v1::CommandOutcome again = Send(tiny, es::testing::CloseAccountWith("close-a", "A"));
  EXPECT_TRUE(again.accepted());
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.version(), first.version());
}

TEST_F(CommandProcessorTest, AQueryOnAnotherInstanceSeesWhatTheFirstWrote) {
  Instance first(store_);
  Instance second(store_);
  EXPECT_EQ(GetAccount(second, "D1").outcome().refusal_code(), es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT)
      << "no account D1 yet";
  ASSERT_TRUE(Send(first, OpenAccountWith("open-d1", "D1", "Dee", 70)).accepted());
  es::v1::CommandReply seen = GetAccount(second, "D1");
  ASSERT_TRUE(seen.has_account()) << seen.DebugString();
  EXPECT_EQ(seen.account().balance(), 70);
  ASSERT_TRUE(Send(first, CreditWith("c1", "D1", 5)).accepted());
  EXPECT_EQ(GetAccount(second, "D1").account().balance(), 75);
}

TEST_F(CommandProcessorTest, ATransferOnACachedAccountPairCostsOneVersionProbeAndNoRead) {
  Instance instance(store_);
  ASSERT_TRUE(Send(instance, OpenAccountWith("open-a", "A", "Ann", 500)).accepted());
  ASSERT_TRUE(Send(instance, OpenAccountWith("open-b", "B", "Bob", 0)).accepted());
  // Warm: the two accounts are cached now.
  ASSERT_TRUE(Send(instance, TransferWith("t0", "T0", "A", "B", 1)).accepted());
  store_.requests.clear();
  const uint64_t reads = instance.processor.counters().stream_reads;

  ASSERT_TRUE(Send(instance, TransferWith("t1", "T1", "A", "B", 1)).accepted());
  EXPECT_EQ(store_.requests[es::v1::StoreRequest::kStreamVersions], 1)
      << "both accounts in one probe";
  // The new transfer's own stream is loaded (it is new); no account is read.
  EXPECT_EQ(instance.processor.counters().stream_reads - reads, 1u);
  EXPECT_EQ(instance.processor.counters().version_probes, 4u) << "two per transfer";
}

TEST_F(CommandProcessorTest, ATransferSeesAnAccountAnotherInstanceOpenedAfterItsCacheSawNone) {
  Instance first(store_);
  Instance second(store_);
  ASSERT_TRUE(Send(first, OpenAccountWith("open-a", "A", "Ann", 500)).accepted());
  ASSERT_EQ(Send(first, TransferWith("t0", "T0", "A", "B", 1)).refusal_code(),
            es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT);  // first has cached "no B"
  ASSERT_TRUE(Send(second, OpenAccountWith("open-b", "B", "Bob", 0)).accepted());
  const es::v1::CommandOutcome outcome = Send(first, TransferWith("t1", "T1", "A", "B", 1));
  EXPECT_TRUE(outcome.accepted()) << outcome.DebugString();
}

TEST_F(CommandProcessorTest, AProbeTheStoreDoesNotAnswerIsUnavailableNotTheCachedState) {
  Instance instance(store_);
  ASSERT_TRUE(Send(instance, OpenAccountWith("open-a", "A", "Ann", 5)).accepted());
  ASSERT_TRUE(GetAccount(instance, "A").has_account());
  store_.silent = true;
  const int probes = store_.requests[es::v1::StoreRequest::kStreamVersions];
  es::v1::CommandReply reply = GetAccount(instance, "A");
  EXPECT_EQ(store_.requests[es::v1::StoreRequest::kStreamVersions], probes + 1);
  ASSERT_TRUE(reply.has_outcome()) << "not the cached balance: " << reply.DebugString();
  EXPECT_EQ(reply.outcome().refusal_code(), es::v1::REFUSAL_CODE_UNAVAILABLE);
  store_.silent = false;
  EXPECT_EQ(GetAccount(instance, "A").account().balance(), 5) << "loads afresh once it answers";
}

TEST_F(CommandProcessorTest, ARepeatWhoseStreamCannotBeReloadedIsUnavailableNeverAccepted) {
  Instance first(store_);
  Instance second(store_);
  ASSERT_TRUE(Send(first, OpenAccountWith("open-a", "A", "Ann", 500)).accepted());
  ASSERT_TRUE(GetAccount(second, "A").has_account());  // second caches A at version 1
  ASSERT_TRUE(Send(first, DebitWith("d1", "A", 100)).accepted());
  // second's cache does not know d1: it decides, appends, and the store
  // answers "duplicate"; the stream must then be reloaded to read the first
  // outcome back, and the reload gets no answer.
  store_.silent_to = {es::v1::StoreRequest::kReadStream};
  const uint64_t head = store_.head();

  const es::v1::CommandOutcome outcome = Send(second, DebitWith("d1", "A", 100));

  EXPECT_FALSE(outcome.accepted()) << outcome.DebugString();
  EXPECT_EQ(outcome.refusal_code(), es::v1::REFUSAL_CODE_UNAVAILABLE) << outcome.DebugString();
  EXPECT_EQ(store_.head(), head) << "nothing written";
  store_.silent_to.clear();
  const es::v1::CommandOutcome again = Send(second, DebitWith("d1", "A", 100));
  EXPECT_TRUE(again.accepted()) << again.DebugString();
  EXPECT_TRUE(again.duplicate());
}

}  // namespace
}  // namespace es::command
