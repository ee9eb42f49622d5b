#include "bus/catch_up_subscriber.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <algorithm>

#include "bus/poll.h"

namespace es::bus {
namespace {

using Clock = std::chrono::steady_clock;
// Held-back live events beyond this many are discarded; the store read that
// must follow returns them anyway.
constexpr size_t kMaxHeld = 200000;

// Recycled records kept for reuse at most.
constexpr size_t kMaxSpare = 4096;

// Where the EventRecord inside a serialized LiveMessage is, when the message
// is exactly one event (what the store publishes for an event): the record
// can then be parsed straight into a recycled one.
std::optional<std::string_view> LiveEventBytes(const zmq::message_t& body) {
  using google::protobuf::internal::WireFormatLite;
  const auto* data = static_cast<const uint8_t*>(body.data());
  google::protobuf::io::CodedInputStream in(data, static_cast<int>(body.size()));
  if (in.ReadTag() != WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_LENGTH_DELIMITED)) {
    return std::nullopt;
  }
  uint32_t length = 0;
  if (!in.ReadVarint32(&length)) return std::nullopt;
  const auto offset = static_cast<size_t>(in.CurrentPosition());
  if (offset + length != body.size()) return std::nullopt;
  return std::string_view(reinterpret_cast<const char*>(data) + offset, length);
}

// The stream id and global_position of a serialized EventRecord, read
// without decoding the rest (nullopt if it does not parse or has no
// position).
struct RecordHead {
  std::string_view stream_id;
  uint64_t position = 0;
};
std::optional<RecordHead> ReadRecordHead(std::string_view record) {
  using google::protobuf::internal::WireFormatLite;
  const auto* data = reinterpret_cast<const uint8_t*>(record.data());
  google::protobuf::io::CodedInputStream in(data, static_cast<int>(record.size()));
  // EventRecord.stream_id = 2 (bytes), global_position = 4 (varint).
  constexpr uint32_t kStreamTag =
      WireFormatLite::MakeTag(2, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  constexpr uint32_t kPositionTag = WireFormatLite::MakeTag(4, WireFormatLite::WIRETYPE_VARINT);
  RecordHead head;
  for (uint32_t tag = in.ReadTag(); tag != 0; tag = in.ReadTag()) {
    if (tag == kStreamTag) {
      uint32_t length = 0;
      if (!in.ReadVarint32(&length)) return std::nullopt;
      const auto offset = static_cast<size_t>(in.CurrentPosition());
      if (offset + length > record.size()) return std::nullopt;
      head.stream_id = record.substr(offset, length);
      in.Skip(static_cast<int>(length));
    } else if (tag == kPositionTag) {
      if (!in.ReadVarint64(&head.position)) return std::nullopt;
      // Fields come in number order from the store: the rest is not needed.
      if (!head.stream_id.empty()) return head;
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return std::nullopt;
    }
  }
  if (head.position == 0) return std::nullopt;
  return head;
}

}  // namespace

CatchUpSubscriber::CatchUpSubscriber(zmq::context_t& context, CatchUpOptions options)
    : options_(std::move(options)),
      sub_(context, zmq::socket_type::sub),
      store_(context, options_.store_requests,
             AsyncChannel::Options{.attempt_timeout = options_.rpc.attempt_timeout,
                                   .deadline = options_.rpc.deadline}) {
  through_ = options_.from_position > 0 ? options_.from_position - 1 : 0;
  delivered_through_ = through_;
  sub_.set(zmq::sockopt::linger, 0);
  sub_.set(zmq::sockopt::rcvhwm, options_.receive_hwm);
  if (options_.batched && options_.stream_prefix.empty()) {
    sub_.set(zmq::sockopt::subscribe, std::string(kBatchTopic));
    sub_.set(zmq::sockopt::subscribe, std::string(kHeartbeatTopic));
  } else {
    options_.batched = false;
    sub_.set(zmq::sockopt::subscribe, options_.stream_prefix);
    if (!options_.stream_prefix.empty()) {
      sub_.set(zmq::sockopt::subscribe, std::string(kHeartbeatTopic));
    }
  }
  // Subscribe before the first read: whatever is published after this
  // moment reaches the socket, and the read covers everything before it.
  sub_.connect(options_.store_events);
  last_message_ = Clock::now();
  if (!options_.name.empty()) {
    reporter_ = std::make_unique<zmq::socket_t>(context, zmq::socket_type::dealer);
    reporter_->set(zmq::sockopt::linger, 0);
    reporter_->set(zmq::sockopt::sndhwm, 4);
    reporter_->connect(options_.store_requests);
  }
}

void CatchUpSubscriber::ReportPosition() {
  const auto now = Clock::now();
  if (!reporter_ || now < next_report_) return;
  next_report_ = now + options_.report_interval;
  // Discard the acknowledgements of earlier reports.
  zmq::message_t discard;
  while (reporter_->recv(discard, zmq::recv_flags::dontwait)) {
  }
  es::v1::StoreRequest request;
  request.mutable_report_checkpoint()->set_subscriber(options_.name);
  request.mutable_report_checkpoint()->set_position(delivered_through_);
  const std::string body = request.SerializeAsString();
  if (reporter_->send(zmq::message_t(), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
    reporter_->send(zmq::message_t(body.data(), body.size()), zmq::send_flags::dontwait);
  }
}

CatchUpSubscriber::~CatchUpSubscriber() = default;

std::optional<es::v1::EventRecord> CatchUpSubscriber::Next(std::chrono::milliseconds timeout) {
  es::v1::EventRecord event;
  if (!Next(&event, timeout)) return std::nullopt;
  return event;
}

bool CatchUpSubscriber::Next(es::v1::EventRecord* out, std::chrono::milliseconds timeout) {
  // Events already in hand go out without a clock read (a burst is drained
  // from the socket at once; reading the clock per event cost ~10% of a
  // subscriber's CPU).
  if (!ready_.empty()) {
    PopReady(out);
    return true;
  }
  const auto deadline = Clock::now() + timeout;
  ReportPosition();
  while (ready_.empty()) {
    if (!caught_up_) {
      caught_up_ = ReadFromStore(0);
      if (!ready_.empty()) break;
    }
    bool received = DrainSocket();
    // Nothing more is waiting on the socket: settle what the burst showed.
    if (caught_up_ && repair_target_ > through_) {
      ++counters_.repairs;
      ReadFromStore(repair_target_);
    }
    if (!ready_.empty()) break;

    auto now = Clock::now();
    if (now - last_message_ > options_.silence_timeout) {
      // A silent tail: no event and no heartbeat. Ask the store for its head.
      last_message_ = now;
      ReadFromStore(0);
      if (!ready_.empty()) break;
    }
    if (now >= deadline) {
      // Nothing in hand: every matching event up to through_ went out
      // (positions passed by a read or skipped live count too).
      delivered_through_ = through_;
      return false;
    }
    if (received) continue;
    auto wait = std::min<Clock::duration>(deadline - now, options_.silence_timeout);
    if (!caught_up_ || repair_target_ > through_) {
      // The store did not answer: try again soon, not at once.
      wait = std::min<Clock::duration>(wait, std::chrono::milliseconds(100));
    }
    zmq::pollitem_t item{static_cast<void*>(sub_), 0, ZMQ_POLLIN, 0};
    PollOnce(&item, 1, std::chrono::duration_cast<std::chrono::milliseconds>(wait));
  }
  PopReady(out);
  return true;
}

void CatchUpSubscriber::PopReady(es::v1::EventRecord* out) {
  out->Swap(&ready_.front());
  if (spare_.size() < kMaxSpare) spare_.push_back(std::move(ready_.front()));
  ready_.pop_front();
  delivered_through_ = ready_.empty() ? through_ : out->global_position();
}

es::v1::EventRecord CatchUpSubscriber::TakeSpare() {
  if (spare_.empty()) return es::v1::EventRecord();
  es::v1::EventRecord record = std::move(spare_.back());
  spare_.pop_back();
  return record;
}

bool CatchUpSubscriber::DrainSocket() {
  bool received = false;
  // Bounded, so a firehose cannot starve the caller of the events it has.
  for (int i = 0; i < 10000; ++i) {
    zmq::message_t topic;
    if (!sub_.recv(topic, zmq::recv_flags::dontwait)) break;
    received = true;
    if (!topic.more()) continue;
    zmq::message_t body;
    if (!sub_.recv(body, zmq::recv_flags::none)) break;
    while (body.more()) {  // tolerate extra frames: drop them
      zmq::message_t extra;
      if (!sub_.recv(extra, zmq::recv_flags::none)) break;
      if (!extra.more()) break;
    }
    HandleLive(topic, body);
  }
  if (received) last_message_ = Clock::now();
  return received;
}

bool CatchUpSubscriber::Delivers(std::string_view stream_id) const {
  if (options_.deliver_only.empty()) return true;
  return std::any_of(options_.deliver_only.begin(), options_.deliver_only.end(),
                     [&](const std::string& prefix) { return stream_id.starts_with(prefix); });
}

void CatchUpSubscriber::HandleLive(zmq::message_t& topic, zmq::message_t& body) {
  const std::string_view topic_bytes = topic.to_string_view();
  if (topic_bytes == kBatchTopic) {
    // An unfiltered per-event subscriber receives batches too (whenever
    // another subscriber asks for them): it has those events already.
    if (options_.batched) HandleBatch(body);
    return;
  }
  if (topic_bytes != kHeartbeatTopic) {
    if (std::optional<std::string_view> record = LiveEventBytes(body)) {
      return HandleLiveRecord(*record);
    }
  }
  es::v1::LiveMessage message;
  if (!message.ParseFromArray(body.data(), static_cast<int>(body.size()))) return;
  if (message.has_heartbeat()) {
    uint64_t head = message.heartbeat().head_position();
    known_head_ = std::max(known_head_, head);
    // The PUB stream is ordered: a head beyond what we hold means events
    // were published that never reached us (or, filtered, that we have not
    // yet confirmed there were none for us).
    if (head > through_) repair_target_ = std::max(repair_target_, head);
    return;
  }
  if (message.has_event()) AcceptLiveEvent(std::move(*message.mutable_event()));
}

void CatchUpSubscriber::HandleLiveRecord(std::string_view record) {
  // A stream this subscriber does not deliver only moves the position on,
  // read off the wire.
  if (!options_.deliver_only.empty()) {
    std::optional<RecordHead> head = ReadRecordHead(record);
    if (head && !Delivers(head->stream_id)) return AcceptSkipped(head->position);
  }
  es::v1::EventRecord event = TakeSpare();
  if (event.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
    AcceptLiveEvent(std::move(event));
  }
}

void CatchUpSubscriber::HandleBatch(const zmq::message_t& body) {
  // LiveMessage.batch = 3, EventBatch.events = 1: walk the records in place.
  using google::protobuf::internal::WireFormatLite;
  const auto* data = static_cast<const uint8_t*>(body.data());
  google::protobuf::io::CodedInputStream in(data, static_cast<int>(body.size()));
  uint32_t length = 0;
  if (in.ReadTag() != WireFormatLite::MakeTag(3, WireFormatLite::WIRETYPE_LENGTH_DELIMITED) ||
      !in.ReadVarint32(&length) || in.CurrentPosition() + length != body.size()) {
    return;  // not a batch: a loss, if any, shows as a gap later
  }
  constexpr uint32_t kRecordTag =
      WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  while (!in.ExpectAtEnd()) {
    uint32_t record_length = 0;
    if (in.ReadTag() != kRecordTag || !in.ReadVarint32(&record_length)) return;
    const auto offset = static_cast<size_t>(in.CurrentPosition());
    if (offset + record_length > body.size() || !in.Skip(static_cast<int>(record_length))) return;
    HandleLiveRecord(std::string_view(reinterpret_cast<const char*>(data) + offset, record_length));
  }
}

bool CatchUpSubscriber::IsNextLive(uint64_t position) const {
  return position == through_ + 1 && held_.empty() && repair_target_ <= through_;
}

void CatchUpSubscriber::AcceptSkipped(uint64_t position) {
  known_head_ = std::max(known_head_, position);
  if (position <= through_ || !caught_up_) return;
  if (IsNextLive(position)) {
    through_ = position;
    if (ready_.empty()) delivered_through_ = through_;
    return;
  }
  // Beyond a gap: the read that repairs it covers this position too.
  repair_target_ = std::max(repair_target_, position);
}

void CatchUpSubscriber::AcceptLiveEvent(es::v1::EventRecord&& event) {
  if (!Delivers(event.stream_id())) return AcceptSkipped(event.global_position());
  const uint64_t position = event.global_position();
  known_head_ = std::max(known_head_, position);
  if (position <= through_) return;  // already have it
  if (!caught_up_) return;           // the catch-up read will return it
  if (options_.stream_prefix.empty() && IsNextLive(position)) {
    through_ = position;
    ++counters_.live_events;
    ready_.push_back(std::move(event));
    return;
  }
  repair_target_ = std::max(repair_target_, position);
  if (held_.size() < kMaxHeld) held_.emplace(position, std::move(event));
}

void CatchUpSubscriber::RequestPage(uint64_t from) {
  auto read = std::make_shared<PendingRead>();
  reads_[from] = read;
  es::v1::StoreRequest request;
  auto* read_all = request.mutable_read_all();
  read_all->set_from_position(from);
  read_all->set_max_count(options_.page_size);
  read_all->set_stream_prefix(options_.stream_prefix);
  store_.Call(request, [read](std::optional<es::v1::StoreReply> reply) {
    read->done = true;
    read->reply = std::move(reply);
  });
}

bool CatchUpSubscriber::WaitFor(const PendingRead& read) {
  while (!read.done) {
    zmq::pollitem_t item{static_cast<void*>(store_.socket()), 0, ZMQ_POLLIN, 0};
    PollOnce(&item, 1, std::chrono::milliseconds(50));
    if (item.revents & ZMQ_POLLIN) store_.DispatchReplies();
    store_.Tick();  // resends after a silent attempt; fails past the deadline
  }
  return read.reply.has_value();
}

bool CatchUpSubscriber::ReadFromStore(uint64_t target) {
  // Unfiltered, positions are dense: the page after the one asked for starts
  // exactly page_size further, so it is requested before this one arrives and
  // the store builds it while we take this one apart. A filtered read may
  // skip any number of positions, so there it is one page at a time.
  const int depth = options_.stream_prefix.empty() ? 2 : 1;
  while (true) {
    // Replies for what we have passed are of no use any more.
    reads_.erase(reads_.begin(), reads_.upper_bound(through_));
    for (int i = 0; i < depth; ++i) {
      const uint64_t from = through_ + 1 + uint64_t{options_.page_size} * i;
      if (!reads_.contains(from)) RequestPage(from);
    }
    auto pending = reads_.at(through_ + 1);
    if (!WaitFor(*pending)) {
      ++counters_.store_unavailable;
      reads_.clear();
      return false;
    }
    reads_.erase(through_ + 1);
    es::v1::StoreReply& reply = *pending->reply;
    if (!reply.has_read_all()) {
      ++counters_.store_unavailable;
      return false;
    }
    auto& result = *reply.mutable_read_all();
    known_head_ = std::max(known_head_, result.head_position());
    for (auto& event : *result.mutable_events()) {
      if (event.global_position() <= through_) continue;
      through_ = event.global_position();
      if (!Delivers(event.stream_id())) continue;
      ++counters_.read_events;
      ready_.push_back(std::move(event));
    }
    const uint64_t before = through_;
    through_ = std::max(through_, result.scanned_through());
    // Live events we held are now either delivered by this read or proven
    // not to exist for us; either way they are settled.
    held_.erase(held_.begin(), held_.upper_bound(through_));
    const uint64_t goal = target == 0 ? result.head_position() : target;
    // Done at the goal, or when the store has nothing past us (a heartbeat
    // from a store that lost its tail must not make us spin).
    if (through_ >= goal || (through_ == before && result.events().empty())) {
      if (through_ >= repair_target_) repair_target_ = 0;
      return true;
    }
    // Hand the caller a bounded batch; the next call continues from here.
    if (ready_.size() >= size_t{options_.page_size} * 4) return false;
  }
}

}  // namespace es::bus
