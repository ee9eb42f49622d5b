#include "store_service/log_event_storage.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <utility>

#include "store_service/crc32c.h"
#include "store_service/log_line.h"

namespace es::store {
namespace {

using logfmt::CommitMarker;
using logfmt::EventView;
using logfmt::Frame;
using logfmt::FrameStatus;
using logfmt::kFrameHeaderSize;
using logfmt::kSegmentHeaderSize;

// Reads through the read window: small for stream reads (scattered
// records), larger for reads of the global log (consecutive records).
constexpr size_t kStreamReadChunk = 4 * 1024;
constexpr size_t kLogReadChunk = 64 * 1024;
// Start-up reads segments in large sequential chunks.
constexpr size_t kScanChunk = size_t{4} << 20;
// Segments are opened for reads on demand; past this many, they are all
// closed again.
constexpr size_t kMaxOpenReadSegments = 64;
// A batch buffer that grew past this (a huge batch) is released after it.
constexpr size_t kKeepBatchCapacity = size_t{16} << 20;

Status StorageFailure(std::string message) {
  return Status(es::v1::ERROR_CODE_STORAGE_FAILURE, std::move(message));
}

std::string ErrnoText(int error) { return std::strerror(error); }

bool IsDiskFull(int error) { return error == ENOSPC || error == EDQUOT; }

// pread(2) until `size` bytes or the end of the file: the bytes read, or
// -1 with errno set.
ssize_t ReadFully(int fd, char* buffer, size_t size, uint64_t offset) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, buffer + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

// fsync(2) of a directory, so that the entries created or removed in it
// are durable.
int SyncDirectoryAt(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  errno = saved;
  return rc;
}

}  // namespace

// Encodes a batch's accepted appends into its Prepared buffer.
class LogEventStorage::Encoder final : public BatchWriter {
 public:
  Encoder(Prepared& batch, int64_t recorded_at_us)
      : batch_(batch), recorded_at_us_(recorded_at_us) {}

  Status Begin() override { return Status::Ok(); }

  Status Place(const es::v1::AppendRequest& request, const es::v1::AppendResult& placed) override {
    if (batch_.event_count == 0) batch_.first_position = placed.first_position();
    batch_.event_count += static_cast<uint64_t>(request.events_size());
    EventView event;
    event.recorded_at_us = recorded_at_us_;
    event.stream_id = request.stream_id();
    event.command_id = request.command_id();
    for (int i = 0; i < request.events_size(); ++i) {
      const es::v1::NewEvent& source = request.events(i);
      event.position = placed.first_position() + static_cast<uint64_t>(i);
      event.stream_version = placed.first_version() + static_cast<uint64_t>(i);
      event.event_id = source.event_id();
      event.type = source.type();
      event.data = source.data();
      batch_.offsets.push_back(batch_.bytes.size());
      logfmt::AppendEventRecord(event, &batch_.bytes);
    }
    return Status::Ok();
  }

 private:
  Prepared& batch_;
  int64_t recorded_at_us_;
};

LogEventStorage::LogEventStorage(LogStorageOptions options) : options_(std::move(options)) {}

LogEventStorage::~LogEventStorage() {
  if (writer_.joinable()) {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_writer_.notify_one();
    writer_.join();  // after it wrote what was queued
  }
  for (Segment& segment : segments_) {
    if (segment.fd >= 0) ::close(segment.fd);
  }
  if (active_.fd >= 0) ::close(active_.fd);
  if (completion_fd_ >= 0) ::close(completion_fd_);
  if (directory_fd_ >= 0) ::close(directory_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

Status LogEventStorage::LockDirectory() {
  const std::string path = options_.directory + "/LOCK";
  lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return StorageFailure("cannot open " + path + ": " + ErrnoText(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    if (error == EWOULDBLOCK) {
      return StorageFailure(options_.directory +
                            " is in use by another store (it holds the lock on " + path + ")");
    }
    return StorageFailure("cannot lock " + path + ": " + ErrnoText(error));
  }
  return Status::Ok();
}

Status LogEventStorage::Open() {
  const auto started = std::chrono::steady_clock::now();
  io_ = options_.io ? options_.io : std::make_shared<LogFileIo>();
  if (options_.segment_bytes == 0) options_.segment_bytes = 1;
  const std::string& directory = options_.directory;
  if (::mkdir(directory.c_str(), 0755) == 0) {
    // Make the new directory's own entry durable.
    const std::string parent = std::filesystem::path(directory).parent_path().string();
    if (SyncDirectoryAt(parent.empty() ? "." : parent) != 0) {
      return StorageFailure("cannot fsync the directory of " + directory + ": " + ErrnoText(errno));
    }
  } else if (errno != EEXIST) {
    return StorageFailure("cannot create " + directory + ": " + ErrnoText(errno));
  }
  directory_fd_ = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory_fd_ < 0)
    return StorageFailure("cannot open " + directory + ": " + ErrnoText(errno));
  if (Status s = LockDirectory(); !s.ok()) return s;

  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
    std::optional<uint64_t> first = logfmt::ParseSegmentFileName(entry.path().filename().string());
    if (!first) continue;  // LOCK, or files that are not ours
    segments_.push_back(Segment{*first, entry.path().string(), -1, 0});
  }
  if (error) return StorageFailure("cannot list " + directory + ": " + error.message());
  std::sort(segments_.begin(), segments_.end(),
            [](const Segment& a, const Segment& b) { return a.first_position < b.first_position; });

  for (size_t i = 0; i < segments_.size(); ++i) {
    const bool last = i + 1 == segments_.size();
    if (Status s = RecoverSegment(i, last); !s.ok()) return s;
  }
  if (segments_.empty()) {
    if (Status s = CreateSegmentFile(index_.head() + 1, &active_); !s.ok()) return s;
    segments_.push_back(Segment{active_.first_position, active_.path, -1, active_.size});
  } else {
    // The writer appends to the last segment through a descriptor of its
    // own; readers open theirs on demand.
    Segment& last = segments_.back();
    active_ = ActiveSegment{last.first_position, last.path, last.fd, last.size};
    if (active_.fd < 0) {
      // The last segment was an interrupted roll-over and went away: the
      // one before it is the active segment again.
      active_.fd = ::open(last.path.c_str(), O_RDWR | O_CLOEXEC);
      if (active_.fd < 0) {
        return StorageFailure("cannot open " + last.path + ": " + ErrnoText(errno));
      }
    }
    last.fd = -1;
  }
  completion_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (completion_fd_ < 0) return StorageFailure("cannot create an eventfd: " + ErrnoText(errno));
  writer_ = std::thread([this] { WriterLoop(); });
  recovery_.segments = segments_.size();
  recovery_.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  opened_ = true;
  return Status::Ok();
}

Status LogEventStorage::RecoverSegment(size_t index, bool last) {
  Segment& segment = segments_[index];
  const std::string& path = segment.path;
  int fd = ::open(path.c_str(), (last ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return StorageFailure("cannot open " + path + ": " + ErrnoText(errno));
  // Closes fd on every early return.
  struct FdCloser {
    int* fd;
    ~FdCloser() {
      if (*fd >= 0) ::close(*fd);
    }
  } closer{&fd};

  struct stat stat_buffer {};
  if (::fstat(fd, &stat_buffer) != 0) return StorageFailure("cannot stat " + path);
  const auto file_size = static_cast<uint64_t>(stat_buffer.st_size);

  char header[kSegmentHeaderSize];
  std::optional<uint64_t> header_first;
  if (file_size >= kSegmentHeaderSize &&
      ReadFully(fd, header, kSegmentHeaderSize, 0) == static_cast<ssize_t>(kSegmentHeaderSize)) {
    header_first = logfmt::DecodeSegmentHeader(header);
  }
  if (!header_first) {
    if (last && file_size <= kSegmentHeaderSize) {
      // A roll-over that crashed before its header was durable: the
      // segment never held an event.
      if (::unlink(path.c_str()) != 0 || ::fsync(directory_fd_) != 0) {
        return StorageFailure("cannot remove the unfinished segment " + path + ": " +
                              ErrnoText(errno));
      }
      LogLine("removed " + path + ", a segment whose creation was interrupted (" +
              std::to_string(file_size) + " bytes, no events)");
      segments_.pop_back();
      return Status::Ok();
    }
    return StorageFailure("corrupt log: " + path + " has no valid segment header");
  }
  if (*header_first != segment.first_position) {
    return StorageFailure("corrupt log: " + path + " is named for position " +
                          std::to_string(segment.first_position) + " but its header says " +
                          std::to_string(*header_first));
  }
  if (segment.first_position != index_.head() + 1) {
    return StorageFailure("inconsistent log: " + path + " starts at position " +
                          std::to_string(segment.first_position) +
                          " but the segments before it end at " + std::to_string(index_.head()));
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

  // The buffer holds bytes [buffer_start, buffer_start + buffered) of the
  // file, always from the start of the current batch on, so a whole batch
  // is in memory when its commit marker is checked.
  std::string buffer(static_cast<size_t>(std::min<uint64_t>(kScanChunk, file_size)), '\0');
  uint64_t buffer_start = kSegmentHeaderSize;
  size_t buffered = 0;
  uint64_t position_in_file = kSegmentHeaderSize;  // the next record
  uint64_t batch_start = kSegmentHeaderSize;
  uint32_t batch_events = 0;
  uint32_t batch_crc = 0;
  std::string problem;  // why the scan stopped early; empty = a clean end

  // Makes bytes up to `end` (<= file_size) resident.
  auto ensure = [&](uint64_t end) -> Status {
    if (end <= buffer_start + buffered) return Status::Ok();
    const auto keep_from = static_cast<size_t>(batch_start - buffer_start);
    std::memmove(buffer.data(), buffer.data() + keep_from, buffered - keep_from);
    buffered -= keep_from;
    buffer_start = batch_start;
    const auto needed = static_cast<size_t>(end - buffer_start);
    if (needed > buffer.size()) buffer.resize(std::max(needed, buffer.size() * 2));
    const uint64_t read_from = buffer_start + buffered;
    const auto want =
        static_cast<size_t>(std::min<uint64_t>(buffer.size() - buffered, file_size - read_from));
    ssize_t n = ReadFully(fd, buffer.data() + buffered, want, read_from);
    if (n < 0) return StorageFailure("cannot read " + path + ": " + ErrnoText(errno));
    buffered += static_cast<size_t>(n);
    recovery_.bytes_scanned += static_cast<uint64_t>(n);
    if (buffer_start + buffered < end) {
      return StorageFailure("cannot read " + path + ": it is shorter than its size");
    }
    return Status::Ok();
  };

  while (true) {
    if (position_in_file == file_size) {
      if (batch_start != position_in_file) problem = "the last batch has no commit marker";
      break;
    }
    if (file_size - position_in_file < kFrameHeaderSize) {
      problem = "a record header is cut off by the end of the file";
      break;
    }
    if (Status s = ensure(position_in_file + kFrameHeaderSize); !s.ok()) return s;
    auto available = [&] {
      const auto at = static_cast<size_t>(position_in_file - buffer_start);
      return std::string_view(buffer.data() + at, buffered - at);
    };
    Frame frame;
    size_t needed = 0;
    FrameStatus status = logfmt::ParseFrame(available(), &frame, &needed);
    if (status == FrameStatus::kIncomplete) {
      if (needed > file_size - position_in_file) {
        problem = "a record is cut off by the end of the file";
        break;
      }
      if (Status s = ensure(position_in_file + needed); !s.ok()) return s;
      status = logfmt::ParseFrame(available(), &frame, &needed);
    }
    if (status != FrameStatus::kOk) {
      problem = "a record fails its CRC or has an impossible size";
      break;
    }
    if (frame.kind == logfmt::kEventKind) {
      EventView event;
      if (!logfmt::DecodeEvent(frame.payload, &event)) {
        problem = "a malformed event record";
        break;
      }
      ++batch_events;
      batch_crc = Crc32cExtend(batch_crc, available().data(), frame.size);
    } else if (frame.kind == logfmt::kMarkerKind) {
      CommitMarker marker;
      const uint64_t first = index_.head() + 1;
      if (!logfmt::DecodeMarker(frame.payload, &marker) || batch_events == 0 ||
          marker.batch_start != batch_start || marker.event_count != batch_events ||
          marker.first_position != first || marker.last_position != first + batch_events - 1 ||
          marker.batch_crc != batch_crc) {
        problem = "a commit marker that does not match its batch";
        break;
      }
      const auto at = static_cast<size_t>(batch_start - buffer_start);
      std::string_view batch_bytes(buffer.data() + at,
                                   static_cast<size_t>(position_in_file - batch_start));
      if (Status s = ApplyRecoveredBatch(batch_bytes, batch_start); !s.ok()) {
        return Status(s.code(), path + ": " + s.message());
      }
      batch_start = position_in_file + frame.size;
      batch_events = 0;
      batch_crc = 0;
    } else {
      problem = "a record of unknown kind " + std::to_string(frame.kind);
      break;
    }
    position_in_file += frame.size;
  }

  if (problem.empty()) {
    segment.size = file_size;
  } else {
    const std::string where = path + " at offset " + std::to_string(position_in_file);
    if (!last) {
      return StorageFailure("corrupt log: " + problem + " in " + where +
                            ", which is not the last segment; refusing to drop committed events");
    }
    bool found = false;
    std::string what;
    if (Status s =
            FindLaterCommit(fd, segment, position_in_file, batch_start, file_size, &found, &what);
        !s.ok()) {
      return s;
    }
    if (found) {
      return StorageFailure("corrupt log: " + problem + " in " + where + ", but " + what +
                            "; refusing to drop committed events");
    }
    // A torn tail: the batch being written when the store stopped. It was
    // never acknowledged (its fdatasync had not returned).
    if (::ftruncate(fd, static_cast<off_t>(batch_start)) != 0 || ::fsync(fd) != 0) {
      return StorageFailure("cannot cut the torn tail off " + path + ": " + ErrnoText(errno));
    }
    recovery_.torn_bytes_dropped += file_size - batch_start;
    LogLine("dropped a torn batch at the end of the log: " + problem + " in " + where + "; cut " +
            std::to_string(file_size - batch_start) + " bytes after offset " +
            std::to_string(batch_start) + " (the log ends at position " +
            std::to_string(index_.head()) + ")");
    segment.size = batch_start;
  }
  if (last) {
    segment.fd = fd;
    fd = -1;  // kept open: the active segment
  }
  return Status::Ok();
}

Status LogEventStorage::FindLaterCommit(int fd, const Segment& segment, uint64_t bad_at,
                                        uint64_t batch_start, uint64_t file_size, bool* found,
                                        std::string* what) {
  // Looks for a whole commit marker after the bad record: one that closes
  // a later batch, or closes this batch with more data after it (the next
  // batch is written only after this one's fdatasync returned, so then
  // this batch had been acknowledged). Either means the bad record is not
  // a torn tail but damage to committed data.
  *found = false;
  constexpr size_t kMarkerFrameSize = kFrameHeaderSize + logfmt::kMarkerPayloadSize;
  const auto marker_size = static_cast<uint32_t>(logfmt::kMarkerPayloadSize);
  std::string chunk(kScanChunk, '\0');
  uint64_t from = bad_at + 1;
  while (from + kMarkerFrameSize <= file_size) {
    ssize_t n = ReadFully(fd, chunk.data(), chunk.size(), from);
    if (n < 0) return StorageFailure("cannot read " + segment.path + ": " + ErrnoText(errno));
    const auto got = static_cast<size_t>(n);
    if (got < kMarkerFrameSize) break;
    for (size_t i = 0; i + kMarkerFrameSize <= got; ++i) {
      if (std::memcmp(chunk.data() + i, &marker_size, 4) != 0) continue;
      Frame frame;
      size_t needed = 0;
      CommitMarker marker;
      if (logfmt::ParseFrame(std::string_view(chunk.data() + i, kMarkerFrameSize), &frame,
                             &needed) != FrameStatus::kOk ||
          !logfmt::DecodeMarker(frame.payload, &marker)) {
        continue;
      }
      const uint64_t at = from + i;
      if (marker.batch_start > batch_start) {
        *what = "a later batch (positions " + std::to_string(marker.first_position) + ".." +
                std::to_string(marker.last_position) + ") was committed after it, at offset " +
                std::to_string(at);
        *found = true;
        return Status::Ok();
      }
      if (marker.batch_start == batch_start && at + kMarkerFrameSize < file_size) {
        *what = "its batch's commit marker (offset " + std::to_string(at) +
                ") is followed by more data, so that batch had been synced and acknowledged";
        *found = true;
        return Status::Ok();
      }
    }
    if (from + got >= file_size) break;
    from += got - (kMarkerFrameSize - 1);  // overlap: a marker across chunks
  }
  return Status::Ok();
}

Status LogEventStorage::ApplyRecoveredBatch(std::string_view bytes, uint64_t batch_start) {
  size_t at = 0;
  while (at < bytes.size()) {
    uint32_t payload_size;
    std::memcpy(&payload_size, bytes.data() + at, 4);
    EventView event;
    // The scan checked every frame's CRC and decoding already.
    logfmt::DecodeEvent(bytes.substr(at + kFrameHeaderSize, payload_size), &event);
    if (Status s = index_.AddRecovered(event.position, event.stream_id, event.stream_version,
                                       event.command_id);
        !s.ok()) {
      return s;
    }
    offsets_.push_back(batch_start + at);
    at += kFrameHeaderSize + payload_size;
  }
  return Status::Ok();
}

Status LogEventStorage::CreateSegmentFile(uint64_t first_position, ActiveSegment* out) {
  const std::string path = options_.directory + "/" + logfmt::SegmentFileName(first_position);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int error = errno;
    if (IsDiskFull(error)) {
      return Status(es::v1::ERROR_CODE_STORAGE_FULL,
                    "disk full: cannot create " + path + ": " + ErrnoText(error));
    }
    return StorageFailure("cannot create " + path + ": " + ErrnoText(error));
  }
  ActiveSegment segment{first_position, path, fd, 0};
  char header[kSegmentHeaderSize];
  logfmt::EncodeSegmentHeader(first_position, header);
  Status status = WriteAt(segment, header, sizeof(header), 0, "a segment header");
  if (status.ok() && io_->Sync(fd) != 0) {
    status =
        StorageFailure("fdatasync of the new segment " + path + " failed: " + ErrnoText(errno));
  }
  if (!status.ok()) {
    ::close(fd);
    ::unlink(path.c_str());
    return status;
  }
  // The new file's name must be durable before a batch in it is acked.
  if (::fsync(directory_fd_) != 0) {
    status = StorageFailure("fsync of the log directory " + options_.directory +
                            " failed: " + ErrnoText(errno));
    ::close(fd);
    return status;
  }
  segment.size = kSegmentHeaderSize;
  *out = std::move(segment);
  return Status::Ok();
}

void LogEventStorage::Submit(std::span<const es::v1::AppendRequest* const> batch,
                             int64_t recorded_at_us) {
  std::unique_ptr<Prepared> prepared;
  if (spare_.empty()) {
    prepared = std::make_unique<Prepared>();
  } else {
    prepared = std::move(spare_.back());
    spare_.pop_back();
  }
  prepared->generation = generation_;
  Status precondition = failure_;
  if (!opened_ && precondition.ok()) precondition = StorageFailure("the log is not open");
  Encoder encoder(*prepared, recorded_at_us);
  prepared->plan = PlanBatch(index_, options_.limits, batch, std::move(precondition), encoder);
  prepared->planned = prepared->plan.failure;
  if (!opened_) {
    // No writer thread: complete at once.
    prepared->status = prepared->planned;
    prepared->done = true;
    submitted_.push_back(std::move(prepared));
    return;
  }
  // Every batch goes through the writer, even one with nothing to write:
  // batches complete in order, and its outcomes may depend on earlier ones.
  {
    std::lock_guard lock(mutex_);
    write_queue_.push_back(prepared.get());
  }
  wake_writer_.notify_one();
  submitted_.push_back(std::move(prepared));
}

std::optional<std::vector<AppendOutcome>> LogEventStorage::TakeCompleted() {
  if (completion_fd_ >= 0) {
    uint64_t signals;
    while (::read(completion_fd_, &signals, sizeof(signals)) > 0) {
    }
  }
  if (submitted_.empty()) return std::nullopt;
  {
    std::lock_guard lock(mutex_);
    if (!submitted_.front()->done) return std::nullopt;
  }
  std::unique_ptr<Prepared> batch = std::move(submitted_.front());
  submitted_.pop_front();
  std::vector<AppendOutcome> outcomes = Complete(*batch);
  // Keep the buffers for the next batch, unless a huge batch grew them.
  if (batch->bytes.capacity() <= kKeepBatchCapacity && spare_.size() < 4) {
    batch->plan = PlannedBatch();
    batch->bytes.clear();
    batch->offsets.clear();
    batch->event_count = 0;
    batch->first_position = 0;
    batch->done = false;
    batch->status = Status::Ok();
    spare_.push_back(std::move(batch));
  }
  return outcomes;
}

std::vector<AppendOutcome> LogEventStorage::Complete(Prepared& batch) {
  if (batch.generation <= aborted_generation_) {
    // Planned on top of a batch that failed: its placements were undone
    // with that batch's, and what it decided may be wrong now.
    for (AppendOutcome& outcome : batch.plan.outcomes) {
      const es::v1::ErrorCode code = outcome.status.code();
      if (code == es::v1::ERROR_CODE_BAD_REQUEST || code == es::v1::ERROR_CODE_TOO_LARGE) continue;
      outcome = AppendOutcome{aborted_status_, 0, {}};
    }
    return std::move(batch.plan.outcomes);
  }
  if (!batch.status.ok()) {
    // The first failure: undo this batch and every one planned after it.
    if (batch.status.code() == es::v1::ERROR_CODE_STORAGE_FAILURE && failure_.ok()) {
      failure_ = batch.status;
    }
    if (index_.has_pending_batches()) index_.AbortBatch();
    batch.plan.opened = false;  // undone already
    aborted_generation_ = generation_;
    aborted_status_ = batch.status;
    ++generation_;
    return FinishBatch(index_, std::move(batch.plan), batch.status);
  }
  if (batch.event_count > 0) {
    if (segments_.back().first_position != batch.segment_first_position) {
      segments_.push_back(Segment{
          batch.segment_first_position,
          options_.directory + "/" + logfmt::SegmentFileName(batch.segment_first_position), -1, 0});
    }
    for (uint64_t offset : batch.offsets) offsets_.push_back(batch.file_offset + offset);
    segments_.back().size = batch.segment_end;
  }
  return FinishBatch(index_, std::move(batch.plan), Status::Ok());
}

std::vector<AppendOutcome> LogEventStorage::Append(
    std::span<const es::v1::AppendRequest* const> batch, int64_t recorded_at_us) {
  Submit(batch, recorded_at_us);
  while (true) {
    std::optional<std::vector<AppendOutcome>> outcomes = TakeCompleted();
    if (outcomes && submitted_.empty()) return std::move(*outcomes);
    if (!outcomes) {
      pollfd item{completion_fd_, POLLIN, 0};
      ::poll(&item, 1, 1000);
    }
  }
}

void LogEventStorage::WriterLoop() {
  // Signals (SIGTERM) go to the thread that polls, never to this one.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  std::vector<Prepared*> group;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      wake_writer_.wait(lock, [this] { return stopping_ || !write_queue_.empty(); });
      if (write_queue_.empty()) return;  // stopping, and nothing left to write
      group.assign(write_queue_.begin(), write_queue_.end());
      write_queue_.clear();
    }
    WriteGroup(group);
    {
      std::lock_guard lock(mutex_);
      for (Prepared* batch : group) batch->done = true;
    }
    const uint64_t one = 1;
    (void)!::write(completion_fd_, &one, sizeof(one));
  }
}

void LogEventStorage::WriteGroup(const std::vector<Prepared*>& group) {
  // What to write: the batches with events that nothing has failed.
  std::vector<Prepared*> live;
  for (Prepared* batch : group) {
    if (!writer_failure_.ok()) {
      batch->status = writer_failure_;
    } else if (batch->generation <= poisoned_generation_) {
      batch->status = poison_status_;
    } else {
      batch->status = batch->planned;
      if (batch->planned.ok() && batch->event_count > 0) live.push_back(batch);
    }
  }
  if (live.empty()) return;

  // The batches are written as one: one record run, one commit marker.
  const uint64_t first_position = live.front()->first_position;
  Status status;
  if (active_.size >= options_.segment_bytes && active_.first_position < first_position) {
    ActiveSegment next;
    status = CreateSegmentFile(first_position, &next);
    if (status.ok()) {
      // The full segment is sealed and synced: let the kernel drop its
      // pages. Left cached, the log's page cache grew with every segment
      // and appends slowed with it (scripts/growth: 72% of the first
      // million's rate at 10M events, 100% with this). A read of an old
      // event brings its pages back.
      (void)::posix_fadvise(active_.fd, 0, 0, POSIX_FADV_DONTNEED);
      ::close(active_.fd);
      active_ = std::move(next);
    }
  }
  const uint64_t batch_start = active_.size;
  if (status.ok()) {
    group_.clear();
    uint64_t events = 0;
    uint32_t crc = 0;
    for (Prepared* batch : live) {
      batch->file_offset = batch_start + group_.size();
      group_ += batch->bytes;
      crc = Crc32cExtend(crc, batch->bytes.data(), batch->bytes.size());
      events += batch->event_count;
    }
    CommitMarker marker;
    marker.first_position = first_position;
    marker.last_position = first_position + events - 1;
    marker.batch_start = batch_start;
    marker.event_count = static_cast<uint32_t>(events);
    marker.batch_crc = crc;
    logfmt::AppendCommitMarker(marker, &group_);
    status = WriteAt(active_, group_.data(), group_.size(), batch_start, "a batch");
    if (status.ok() && io_->Sync(active_.fd) != 0) {
      status = StorageFailure("fdatasync of " + active_.path + " failed: " + ErrnoText(errno));
      // Best effort, so that a restart is unlikely to find the unacked
      // batch; the storage stays failed whatever this does.
      (void)io_->Truncate(active_.fd, batch_start);
    }
  }
  if (status.ok()) {
    active_.size += group_.size();
    for (Prepared* batch : live) {
      batch->segment_first_position = active_.first_position;
      batch->segment_end = active_.size;
    }
  } else if (status.code() == es::v1::ERROR_CODE_STORAGE_FULL) {
    // Transient: fail this generation (everything planned on top of these
    // batches); the caller's next generation writes again.
    poisoned_generation_ = live.back()->generation;
    poison_status_ = status;
  } else {
    writer_failure_ =
        StorageFailure(status.message() + "; the log refuses appends until the store is restarted");
    LogLine("log storage failed: " + writer_failure_.message());
    status = writer_failure_;
  }
  if (!status.ok()) {
    for (Prepared* batch : group) {
      if (batch->generation <= live.back()->generation) batch->status = status;
    }
  }
  if (group_.capacity() > kKeepBatchCapacity) std::string().swap(group_);
}

Status LogEventStorage::WriteAt(const ActiveSegment& segment, const char* data, size_t size,
                                uint64_t offset, std::string_view what) {
  size_t done = 0;
  int error = 0;
  while (done < size) {
    ssize_t n = io_->Write(segment.fd, data + done, size - done, offset + done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    error = n < 0 ? errno : ENOSPC;  // a write that makes no progress: no room
    break;
  }
  if (error == 0) return Status::Ok();
  // Nothing of a failed write may stay: cut the file back to where it was.
  if (io_->Truncate(segment.fd, offset) != 0) {
    return StorageFailure("cannot truncate " + segment.path + " back to " + std::to_string(offset) +
                          " bytes after a failed write (" + ErrnoText(error) +
                          "): " + ErrnoText(errno));
  }
  if (IsDiskFull(error)) {
    return Status(es::v1::ERROR_CODE_STORAGE_FULL,
                  "disk full: writing " + std::string(what) + " of " + std::to_string(size) +
                      " bytes to " + segment.path + ": " + ErrnoText(error) +
                      " (nothing of it was kept)");
  }
  return StorageFailure("writing " + std::string(what) + " to " + segment.path +
                        " failed: " + ErrnoText(error));
}

std::optional<es::v1::AppendResult> LogEventStorage::FindCommand(
    std::string_view command_id) const {
  std::optional<es::v1::AppendResult> result = index_.FindCommand(command_id);
  if (result && result->last_position() > index_.committed_head()) return std::nullopt;
  return result;
}

size_t LogEventStorage::SegmentOf(uint64_t position) const {
  auto it = std::upper_bound(
      segments_.begin(), segments_.end(), position,
      [](uint64_t p, const Segment& segment) { return p < segment.first_position; });
  return static_cast<size_t>(it - segments_.begin()) - 1;
}

int LogEventStorage::ReadFd(size_t index) {
  Segment& segment = segments_[index];
  if (segment.fd >= 0) return segment.fd;
  if (open_read_fds_ >= kMaxOpenReadSegments) {
    for (Segment& open : segments_) {
      if (open.fd >= 0) ::close(open.fd);
      open.fd = -1;
    }
    open_read_fds_ = 0;
  }
  segment.fd = ::open(segment.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (segment.fd >= 0) ++open_read_fds_;
  return segment.fd;
}

Status LogEventStorage::ReadEventAt(size_t index, uint64_t position, size_t chunk,
                                    EventView* event) {
  const Segment& segment = segments_[index];
  const uint64_t offset = offsets_[position - 1];
  auto corrupt = [&](const std::string& why) {
    return StorageFailure("corrupt log: the record of position " + std::to_string(position) +
                          " at offset " + std::to_string(offset) + " of " + segment.path + " " +
                          why);
  };
  Frame frame;
  size_t needed = kFrameHeaderSize;
  FrameStatus status = FrameStatus::kIncomplete;
  if (read_segment_ == index && offset >= read_offset_ && offset < read_offset_ + read_size_) {
    const auto at = static_cast<size_t>(offset - read_offset_);
    status = logfmt::ParseFrame(std::string_view(read_buffer_.data() + at, read_size_ - at), &frame,
                                &needed);
  }
  // At most two reads: one of `chunk`, then one of the whole record if it
  // is larger.
  for (int attempt = 0; attempt < 2 && status == FrameStatus::kIncomplete; ++attempt) {
    const uint64_t remaining = segment.size - offset;
    if (needed > remaining) return corrupt("runs past the committed end of its segment");
    const auto want = static_cast<size_t>(std::min<uint64_t>(std::max(chunk, needed), remaining));
    if (read_buffer_.size() < want) read_buffer_.resize(want);
    int fd = ReadFd(index);
    if (fd < 0) return StorageFailure("cannot open " + segment.path + ": " + ErrnoText(errno));
    read_segment_ = SIZE_MAX;  // invalid until the read succeeds
    ssize_t n = ReadFully(fd, read_buffer_.data(), want, offset);
    if (n < 0) return StorageFailure("cannot read " + segment.path + ": " + ErrnoText(errno));
    read_segment_ = index;
    read_offset_ = offset;
    read_size_ = static_cast<size_t>(n);
    status = logfmt::ParseFrame(std::string_view(read_buffer_.data(), read_size_), &frame, &needed);
  }
  if (status != FrameStatus::kOk) return corrupt("fails its CRC or is cut off");
  if (frame.kind != logfmt::kEventKind || !logfmt::DecodeEvent(frame.payload, event)) {
    return corrupt("is not an event record");
  }
  if (event->position != position) {
    return corrupt("holds position " + std::to_string(event->position));
  }
  return Status::Ok();
}

Status LogEventStorage::ReadStream(std::string_view stream_id, uint64_t from_version,
                                   const ReadLimits& limits, es::v1::ReadStreamResult* result) {
  result->Clear();
  result->set_stream_id(stream_id.data(), stream_id.size());
  const std::vector<uint64_t>* positions = index_.StreamPositions(stream_id);
  const uint64_t stream_version = positions == nullptr ? 0 : index_.CommittedCount(*positions);
  result->set_stream_version(stream_version);
  size_t bytes = 0;
  uint64_t version = std::max<uint64_t>(from_version, 1);
  for (;
       version <= stream_version && static_cast<uint32_t>(result->events_size()) < limits.max_count;
       ++version) {
    const uint64_t position = (*positions)[version - 1];
    EventView event;
    if (Status s = ReadEventAt(SegmentOf(position), position, kStreamReadChunk, &event); !s.ok()) {
      return s;
    }
    const size_t size = logfmt::CountedSize(event);
    if (result->events_size() > 0 && bytes + size > limits.max_bytes) break;
    bytes += size;
    logfmt::ToEventRecord(event, result->add_events());
  }
  result->set_end_of_stream(version > stream_version);
  return Status::Ok();
}

Status LogEventStorage::ReadAll(uint64_t from_position, std::string_view stream_prefix,
                                const ReadLimits& limits, es::v1::ReadAllResult* result) {
  const std::optional<PositionRange> range =
      StartReadAll(index_.committed_head(), from_position, limits, result);
  if (!range) return Status::Ok();
  const auto [from, last] = *range;
  uint64_t scanned_through = from - 1;
  size_t bytes = 0;
  size_t segment = SegmentOf(from);
  uint64_t position = from;
  for (; position <= last; ++position) {
    while (segment + 1 < segments_.size() && segments_[segment + 1].first_position <= position) {
      ++segment;
    }
    EventView event;
    if (Status s = ReadEventAt(segment, position, kLogReadChunk, &event); !s.ok()) {
      result->set_scanned_through(scanned_through);
      return s;
    }
    if (!event.stream_id.starts_with(stream_prefix)) {
      scanned_through = position;
      continue;
    }
    const size_t size = logfmt::CountedSize(event);
    if (result->events_size() > 0 && bytes + size > limits.max_bytes) break;
    bytes += size;
    logfmt::ToEventRecord(event, result->add_events());
    scanned_through = position;
    if (static_cast<uint32_t>(result->events_size()) == limits.max_count) break;
  }
  if (position > last) scanned_through = last;
  result->set_scanned_through(scanned_through);
  return Status::Ok();
}

}  // namespace es::store
