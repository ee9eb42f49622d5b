#include "store_service/event_storage.h"

#include <algorithm>

namespace es::store {

std::optional<PositionRange> StartReadAll(uint64_t head, uint64_t from_position,
                                          const ReadLimits& limits, es::v1::ReadAllResult* result) {
  result->Clear();
  result->set_head_position(head);
  const uint64_t from = std::max<uint64_t>(from_position, 1);
  if (from > head || limits.max_count == 0) {
    result->set_scanned_through(std::min(from - 1, head));
    return std::nullopt;
  }
  return PositionRange{from, std::min(head, from + std::max<uint64_t>(limits.max_scanned, 1) - 1)};
}

es::v1::EventRecord CommittedRecord(const es::v1::AppendRequest& request, int index,
                                    const es::v1::AppendResult& result, int64_t recorded_at_us) {
  es::v1::EventRecord record;
  FillCommittedRecord(request, index, result, recorded_at_us, &record);
  return record;
}

void FillCommittedRecord(const es::v1::AppendRequest& request, int index,
                         const es::v1::AppendResult& result, int64_t recorded_at_us,
                         es::v1::EventRecord* record) {
  const es::v1::NewEvent& event = request.events(index);
  record->set_event_id(event.event_id());
  record->set_stream_id(request.stream_id());
  record->set_stream_version(result.first_version() + static_cast<uint64_t>(index));
  record->set_global_position(result.first_position() + static_cast<uint64_t>(index));
  record->set_type(event.type());
  record->set_data(event.data());
  record->set_recorded_at_us(recorded_at_us);
  record->set_command_id(request.command_id());
}

size_t RecordSize(const es::v1::EventRecord& record) {
  return record.event_id().size() + record.stream_id().size() + record.type().size() +
         record.data().size() + record.command_id().size();
}

}  // namespace es::store
