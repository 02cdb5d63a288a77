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
