#include "daemon/state/rocks_store.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <limits>
#include <filesystem>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "daemon/common/big_endian.h"
#include "daemon/common/log.h"
#include "rocksdb/cache.h"
#include "rocksdb/compaction_filter.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/statistics.h"
#include "rocksdb/status.h"
#include "rocksdb/table.h"
#include "rocksdb/transaction_log.h"
#include "rocksdb/write_batch.h"
#include "rocksdb/write_buffer_manager.h"

namespace prodops::state {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

// The one place where a rocksdb::Status becomes an absl::Status. `failed_to`
// says what we were doing ("cannot open", "cannot write to", ...); the message
// names the directory so that an operator with several stores knows which one.
// (absl::string_view: Debian's abseil is built without std::string_view
// aliasing, so absl::StrCat does not take std::string_view.)
absl::Status FromRocks(const rocksdb::Status& s, absl::string_view failed_to,
                       absl::string_view dir) {
  if (s.ok()) return absl::OkStatus();
  std::string message =
      absl::StrCat(failed_to, " state directory ", dir, ": ", s.ToString());
  switch (s.code()) {
    case rocksdb::Status::kNotFound:
      return absl::NotFoundError(message);
    case rocksdb::Status::kCorruption:
      return absl::DataLossError(message);
    case rocksdb::Status::kNotSupported:
      return absl::UnimplementedError(message);
    case rocksdb::Status::kInvalidArgument:
      return absl::InvalidArgumentError(message);
    case rocksdb::Status::kIOError:
      if (s.subcode() == rocksdb::Status::kNoSpace ||
          s.subcode() == rocksdb::Status::kSpaceLimit) {
        return absl::ResourceExhaustedError(message);
      }
      // Permission denied, a lock held by another process, a failing disk:
      // the store cannot be used until something outside changes.
      return absl::UnavailableError(message);
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTryAgain:
    case rocksdb::Status::kShutdownInProgress:
      return absl::UnavailableError(message);
    case rocksdb::Status::kTimedOut:
      return absl::DeadlineExceededError(message);
    case rocksdb::Status::kAborted:
      return absl::AbortedError(message);
    default:
      // Incomplete, MergeInProgress, ColumnFamilyDropped, ...: we use none of
      // the features that produce them.
      return absl::InternalError(message);
  }
}

bool IsKnownFamily(Family family) {
  // Guards against a Family cast from a bad integer; the handles are indexed by it.
  return static_cast<int>(family) < kFamilyCount;
}

absl::Status UnknownFamilyError(Family family) {
  return absl::InvalidArgumentError(
      absl::StrCat("unknown state family ", static_cast<int>(family)));
}

// Drops Family::kDedup entries whose leading big-endian int64 is below the
// cutoff (see StateStore::SetDedupCutoff). Runs on compaction threads.
class DedupExpiryFilter final : public rocksdb::CompactionFilter {
 public:
  bool Filter(int, const rocksdb::Slice&, const rocksdb::Slice& value, std::string*,
              bool*) const override {
    if (value.size() < 8) return false;  // not ours to judge
    const auto time = static_cast<int64_t>(
        DecodeFixedBigEndian(std::string_view(value.data(), value.size()), 8));
    return time < cutoff_.load(std::memory_order_relaxed);
  }
  const char* Name() const override { return "prodops.DedupExpiryFilter"; }

  void SetCutoff(int64_t cutoff) {
    int64_t current = cutoff_.load(std::memory_order_relaxed);
    while (cutoff > current && !cutoff_.compare_exchange_weak(current, cutoff)) {
    }
  }

 private:
  std::atomic<int64_t> cutoff_{std::numeric_limits<int64_t>::min()};
};

rocksdb::Options MakeOptions(const RocksStoreOptions& store_options) {
  const uint64_t budget = store_options.memory_budget_bytes;
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;

  // One memory budget. The block cache gets all of it, and the memtables are
  // charged to the same cache through the WriteBufferManager (dummy entries
  // evict data blocks), so blocks + memtables + index/filter blocks stay near
  // the budget instead of each having its own limit. The cache is not strict:
  // a strict cache would fail reads with Incomplete when memtables fill it.
  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(budget);
  // Memtables may use at most half of the budget; past it the largest
  // memtable is flushed, which keeps room for the blocks of hot keys.
  options.write_buffer_manager =
      std::make_shared<rocksdb::WriteBufferManager>(budget / 2, cache);
  // Seven column families share the budget, and flushes are ~1/s of small
  // batches, so large memtables buy little; 16 MiB (less for small budgets)
  // keeps recovery after a crash short.
  options.write_buffer_size = std::max<uint64_t>(std::min(16 * kMiB, budget / 8), kMiB);
  // One memtable being written while the previous one is flushed.
  options.max_write_buffer_number = 2;
  // A column family written rarely (meta, tickets) keeps old WAL files alive
  // until it flushes; capping the total WAL size forces that flush, bounding
  // both disk use and replay time at open.
  options.max_total_wal_size = 4 * options.write_buffer_size;

  // The target machine has 2 cores and the pipeline thread needs one of them.
  options.max_background_jobs = 2;
  // Dynamic level sizes keep space amplification near 1.1 whatever the size
  // of the data, which matters for retention by DeleteRange.
  options.level_compaction_dynamic_level_bytes = true;

  // With sync=true every acknowledged write is intact in the WAL; after a
  // power loss only an unacknowledged torn tail can be damaged, and
  // point-in-time recovery drops exactly that (this is the default; stated
  // here because the durability contract depends on it).
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;

  // The info LOG lives in the state directory; keep it from growing forever.
  options.keep_log_file_num = 5;
  options.max_log_file_size = 16 * kMiB;

  // Tickers only (no histograms/timers): cheap per-core counters that give
  // BytesWritten().
  options.statistics = rocksdb::CreateDBStatistics();
  options.statistics->set_stats_level(rocksdb::StatsLevel::kExceptHistogramOrTimers);

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  // Point lookups (dedup, counters, tickets) mostly hit one SST per level;
  // 10 bits/key is ~1% false positives.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // Filters and indexes in 4 KiB partitions: the dedup family's point
  // lookups (one per event) must find their filter in the cache, and the
  // filter of an SST with millions of ids, as one block, is larger than a
  // cache shard and would be read from the file and checksummed again on
  // every lookup.
  table.partition_filters = true;
  table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  table.metadata_block_size = 4096;
  // Index and filter blocks count against the budget rather than living
  // unbounded on the heap; L0's are pinned because every read consults them.
  table.cache_index_and_filter_blocks = true;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return options;
}

}  // namespace

struct RocksStore::Impl {
  std::string dir;
  // Referenced by the kDedup family's options: outlives the DB (closed in
  // ~Impl's body, before members are destroyed).
  DedupExpiryFilter dedup_filter;
  std::shared_ptr<rocksdb::Statistics> statistics;
  rocksdb::DB* db = nullptr;
  // Every handle opened, including "default" and families this version does
  // not know; all are destroyed before the DB is closed.
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  std::array<rocksdb::ColumnFamilyHandle*, kFamilyCount> families{};
  // Built once: misses are the common case of dedup lookups, and copying a
  // Status is cheaper than building its message. The key is not quoted:
  // keys are binary and may be long.
  std::array<absl::Status, kFamilyCount> not_found;
  bool resume_needed = false;  // the last Write failed

  ~Impl() {
    if (db == nullptr) return;
    for (rocksdb::ColumnFamilyHandle* handle : handles) {
      db->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
    }
    absl::Status closed = FromRocks(db->Close(), "cannot close", dir);
    if (!closed.ok()) Log(LogLevel::kWarning, std::string(closed.message()));
    delete db;
  }

  rocksdb::ColumnFamilyHandle* Handle(Family family) const {
    return families[static_cast<int>(family)];
  }

  // Writes kSchemaVersion into a new store, or refuses a store this binary
  // does not understand.
  absl::Status CheckSchemaVersion();

  // ResourceExhausted while the filesystem has less than min_free_disk_bytes
  // available.
  absl::Status CheckFreeSpace() const;
  uint64_t min_free_disk_bytes = 0;
};

absl::Status RocksStore::Impl::CheckFreeSpace() const {
  if (min_free_disk_bytes == 0) return absl::OkStatus();
  struct statvfs fs;
  if (statvfs(dir.c_str(), &fs) != 0) return absl::OkStatus();  // let RocksDB report it
  const uint64_t available = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  if (available >= min_free_disk_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("cannot write to state directory ", dir, ": ", available,
                   " bytes free on its filesystem, below the ", min_free_disk_bytes,
                   " kept free (No space left on device)"));
}

absl::Status RocksStore::Impl::CheckSchemaVersion() {
  std::string stored;
  rocksdb::Status s = db->Get(
      rocksdb::ReadOptions(), Handle(Family::kMeta),
      rocksdb::Slice(kSchemaVersionKey.data(), kSchemaVersionKey.size()), &stored);
  if (s.ok()) {
    uint32_t version = 0;
    if (!absl::SimpleAtoi(stored, &version)) {
      return absl::DataLossError(absl::StrCat("state directory ", dir,
                                              " holds an unreadable schema version \"",
                                              absl::CHexEscape(stored), "\""));
    }
    if (version > kSchemaVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("state directory ", dir, " was written by schema version ",
                       version, "; this prodopsd understands up to ", kSchemaVersion));
    }
    if (version < kSchemaVersion) {
      // No older schema has been released, so there is nothing to migrate
      // from; refuse rather than misread the data.
      return absl::FailedPreconditionError(absl::StrCat(
          "state directory ", dir, " was written by schema version ", version,
          "; this prodopsd has no migration from it to ", kSchemaVersion,
          ": move it away to rebuild the state from what the input topics still hold"));
    }
    return absl::OkStatus();
  }
  if (!s.IsNotFound()) return FromRocks(s, "cannot read the schema version of", dir);

  // No version: either a new store, or one whose open crashed before the
  // version was written. Data without a version was not written by us.
  for (int i = 0; i < kFamilyCount; ++i) {
    std::unique_ptr<rocksdb::Iterator> it(
        db->NewIterator(rocksdb::ReadOptions(), families[i]));
    it->SeekToFirst();
    if (it->Valid()) {
      return absl::FailedPreconditionError(
          absl::StrCat("state directory ", dir, " holds data in family ",
                       FamilyName(static_cast<Family>(i)), " but no schema version"));
    }
    if (!it->status().ok()) return FromRocks(it->status(), "cannot read", dir);
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  return FromRocks(
      db->Put(write_options, Handle(Family::kMeta),
              rocksdb::Slice(kSchemaVersionKey.data(), kSchemaVersionKey.size()),
              absl::StrCat(kSchemaVersion)),
      "cannot write the schema version to", dir);
}

absl::StatusOr<std::unique_ptr<RocksStore>> RocksStore::Open(
    const RocksStoreOptions& options) {
  if (options.dir.empty()) {
    return absl::InvalidArgumentError("RocksStoreOptions.dir is required");
  }
  if (options.memory_budget_bytes < 8 * kMiB) {
    return absl::InvalidArgumentError(
        absl::StrCat("RocksStoreOptions.memory_budget_bytes is ",
                     options.memory_budget_bytes, "; at least 8 MiB is needed"));
  }
  const std::string& dir = options.dir;

  // RocksDB's own message for a regular file in the way is "File exists";
  // say what is wrong instead. Parents are created too, as the option says.
  std::error_code ec;
  if (std::filesystem::exists(dir, ec) && !std::filesystem::is_directory(dir, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open state directory ", dir, ": it is not a directory"));
  }
  if (std::filesystem::create_directories(dir, ec); ec) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open state directory ", dir, ": cannot create it: ", ec.message()));
  }

  rocksdb::Options db_options = MakeOptions(options);
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->min_free_disk_bytes = options.min_free_disk_bytes;
  impl->statistics = db_options.statistics;

  // Open every family the directory already has, not only ours: RocksDB
  // refuses to open a DB without all its families, and a newer schema may
  // have added some; it must reach the schema check and its clear message.
  std::vector<std::string> names = {rocksdb::kDefaultColumnFamilyName};
  for (int i = 0; i < kFamilyCount; ++i) {
    names.push_back(FamilyName(static_cast<Family>(i)));
  }
  std::vector<std::string> existing;
  // Fails for a new directory (no CURRENT file): then there are none.
  rocksdb::DB::ListColumnFamilies(db_options, dir, &existing).PermitUncheckedError();
  for (const std::string& name : existing) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : names) {
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions(db_options));
    if (name == FamilyName(Family::kDedup)) {
      descriptors.back().options.compaction_filter = &impl->dedup_filter;
      // Most lookups are for new ids: a bloom filter over the memtable
      // answers them without walking its skip list.
      descriptors.back().options.memtable_whole_key_filtering = true;
      descriptors.back().options.memtable_prefix_bloom_size_ratio = 0.1;
    }
  }

  rocksdb::Status s =
      rocksdb::DB::Open(db_options, dir, descriptors, &impl->handles, &impl->db);
  if (!s.ok()) {
    impl->db = nullptr;  // RocksDB leaves no handles on failure.
    impl->handles.clear();
    return FromRocks(s, "cannot open", dir);
  }
  // Handles come back in descriptor order: "default", then Family 0..5.
  for (int i = 0; i < kFamilyCount; ++i) {
    impl->families[i] = impl->handles[i + 1];
    impl->not_found[i] = absl::NotFoundError(
        absl::StrCat("no such key in state family ", FamilyName(static_cast<Family>(i))));
  }

  if (absl::Status version = impl->CheckSchemaVersion(); !version.ok()) return version;
  return std::unique_ptr<RocksStore>(new RocksStore(std::move(impl)));
}

RocksStore::RocksStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RocksStore::~RocksStore() = default;

absl::Status RocksStore::Write(const WriteSet& changes) {
  if (changes.empty()) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  for (const WriteSet::Op& op : changes.ops()) {
    if (!IsKnownFamily(op.family)) return UnknownFamilyError(op.family);
    rocksdb::ColumnFamilyHandle* cf = impl_->Handle(op.family);
    rocksdb::Status s;
    switch (op.kind) {
      case WriteSet::OpKind::kPut:
        s = batch.Put(cf, op.key, op.value);
        break;
      case WriteSet::OpKind::kDelete:
        s = batch.Delete(cf, op.key);
        break;
      case WriteSet::OpKind::kDeleteRange:
        // std::string compares bytes as unsigned, like RocksDB's default
        // comparator. An inverted range is a caller bug, reported as such
        // rather than silently deleting nothing.
        if (op.key > op.value) {
          return absl::InvalidArgumentError(
              absl::StrCat("DeleteRange in state family ", FamilyName(op.family),
                           ": begin key sorts after end key"));
        }
        if (op.key == op.value) continue;  // An empty range.
        s = batch.DeleteRange(cf, op.key, op.value);
        break;
    }
    if (!s.ok()) return FromRocks(s, "cannot write to", impl_->dir);
  }
  // Offsets and aggregates travel in this one batch, so they are one atomic
  // unit: a process kill or power loss must never expose one without the
  // other, or a restart would count events twice or lose them. sync=true
  // (WAL on) makes "returned OK" mean "on disk"; the price is one fsync per
  // flush, about one per second.
  if (absl::Status space = impl_->CheckFreeSpace(); !space.ok()) return space;
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  // After a failed write (a full disk, an I/O error) RocksDB refuses every
  // later write until it is told to resume; each attempt asks it again, so
  // writes work as soon as the disk does. A batch that reached the WAL but
  // not its sync may be replayed at the next open: harmless, since the
  // WriteSets carry absolute values.
  if (impl_->resume_needed) {
    if (absl::Status s = FromRocks(impl_->db->Resume(), "cannot resume writing to", impl_->dir);
        !s.ok()) {
      return s;
    }
    impl_->resume_needed = false;
  }
  absl::Status written =
      FromRocks(impl_->db->Write(write_options, &batch), "cannot write to", impl_->dir);
  if (!written.ok()) impl_->resume_needed = true;
  return written;
}

absl::Status RocksStore::ScanRange(Family family, std::string_view begin,
                                   std::string_view end, const Visitor& visit) const {
  if (!IsKnownFamily(family)) return UnknownFamilyError(family);
  rocksdb::ReadOptions read_options;
  // No prefix extractor is configured; say so explicitly so that adding one
  // later cannot silently truncate scans.
  read_options.total_order_seek = true;
  // A scan reads its range once (loading the state at start, a window
  // bucket read back): its blocks would only push the hot blocks of point
  // lookups out of the block cache, and at start they made the cache, and
  // the RSS, jump by the size of the dedup family.
  read_options.fill_cache = false;
  // The upper bound lets RocksDB stop at the end of the range instead of
  // stepping over tombstones beyond it (retention leaves many).
  rocksdb::Slice upper(end.data(), end.size());
  if (!end.empty()) read_options.iterate_upper_bound = &upper;

  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(read_options, impl_->Handle(family)));
  for (it->Seek(rocksdb::Slice(begin.data(), begin.size())); it->Valid(); it->Next()) {
    const rocksdb::Slice key = it->key();
    const rocksdb::Slice value = it->value();
    if (absl::Status s = visit(std::string_view(key.data(), key.size()),
                               std::string_view(value.data(), value.size()));
        !s.ok()) {
      return s;
    }
  }
  return FromRocks(it->status(), "cannot scan", impl_->dir);
}

absl::StatusOr<std::string> RocksStore::Get(Family family, std::string_view key) const {
  if (!IsKnownFamily(family)) return UnknownFamilyError(family);
  std::string value;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->Handle(family),
                                     rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return impl_->not_found[static_cast<int>(family)];
  if (!s.ok()) return FromRocks(s, "cannot read", impl_->dir);
  return value;
}

void RocksStore::SetDedupCutoff(int64_t cutoff) { impl_->dedup_filter.SetCutoff(cutoff); }

uint64_t RocksStore::DiskBytes() const {
  // "total" rather than "live" SST size: files still referenced by an old
  // version (an open iterator) occupy the disk too.
  uint64_t sst_bytes = 0;
  if (!impl_->db->GetAggregatedIntProperty(rocksdb::DB::Properties::kTotalSstFilesSize,
                                           &sst_bytes)) {
    sst_bytes = 0;
  }
  uint64_t wal_bytes = 0;
  rocksdb::VectorLogPtr wal_files;
  if (impl_->db->GetSortedWalFiles(wal_files).ok()) {
    for (const auto& file : wal_files) wal_bytes += file->SizeFileBytes();
  }
  return sst_bytes + wal_bytes;
}

uint64_t RocksStore::BytesWritten() const {
  // Tickers count bytes as they are written by this DB instance, whatever the
  // file: WAL appends, flushes (memtable -> L0) and compactions.
  const rocksdb::Statistics& stats = *impl_->statistics;
  return stats.getTickerCount(rocksdb::WAL_FILE_BYTES) +
         stats.getTickerCount(rocksdb::FLUSH_WRITE_BYTES) +
         stats.getTickerCount(rocksdb::COMPACT_WRITE_BYTES);
}

}  // namespace prodops::state
