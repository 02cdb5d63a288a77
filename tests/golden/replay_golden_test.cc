// `prodopsd replay` over a fixed NDJSON file prints exactly the expected
// exposition. events.prom was checked by hand against events.ndjson:
//  - windows as of the newest event, 2026-03-01T12:30:00Z: the 1h window
//    (60 s buckets) starts with the 11:31 bucket, so u-3 at 11:30:59.999 is
//    out and u-2 at 11:31:00 is in; the 1d window (1 h buckets) starts at
//    2026-02-28T13:00, so u-4 is in and u-5 (12:59:59) out; the 7d window
//    starts at 2026-02-22T13:00, so u-6 is in and u-7 (12:59) out;
//  - u-9 is older than 7d + 1h of lateness: counted in the totals and in
//    prodops_events_late_total, in no window;
//  - u-8's "+02:00" offset puts it at 12:20Z, inside the 1h window;
//  - four bad lines, one per reject reason; the blank line is skipped;
//  - the last two lines: u-1 again (a producer's retry), counted in
//    prodops_events_duplicate_total and nowhere else, and u-10 from the
//    year 2999, rejected as out_of_tolerance (over 1 h ahead of the clock)
//    without moving the windows' "now";
//  - tickets as of 12:30: T1 (12:00) and T3 (12:10) are open, HIGH,
//    unassigned INCIDENTs of payments (oldest 1800 s); T2 was created at
//    12:05 without a team (firefighting counts it under "__none__", by its
//    team at creation) and assigned to growth at 12:06 (open, assigned,
//    1500 s old). The team budget is 1 (replay.textproto): payments came
//    first, so growth is exposed as "__other__", and its one event counts
//    in prodops_label_overflow_total{label="team"}. Every window holds the
//    three creations, 2 of 2 reactive for payments. No ticket event is 1 h
//    (the lateness) older than 12:30, so the lifecycle counters and
//    histograms are still empty; no reactive ticket lies in the 169
//    complete hours before 12:00, so no spike series.
//  - release r42 (checkout, DEPLOY 11:00), then T1, an INCIDENT about
//    checkout at 12:00: one change failure for payments, and a ticket lift
//    of (1 ticket / 24 h) / (zero baseline taken as 1 / 168 h) = 7;
//    checkout has T1 and 1 user in 1d (1000 per 1k users), 3 users in 7d
//    (333.33), no user in 1h (no series). A HOTFIX of r42 at 11:40 counts
//    in prodops_releases_total{kind="hotfix"}; the change failure still
//    counts once.
//  - T2, a QUESTION about search: how-to share 1 for search in every
//    window; search users are u1, u2, u8 in 1h (1000 / 3 = 333.33 tickets
//    per 1k users) and u1, u2, u3, u8 in 1d and 7d (250).
#include <google/protobuf/util/delimited_message_util.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "prodops/v1/events.pb.h"
#include "tests/support/daemon_process.h"
#include "tests/support/temp_dir.h"

namespace prodops {
namespace {

const std::string kConfig = "tests/golden/replay.textproto";
const std::string kEvents = "tests/golden/events.ndjson";

std::string Replay(const std::vector<std::string>& extra_args) {
  std::vector<std::string> args = {"replay", "--config", kConfig, "--input", kEvents};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::string out, err;
  EXPECT_EQ(testing::RunDaemonCommand(args, &out, &err), 0) << err;
  return out;
}

TEST(ReplayGoldenTest, PrintsExactlyTheExpectedExposition) {
  EXPECT_EQ(Replay({}), testing::ReadFile("tests/golden/events.prom"));
}

TEST(ReplayGoldenTest, SameInputSameOutputEveryTime) {
  const std::string first = Replay({});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Replay({}), first);
}

TEST(ReplayGoldenTest, ReplayingIntoTheSameStateDirectoryCountsNothingTwice) {
  testing::TempDir dir;
  const std::string first = Replay({"--state-dir", dir.File("state")});
  EXPECT_EQ(Replay({"--state-dir", dir.File("state")}), first);
  EXPECT_EQ(first, testing::ReadFile("tests/golden/events.prom"));
}

// Every ticket signal with non-zero values. tickets.prom was checked by hand
// against tickets.ndjson (tickets.textproto: the defaults, i.e. lateness
// 1 h, expiry 4 d, SLAs first reply normal 8 h / urgent 1 h / low 24 h,
// resolution urgent 4 h / normal 3 d / low 7 d). All times 2026-03, UTC.
//  - Pipeline time = newest event, E at 09T12:30; horizon 11:30: events at
//    or before it are committed (counted), later ones only move gauges.
//  - A (billing, QUESTION NORMAL), 03T09:00; to core 09:10 (reassignment,
//    core), agent reply 09:20 (in core), back to billing 09:40
//    (reassignment + ping-pong, billing), SOLVED 10:00, reopened 11:00
//    (billing), SOLVED 13:00. The reply a-3 arrives after a-4 and a-5
//    (40 min late, within the lateness): folded in time order it is core's
//    first reply, 1200 s (le 3600). Solved twice: solved_total{question,
//    normal,billing} 2. Its last event + 4 d = 07T13:00 <= horizon: expired,
//    resolution 09:00 -> 13:00 = 14400 s (le 14400, bounds are inclusive),
//    billing/normal. SLAs met (reply 20 min; solved at the 3 d deadline).
//  - B (core, QUESTION URGENT), 04T08:00; reply 10:30, SOLVED 13:00. First
//    reply deadline 09:00 passes with no reply: breach {core,urgent,
//    first_reply}, judged before the reply, which is still observed:
//    9000 s (le 14400). Resolution deadline 12:00 passes unsolved: breach
//    {core,urgent,resolution}. Expired (08T13:00): resolution 5 h =
//    18000 s (le 28800). solved_total{question,urgent,core} 1.
//  - O1 (ops INCIDENT NORMAL) 05T06:00, SOLVED 07:00: expired (09T07:00),
//    resolution 3600 s (le 3600). O2 06T15:00, SOLVED 16:30: solved but not
//    expired (10T16:30 > horizon), so not observed. solved_total{incident,
//    normal,ops} 2. Both solved before their 8 h reply deadline: no breach.
//  - C (billing, QUESTION LOW, unassigned) 07T10:00, open: first-reply
//    deadline 08T10:00 passed -> breach {billing,low,first_reply};
//    resolution deadline (14th) not yet. Oldest billing ticket: 2 d 2.5 h =
//    181800 s.
//  - D (core, assigned) 09T10:00, SOLVED 12:00: after the horizon, so not
//    in solved_total yet, but already out of the backlog (gauges do not
//    lag). E (core, assigned) 12:30: core's only open ticket, age 0,
//    unassigned 0 (exposed as 0).
//  - O3..O7 (ops INCIDENT HIGH, unassigned) at 09T11:05, 11:15, 11:25,
//    11:40, 11:55; O5 (11:25) arrives after O7 (30 min late). Open: 5 high
//    ops, 5 unassigned, oldest 11:05 -> 5100 s. Their 4 h reply deadlines
//    are after the horizon.
//  - Firefighting (creations by team; reactive = every INCIDENT): 1h
//    window from 11:31: O6, O7 (ops 2/2), E (core 0/1); 1d window from
//    08T13:00: O3..O7 (ops 5/5), D, E (core 0/2); 7d window from 02T13:00:
//    ops O1..O7 7/7, core B, D, E 0/3, billing A, C 0/2.
//  - Spike (ops, the only team with reactive tickets): last complete hour
//    09T11:00-12:00 holds O3..O7 = 5; the 168 hours before hold O1 and O2
//    (1 each), median 0, MAD 0, scale = floor 1: score 5 > 3.5, spike 1.
TEST(ReplayGoldenTest, TicketSignalsPrintExactlyTheExpectedExposition) {
  const std::string tickets = "tests/golden/tickets.ndjson";
  std::string out, err;
  ASSERT_EQ(
      testing::RunDaemonCommand(
          {"replay", "--config", "tests/golden/tickets.textproto", "--input", tickets},
          &out, &err),
      0)
      << err;
  EXPECT_EQ(out, testing::ReadFile("tests/golden/tickets.prom"));
  // The same events in time order (same base name, so the same topic
  // label): the out-of-order arrivals change nothing.
  std::vector<std::pair<std::string, std::string>> lines;  // (occurredAt, line)
  std::istringstream in(testing::ReadFile(tickets));
  for (std::string line; std::getline(in, line);) {
    const size_t at = line.find("\"occurredAt\":\"");
    ASSERT_NE(at, std::string::npos) << line;
    lines.emplace_back(line.substr(at + 14, 20), line);
  }
  std::stable_sort(lines.begin(), lines.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  testing::TempDir dir;
  std::string sorted;
  for (const auto& [unused, line] : lines) sorted += line + "\n";
  testing::WriteFile(dir.File("tickets.ndjson"), sorted);
  std::string sorted_out;
  ASSERT_EQ(
      testing::RunDaemonCommand({"replay", "--config", "tests/golden/tickets.textproto",
                                 "--input", dir.File("tickets.ndjson")},
                                &sorted_out, &err),
      0)
      << err;
  EXPECT_NE(sorted, testing::ReadFile(tickets));
  EXPECT_EQ(sorted_out, out);
}

// Experiment signals. experiments.prom was checked by hand against
// experiments.ndjson (experiments.textproto: "new_checkout", goal checkout
// submit, control/treatment configured 50/50; lateness 1 h). All events
// are on 2026-03-01, within 1 h of the newest (12:30), so their arrival
// order does not matter (checked below by replaying them reversed).
//  - u1: control 12:00, goal 12:01: converted, control. Its second control
//    exposure (12:30) changes nothing.
//  - u2: goal 11:58 (arrives first), treatment 12:00: the goal came before
//    the exposure, not converted.
//  - u3: goal 12:10 arrives before the treatment exposure at 12:05: it
//    waits, and counts when the exposure arrives: converted, treatment.
//  - u4: control 12:20, then treatment 12:15 arrives: the first exposure is
//    treatment, so u4 counts there only, and as a multi-variant user; the
//    goal at 12:17 is after 12:15: converted, treatment.
//  - u5 (control 12:02) only viewed checkout: exposed, not converted. u7,
//    u8: control, no goal. u6's exposure is to "old_search", which is not
//    configured: ignored.
//  - exposed: control u1, u5, u7, u8 = 4, treatment u2, u3, u4 = 3;
//    converted 1 and 2; multi-variant 1.
//  - SRM: expected 3.5 each, chi2 = 2 * 0.5^2 / 3.5 = 1/7, df = 1:
//    p = erfc(sqrt(1/14)) = 0.70545698611127...
TEST(ReplayGoldenTest, ExperimentSignalsPrintExactlyTheExpectedExposition) {
  const std::string config = "tests/golden/experiments.textproto";
  const std::string events = "tests/golden/experiments.ndjson";
  std::string out, err;
  ASSERT_EQ(testing::RunDaemonCommand({"replay", "--config", config, "--input", events},
                                      &out, &err),
            0)
      << err;
  EXPECT_EQ(out, testing::ReadFile("tests/golden/experiments.prom"));
  // Reversed arrival order, same base name (so the same topic label).
  std::vector<std::string> lines;
  std::istringstream in(testing::ReadFile(events));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string reversed;
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) reversed += *it + "\n";
  testing::TempDir dir;
  testing::WriteFile(dir.File("experiments.ndjson"), reversed);
  std::string reversed_out;
  ASSERT_EQ(testing::RunDaemonCommand(
                {"replay", "--config", config, "--input", dir.File("experiments.ndjson")},
                &reversed_out, &err),
            0)
      << err;
  EXPECT_EQ(reversed_out, out);
  // Replaying into the same state directory counts nothing twice.
  const std::string state = dir.File("state");
  ASSERT_EQ(testing::RunDaemonCommand(
                {"replay", "--config", config, "--input", events, "--state-dir", state},
                &out, &err),
            0);
  ASSERT_EQ(testing::RunDaemonCommand(
                {"replay", "--config", config, "--input", events, "--state-dir", state},
                &out, &err),
            0);
  EXPECT_EQ(out, testing::ReadFile("tests/golden/experiments.prom"));
}

TEST(ReplayGoldenTest, InputsWithTheSameBaseNameAreRefused) {
  std::string out, err;
  EXPECT_EQ(testing::RunDaemonCommand({"replay", "--config", kConfig, "--input", kEvents,
                                       "--input", "./" + kEvents},
                                      &out, &err),
            1);
  EXPECT_EQ(
      err,
      "prodopsd replay: two inputs have the base name \"events.ndjson\"; it is their "
      "topic label, so rename one\n");
}

TEST(ReplayGoldenTest, MissingInputIsAClearError) {
  std::string out, err;
  EXPECT_EQ(testing::RunDaemonCommand(
                {"replay", "--config", kConfig, "--input", "/nonexistent/x.ndjson"}, &out,
                &err),
            1);
  EXPECT_EQ(
      err,
      "prodopsd replay: /nonexistent/x.ndjson: cannot read: No such file or directory\n");
}

TEST(CheckConfigTest, ValidFileIsOk) {
  std::string out, err;
  EXPECT_EQ(
      testing::RunDaemonCommand({"check-config", "config/demo.textproto"}, &out, &err),
      0);
  EXPECT_EQ(out, "config/demo.textproto: OK\n");
}

TEST(CheckConfigTest, BadFileNamesFileLineAndFieldAndExitsWith2) {
  testing::TempDir dir;
  const std::string path = dir.File("bad.textproto");
  testing::WriteFile(path,
                     "kafka { bootstrap_servers: \"localhost:9092\" }\n"
                     "topic { name: \"t\" format: JSON content: USAGE }\n"
                     "state {\n"
                     "  dir: \"/tmp/x\"\n"
                     "  flush_interval_ms: 5\n"
                     "}\n");
  std::string out, err;
  EXPECT_EQ(testing::RunDaemonCommand({"check-config", path}, &out, &err), 2);
  EXPECT_EQ(
      err, path + ":5:3: state.flush_interval_ms: must be between 10 and 60000, got 5\n");
  // The daemon refuses to start on it the same way.
  EXPECT_EQ(testing::RunDaemonCommand({"--config", path}, &out, &err), 2);
  EXPECT_EQ(
      err, path + ":5:3: state.flush_interval_ms: must be between 10 and 60000, got 5\n");
}

TEST(CommandLineTest, UnknownUsageExitsWith2) {
  std::string out, err;
  EXPECT_EQ(testing::RunDaemonCommand({"--bogus", "x"}, &out, &err), 2);
  EXPECT_NE(err.find("usage:"), std::string::npos);
}

TEST(CommandLineTest, DaemonFlagsAreCheckedBeforeTheConfigIsRead) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--config", kConfig, "--group"}, "--group needs a value"},
      {{"--config", kConfig, "--group", "x"}, "unknown flag --group"},
      {{"--config", kConfig, "--group-instance-id", ""}, "--group-instance-id is empty"},
      {{"--config", kConfig, "--config", kConfig}, "--config given twice"},
      {{"--group-instance-id", "a"}, "the daemon takes exactly one --config FILE"},
  };
  for (const auto& [args, message] : cases) {
    std::string out, err;
    EXPECT_EQ(testing::RunDaemonCommand(args, &out, &err), 2) << message;
    EXPECT_EQ(err.rfind("prodopsd: " + message + "\n", 0), 0u) << err;
  }
}

// The same events as length-delimited binary protobuf (`--format protobuf`)
// give the same exposition as NDJSON. Lines that are not even JSON have no
// protobuf form, so both sides replay the lines protobuf's own JSON parser
// accepts; events that are valid JSON but invalid events (no id, from the
// year 2999, a retry) stay in and must be rejected the same way.
TEST(ReplayGoldenTest, ProtobufInputGivesTheSameExpositionAsNdjson) {
  const std::vector<std::pair<std::string, std::string>> inputs = {
      {kConfig, kEvents},
      {"tests/golden/tickets.textproto", "tests/golden/tickets.ndjson"},
      {"tests/golden/experiments.textproto", "tests/golden/experiments.ndjson"}};
  for (const auto& [config, events] : inputs) {
    SCOPED_TRACE(events);
    std::istringstream in(testing::ReadFile(events));
    std::string json;
    std::ostringstream delimited;
    int converted = 0;
    for (std::string line; std::getline(in, line);) {
      prodops::v1::Event event;
      if (!google::protobuf::util::JsonStringToMessage(line, &event).ok()) continue;
      json += line + "\n";
      ASSERT_TRUE(google::protobuf::util::SerializeDelimitedToOstream(event, &delimited));
      ++converted;
    }
    ASSERT_GT(converted, 5);
    testing::TempDir dir;
    // One base name, so that both have the same topic label.
    const std::string name = std::filesystem::path(events).filename().string();
    std::filesystem::create_directories(dir.File("json"));
    std::filesystem::create_directories(dir.File("protobuf"));
    testing::WriteFile(dir.File("json/" + name), json);
    testing::WriteFile(dir.File("protobuf/" + name), delimited.str());

    std::string from_json, from_protobuf, err;
    ASSERT_EQ(testing::RunDaemonCommand(
                  {"replay", "--config", config, "--input", dir.File("json/" + name)},
                  &from_json, &err),
              0)
        << err;
    ASSERT_EQ(
        testing::RunDaemonCommand({"replay", "--config", config, "--format", "protobuf",
                                   "--input", dir.File("protobuf/" + name)},
                                  &from_protobuf, &err),
        0)
        << err;
    EXPECT_NE(from_json.find("prodops_events_ingested_total{topic=\"" + name + "\"}"),
              std::string::npos);
    EXPECT_EQ(from_protobuf, from_json);
  }
}

// prodops-loadgen's two file forms of one scenario (what bench/run.sh
// replays) hold the same events: every topic's replay gives one exposition.
TEST(ReplayGoldenTest, LoadgenNdjsonAndProtobufFilesReplayAlike) {
  testing::TempDir dir;
  std::string out, err;
  ASSERT_EQ(
      testing::RunCommand(
          testing::LoadgenBinary(),
          {"--events", "3000", "--start-ms", "1772366400000", "--users", "300",
           "--events-per-second", "20", "--topic", "usage:protobuf:usage", "--topic",
           "tickets:protobuf:ticket", "--topic", "other:protobuf:envelope",
           "--ndjson-dir", dir.File("json"), "--protobuf-dir", dir.File("protobuf")},
          &out, &err),
      0)
      << err;
  std::string from_json, from_protobuf;
  std::vector<std::string> json_args = {"replay", "--config",
                                        "tests/golden/tickets.textproto"};
  std::vector<std::string> protobuf_args = json_args;
  protobuf_args.insert(protobuf_args.end(), {"--format", "protobuf"});
  for (const char* topic : {"usage", "tickets", "other"}) {
    json_args.insert(json_args.end(), {"--input", dir.File("json/") + topic});
    protobuf_args.insert(protobuf_args.end(), {"--input", dir.File("protobuf/") + topic});
  }
  ASSERT_EQ(testing::RunDaemonCommand(json_args, &from_json, &err), 0) << err;
  ASSERT_EQ(testing::RunDaemonCommand(protobuf_args, &from_protobuf, &err), 0) << err;
  for (const char* topic : {"usage", "tickets", "other"}) {
    EXPECT_NE(from_json.find(
                  absl::StrCat("prodops_events_ingested_total{topic=\"", topic, "\"}")),
              std::string::npos)
        << topic;
  }
  EXPECT_EQ(from_protobuf, from_json);
}

// With the smallest window cache the buckets live mostly in RocksDB and are
// read back (for the windows' totals and for late events); the exposition
// must not change.
TEST(ReplayGoldenTest, ASmallWindowCacheGivesTheSameExposition) {
  testing::TempDir dir;
  std::string out, err;
  ASSERT_EQ(testing::RunCommand(
                testing::LoadgenBinary(),
                {"--events", "60000", "--start-ms", "1772366400000", "--users", "20000",
                 "--events-per-second", "3", "--topic", "usage:json:usage", "--topic",
                 "tickets:json:ticket", "--ndjson-dir", dir.path()},
                &out, &err),
            0)
      << err;
  const std::string base =
      "kafka { bootstrap_servers: \"localhost:9092\" }\n"
      "topic { name: \"unused\" format: JSON content: ENVELOPE }\n";
  testing::WriteFile(dir.File("default.textproto"),
                     base + "state { dir: \"/unused\" flush_interval_ms: 10 }\n");
  testing::WriteFile(dir.File("small.textproto"),
                     base +
                         "state { dir: \"/unused\" flush_interval_ms: 10 "
                         "window_cache_bytes: 1048576 }\n");
  std::string with_default, with_small, default_log, small_log;
  for (auto [config, exposition, log] :
       {std::tuple{"default", &with_default, &default_log},
        std::tuple{"small", &with_small, &small_log}}) {
    ASSERT_EQ(testing::RunDaemonCommand(
                  {"replay", "--config", dir.File(absl::StrCat(config, ".textproto")),
                   "--input", dir.File("usage"), "--input", dir.File("tickets")},
                  exposition, log),
              0)
        << *log;
  }
  const std::regex summary(
      R"(replay: 60000 records from 2 inputs; window cache: (\d+) KiB of buckets in memory, \d+ KiB of window totals, (\d+) buckets dropped, (\d+) read back)");
  std::smatch match;
  ASSERT_TRUE(std::regex_search(default_log, match, summary)) << default_log;
  EXPECT_EQ(match[2], "0") << "the default cache holds this input whole";
  EXPECT_GT(std::stoull(match[1]), 1024u) << "else the small cache is not small";
  ASSERT_TRUE(std::regex_search(small_log, match, summary)) << small_log;
  EXPECT_LE(std::stoull(match[1]), 1024u);
  EXPECT_GE(std::stoull(match[2]), 20u);
  EXPECT_GE(std::stoull(match[3]), 10u);
  EXPECT_NE(with_default.find("prodops_active_users{feature="), std::string::npos);
  EXPECT_EQ(with_small, with_default);
}

TEST(ReplayGoldenTest, ABrokenProtobufFileIsAnErrorNamingTheRecord) {
  testing::TempDir dir;
  // A valid empty record, then a length of 9 with 2 bytes after it.
  testing::WriteFile(dir.File("broken"), std::string("\x00\x09\x0a\x00", 4));
  std::string out, err;
  EXPECT_EQ(testing::RunDaemonCommand({"replay", "--config", kConfig, "--format",
                                       "protobuf", "--input", dir.File("broken")},
                                      &out, &err),
            1);
  // The last line; the empty record before it was rejected, with a warning.
  const std::string want = "prodopsd replay: " + dir.File("broken") +
                           ": record 1 at byte 1: the file ends after 2 of its 9 bytes\n";
  ASSERT_GE(err.size(), want.size()) << err;
  EXPECT_EQ(err.substr(err.size() - want.size()), want);
  EXPECT_EQ(out, "");
}

TEST(ReplayGoldenTest, AnUnknownFormatIsAUsageError) {
  std::string out, err;
  EXPECT_EQ(testing::RunDaemonCommand(
                {"replay", "--config", kConfig, "--format", "avro", "--input", kEvents},
                &out, &err),
            2);
  EXPECT_NE(err.find("--format \"avro\": want json or protobuf"), std::string::npos)
      << err;
}

}  // namespace
}  // namespace prodops
