#include "libs/graph/lock_sets.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"

namespace raceway::graph {

using raceway::v1::Event;

bool LockSets::IsReadMode(std::string_view lock_type) {
  return CompactTrace::IsReadLockType(lock_type);
}

LockSets LockSets::Compute(const CompactTrace& trace) {
  LockSets out;
  const uint32_t n = trace.size();
  out.set_.assign(n, 0);
  // Lock ids: the trace's (LockAcquire/LockRelease), then client-only ones.
  for (uint32_t l = 0; l < trace.num_locks(); ++l) out.lock_names_.push_back(trace.lock_name(l));
  absl::flat_hash_map<std::string_view, uint32_t> client_only;
  auto client_lock_id = [&](std::string_view name) {
    if (auto l = trace.FindLock(name)) return *l;
    auto [it, inserted] =
        client_only.try_emplace(name, static_cast<uint32_t>(out.lock_names_.size()));
    if (inserted) out.lock_names_.push_back(name);
    return it->second;
  };
  absl::flat_hash_map<std::vector<uint64_t>, uint32_t> set_ids;
  std::vector<uint64_t> key;
  // Interns a set given as holds sorted by lock (one entry per lock).
  auto intern = [&](const std::vector<LockHold>& holds) -> uint32_t {
    if (holds.empty()) return 0;
    key.clear();
    for (const LockHold& h : holds) key.push_back((uint64_t{h.lock} << 1) | (h.read_mode ? 1 : 0));
    auto [it, inserted] = set_ids.try_emplace(key, out.num_sets());
    if (inserted) {
      out.holds_.insert(out.holds_.end(), holds.begin(), holds.end());
      out.set_begin_.push_back(static_cast<uint32_t>(out.holds_.size()));
    }
    return it->second;
  };
  auto by_lock = [](const LockHold& a, const LockHold& b) {
    return a.lock != b.lock ? a.lock < b.lock : a.read_mode < b.read_mode;
  };
  auto same_lock = [](const LockHold& a, const LockHold& b) { return a.lock == b.lock; };

  std::vector<LockHold> acquisitions;  // Live acquisitions, oldest first.
  std::vector<LockHold> held, merged;
  for (uint32_t th = 0; th < trace.num_threads(); ++th) {
    acquisitions.clear();
    uint32_t held_id = 0;
    for (uint32_t i : trace.thread_events(th)) {
      const Event::KindCase kind = trace.kind(i);
      bool changed = false;
      if (kind == Event::kLockAcquire) {
        acquisitions.push_back({trace.lock(i), trace.lock_read_mode(i)});
        changed = true;
      } else if (kind == Event::kLockRelease) {
        const uint32_t lock = trace.lock(i);
        const bool read = trace.lock_read_mode(i);
        auto match = acquisitions.rend();
        for (auto it = acquisitions.rbegin(); it != acquisitions.rend(); ++it) {
          if (it->lock != lock) continue;
          if (it->read_mode == read) {
            match = it;
            break;
          }
          if (match == acquisitions.rend()) match = it;
        }
        if (match != acquisitions.rend()) {
          acquisitions.erase(std::next(match).base());
          changed = true;
        }
      }
      if (changed) {
        held = acquisitions;
        std::sort(held.begin(), held.end(), by_lock);
        // One entry per lock; exclusive (false) sorts first and wins.
        held.erase(std::unique(held.begin(), held.end(), same_lock), held.end());
        held_id = intern(held);
      }
      if (!trace.has_client_lock_set(i)) {
        out.set_[i] = held_id;
        continue;
      }
      auto base = out.locks(held_id);
      merged.assign(base.begin(), base.end());
      for (const std::string& name : trace.event(i).lock_set()) {
        const uint32_t lock = client_lock_id(name);
        bool present = false;
        for (const LockHold& h : base) present |= h.lock == lock;
        if (!present) merged.push_back({lock, false});
      }
      std::sort(merged.begin(), merged.end(), by_lock);
      merged.erase(std::unique(merged.begin(), merged.end(), same_lock), merged.end());
      out.set_[i] = intern(merged);
    }
  }
  return out;
}

bool LockSets::Protects(uint32_t set_a, uint32_t set_b) const {
  if (set_a == 0 || set_b == 0) return false;
  auto a = locks(set_a);
  auto b = locks(set_b);
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i].lock < b[j].lock) {
      ++i;
    } else if (b[j].lock < a[i].lock) {
      ++j;
    } else {
      if (!(a[i].read_mode && b[j].read_mode)) return true;
      ++i;
      ++j;
    }
  }
  return false;
}

std::vector<std::string_view> LockSets::LockNames(uint32_t event) const {
  std::vector<std::string_view> out;
  for (const LockHold& h : locks(set_of(event))) out.push_back(lock_names_[h.lock]);
  std::sort(out.begin(), out.end());
  return out;
}

size_t LockSets::MemoryBytes() const {
  return set_.capacity() * sizeof(uint32_t) + set_begin_.capacity() * sizeof(uint32_t) +
         holds_.capacity() * sizeof(LockHold) + lock_names_.capacity() * sizeof(std::string_view);
}

}  // namespace raceway::graph
