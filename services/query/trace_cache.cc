#include "services/query/trace_cache.h"

#include <set>

#include "libs/model/operation_key.h"

namespace raceway::query {

TraceCache::TraceCache(storage::EventReader& reader, size_t max_traces, uint64_t max_events,
                       graph::AnalysisOptions options, CacheObserver* observer)
    : reader_(reader),
      max_traces_(std::max<size_t>(1, max_traces)),
      max_events_(max_events),
      options_(options),
      observer_(observer) {}

size_t TraceCache::size() const {
  storage::common::MutexLock lock(&mu_);
  return slots_.size();
}

absl::StatusOr<std::shared_ptr<const AnalyzedTrace>> TraceCache::Get(const std::string& trace_id) {
  auto summary = reader_.GetTraceSummary(trace_id);
  if (!summary.ok()) {
    if (absl::IsNotFound(summary.status())) {
      storage::common::MutexLock lock(&mu_);
      if (auto it = slots_.find(trace_id); it != slots_.end()) {
        lru_.erase(it->second->lru);
        if (it->second->ready && it->second->value) {
          cached_events_ -= it->second->value->events.size();
        }
        slots_.erase(it);
      }
    }
    return summary.status();
  }
  std::shared_ptr<Slot> slot;
  bool build = false;
  {
    storage::common::MutexLock lock(&mu_);
    auto it = slots_.find(trace_id);
    if (it != slots_.end() && (it->second->event_count != summary->event_count ||
                               it->second->last_ns != summary->last_ns)) {
      // Stale: the trace grew since it was analysed.
      lru_.erase(it->second->lru);
      if (it->second->ready && it->second->value) {
        cached_events_ -= it->second->value->events.size();
      }
      slots_.erase(it);
      it = slots_.end();
    }
    if (it == slots_.end()) {
      slot = std::make_shared<Slot>();
      slot->event_count = summary->event_count;
      slot->last_ns = summary->last_ns;
      lru_.push_front(trace_id);
      slot->lru = lru_.begin();
      slots_.emplace(trace_id, slot);
      build = true;
    } else {
      slot = it->second;
      lru_.splice(lru_.begin(), lru_, slot->lru);
    }
  }
  if (observer_) build ? observer_->OnCacheMiss() : observer_->OnCacheHit();
  if (build) {
    auto built = Build(*summary);
    storage::common::MutexLock lock(&mu_);
    slot->ready = true;
    mu_.SignalAll();  // Wakes the callers waiting for this slot.
    if (built.ok()) {
      slot->value = *built;
      cached_events_ += (*built)->events.size();
    } else {
      slot->status = built.status();
      // Do not cache failures: the next Get retries.
      auto it = slots_.find(trace_id);
      if (it != slots_.end() && it->second == slot) {
        lru_.erase(slot->lru);
        slots_.erase(it);
      }
    }
    EvictLocked();
    if (!built.ok()) return built.status();
    return *built;
  }
  storage::common::MutexLock lock(&mu_);
  mu_.Await([&slot]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return slot->ready; });
  if (!slot->status.ok()) return slot->status;
  return slot->value;
}

absl::StatusOr<std::shared_ptr<const AnalyzedTrace>> TraceCache::Build(
    const storage::TraceSummary& summary) {
  auto events = reader_.GetTraceEvents(summary.trace_id);
  if (!events.ok()) return events.status();
  auto entry = std::make_shared<AnalyzedTrace>();
  entry->summary = summary;
  entry->events = std::move(*events);
  // The summary read first may be older than the events read now; describe
  // what was actually analysed so a later Get sees the difference.
  entry->summary.event_count = entry->events.size();
  std::set<std::string> keys;
  for (const auto& e : entry->events) {
    if (model::DurationNs(e).has_value()) keys.insert(model::OperationKey(e));
  }
  if (!keys.empty()) {
    auto baselines = reader_.GetBaselines(std::vector<std::string>(keys.begin(), keys.end()));
    if (!baselines.ok()) return baselines.status();
    for (const auto& b : *baselines) {
      model::WelfordStats s;
      s.count = b.count;
      s.mean = b.mean;
      s.m2 = b.m2;
      s.min = b.min;
      s.max = b.max;
      entry->baselines.emplace(b.operation, s);
    }
  }
  auto analysis = graph::AnalyzeTrace(std::span<const raceway::v1::Event>(entry->events),
                                      &entry->baselines, options_);
  if (!analysis.ok()) return analysis.status();
  entry->analysis = std::make_unique<graph::TraceAnalysis>(std::move(*analysis));
  return std::shared_ptr<const AnalyzedTrace>(std::move(entry));
}

void TraceCache::EvictLocked() {
  while (!lru_.empty() && (slots_.size() > max_traces_ || cached_events_ > max_events_)) {
    const std::string& victim = lru_.back();
    auto it = slots_.find(victim);
    if (it != slots_.end()) {
      if (!it->second->ready) break;  // Being built: evict later.
      if (it->second->value) cached_events_ -= it->second->value->events.size();
      slots_.erase(it);
    }
    lru_.pop_back();
    if (slots_.size() <= 1) break;  // Keep at least the newest entry.
  }
}

}  // namespace raceway::query
