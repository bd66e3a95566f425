#ifndef RACEWAY_LIBS_GRAPH_LOCK_SETS_H_
#define RACEWAY_LIBS_GRAPH_LOCK_SETS_H_

// Lock sets per event (ARCHITECTURE §4): the locks the event's thread holds
// at that point, replaying LockAcquire/LockRelease in program order, unioned
// with the client-sent lock_set.
//
// Rules:
//  * An acquisition is in read mode iff its lock_type is "RwLock::Read" or
//    ends in "::Read"; every other type (Mutex, RwLock::Write, ...) is
//    exclusive. A lock acquired several times (re-entrant, or downgraded) is
//    held in read mode only if every live acquisition is a read.
//  * LockRelease removes the latest live acquisition of that lock_id with
//    the same mode, else the latest of that lock_id; a release of a lock not
//    held is ignored. The set of an Acquire/Release event is the set after
//    it.
//  * Client lock_set ids whose mode is unknown count as exclusive, unless
//    the replay already holds that lock (its mode is kept).
//  * Two accesses are protected when their sets share a lock that is not
//    held in read mode by both.
//
// Thread-safety: Compute() is pure; a LockSets is immutable and safe for
// concurrent readers. Lock names are views into the caller's events.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "libs/graph/compact_trace.h"

namespace raceway::graph {

struct LockHold {
  uint32_t lock = 0;  // Interned lock id.
  bool read_mode = false;
};

class LockSets {
 public:
  static LockSets Compute(const CompactTrace& trace);

  // The interned effective lock set of an event; set 0 is the empty set.
  uint32_t set_of(uint32_t event) const { return set_[event]; }
  // Holds of a set, sorted by lock id.
  std::span<const LockHold> locks(uint32_t set) const {
    return {holds_.data() + set_begin_[set], set_begin_[set + 1] - set_begin_[set]};
  }
  uint32_t num_sets() const { return static_cast<uint32_t>(set_begin_.size() - 1); }
  std::string_view lock_name(uint32_t lock) const { return lock_names_[lock]; }
  // Lock ids of an event's effective set, sorted by name.
  std::vector<std::string_view> LockNames(uint32_t event) const;

  // The two sets share a lock not held in read mode by both.
  bool Protects(uint32_t set_a, uint32_t set_b) const;

  static bool IsReadMode(std::string_view lock_type);
  size_t MemoryBytes() const;

 private:
  std::vector<uint32_t> set_;
  std::vector<uint32_t> set_begin_{0, 0};
  std::vector<LockHold> holds_;
  std::vector<std::string_view> lock_names_;
};

}  // namespace raceway::graph

#endif  // RACEWAY_LIBS_GRAPH_LOCK_SETS_H_
