// esctl as the operator runs it: build/bin/esctl as a child process against a
// real store_service, its stdout, stderr and exit code captured. The read
// verbs (events, subscribe), ping and stats, the exit codes (0 ok, 2 usage,
// 3 unavailable) and global flags after the verb.
//
// Every run names all four endpoints: the store's, and for the services this
// test does not start, a port that refuses connections, so that no run ever
// reaches a default port where another test's service might listen.
#include <arpa/inet.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <thread>
#include <future>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bus/catch_up_subscriber.h"
#include "es/v1/bank.pb.h"
#include "es/v1/store.pb.h"
#include "tests/support/captured_run.h"
#include "tests/support/service_process.h"
#include "tests/support/store_process.h"
#include "tests/support/store_requests.h"
#include "tests/support/store_test_client.h"
#include "tests/support/streaming_process.h"
#include "tests/support/temp_dir.h"

namespace es::testing {
namespace {

using es::v1::EventRecord;
using google::protobuf::Struct;
using google::protobuf::Value;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// A TCP port on 127.0.0.1 that is bound but not listening: connecting to it
// is refused, and no other process can take it while this object lives.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t size = sizeof address;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
      close(fd_);
      throw std::runtime_error("bind failed");
    }
    endpoint_ = "tcp://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  }
  ~RefusingPort() { close(fd_); }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
  const std::string& endpoint() const { return endpoint_; }

 private:
  int fd_ = -1;
  std::string endpoint_;
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// One line of JSON as an object; nullopt if it is not one.
std::optional<Struct> ParseObject(const std::string& line) {
  Struct object;
  if (!google::protobuf::util::JsonStringToMessage(line, &object).ok()) return std::nullopt;
  return object;
}

std::string Base64(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

// `line` is `esctl --json`'s rendering of `event`: one JSON object with
// global_position, stream_id, stream_version, type, data (the decoded
// payload for a known type, else base64), event_id, command_id.
::testing::AssertionResult IsJsonOf(const std::string& line, const EventRecord& event) {
  std::optional<Struct> object = ParseObject(line);
  if (!object) return ::testing::AssertionFailure() << "not a JSON object: " << line;
  const auto& fields = object->fields();
  auto number = [&](const std::string& key) {
    auto it = fields.find(key);
    return it != fields.end() && it->second.kind_case() == Value::kNumberValue
               ? std::optional<double>(it->second.number_value())
               : std::nullopt;
  };
  auto text = [&](const std::string& key) {
    auto it = fields.find(key);
    return it != fields.end() && it->second.kind_case() == Value::kStringValue
               ? std::optional<std::string>(it->second.string_value())
               : std::nullopt;
  };
  if (number("global_position") != static_cast<double>(event.global_position()) ||
      text("stream_id") != event.stream_id() ||
      number("stream_version") != static_cast<double>(event.stream_version()) ||
      text("type") != event.type() || text("event_id") != event.event_id() ||
      text("command_id") != event.command_id() || !fields.contains("data")) {
    return ::testing::AssertionFailure() << line << "\nis not\n" << event.DebugString();
  }
  const Value& data = fields.at("data");
  if (event.type() == "es.v1.AccountOpened") {
    es::v1::AccountOpened opened;
    opened.ParseFromString(event.data());
    if (data.kind_case() != Value::kStructValue ||
        data.struct_value().fields().at("owner").string_value() != opened.owner() ||
        data.struct_value().fields().at("initial_balance").string_value() !=
            std::to_string(opened.initial_balance())) {
      return ::testing::AssertionFailure() << "data not decoded: " << line;
    }
  } else if (data.kind_case() != Value::kStringValue ||
             data.string_value() != Base64(event.data())) {
    return ::testing::AssertionFailure() << "data is not the payload in base64: " << line;
  }
  return ::testing::AssertionSuccess();
}

// Every line of `out` renders the corresponding event of `events`, and there
// are as many lines as events.
::testing::AssertionResult ListsExactly(const std::string& out,
                                        const std::vector<EventRecord>& events) {
  std::vector<std::string> lines = Lines(out);
  if (lines.size() != events.size()) {
    return ::testing::AssertionFailure()
           << lines.size() << " lines for " << events.size() << " events:\n"
           << out.substr(0, 2000);
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    ::testing::AssertionResult same = IsJsonOf(lines[i], events[i]);
    if (!same) return ::testing::AssertionFailure() << "line " << i + 1 << ": " << same.message();
  }
  return ::testing::AssertionSuccess();
}

class EsctlProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_unique<ServiceProcess>(StartStore(dir_));
    requests_ = store_->endpoint("requests");
    events_ = store_->endpoint("events");
  }
  void TearDown() override {
    if (store_ && store_->running()) store_->Kill9();
  }

  // The endpoint flags: the store's, and a refusing port for the others.
  std::vector<std::string> Endpoints(const std::string& store_requests = "") const {
    return {"--store",    store_requests.empty() ? requests_ : store_requests,
            "--events",   events_,
            "--commands", refusing_.endpoint(),
            "--saga",     refusing_.endpoint()};
  }

  // esctl with `before` (global flags), then `args`.
  CapturedRun Esctl(const std::vector<std::string>& args,
                    std::vector<std::string> before = {}) const {
    if (before.empty()) before = Endpoints();
    before.insert(before.end(), args.begin(), args.end());
    return RunCaptured(BinaryPath("esctl"), before, seconds(20));
  }

  // Appends one event of `type` with `data`; returns its record.
  EventRecord Append(const std::string& stream, const std::string& command_id,
                     const std::string& type = "test.Event", const std::string& data = "") {
    es::v1::AppendRequest append = MakeAppend(stream, command_id, ExpectAny());
    append.mutable_events(0)->set_type(type);
    if (!data.empty()) append.mutable_events(0)->set_data(data);
    es::v1::StoreReply reply = CallStore(context_, requests_, AppendRequestOf(append));
    EXPECT_TRUE(reply.has_append()) << reply.DebugString();
    return Log().at(reply.append().last_position() - 1);
  }

  // `count` events over `streams` streams, pipelined on one connection.
  void AppendMany(int count, int streams) {
    StoreTestClient client(context_, requests_);
    for (int i = 0; i < count; ++i) {
      es::v1::StoreRequest request = AppendRequestOf(
          MakeAppend("s-" + std::to_string(i % streams), "many-" + std::to_string(i), ExpectAny()));
      request.set_request_id(static_cast<uint64_t>(i));
      client.Send(request);
    }
    for (int i = 0; i < count; ++i) {
      std::optional<es::v1::StoreReply> reply = client.Receive(seconds(10));
      ASSERT_TRUE(reply.has_value());
      ASSERT_TRUE(reply->has_append()) << reply->DebugString();
    }
  }

  // The whole log, straight from the store.
  std::vector<EventRecord> Log() {
    StoreTestClient client(context_, requests_);
    std::vector<EventRecord> log;
    while (true) {
      es::v1::StoreReply reply = client.Call(ReadAllRequest(log.size() + 1, 1000));
      if (!reply.has_read_all() || reply.read_all().events().empty()) return log;
      log.insert(log.end(), reply.read_all().events().begin(), reply.read_all().events().end());
    }
  }

  TempDir dir_;
  zmq::context_t context_;
  RefusingPort refusing_;
  std::unique_ptr<ServiceProcess> store_;
  std::string requests_;
  std::string events_;
};

std::vector<EventRecord> Slice(const std::vector<EventRecord>& events, size_t first, size_t count) {
  first = std::min(first, events.size());
  count = std::min(count, events.size() - first);
  return std::vector<EventRecord>(events.begin() + static_cast<ptrdiff_t>(first),
                                  events.begin() + static_cast<ptrdiff_t>(first + count));
}

// ---------------------------------------------------------------------------
// subscribe

TEST_F(EsctlProcessTest, SubscribeJsonCountShowsExactlyTheEventsAppendedAfterIt) {
  Append("history", "h1");
  Append("history", "h2");
  // From head + 1: whether esctl has subscribed before the appends or not,
  // these are the events it must show.
  auto subscribe = std::async(std::launch::async, [&] {
    return Esctl({"subscribe", "--json", "--from", "3", "--count", "3"});
  });
  es::v1::AccountOpened opened;
  opened.set_account_id("alice");
  opened.set_owner("Alice");
  opened.set_initial_balance(1000);
  std::vector<EventRecord> appended;
  appended.push_back(
      Append("account-alice", "open-alice", "es.v1.AccountOpened", opened.SerializeAsString()));
  appended.push_back(Append("transfer-1", "t1"));
  appended.push_back(Append("account-alice", "a2"));
  Append("after-count", "x1");  // past --count: not shown
  ASSERT_EQ(subscribe.wait_for(seconds(20)), std::future_status::ready);
  CapturedRun run = subscribe.get();

  EXPECT_TRUE(run.exited && run.exit_code == 0) << run.Describe();
  EXPECT_EQ(run.err, "");
  EXPECT_TRUE(ListsExactly(run.out, appended));
}

TEST_F(EsctlProcessTest, SubscribeWithoutFromShowsOnlyEventsAfterTheHead) {
  for (int i = 0; i < 5; ++i) Append("history", "h" + std::to_string(i));
  auto subscribe = std::async(std::launch::async, [&] {
    return Esctl({"subscribe", "--json", "--count", "3"});
  });
  // esctl says nothing until it shows an event: append one at a time until
  // it has shown three and exited.
  int appended = 0;
  while (subscribe.wait_for(milliseconds(100)) != std::future_status::ready) {
    ASSERT_LT(appended, 200) << "esctl subscribe never finished";
    Append("live", "live-" + std::to_string(appended++));
  }
  CapturedRun run = subscribe.get();

  EXPECT_TRUE(run.exited && run.exit_code == 0) << run.Describe();
  std::vector<std::string> lines = Lines(run.out);
  ASSERT_EQ(lines.size(), 3u) << run.out;
  std::optional<Struct> first = ParseObject(lines[0]);
  ASSERT_TRUE(first.has_value()) << lines[0];
  const auto from = static_cast<size_t>(first->fields().at("global_position").number_value());
  EXPECT_GT(from, 5u) << "showed history";
  EXPECT_TRUE(ListsExactly(run.out, Slice(Log(), from - 1, 3)));
}

TEST_F(EsctlProcessTest, SubscribeFilterShowsOnlyMatchingStreams) {
  for (int i = 0; i < 20; ++i) {
    Append(std::string(i % 2 == 0 ? "a-" : "b-") + std::to_string(i % 3), "c" + std::to_string(i));
  }
  std::vector<EventRecord> matching;
  for (const EventRecord& event : Log()) {
    if (event.stream_id().starts_with("b-")) matching.push_back(event);
  }

  CapturedRun run =
      Esctl({"subscribe", "--json", "--from", "1", "--filter", "b-", "--count", "10"});

  EXPECT_TRUE(run.exited && run.exit_code == 0) << run.Describe();
  EXPECT_TRUE(ListsExactly(run.out, matching));
}

// A live tail piped into another program (stdout not a terminal, so fully
// buffered by stdio) must still show each event as it arrives, not once
// 4 KiB have piled up. The events trickle in every 100 ms: never a pause
// long enough for esctl's idle wait (200 ms) to end.
TEST_F(EsctlProcessTest, SubscribePrintsEachEventAsItArrivesWhenPiped) {
  std::vector<std::string> args = Endpoints();
  args.insert(args.end(), {"subscribe", "--json", "--from", "1"});
  StreamingProcess tail =
      StreamingProcess::Start(BinaryPath("esctl"), args, dir_.File("esctl.stderr"));
  // Up and following: a first event comes through (with a pause after it).
  Append("tail", "warm-up");
  std::optional<std::string> warm_up = tail.ReadLine(seconds(10));
  ASSERT_TRUE(warm_up.has_value()) << "esctl subscribe showed nothing";
  std::optional<std::string> first;
  Clock::time_point first_appended;
  int appended = 0;
  while (!first) {
    ASSERT_LT(appended, 60) << "no line after 60 events (6 s)";
    Append("tail", "tail-" + std::to_string(appended));
    if (appended++ == 0) first_appended = Clock::now();
    first = tail.ReadLine(milliseconds(100));  // paces the trickle
  }
  const auto latency = Clock::now() - first_appended;

  EXPECT_LT(latency, milliseconds(1500))
      << "the first event of the trickle showed " << std::chrono::duration<double>(latency).count()
      << " s and " << appended << " events after it was appended";
  // SIGTERM ends the tail cleanly; everything appended has been shown once.
  ExitStatus exit = tail.Terminate();
  EXPECT_TRUE(exit.exited && exit.exit_code == 0) << exit.exit_code << " / signal " << exit.signal;
  std::string out = *warm_up + "\n" + *first + "\n";
  while (std::optional<std::string> line = tail.ReadLine(seconds(5))) out += *line + "\n";
  EXPECT_TRUE(ListsExactly(out, Log()));
}

// ---------------------------------------------------------------------------
// events

TEST_F(EsctlProcessTest, EventsJsonListsEverythingInOrder) {
  AppendMany(2500, 7);  // more than one page of esctl's reads (1000)
  const std::vector<EventRecord> log = Log();
  ASSERT_EQ(log.size(), 2500u);

  CapturedRun all = Esctl({"events", "--json"});

  EXPECT_TRUE(all.exited && all.exit_code == 0) << all.Describe();
  EXPECT_EQ(all.err, "");
  EXPECT_TRUE(ListsExactly(all.out, log));
}

TEST_F(EsctlProcessTest, EventsStreamFromAndLimitSelectWhatTheySay) {
  AppendMany(2500, 7);
  const std::vector<EventRecord> log = Log();
  std::vector<EventRecord> stream_3;
  for (const EventRecord& event : log) {
    if (event.stream_id() == "s-3") stream_3.push_back(event);
  }
  ASSERT_EQ(stream_3.size(), 357u);

  CapturedRun from_version = Esctl({"events", "--json", "--stream", "s-3", "--from", "2"});
  CapturedRun stream_limited =
      Esctl({"events", "--json", "--stream", "s-3", "--from", "5", "--limit", "4"});
  CapturedRun first_three = Esctl({"events", "--json", "--limit", "3"});
  CapturedRun across_pages = Esctl({"events", "--json", "--from", "800", "--limit", "1500"});
  CapturedRun past_head = Esctl({"events", "--json", "--from", "2501"});
  CapturedRun text = Esctl({"events", "--limit", "2"});

  for (const CapturedRun* run :
       {&from_version, &stream_limited, &first_three, &across_pages, &past_head, &text}) {
    EXPECT_TRUE(run->exited && run->exit_code == 0) << run->Describe();
  }
  EXPECT_TRUE(ListsExactly(from_version.out, Slice(stream_3, 1, stream_3.size())));
  EXPECT_TRUE(ListsExactly(stream_limited.out, Slice(stream_3, 4, 4)));
  EXPECT_TRUE(ListsExactly(first_three.out, Slice(log, 0, 3)));
  EXPECT_TRUE(ListsExactly(across_pages.out, Slice(log, 799, 1500)));
  EXPECT_EQ(past_head.out, "");
  std::vector<std::string> lines = Lines(text.out);
  ASSERT_EQ(lines.size(), 2u) << text.out;
  EXPECT_EQ(lines[0].rfind("#1 " + log[0].stream_id() + "@1 test.Event", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1].rfind("#2 ", 0), 0u) << lines[1];
}

TEST_F(EsctlProcessTest, StreamsListsTheStoresStreamsInIdOrderAcrossPages) {
  AppendMany(2400, 1200);  // s-0 .. s-1199, two events each: two pages of 1000 and more
  CapturedRun all = Esctl({"streams"});
  CapturedRun some = Esctl({"streams", "--prefix", "s-11", "--json"});
  CapturedRun few = Esctl({"streams", "--limit", "3"});

  ASSERT_EQ(all.exit_code, 0) << all.Describe();
  const std::vector<std::string> lines = Lines(all.out);
  ASSERT_EQ(lines.size(), 1200u);
  EXPECT_TRUE(std::is_sorted(lines.begin(), lines.end()));
  EXPECT_EQ(lines.front(), "s-0 2");
  // s-11, s-110..s-119, s-1100..s-1199
  EXPECT_EQ(Lines(some.out).size(), 111u) << some.out.substr(0, 300);
  EXPECT_EQ(Lines(some.out).front(), "{\"stream_id\":\"s-11\",\"version\":2}");
  EXPECT_EQ(Lines(few.out), (std::vector<std::string>{"s-0 2", "s-1 2", "s-10 2"}));
}

TEST_F(EsctlProcessTest, EventsLastShowsTheNewestOfTheLogOrOfAStream) {
  AppendMany(1200, 3);
  const std::vector<EventRecord> log = Log();
  std::vector<EventRecord> stream_1;
  for (const EventRecord& event : log) {
    if (event.stream_id() == "s-1") stream_1.push_back(event);
  }

  CapturedRun newest = Esctl({"events", "--json", "--last", "1100"});
  CapturedRun stream_newest = Esctl({"events", "--json", "--stream", "s-1", "--last", "3"});
  CapturedRun more_than_all = Esctl({"events", "--json", "--stream", "s-1", "--last", "100000"});
  CapturedRun with_from = Esctl({"events", "--last", "3", "--from", "2"});

  for (const CapturedRun* run : {&newest, &stream_newest, &more_than_all}) {
    EXPECT_TRUE(run->exited && run->exit_code == 0) << run->Describe();
  }
  EXPECT_TRUE(ListsExactly(newest.out, Slice(log, 100, 1100)));
  EXPECT_TRUE(ListsExactly(stream_newest.out, Slice(stream_1, stream_1.size() - 3, 3)));
  EXPECT_TRUE(ListsExactly(more_than_all.out, stream_1));
  EXPECT_EQ(with_from.exit_code, 2) << with_from.Describe();
}

// "2026-12-02T14:05:33.123456Z" for `micros` since the epoch.
std::string UtcTime(int64_t micros) {
  const time_t seconds = static_cast<time_t>(micros / 1'000'000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[64];
  const size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(text + n, sizeof text - n, ".%06lldZ",
                static_cast<long long>(micros % 1'000'000));
  return text;
}

TEST_F(EsctlProcessTest, AccountAtAPositionOrATimeIsFoldedFromItsStream) {
  es::v1::AccountOpened opened;
  opened.set_account_id("A");
  opened.set_owner("Ann");
  opened.set_initial_balance(100);
  es::v1::AccountCredited credited;
  credited.set_account_id("A");
  credited.set_amount(50);
  credited.set_balance(150);
  auto append = [&](const std::string& command_id, const google::protobuf::Message& event) {
    es::v1::StoreReply reply = CallStore(
        context_, requests_,
        AppendRequestOf(AppendOfMessage("account-A", command_id, ExpectAny(), event)));
    ASSERT_TRUE(reply.has_append()) << reply.DebugString();
  };
  append("open", opened);  // position 1
  // Apart in time, so that a time between them names one state.
  std::this_thread::sleep_for(milliseconds(20));
  append("credit-1", credited);  // 2
  Append("other", "noise");      // 3
  std::this_thread::sleep_for(milliseconds(20));
  credited.set_amount(25);
  credited.set_balance(175);
  append("credit-2", credited);  // 4
  const std::vector<EventRecord> log = Log();
  ASSERT_EQ(log.size(), 4u);

  CapturedRun bare_id = Esctl({"events", "--json", "--stream", "A"});
  CapturedRun no_such = Esctl({"events", "--stream", "nobody"});
  EXPECT_EQ(bare_id.exit_code, 0) << bare_id.Describe();
  const std::vector<std::string> bare_lines = Lines(bare_id.out);
  ASSERT_EQ(bare_lines.size(), 3u) << "A is account-A: " << bare_id.out;
  for (const std::string& line : bare_lines) {
    EXPECT_NE(line.find("\"stream_id\":\"account-A\""), std::string::npos) << line;
  }
  EXPECT_EQ(no_such.exit_code, 1) << no_such.Describe();
  EXPECT_NE(no_such.err.find("account-nobody"), std::string::npos) << no_such.err;

  CapturedRun at_1 = Esctl({"account", "A", "--at", "1"});
  CapturedRun at_3 = Esctl({"account", "A", "--at", "3", "--json"});
  CapturedRun at_4 = Esctl({"account", "A", "--at", "4"});
  CapturedRun before = Esctl({"account", "A", "--at", "0"});
  CapturedRun at_time = Esctl({"account", "A", "--at-time", UtcTime(log[2].recorded_at_us())});
  CapturedRun bad_time = Esctl({"account", "A", "--at-time", "yesterday"});
  CapturedRun both = Esctl({"account", "A", "--at", "1", "--at-time", UtcTime(0)});

  EXPECT_EQ(at_1.exit_code, 0) << at_1.Describe();
  EXPECT_NE(at_1.out.find("balance=100 version=1 "), std::string::npos) << at_1.out;
  EXPECT_NE(at_3.out.find("\"balance\":150,\"version\":2,"), std::string::npos) << at_3.Describe();
  EXPECT_NE(at_3.out.find("\"as_of_position\":2"), std::string::npos) << at_3.out;
  EXPECT_NE(at_4.out.find("balance=175 version=3 "), std::string::npos) << at_4.Describe();
  EXPECT_EQ(before.exit_code, 1) << before.Describe();
  EXPECT_NE(before.err.find("did not exist at position 0"), std::string::npos) << before.err;
  EXPECT_NE(at_time.out.find("balance=150 version=2 "), std::string::npos) << at_time.Describe();
  EXPECT_EQ(bad_time.exit_code, 2) << bad_time.Describe();
  EXPECT_EQ(both.exit_code, 2) << both.Describe();
  EXPECT_LE(log[0].recorded_at_us(), log[1].recorded_at_us());
}

// ---------------------------------------------------------------------------
// ping, stats, exit codes, flags

TEST_F(EsctlProcessTest, PingExitsZeroWhenTheStoreRuns) {
  Append("s", "c1");
  Append("s", "c2");

  CapturedRun text = Esctl({"ping"});
  CapturedRun json = Esctl({"ping", "store", "--json"});

  EXPECT_TRUE(text.exited && text.exit_code == 0) << text.Describe();
  EXPECT_EQ(text.out.rfind("store ok head=2 ", 0), 0u) << text.out;
  EXPECT_EQ(text.err, "");
  ASSERT_TRUE(json.exited && json.exit_code == 0) << json.Describe();
  std::optional<Struct> pong = ParseObject(Lines(json.out).at(0));
  ASSERT_TRUE(pong.has_value()) << json.out;
  EXPECT_EQ(pong->fields().at("service").string_value(), "store");
  EXPECT_TRUE(pong->fields().at("ok").bool_value());
  EXPECT_EQ(pong->fields().at("head_position").number_value(), 2.0);
}

TEST_F(EsctlProcessTest, PingExitsThreeWithOneLineOnStderrWhenNothingListens) {
  for (const std::string service : {"store", "commands", "saga"}) {
    SCOPED_TRACE(service);
    const Clock::time_point started = Clock::now();
    CapturedRun run = Esctl({"--timeout", "300", "ping", service},
                            Endpoints(/*store_requests=*/refusing_.endpoint()));
    const auto took = Clock::now() - started;

    EXPECT_TRUE(run.exited && run.exit_code == 3) << run.Describe();
    EXPECT_EQ(run.out, "");
    EXPECT_EQ(run.err.rfind("esctl: ", 0), 0u) << run.err;
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
    EXPECT_EQ(run.err.back(), '\n');
    EXPECT_LT(took, seconds(3)) << "--timeout 300 not respected";
  }
}

TEST_F(EsctlProcessTest, UsageErrorsExitTwo) {
  const std::vector<std::vector<std::string>> usage_errors = {
      {},                           // no verb
      {"frobnicate"},               // unknown verb
      {"credit", "acct-1"},         // missing argument
      {"credit", "acct-1", "ten"},  // non-numeric amount
      {"debit", "acct-1", "12x"},   // non-numeric amount
      {"transfer", "acct-1", "acct-2", "lots"},
      {"open-account"},       // missing --owner
      {"events", "--limit"},  // option without its value
      {"events", "--from", "minus"},
      {"ping", "nosuchservice"},
      {"--timeout", "0", "ping"},  // out of range
      {"events", "--no-such-flag"},
      {"events", "--from", "-1"},  // a negative count or position does not wrap around
      {"events", "--limit", "-3"},
      {"events", "--last", "3", "--from", "2"},
      {"history", "acct-1", "--before", "-5"},
      {"accounts", "--at-least", "-1"},
      {"account", "acct-1", "--at", "-2"},
      {"account", "acct-1", "--at-time", "2026-13-45"},
  };
  for (const std::vector<std::string>& args : usage_errors) {
    SCOPED_TRACE(::testing::PrintToString(args));
    // Every service refuses: a command line wrongly accepted ends in exit 3.
    std::vector<std::string> before = Endpoints(refusing_.endpoint());
    if (args.empty() || args[0] != "--timeout") {
      before.insert(before.end(), {"--timeout", "300"});
    }
    CapturedRun run = Esctl(args, before);

    EXPECT_TRUE(run.exited && run.exit_code == 2) << run.Describe();
    EXPECT_FALSE(run.err.empty());
  }
  CapturedRun unknown = Esctl({"frobnicate"});
  EXPECT_NE(unknown.err.find("unknown verb frobnicate"), std::string::npos) << unknown.Describe();
}

TEST_F(EsctlProcessTest, VersionAndHelpExitZero) {
  CapturedRun version = Esctl({"--version"});
  CapturedRun help = Esctl({"help"});

  EXPECT_TRUE(version.exited && version.exit_code == 0) << version.Describe();
  EXPECT_EQ(version.out.rfind("esctl ", 0), 0u) << version.out;
  EXPECT_TRUE(help.exited && help.exit_code == 0) << help.Describe();
  EXPECT_NE(help.out.find("Usage: esctl"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("transfer-status"), std::string::npos) << "it lists the verbs";
}

TEST_F(EsctlProcessTest, StatsJsonPrintsAnObjectWithTheHead) {
  AppendMany(42, 3);

  CapturedRun run = Esctl({"--timeout", "1000", "stats", "--json"});

  EXPECT_TRUE(run.exited && run.exit_code == 0) << run.Describe();
  std::vector<std::string> lines = Lines(run.out);
  ASSERT_FALSE(lines.empty());
  bool found = false;
  for (const std::string& line : lines) {
    std::optional<Struct> object = ParseObject(line);
    ASSERT_TRUE(object.has_value()) << "not a JSON object: " << line;
    auto head = object->fields().find("head_position");
    if (head != object->fields().end() && object->fields().contains("events_total")) {
      EXPECT_EQ(head->second.number_value(), 42.0) << line;
      found = true;
    }
  }
  EXPECT_TRUE(found) << "no store stats object with head_position in:\n" << run.out;
}

TEST_F(EsctlProcessTest, StatsShowConnectedSubscribersAndANamedListenersCheckpointAndLag) {
  AppendMany(10, 2);
  es::bus::CatchUpOptions options;
  options.store_requests = requests_;
  options.store_events = events_;
  options.name = "audit";
  options.report_interval = milliseconds(20);
  es::bus::CatchUpSubscriber listener(context_, options);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(listener.Next(seconds(5)).has_value());

  // The listener reports as it is pumped; stats show it once the store has
  // the report (and its SUB socket once the subscription arrived).
  bool shown = false;
  std::string last;
  for (const auto deadline = Clock::now() + seconds(10); !shown && Clock::now() < deadline;) {
    listener.Next(milliseconds(30));
    CapturedRun run = Esctl({"--timeout", "1000", "stats", "--json"});
    ASSERT_TRUE(run.exited && run.exit_code == 0) << run.Describe();
    last = Lines(run.out).at(0);
    std::optional<Struct> store = ParseObject(last);
    ASSERT_TRUE(store.has_value()) << last;
    const auto& fields = store->fields();
    if (!fields.contains("listeners") || fields.at("subscribers").number_value() < 1) continue;
    for (const auto& entry : fields.at("listeners").list_value().values()) {
      const auto& l = entry.struct_value().fields();
      if (l.at("name").string_value() == "audit" && l.at("checkpoint").number_value() == 10 &&
          l.at("lag").number_value() == 0) {
        shown = true;
      }
    }
  }
  EXPECT_TRUE(shown) << "no listener 'audit' at checkpoint 10, lag 0, in: " << last;
}

TEST_F(EsctlProcessTest, GlobalFlagsWorkAfterTheVerb) {
  AppendMany(5, 2);
  const std::vector<EventRecord> log = Log();

  CapturedRun before = Esctl({"--json", "events"});
  std::vector<std::string> after_verb = {"events", "--json"};
  for (const std::string& flag : Endpoints()) after_verb.push_back(flag);
  CapturedRun after = Esctl(after_verb, {"--timeout", "5000"});
  // --timeout after the verb takes effect: 300 ms, not the default 5 s.
  const Clock::time_point started = Clock::now();
  CapturedRun ping = Esctl({"ping", "--timeout", "300", "--store", refusing_.endpoint()},
                           {"--commands", refusing_.endpoint(), "--saga", refusing_.endpoint()});
  const auto took = Clock::now() - started;

  EXPECT_TRUE(before.exited && before.exit_code == 0) << before.Describe();
  EXPECT_TRUE(after.exited && after.exit_code == 0) << after.Describe();
  EXPECT_TRUE(ListsExactly(before.out, log));
  EXPECT_TRUE(ListsExactly(after.out, log));
  EXPECT_EQ(before.out, after.out);
  EXPECT_TRUE(ping.exited && ping.exit_code == 3) << ping.Describe();
  EXPECT_LT(took, seconds(3));
}

}  // namespace
}  // namespace es::testing
