// The saga's checkpoint file: what is stored is what is loaded, a missing file
// is a fresh start, and anything that is not exactly a checkpoint is refused.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <limits>
#include <string>

#include "saga_service/checkpoint_file.h"
#include "tests/support/temp_dir.h"

namespace es::saga {
namespace {

using Status = CheckpointLoad::Status;

const SagaCheckpoint kSample{.position = 12345,
                             .transfers = {.created = 100, .completed = 90, .failed = 7}};

void WriteFile(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

TEST(SagaCheckpointFile, RoundTrip) {
  es::testing::TempDir dir;
  const auto file = CheckpointFileIn(dir.path());
  std::string error;
  ASSERT_TRUE(StoreCheckpoint(file, kSample, &error)) << error;
  const CheckpointLoad load = LoadCheckpoint(file);
  ASSERT_EQ(load.status, Status::kLoaded) << load.error;
  EXPECT_EQ(load.checkpoint, kSample);
  // Nothing is left behind but the file itself.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1);
}

TEST(SagaCheckpointFile, StoreReplacesThePreviousCheckpoint) {
  es::testing::TempDir dir;
  const auto file = CheckpointFileIn(dir.path());
  std::string error;
  ASSERT_TRUE(StoreCheckpoint(file, kSample, &error)) << error;
  const SagaCheckpoint later{.position = 99999, .transfers = {.created = 101}};
  ASSERT_TRUE(StoreCheckpoint(file, later, &error)) << error;
  EXPECT_EQ(LoadCheckpoint(file).checkpoint, later);
}

TEST(SagaCheckpointFile, ExtremeValuesRoundTrip) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  const SagaCheckpoint extreme{.position = kMax,
                               .transfers = {.created = kMax, .completed = 0, .failed = kMax}};
  EXPECT_EQ(ParseCheckpoint(FormatCheckpoint(extreme)), extreme);
  EXPECT_EQ(ParseCheckpoint(FormatCheckpoint(SagaCheckpoint{})), SagaCheckpoint{});
}

TEST(SagaCheckpointFile, TheFormatIsReadableText) {
  const std::string text = FormatCheckpoint(kSample);
  EXPECT_EQ(text.substr(0, text.rfind("fnv1a64=")),
            "es-saga-checkpoint=1\n"
            "position=12345\n"
            "transfers_created=100\n"
            "transfers_completed=90\n"
            "transfers_failed=7\n");
  EXPECT_EQ(text.size() - text.rfind("fnv1a64="), std::string("fnv1a64=\n").size() + 16);
}

TEST(SagaCheckpointFile, AMissingFileIsAFreshStart) {
  es::testing::TempDir dir;
  const CheckpointLoad load = LoadCheckpoint(CheckpointFileIn(dir.path()));
  EXPECT_EQ(load.status, Status::kMissing);
  EXPECT_EQ(load.checkpoint, SagaCheckpoint{});
  // Also when the data directory itself is not there yet.
  EXPECT_EQ(LoadCheckpoint(CheckpointFileIn(dir.path() / "nowhere")).status, Status::kMissing);
}

TEST(SagaCheckpointFile, CorruptFilesAreRefused) {
  const std::string valid = FormatCheckpoint(kSample);
  std::string flipped_digit = valid;
  flipped_digit[valid.find("12345")] = '2';
  std::string flipped_checksum = valid;
  flipped_checksum[valid.size() - 2] = flipped_checksum[valid.size() - 2] == '0' ? '1' : '0';
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"garbage", "hello world\n"},
      {"binary", std::string("\0\x01\x02\xff", 4)},
      {"truncated before the checksum", valid.substr(0, valid.rfind("fnv1a64="))},
      {"truncated in the checksum", valid.substr(0, valid.size() - 5)},
      {"no final newline", valid.substr(0, valid.size() - 1)},
      {"a changed digit", flipped_digit},
      {"a changed checksum", flipped_checksum},
      {"trailing bytes", valid + "x"},
      {"an unknown version", "es-saga-checkpoint=2" + valid.substr(valid.find('\n'))},
  };
  es::testing::TempDir dir;
  const auto file = CheckpointFileIn(dir.path());
  for (const auto& [name, bytes] : cases) {
    WriteFile(file, bytes);
    const CheckpointLoad load = LoadCheckpoint(file);
    EXPECT_EQ(load.status, Status::kInvalid) << name;
    EXPECT_FALSE(load.error.empty()) << name;
    EXPECT_NE(load.error.find(file.string()), std::string::npos) << name << ": " << load.error;
  }
}

TEST(SagaCheckpointFile, NumbersMustBeCanonicalDecimals) {
  for (const char* position : {"-1", "+1", "01", "1x", "", "18446744073709551616"}) {
    // Refused for the number itself, before the checksum is looked at.
    std::string body = std::string("es-saga-checkpoint=1\nposition=") + position +
                       "\ntransfers_created=0\ntransfers_completed=0\ntransfers_failed=0\n";
    std::string error;
    EXPECT_FALSE(ParseCheckpoint(body + "fnv1a64=0000000000000000\n", &error)) << position;
    EXPECT_NE(error.find("position="), std::string::npos) << error;
  }
}

TEST(SagaCheckpointFile, ADirectoryInPlaceOfTheFileIsRefused) {
  es::testing::TempDir dir;
  const auto file = CheckpointFileIn(dir.path());
  std::filesystem::create_directory(file);
  EXPECT_EQ(LoadCheckpoint(file).status, Status::kInvalid);
}

TEST(SagaCheckpointFile, StoringIntoAMissingDirectoryFailsCleanly) {
  es::testing::TempDir dir;
  std::string error;
  EXPECT_FALSE(StoreCheckpoint(CheckpointFileIn(dir.path() / "nowhere"), kSample, &error));
  EXPECT_NE(error.find("nowhere"), std::string::npos) << error;
}

}  // namespace
}  // namespace es::saga
