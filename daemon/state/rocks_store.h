#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "daemon/state/store.h"

namespace prodops::state {

struct RocksStoreOptions {
  // Directory of the database; created if missing. Required.
  std::string dir;
  // One budget for RocksDB's memory: the block cache and the memtables
  // (via a WriteBufferManager charged to the cache) share it.
  // At least 8 MiB. Default: 256 MiB.
  uint64_t memory_budget_bytes = 256ull << 20;
  // Write() refuses (ResourceExhausted, nothing written) while the state
  // directory's filesystem has less than this free for unprivileged users:
  // RocksDB must never meet a full disk, because after a failed write the
  // assertion-enabled builds Debian ships abort the process. 0: no check.
  // Default: 64 MiB.
  uint64_t min_free_disk_bytes = 64ull << 20;
};

// StateStore on RocksDB: one column family per Family, writes as one
// WriteBatch with the WAL on and sync=true, so a write that returned OK
// survives a process kill and a machine crash.
//
// The schema version is kept in Family::kMeta; Open() refuses a directory
// written by a newer schema ("state directory DIR was written by schema
// version N; this prodopsd understands up to M") or one it cannot open.
//
// Thread-compatible: Write from one thread; Scan/Get may run concurrently
// with it.
class RocksStore final : public StateStore {
 public:
  // 2: state is stored per task (state::TaskPrefix).
  static constexpr uint32_t kSchemaVersion = 2;
  // The key in Family::kMeta that holds the schema version, in decimal.
  static constexpr std::string_view kSchemaVersionKey = "schema_version";

  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RocksStore>> Open(
      const RocksStoreOptions& options);
  ~RocksStore() override;

  [[nodiscard]] absl::Status Write(const WriteSet& changes) override;
  [[nodiscard]] absl::Status ScanRange(Family family, std::string_view begin,
                                       std::string_view end,
                                       const Visitor& visit) const override;
  [[nodiscard]] absl::StatusOr<std::string> Get(Family family,
                                                std::string_view key) const override;
  void SetDedupCutoff(int64_t cutoff) override;

  // Total bytes of SST and WAL files (for prodops_state_bytes).
  uint64_t DiskBytes() const;
  // Bytes written to the WAL and SST files since open (for benchmarks).
  uint64_t BytesWritten() const;

 private:
  struct Impl;
  explicit RocksStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace prodops::state
