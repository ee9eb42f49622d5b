#include "store_service/log_index.h"

#include <queue>

#include <cassert>

namespace es::store {
namespace {

Status Inconsistent(std::string message) {
  return Status(es::v1::ERROR_CODE_STORAGE_FAILURE, "inconsistent log: " + std::move(message));
}

}  // namespace

uint64_t LogIndex::StreamVersion(std::string_view stream_id) const {
  const StreamTable::Entry* entry = streams_.Find(stream_id);
  return entry == nullptr ? 0 : entry->value.size();
}

uint64_t LogIndex::CommittedStreamVersion(std::string_view stream_id) const {
  const StreamTable::Entry* entry = streams_.Find(stream_id);
  return entry == nullptr ? 0 : CommittedCount(entry->value);
}

uint64_t LogIndex::CommittedCount(const std::vector<uint64_t>& positions) const {
  // Pending positions are the newest: at the end.
  uint64_t count = positions.size();
  while (count > 0 && positions[count - 1] > committed_head_) --count;
  return count;
}

void LogIndex::ListStreams(std::string_view prefix, std::string_view after, size_t max_count,
                           uint64_t through, es::v1::ListStreamsResult* result) const {
  result->Clear();
  if (max_count == 0) return;
  // The max_count smallest ids past `after`: a max-heap of the best so far.
  struct Found {
    std::string_view id;
    uint64_t version;
    bool operator<(const Found& other) const { return id < other.id; }
  };
  std::priority_queue<Found> best;
  bool more = false;  // a stream qualified beyond the page
  streams_.ForEach([&](const StreamTable::Entry& entry) {
    const std::string_view id = entry.key;
    if (!id.starts_with(prefix) || id <= after) return;
    if (best.size() == max_count && id >= best.top().id) {
      more = true;
      return;
    }
    uint64_t version = entry.value.size();
    while (version > 0 && entry.value[version - 1] > through) --version;
    if (version == 0) return;
    if (best.size() == max_count) {
      best.pop();
      more = true;
    }
    best.push(Found{id, version});
  });
  std::vector<Found> page;
  page.reserve(best.size());
  for (; !best.empty(); best.pop()) page.push_back(best.top());
  for (auto it = page.rbegin(); it != page.rend(); ++it) {
    es::v1::StreamInfo* info = result->add_streams();
    info->set_stream_id(it->id.data(), it->id.size());
    info->set_version(it->version);
  }
  if (more && !page.empty()) result->set_next_after(std::string(page.front().id));
}

const std::vector<uint64_t>* LogIndex::StreamPositions(std::string_view stream_id) const {
  const StreamTable::Entry* entry = streams_.Find(stream_id);
  return entry == nullptr ? nullptr : &entry->value;
}

std::optional<es::v1::AppendResult> LogIndex::FindCommand(std::string_view command_id) const {
  const CommandTable::Entry* found = commands_.Find(command_id);
  if (found == nullptr) return std::nullopt;
  const CommandEntry& entry = found->value;
  es::v1::AppendResult result;
  result.set_stream_id(*entry.stream_id);
  result.set_first_version(entry.first_version);
  result.set_last_version(entry.last_version);
  result.set_first_position(entry.first_position);
  result.set_last_position(entry.last_position);
  return result;
}

LogIndex::StreamTable::Entry& LogIndex::StreamFor(std::string_view stream_id, bool* created) {
  return streams_.FindOrInsert(stream_id, {}, created);
}

Status LogIndex::AddRecovered(uint64_t position, std::string_view stream_id,
                              uint64_t stream_version, std::string_view command_id) {
  if (position != head_ + 1) {
    return Inconsistent("position " + std::to_string(position) + " follows " +
                        std::to_string(head_));
  }
  bool created = false;
  StreamTable::Entry& stream = StreamFor(stream_id, &created);
  std::vector<uint64_t>& positions = stream.value;
  if (stream_version != positions.size() + 1) {
    return Inconsistent("stream '" + std::string(stream_id) + "' version " +
                        std::to_string(stream_version) + " at position " +
                        std::to_string(position) + " follows version " +
                        std::to_string(positions.size()));
  }
  positions.push_back(position);
  head_ = position;
  committed_head_ = position;

  // An append's events are contiguous in the log, so a command's events
  // form one run; the run continues while command and stream stay the same.
  if (recovering_run_ != nullptr && recovering_run_->key == command_id &&
      recovering_run_->value.stream_id == &stream.key) {
    recovering_run_->value.last_version = stream_version;
    recovering_run_->value.last_position = position;
    return Status::Ok();
  }
  bool inserted = false;
  CommandTable::Entry& command = commands_.FindOrInsert(
      command_id, CommandEntry{&stream.key, stream_version, stream_version, position, position},
      &inserted);
  if (!inserted) {
    return Inconsistent("command id '" + std::string(command_id) + "' at position " +
                        std::to_string(position) + " was already used at position " +
                        std::to_string(command.value.first_position));
  }
  recovering_run_ = &command;
  return Status::Ok();
}

void LogIndex::BeginBatch() { pending_.push_back(PendingBatch{0, head_, 0}); }

es::v1::AppendResult LogIndex::Add(std::string_view stream_id, std::string_view command_id,
                                   uint64_t event_count) {
  assert(!pending_.empty());
  bool created = false;
  StreamTable::Entry& stream = StreamFor(stream_id, &created);
  std::vector<uint64_t>& positions = stream.value;
  const uint64_t first_version = positions.size() + 1;
  const uint64_t first_position = head_ + 1;
  const size_t previous_size = positions.size();
  for (uint64_t i = 0; i < event_count; ++i) positions.push_back(first_position + i);
  head_ += event_count;

  CommandEntry entry{&stream.key, first_version, first_version + event_count - 1, first_position,
                     head_};
  commands_.Insert(command_id, entry);
  journal_.push_back(JournalEntry{&stream, previous_size});
  PendingBatch& batch = pending_.back();
  ++batch.journal_entries;
  batch.head = head_;
  if (previous_size == 0) {
    ++batch.new_streams;
    ++pending_new_streams_;
  }

  es::v1::AppendResult result;
  result.set_stream_id(stream.key);
  result.set_first_version(entry.first_version);
  result.set_last_version(entry.last_version);
  result.set_first_position(entry.first_position);
  result.set_last_position(entry.last_position);
  return result;
}

void LogIndex::CommitBatch() {
  assert(!pending_.empty());
  journal_.erase(journal_.begin(),
                 journal_.begin() + static_cast<ptrdiff_t>(pending_.front().journal_entries));
  committed_head_ = pending_.front().head;
  pending_new_streams_ -= pending_.front().new_streams;
  pending_.pop_front();
}

void LogIndex::AbortBatch() {
  assert(!pending_.empty());
  // Newest first: each journal entry's command is then the newest command,
  // and a stream it created the newest stream (a stream the batch created
  // and then extended is truncated before it is erased).
  for (auto it = journal_.rbegin(); it != journal_.rend(); ++it) {
    commands_.EraseNewest();
    if (it->previous_stream_size == 0) {
      assert(&streams_.newest() == it->stream);
      streams_.EraseNewest();
    } else {
      it->stream->value.resize(it->previous_stream_size);
    }
  }
  head_ = committed_head_;
  pending_.clear();
  journal_.clear();
  pending_new_streams_ = 0;
}

}  // namespace es::store
