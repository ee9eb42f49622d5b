#include "store_service/log_index.h"

#include <cassert>

namespace es::store {
namespace {

Status Inconsistent(std::string message) {
  return Status(es::v1::ERROR_CODE_STORAGE_FAILURE, "inconsistent log: " + std::move(message));
}

}  // namespace

uint64_t LogIndex::StreamVersion(std::string_view stream_id) const {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? 0 : it->second.size();
}

const std::vector<uint64_t>* LogIndex::StreamPositions(std::string_view stream_id) const {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : &it->second;
}

std::optional<es::v1::AppendResult> LogIndex::FindCommand(std::string_view command_id) const {
  auto it = commands_.find(command_id);
  if (it == commands_.end()) return std::nullopt;
  const CommandEntry& entry = it->second;
  es::v1::AppendResult result;
  result.set_stream_id(*entry.stream_id);
  result.set_first_version(entry.first_version);
  result.set_last_version(entry.last_version);
  result.set_first_position(entry.first_position);
  result.set_last_position(entry.last_position);
  return result;
}

std::vector<uint64_t>& LogIndex::StreamFor(std::string_view stream_id, const std::string** key) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) it = streams_.emplace(std::string(stream_id), 0).first;
  *key = &it->first;
  return it->second;
}

Status LogIndex::AddRecovered(uint64_t position, std::string_view stream_id,
                              uint64_t stream_version, std::string_view command_id) {
  if (position != head_ + 1) {
    return Inconsistent("position " + std::to_string(position) + " follows " +
                        std::to_string(head_));
  }
  const std::string* stream_key = nullptr;
  std::vector<uint64_t>& positions = StreamFor(stream_id, &stream_key);
  if (stream_version != positions.size() + 1) {
    return Inconsistent("stream '" + std::string(stream_id) + "' version " +
                        std::to_string(stream_version) + " at position " +
                        std::to_string(position) + " follows version " +
                        std::to_string(positions.size()));
  }
  positions.push_back(position);
  head_ = position;

  // An append's events are contiguous in the log, so a command's events
  // form one run; the run continues while command and stream stay the same.
  if (recovering_run_ != nullptr && recovering_run_->first == command_id &&
      recovering_run_->second.stream_id == stream_key) {
    recovering_run_->second.last_version = stream_version;
    recovering_run_->second.last_position = position;
    return Status::Ok();
  }
  auto [it, inserted] = commands_.emplace(
      std::string(command_id),
      CommandEntry{stream_key, stream_version, stream_version, position, position});
  if (!inserted) {
    return Inconsistent("command id '" + std::string(command_id) + "' at position " +
                        std::to_string(position) + " was already used at position " +
                        std::to_string(it->second.first_position));
  }
  recovering_run_ = &*it;
  return Status::Ok();
}

void LogIndex::BeginBatch() {
  assert(!in_batch_);
  in_batch_ = true;
  head_before_batch_ = head_;
  journal_.clear();
}

es::v1::AppendResult LogIndex::Add(std::string_view stream_id, std::string_view command_id,
                                   uint64_t event_count) {
  assert(in_batch_);
  const std::string* stream_key = nullptr;
  std::vector<uint64_t>& positions = StreamFor(stream_id, &stream_key);
  const uint64_t first_version = positions.size() + 1;
  const uint64_t first_position = head_ + 1;
  size_t previous_size = positions.size();
  for (uint64_t i = 0; i < event_count; ++i) positions.push_back(first_position + i);
  head_ += event_count;

  CommandEntry entry{stream_key, first_version, first_version + event_count - 1, first_position,
                     head_};
  auto it = commands_.emplace(std::string(command_id), entry).first;
  journal_.push_back(JournalEntry{stream_key, previous_size, &it->first});

  es::v1::AppendResult result;
  result.set_stream_id(*stream_key);
  result.set_first_version(entry.first_version);
  result.set_last_version(entry.last_version);
  result.set_first_position(entry.first_position);
  result.set_last_position(entry.last_position);
  return result;
}

void LogIndex::CommitBatch() {
  assert(in_batch_);
  in_batch_ = false;
  journal_.clear();
}

void LogIndex::AbortBatch() {
  assert(in_batch_);
  // Newest first, so a stream the batch created and then extended is
  // truncated before it is erased.
  for (auto it = journal_.rbegin(); it != journal_.rend(); ++it) {
    // Erase by a copy: the key must not live in the node being erased.
    commands_.erase(std::string(*it->command_id));
    if (it->previous_stream_size == 0) {
      streams_.erase(std::string(*it->stream_id));
    } else {
      streams_.find(*it->stream_id)->second.resize(it->previous_stream_size);
    }
  }
  head_ = head_before_batch_;
  in_batch_ = false;
  journal_.clear();
}

}  // namespace es::store
