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
//  - tickets as of 12:30: T1 (12:00) and T3 (12:10) are open, HIGH,
//    unassigned INCIDENTs of payments (oldest 1800 s); T2 was created at
//    12:05 without a team (firefighting counts it under "__none__", by its
//    team at creation) and assigned to growth at 12:06 (open, assigned,
//    1500 s old); every window holds the three creations, 2 of 2 reactive
//    for payments. No ticket event is 1 h (the lateness) older than 12:30,
//    so the lifecycle counters and histograms are still empty; no reactive
//    ticket lies in the 169 complete hours before 12:00, so no spike series.
//  - release r42 (checkout, DEPLOY 11:00), then T1, an INCIDENT about
//    checkout at 12:00: one change failure for payments, and a ticket lift
//    of (1 ticket / 24 h) / (zero baseline taken as 1 / 168 h) = 7;
//    checkout has T1 and 1 user in 1d (1000 per 1k users), 3 users in 7d
//    (333.33), no user in 1h (no series).
#include <string>

#include "gtest/gtest.h"
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

TEST(ReplayGoldenTest, InputsWithTheSameBaseNameAreRefused) {
  std::string out, err;
  EXPECT_EQ(testing::RunDaemonCommand(
                {"replay", "--config", kConfig, "--input", kEvents, "--input", "./" + kEvents},
                &out, &err),
            1);
  EXPECT_EQ(err,
            "prodopsd replay: two inputs have the base name \"events.ndjson\"; it is their "
            "topic label, so rename one\n");
}

TEST(ReplayGoldenTest, MissingInputIsAClearError) {
  std::string out, err;
  EXPECT_EQ(testing::RunDaemonCommand(
                {"replay", "--config", kConfig, "--input", "/nonexistent/x.ndjson"}, &out, &err),
            1);
  EXPECT_EQ(err, "prodopsd replay: /nonexistent/x.ndjson: cannot read: No such file or directory\n");
}

TEST(CheckConfigTest, ValidFileIsOk) {
  std::string out, err;
  EXPECT_EQ(testing::RunDaemonCommand({"check-config", "config/demo.textproto"}, &out, &err), 0);
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
  EXPECT_EQ(err, path + ":5:3: state.flush_interval_ms: must be between 10 and 60000, got 5\n");
  // The daemon refuses to start on it the same way.
  EXPECT_EQ(testing::RunDaemonCommand({"--config", path}, &out, &err), 2);
  EXPECT_EQ(err, path + ":5:3: state.flush_interval_ms: must be between 10 and 60000, got 5\n");
}

TEST(CommandLineTest, UnknownUsageExitsWith2) {
  std::string out, err;
  EXPECT_EQ(testing::RunDaemonCommand({"--bogus", "x"}, &out, &err), 2);
  EXPECT_NE(err.find("usage:"), std::string::npos);
}

}  // namespace
}  // namespace prodops
