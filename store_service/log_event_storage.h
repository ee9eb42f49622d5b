// EventStorage on a segmented, append-only log of files (format in
// log_format.h), with the same contracts as the SQLite engine. Measured
// ~2.5x faster than SQLite-as-log (shared/MEASUREMENTS.md): one write and
// one fdatasync per group-commit batch, no page rewrites.
//
// Indexes live in memory: the LogIndex (streams, command ids) and, per
// event, the offset of its record in its segment (8 bytes per event), so a
// read is a pread of known records. Both are rebuilt at Open by one
// sequential scan of every segment.
//
// Writes: a batch's accepted events are encoded on the caller's thread
// (Submit; Append is Submit and wait) and handed to a writer thread, which
// writes everything queued so far with one pwrite at the end of the active
// segment, ends it with one commit marker, and fdatasyncs. So the caller
// can receive, validate and encode the next batch while the previous one is
// being synced, and batches queued meanwhile share the next fdatasync. A
// batch completes (its outcomes can be taken, and only then do reads and
// heads show it) after that fdatasync returned. A segment is rolled (a new
// file, named by its first position) before a write once the active one
// holds segment_bytes or more.
//
// Recovery rule (Open): a batch counts only when its commit marker is
// whole and agrees with the batch (positions, event count, start offset,
// CRC of every byte). Scanning stops at the first record that is torn or
// fails its CRC. If that is in the last segment and no later batch was
// committed after it, it is a torn tail (a crash mid-batch): the segment is
// truncated back to the end of the last whole batch. Anything else — a bad
// record in an older segment, or one followed by committed data — is
// corruption of acknowledged events, and Open fails rather than drop them.
//
// Failures: ENOSPC (or EDQUOT) while writing a batch truncates the segment
// back to its last committed byte and fails the batch with STORAGE_FULL
// (and the batches planned on top of it, see EventStorage::Submit); the
// storage goes on, and appends succeed again once space is freed. A
// failed fdatasync (or any other write error) puts the storage in a failed
// state: every later append gets STORAGE_FAILURE until a restart, because
// after a failed fsync what the page cache holds is unknown and retrying
// could report lost data as durable. Reads keep working. The failed batch
// is cut off the file (best effort); should the disk have kept it whole
// anyway, a restart finds it committed, and a retry of its command is
// answered as a duplicate.
//
// Start-up cost (no index snapshots yet: Open scans everything, ~1-1.6M
// events/s): 1M events in 1M streams, 290 MiB: 0.75 s with the files in
// the page cache, 1.7 s from disk; 10M events in 100k streams, 2.9 GiB:
// 6 s cached, 9 s from disk, and 1.4 GiB of memory for the indexes.
//
// One storage owns a log directory at a time (flock on LOCK).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store_service/append_batch.h"
#include "store_service/append_validation.h"
#include "store_service/event_storage.h"
#include "store_service/log_file_io.h"
#include "store_service/log_format.h"
#include "store_service/log_index.h"

namespace es::store {

struct LogStorageOptions {
  // The log directory (e.g. DATA_DIR/log); created if missing (its parent
  // must exist).
  std::string directory;
  AppendLimits limits;
  // A new segment is started before a batch once the active one holds
  // this many bytes.
  uint64_t segment_bytes = uint64_t{256} << 20;
  // The write/sync calls; null = the real ones. A fault-injection hook.
  std::shared_ptr<LogFileIo> io;
};

// What Open found, for the start-up log line.
struct LogRecoveryReport {
  size_t segments = 0;
  uint64_t bytes_scanned = 0;
  // Bytes of a torn batch cut off the end of the last segment.
  uint64_t torn_bytes_dropped = 0;
  double seconds = 0;
};

class LogEventStorage final : public EventStorage {
 public:
  explicit LogEventStorage(LogStorageOptions options);
  // Waits for the batches in flight to be written (their outcomes are not
  // taken), then stops the writer thread.
  ~LogEventStorage() override;

  LogEventStorage(const LogEventStorage&) = delete;
  LogEventStorage& operator=(const LogEventStorage&) = delete;

  Status Open() override;
  std::vector<AppendOutcome> Append(std::span<const es::v1::AppendRequest* const> batch,
                                    int64_t recorded_at_us) override;
  void Submit(std::span<const es::v1::AppendRequest* const> batch, int64_t recorded_at_us) override;
  std::optional<std::vector<AppendOutcome>> TakeCompleted() override;
  size_t InFlight() const override { return submitted_.size(); }
  int CompletionFd() const override { return completion_fd_; }

  Status ReadStream(std::string_view stream_id, uint64_t from_version, const ReadLimits& limits,
                    es::v1::ReadStreamResult* result) override;
  Status ReadAll(uint64_t from_position, std::string_view stream_prefix, const ReadLimits& limits,
                 es::v1::ReadAllResult* result) override;
  uint64_t Head() const override { return index_.committed_head(); }
  uint64_t StreamVersion(std::string_view stream_id) const override {
    return index_.CommittedStreamVersion(stream_id);
  }
  uint64_t StreamCount() const override { return index_.committed_stream_count(); }
  void ListStreams(std::string_view prefix, std::string_view after, uint32_t max_count,
                   es::v1::ListStreamsResult* result) const override {
    index_.ListStreams(prefix, after, max_count, index_.committed_head(), result);
  }
  std::optional<es::v1::AppendResult> FindCommand(std::string_view command_id) const override;
  std::string_view EngineName() const override { return "log"; }

  const LogRecoveryReport& recovery() const { return recovery_; }
  // True once a failure has stopped all appends until a restart (as seen
  // by the batches taken so far).
  bool failed() const { return !failure_.ok(); }
  size_t segment_count() const { return segments_.size(); }

 private:
  // A segment as readers see it (the caller's thread).
  struct Segment {
    uint64_t first_position = 0;
    std::string path;
    int fd = -1;        // read-only, opened on demand
    uint64_t size = 0;  // committed bytes, header included
  };
  // The segment the writer thread appends to (its own state).
  struct ActiveSegment {
    uint64_t first_position = 0;
    std::string path;
    int fd = -1;  // read-write
    uint64_t size = 0;
  };
  // A batch between Submit and TakeCompleted.
  struct Prepared {
    // Set by Submit, read by both threads once queued.
    uint64_t generation = 0;
    std::string bytes;              // its event records
    std::vector<uint64_t> offsets;  // where each record starts in `bytes`
    uint64_t first_position = 0;    // of its events, if it has any
    uint64_t event_count = 0;
    Status planned;  // not ok: planning refused the whole batch
    // The caller's thread only.
    PlannedBatch plan;
    // Set by the writer before `done` (both under mutex_).
    bool done = false;
    Status status;
    uint64_t segment_first_position = 0;  // the segment its bytes went to
    uint64_t file_offset = 0;             // where they start in it
    uint64_t segment_end = 0;             // the segment's size after its write
  };
  class Encoder;

  // Open's steps.
  Status LockDirectory();
  Status RecoverSegment(size_t index, bool last);
  Status FindLaterCommit(int fd, const Segment& segment, uint64_t bad_at, uint64_t batch_start,
                         uint64_t file_size, bool* found, std::string* what);
  Status ApplyRecoveredBatch(std::string_view bytes, uint64_t batch_start);

  // Creates, syncs and names durably a new segment file (either thread).
  Status CreateSegmentFile(uint64_t first_position, ActiveSegment* segment);
  // Writes `size` bytes at `offset`; on failure cuts the file back to
  // `offset` (STORAGE_FULL when the disk is full, else STORAGE_FAILURE).
  Status WriteAt(const ActiveSegment& segment, const char* data, size_t size, uint64_t offset,
                 std::string_view what);

  // The writer thread.
  void WriterLoop();
  void WriteGroup(const std::vector<Prepared*>& group);

  // The caller's thread: turns a completed batch into its outcomes.
  std::vector<AppendOutcome> Complete(Prepared& batch);

  // Reads.
  size_t SegmentOf(uint64_t position) const;
  int ReadFd(size_t segment);
  // Reads the event record of `position` (in segment `segment`) through
  // the read window, loading `chunk` bytes from it when it is not there.
  // *event points into the window: valid until the next read.
  Status ReadEventAt(size_t segment, uint64_t position, size_t chunk, logfmt::EventView* event);

  LogStorageOptions options_;
  std::shared_ptr<LogFileIo> io_;
  int lock_fd_ = -1;
  int directory_fd_ = -1;
  bool opened_ = false;
  LogRecoveryReport recovery_;

  // --- The caller's thread ---
  std::vector<Segment> segments_;
  size_t open_read_fds_ = 0;
  // offsets_[p - 1]: the offset of position p's record in its segment.
  std::vector<uint64_t> offsets_;
  LogIndex index_;
  std::deque<std::unique_ptr<Prepared>> submitted_;  // oldest first
  std::vector<std::unique_ptr<Prepared>> spare_;     // reused buffers
  // Batches planned in a generation that saw a failure are failed; the
  // generation moves on once the failure is taken.
  uint64_t generation_ = 1;
  uint64_t aborted_generation_ = 0;
  Status aborted_status_;
  // Not ok once a taken batch reported a failure that stops all appends.
  Status failure_;
  // The read window: bytes [read_offset_, read_offset_ + read_size_) of
  // segment read_segment_, all committed (so they never change).
  std::string read_buffer_;
  size_t read_segment_ = SIZE_MAX;
  uint64_t read_offset_ = 0;
  size_t read_size_ = 0;

  // --- Shared ---
  std::mutex mutex_;
  std::condition_variable wake_writer_;
  std::deque<Prepared*> write_queue_;  // guarded by mutex_
  bool stopping_ = false;              // guarded by mutex_
  int completion_fd_ = -1;             // an eventfd the writer signals
  std::thread writer_;

  // --- The writer thread ---
  ActiveSegment active_;
  std::string group_;
  // Not ok after a failure that stops all appends.
  Status writer_failure_;
  // Batches of this generation or older fail with poison_status_.
  uint64_t poisoned_generation_ = 0;
  Status poison_status_;
};

}  // namespace es::store
