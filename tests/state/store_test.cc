#include "daemon/state/store.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/memory_store.h"

namespace prodops::state {
namespace {

using namespace std::string_literals;

TEST(TaskPrefixTest, IsTheTaskBigEndianSoTasksSortByNumber) {
  EXPECT_EQ(TaskPrefix(0), "\x00\x00\x00\x00"s);
  EXPECT_EQ(TaskPrefix(258), "\x00\x00\x01\x02"s);
  EXPECT_LT(TaskPrefix(255), TaskPrefix(256));
  TaskId task = 0;
  ASSERT_TRUE(ParseTaskPrefix(TaskPrefix(0xfffffffe) + "rest", &task));
  EXPECT_EQ(task, 0xfffffffeu);
  EXPECT_FALSE(ParseTaskPrefix("abc", &task));
}

TEST(WriteSetTest, RemoveTaskTakesOutTheTasksOpsOnly) {
  WriteSet changes;
  changes.Put(Family::kCounters, TaskPrefix(1) + "a", "1");
  changes.Put(Family::kCounters, TaskPrefix(2) + "a", "2");
  changes.Delete(Family::kTickets, TaskPrefix(1) + "t");
  changes.DeleteRange(Family::kBuckets, TaskPrefix(1) + "b", TaskPrefix(1) + "c");
  // The process's own family has no tasks, whatever its keys look like.
  changes.Put(Family::kMeta, TaskPrefix(1) + "meta", "m");
  const size_t task_2_bytes = (TaskPrefix(2) + "a").size() + 1;
  const size_t meta_bytes = (TaskPrefix(1) + "meta").size() + 1;

  changes.RemoveTask(1);
  ASSERT_EQ(changes.ops().size(), 2u);
  EXPECT_EQ(changes.ops()[0].key, TaskPrefix(2) + "a");
  EXPECT_EQ(changes.ops()[1].family, Family::kMeta);
  EXPECT_EQ(changes.bytes(), task_2_bytes + meta_bytes);
}

// Keys of a WriteSet's ops, in order.
std::vector<std::string> KeysOf(const WriteSet& changes) {
  std::vector<std::string> keys;
  for (const WriteSet::Op& op : changes.ops()) keys.push_back(op.key);
  return keys;
}

TEST(WriteSetTest, SortUnorderedSortsTheMarkedRunsOnly) {
  WriteSet changes;
  changes.Put(Family::kCounters, "z", "before");
  const size_t first = changes.size();
  changes.Put(Family::kDedup, "c", "1");
  changes.Put(Family::kDedup, "a", "2");
  changes.Put(Family::kDedup, "b", "3");
  changes.MarkUnordered(first);
  changes.Put(Family::kCounters, "y", "between");
  const size_t second = changes.size();
  changes.Put(Family::kDedup, "b", "4");  // again: a later run still wins
  changes.Put(Family::kDedup, "a", "5");
  changes.MarkUnordered(second);
  changes.MarkUnordered(changes.size());  // an empty run
  changes.Put(Family::kCounters, "x", "after");
  changes.SortUnordered();
  EXPECT_EQ(KeysOf(changes),
            (std::vector<std::string>{"z", "a", "b", "c", "y", "a", "b", "x"}));
  EXPECT_EQ(changes.ops()[1].value, "2");
  EXPECT_EQ(changes.ops()[5].value, "5");

  // The marks are used up; the same batch written is the same state.
  changes.Put(Family::kDedup, "0", "6");
  changes.SortUnordered();
  EXPECT_EQ(KeysOf(changes).back(), "0");
}

TEST(WriteSetTest, RemoveTaskLeavesTheRestInItsOrder) {
  WriteSet changes;
  changes.Put(Family::kDedup, TaskPrefix(2) + "b", "");
  changes.Put(Family::kDedup, TaskPrefix(1) + "a", "");
  changes.Put(Family::kDedup, TaskPrefix(2) + "a", "");
  changes.MarkUnordered(0);
  changes.RemoveTask(1);
  changes.SortUnordered();  // the run's bounds moved: not sorted, not lost
  EXPECT_EQ(KeysOf(changes),
            (std::vector<std::string>{TaskPrefix(2) + "b", TaskPrefix(2) + "a"}));
}

TEST(StoredTasksTest, ListsEachTaskWithAKeyOnceInOrder) {
  testing::MemoryStore store;
  WriteSet changes;
  for (TaskId task : {7u, 0u, 0xffffffffu, 300u}) {
    for (std::string key : {"a", "b", "c"}) {
      changes.Put(Family::kTickets, TaskPrefix(task) + key, "v");
    }
  }
  changes.Put(Family::kBuckets, TaskPrefix(5) + "x", "v");  // another family
  ASSERT_TRUE(store.Write(changes).ok());

  absl::StatusOr<std::vector<TaskId>> tasks = StoredTasks(store, Family::kTickets);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  EXPECT_EQ(*tasks, (std::vector<TaskId>{0, 7, 300, 0xffffffff}));
  EXPECT_EQ(*StoredTasks(store, Family::kBuckets), (std::vector<TaskId>{5}));
  EXPECT_TRUE(StoredTasks(store, Family::kDedup)->empty());
}

TEST(StoredTasksTest, AKeyWithoutATaskPrefixIsDataLoss) {
  testing::MemoryStore store;
  WriteSet changes;
  changes.Put(Family::kCounters, TaskPrefix(1) + "ok", "v");
  changes.Put(Family::kCounters, "\xff\xff"s, "v");  // too short for a task
  ASSERT_TRUE(store.Write(changes).ok());
  EXPECT_EQ(StoredTasks(store, Family::kCounters).status(),
            absl::DataLossError(
                "key of 2 bytes in the counters column family has no task prefix"));
}

}  // namespace
}  // namespace prodops::state
