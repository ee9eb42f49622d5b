// Writes the seed corpora of the fuzz targets: es_fuzz_seeds DIR writes
// DIR/<target>/<seed>, each in the layout its target reads (fuzz_input.h).
// The seeds committed under tests/fuzz/corpus/ came from here
// (scripts/fuzz --seeds rewrites them); the fuzzers grow from them.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "domain/aggregate.h"
#include "domain/command_identity.h"
#include "domain/event_codec.h"
#include "domain/stream_ids.h"
#include "es/v1/saga.pb.h"
#include "es/v1/store.pb.h"
#include "saga_service/checkpoint_file.h"
#include "store_service/log_event_storage.h"
#include "store_service/log_format.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/fuzz_records.h"

namespace {

namespace fs = std::filesystem;
using es::fuzz::FuzzOutput;

fs::path g_root;

void Write(const std::string& target, const std::string& name, const std::string& bytes) {
  const fs::path dir = g_root / target;
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// ---- store requests ----

es::v1::AppendRequest Append(const std::string& stream, const std::string& command, int events,
                             int64_t exact = -1) {
  es::v1::AppendRequest append;
  append.set_stream_id(stream);
  append.set_command_id(command);
  if (exact < 0) {
    append.mutable_expected_version()->set_any(true);
  } else if (exact == 0) {
    append.mutable_expected_version()->set_no_stream(true);
  } else {
    append.mutable_expected_version()->set_exact(static_cast<uint64_t>(exact));
  }
  for (int i = 0; i < events; ++i) {
    es::v1::NewEvent* event = append.add_events();
    event->set_event_id(command + "/" + std::to_string(i));
    event->set_type("es.v1.AccountCredited");
    event->set_data("data-" + std::to_string(i));
  }
  return append;
}

void StoreSeeds() {
  uint64_t id = 0;
  auto request = [&id](auto fill) {
    es::v1::StoreRequest request;
    request.set_request_id(++id);
    fill(request);
    return request.SerializeAsString();
  };
  const std::string ping = request([](auto& r) { r.mutable_ping(); });
  const std::string stats = request([](auto& r) { r.mutable_stats(); });
  const std::string append = request([](auto& r) { *r.mutable_append() = Append("account-a", "c1", 2, 0); });
  const std::string stale = request([](auto& r) { *r.mutable_append() = Append("account-a", "c2", 1, 1); });
  const std::string next = request([](auto& r) { *r.mutable_append() = Append("account-a", "c3", 1, 2); });
  const std::string repeat = request([](auto& r) { *r.mutable_append() = Append("account-b", "c1", 1); });
  const std::string many = request([](auto& r) {
    auto* m = r.mutable_append_many();
    *m->add_appends() = Append("transfer-t", "m1", 1, 0);
    *m->add_appends() = Append("transfer-t", "m2", 1, 1);
    *m->add_appends() = Append("transfer-t", "m3", 3, 1);
    *m->add_appends() = Append("", "m4", 1);
  });
  const std::string read_stream = request([](auto& r) {
    r.mutable_read_stream()->set_stream_id("account-a");
    r.mutable_read_stream()->set_from_version(1);
  });
  const std::string from_end = request([](auto& r) {
    r.mutable_read_stream()->set_stream_id("account-a");
    r.mutable_read_stream()->set_from_end(true);
    r.mutable_read_stream()->set_max_count(2);
  });
  const std::string read_all = request([](auto& r) {
    r.mutable_read_all()->set_from_position(1);
    r.mutable_read_all()->set_stream_prefix("account-");
    r.mutable_read_all()->set_max_count(5);
  });
  const std::string find = request([](auto& r) { r.mutable_find_command()->set_command_id("c1"); });
  const std::string report = request([](auto& r) {
    r.mutable_report_checkpoint()->set_subscriber("listener");
    r.mutable_report_checkpoint()->set_position(3);
  });
  const std::string empty_many = request([](auto& r) { r.mutable_append_many(); });

  auto seed = [](std::initializer_list<std::pair<uint8_t, std::string>> requests) {
    FuzzOutput out;
    for (const auto& [flags, body] : requests) out.Int<uint8_t>(flags).Piece(body);
    return out.bytes();
  };
  Write("store_requests_fuzz", "ping", seed({{0, ping}}));
  Write("store_requests_fuzz", "stats", seed({{0, stats}}));
  Write("store_requests_fuzz", "bad-framing", seed({{1, ping}}));
  Write("store_requests_fuzz", "garbage", seed({{0, std::string("\xff\xff\x01garbage", 10)}, {0, ""}}));
  Write("store_requests_fuzz", "appends-then-reads",
        seed({{2, append}, {4, stale}, {0, next}, {2, repeat}, {0, read_stream}, {0, from_end},
              {0, read_all}, {0, find}, {0, report}}));
  Write("store_requests_fuzz", "append-many", seed({{0, many}, {0, empty_many}, {6, find}, {0, read_all}}));
  Write("store_requests_fuzz", "one-turn", seed({{0, append}, {0, next}, {0, many}, {0, ping}}));
}

// ---- command requests ----

es::v1::Command Cmd(const std::string& id, auto fill) {
  es::v1::Command command;
  command.set_command_id(id);
  fill(command);
  return command;
}

// A seed: `last` decided against the records `history` writes, each
// decided in turn against the stream so far.
void CommandSeed(const std::string& name, const std::vector<es::v1::Command>& history,
                 const es::v1::Command& last) {
  const std::string stream = *es::domain::StreamOfCommand(last);
  es::domain::AggregateState state = es::domain::AggregateOfStream(stream);
  FuzzOutput out;
  out.Piece(last.SerializeAsString()).Int<uint8_t>(0);
  for (const es::v1::Command& command : history) {
    const es::domain::Decision decision = es::domain::Decide(state, command);
    std::vector<es::domain::EncodedEvent> written;
    if (decision.events.empty()) {
      written.push_back(es::domain::AnsweredRecord(command, decision));
    }
    for (const auto& event : decision.events) written.push_back(es::domain::EncodeEvent(event));
    for (const auto& record : written) {
      es::domain::Apply(state, record.type, record.data, state.version + 1);
      out.Int<uint8_t>(es::fuzz::RecordTypeIndex(record.type)).Piece(record.data);
    }
  }
  Write("command_requests_fuzz", name, out.bytes());
}

void CommandSeeds() {
  const auto open = Cmd("c-open", [](auto& c) {
    auto* o = c.mutable_open_account();
    o->set_account_id("A");
    o->set_owner("Alice");
    o->set_initial_balance(100);
  });
  const auto credit = Cmd("c-credit", [](auto& c) {
    c.mutable_credit_account()->set_account_id("A");
    c.mutable_credit_account()->set_amount(50);
  });
  const auto debit = Cmd("c-debit", [](auto& c) {
    c.mutable_debit_account()->set_account_id("A");
    c.mutable_debit_account()->set_amount(30);
  });
  const auto overdraw = Cmd("c-overdraw", [](auto& c) {
    c.mutable_debit_account()->set_account_id("A");
    c.mutable_debit_account()->set_amount(1'000'000);
  });
  const auto close = Cmd("c-close", [](auto& c) { c.mutable_close_account()->set_account_id("A"); });
  const auto saga_debit = Cmd("saga-e1", [](auto& c) {
    auto* d = c.mutable_debit_account_because_of_money_transfer();
    d->set_account_id("A");
    d->set_transfer_id("T");
    d->set_amount(40);
  });
  const auto saga_credit = Cmd("saga-e2", [](auto& c) {
    auto* d = c.mutable_credit_account_because_of_money_transfer();
    d->set_account_id("A");
    d->set_transfer_id("T");
    d->set_amount(40);
    d->set_source_account("B");
  });
  const auto saga_refund = Cmd("saga-e3", [](auto& c) {
    auto* d = c.mutable_refund_account_because_of_money_transfer();
    d->set_account_id("A");
    d->set_transfer_id("T");
    d->set_amount(40);
  });
  const auto create = Cmd("c-transfer", [](auto& c) {
    auto* t = c.mutable_create_money_transfer();
    t->set_transfer_id("T");
    t->set_from_account("A");
    t->set_to_account("B");
    t->set_amount(40);
  });
  const auto mark_debited = Cmd("saga-e4", [](auto& c) { c.mutable_debit_money_transfer()->set_transfer_id("T"); });
  const auto complete = Cmd("saga-e5", [](auto& c) { c.mutable_complete_money_transfer()->set_transfer_id("T"); });
  const auto fail = Cmd("saga-e6", [](auto& c) {
    c.mutable_fail_money_transfer()->set_transfer_id("T");
    c.mutable_fail_money_transfer()->set_reason(es::v1::TRANSFER_FAILURE_REASON_CREDIT_REFUSED);
  });
  CommandSeed("open", {}, open);
  CommandSeed("open-twice", {open}, open);
  CommandSeed("credit", {open}, credit);
  CommandSeed("debit", {open, credit}, debit);
  CommandSeed("overdraw", {open}, overdraw);
  CommandSeed("close-with-money", {open, credit}, close);
  CommandSeed("credit-closed", {open, debit, overdraw}, credit);
  CommandSeed("credit-unknown", {}, credit);
  CommandSeed("saga-debit", {open}, saga_debit);
  CommandSeed("saga-credit", {open, saga_debit}, saga_credit);
  CommandSeed("saga-refund", {open, saga_debit}, saga_refund);
  CommandSeed("refund-after-close", {open, saga_debit, debit}, saga_refund);
  CommandSeed("transfer-create", {}, create);
  CommandSeed("transfer-debited", {create}, mark_debited);
  CommandSeed("transfer-complete", {create, mark_debited}, complete);
  CommandSeed("transfer-fail", {create, mark_debited}, fail);
  CommandSeed("transfer-complete-twice", {create, mark_debited, complete}, complete);
  CommandSeed("client-uses-saga-id", {open}, Cmd("saga-x", [](auto& c) {
    c.mutable_credit_account()->set_account_id("A");
    c.mutable_credit_account()->set_amount(1);
  }));
}

// ---- saga control ----

void SagaControlSeeds() {
  es::v1::SagaRequest ping;
  ping.set_request_id(7);
  ping.mutable_ping();
  es::v1::SagaRequest stats;
  stats.set_request_id(8);
  stats.mutable_stats();
  Write("saga_control_fuzz", "ping", std::string(1, '\0') + ping.SerializeAsString());
  Write("saga_control_fuzz", "stats", std::string(1, '\0') + stats.SerializeAsString());
  Write("saga_control_fuzz", "bad-framing", std::string(1, '\1') + ping.SerializeAsString());
  Write("saga_control_fuzz", "no-body", std::string(1, '\0') + std::string("\x08\x05", 2));
}

// ---- saga checkpoint ----

void CheckpointSeeds() {
  es::saga::SagaCheckpoint checkpoint;
  Write("saga_checkpoint_fuzz", "zero", es::saga::FormatCheckpoint(checkpoint));
  checkpoint.position = 18446744073709551615u;
  checkpoint.transfers.created = 12;
  checkpoint.transfers.completed = 10;
  checkpoint.transfers.failed = 1;
  const std::string full = es::saga::FormatCheckpoint(checkpoint);
  Write("saga_checkpoint_fuzz", "full", full);
  Write("saga_checkpoint_fuzz", "torn", full.substr(0, full.size() / 2));
  Write("saga_checkpoint_fuzz", "empty", "");
}

// ---- log recovery ----

void LogSeeds() {
  // A real log, written by the engine, in a few small segments.
  char pattern[] = "/tmp/es-fuzz-seeds-XXXXXX";
  if (mkdtemp(pattern) == nullptr) abort();
  const fs::path dir = fs::path(pattern) / "log";
  {
    es::store::LogStorageOptions options;
    options.directory = dir.string();
    options.segment_bytes = 600;
    es::store::LogEventStorage storage(options);
    if (!storage.Open().ok()) abort();
    for (int i = 0; i < 6; ++i) {
      const es::v1::AppendRequest first = Append("account-" + std::to_string(i % 2), "r" + std::to_string(i), 2);
      const es::v1::AppendRequest second = Append("transfer-x", "s" + std::to_string(i), 1);
      const es::v1::AppendRequest* batch[] = {&first, &second};
      storage.Append(batch, 1'700'000'000'000'000);
    }
  }
  std::vector<fs::path> segments;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (es::store::logfmt::ParseSegmentFileName(entry.path().filename().string())) {
      segments.push_back(entry.path());
    }
  }
  std::sort(segments.begin(), segments.end());
  auto raw = [&](size_t count, size_t cut) {
    FuzzOutput out;
    out.Int<uint8_t>(static_cast<uint8_t>(count - 1));
    for (size_t i = 0; i < count && i < segments.size(); ++i) {
      std::ifstream in(segments[i], std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (i + 1 == count) bytes.resize(bytes.size() - std::min(cut, bytes.size()));
      out.Int<uint64_t>(*es::store::logfmt::ParseSegmentFileName(segments[i].filename().string()))
          .Int<uint8_t>(1)
          .LongPiece(bytes);
    }
    return out.bytes();
  };
  Write("log_recovery_fuzz", "real-one-segment", raw(1, 0));
  Write("log_recovery_fuzz", "real-segments", raw(std::min<size_t>(4, segments.size()), 0));
  Write("log_recovery_fuzz", "real-torn-tail", raw(std::min<size_t>(4, segments.size()), 7));
  fs::remove_all(pattern);

  // Structured: events with valid CRCs and their markers.
  auto event = [](FuzzOutput& out, uint64_t position, uint64_t version, const std::string& stream,
                  const std::string& command) {
    out.Int<uint8_t>(0).Int<uint64_t>(position).Int<uint64_t>(version).Piece(stream).Piece(command)
        .Piece("es.v1.AccountCredited").Piece("data");
  };
  {
    FuzzOutput out;
    out.Int<uint8_t>(0).Int<uint64_t>(1).Int<uint8_t>(0);
    event(out, 1, 1, "account-a", "c1");
    event(out, 2, 2, "account-a", "c1");
    out.Int<uint8_t>(2);
    event(out, 3, 1, "account-b", "c2");
    out.Int<uint8_t>(2);
    event(out, 4, 1, "account-c", "c3");  // torn: no marker
    out.Int<uint8_t>(255);
    Write("log_recovery_fuzz", "structured-batches", out.bytes());
  }
  {
    FuzzOutput out;
    out.Int<uint8_t>(1);
    out.Int<uint64_t>(1).Int<uint8_t>(0);
    event(out, 1, 1, "s", "c1");
    out.Int<uint8_t>(2).Int<uint8_t>(255);
    out.Int<uint64_t>(2).Int<uint8_t>(0);
    event(out, 2, 2, "s", "c2");
    out.Int<uint8_t>(2).Int<uint8_t>(3).Piece("garbage").Int<uint8_t>(255);
    Write("log_recovery_fuzz", "structured-two-segments", out.bytes());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: es_fuzz_seeds DIR (writes DIR/<target>/<seed>)\n";
    return 2;
  }
  g_root = argv[1];
  StoreSeeds();
  CommandSeeds();
  SagaControlSeeds();
  CheckpointSeeds();
  LogSeeds();
  return 0;
}
