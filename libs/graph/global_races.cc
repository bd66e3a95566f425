#include "libs/graph/global_races.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/model/operation_key.h"

namespace raceway::graph {
namespace {

uint8_t ClassOf(raceway::v1::AccessType t) {
  return static_cast<uint8_t>((model::IsWrite(t) ? 1 : 0) | (model::IsAtomic(t) ? 2 : 0));
}
bool ClassesConflict(uint8_t a, uint8_t b) { return ((a | b) & 1) && !((a & b) & 2); }

// a.ts <= b.ts: does a distributed edge order them (either direction)?
bool SpanOrdered(const AccessRecord& a, const AccessRecord& b, bool* a_first) {
  if (!a.distributed_span_id.empty() && a.distributed_span_id == b.upstream_span_id &&
      a.timestamp_ns <= b.timestamp_ns) {
    *a_first = true;
    return true;
  }
  if (!b.distributed_span_id.empty() && b.distributed_span_id == a.upstream_span_id &&
      b.timestamp_ns <= a.timestamp_ns) {
    *a_first = false;
    return true;
  }
  return false;
}

// Both normalised.
ClockOrder ClientOrder(const AccessRecord& a, const AccessRecord& b) {
  if (!a.has_causality_vector || !b.has_causality_vector) return ClockOrder::kConcurrent;
  return CompareNamedClocks(a.causality_vector, b.causality_vector);
}

uint64_t Gap(int64_t a, int64_t b) {
  return a <= b ? static_cast<uint64_t>(b) - static_cast<uint64_t>(a)
                : static_cast<uint64_t>(a) - static_cast<uint64_t>(b);
}

}  // namespace

Relation RelateAcrossTraces(const AccessRecord& a, const AccessRecord& b) {
  if (a.event_id == b.event_id) return Relation::kSame;
  bool a_first = false;
  if (SpanOrdered(a, b, &a_first)) return a_first ? Relation::kBefore : Relation::kAfter;
  AccessRecord na, nb;  // Normalised copies of the clocks only.
  na.has_causality_vector = a.has_causality_vector;
  nb.has_causality_vector = b.has_causality_vector;
  na.causality_vector = NormalizeClientClock(a.causality_vector);
  nb.causality_vector = NormalizeClientClock(b.causality_vector);
  switch (ClientOrder(na, nb)) {
    case ClockOrder::kBefore:
      return Relation::kBefore;
    case ClockOrder::kAfter:
      return Relation::kAfter;
    default:
      return Relation::kNotComparable;
  }
}

GlobalRaceSweeper::GlobalRaceSweeper(GlobalRaceOptions options) : options_(options) {
  locksets_.emplace_back();  // Set 0: empty.
}

absl::Status GlobalRaceSweeper::Add(const AccessRecord& record, std::vector<GlobalRace>* out) {
  if (out == nullptr) return absl::InvalidArgumentError("null output");
  return Insert(record, out);
}

absl::Status GlobalRaceSweeper::Prime(const AccessRecord& record) {
  return Insert(record, nullptr);
}

uint32_t GlobalRaceSweeper::InternLockSet(const std::vector<GlobalLockHold>& locks) {
  if (locks.empty()) return 0;
  std::vector<std::pair<std::string, bool>> key;
  key.reserve(locks.size());
  for (const GlobalLockHold& h : locks) key.emplace_back(h.lock_id, h.read_mode);
  std::sort(key.begin(), key.end());  // Exclusive (false) first per lock.
  key.erase(std::unique(key.begin(), key.end(),
                        [](const auto& a, const auto& b) { return a.first == b.first; }),
            key.end());
  auto [it, inserted] = lockset_ids_.try_emplace(key, static_cast<uint32_t>(locksets_.size()));
  if (inserted) locksets_.push_back(std::move(key));
  return it->second;
}

bool GlobalRaceSweeper::Compatible(uint32_t a, uint32_t b) {
  if (a == 0 || b == 0) return true;
  const uint64_t key = (uint64_t{std::min(a, b)} << 32) | std::max(a, b);
  auto [it, inserted] = compatible_.try_emplace(key, true);
  if (inserted) {
    const auto& x = locksets_[a];
    const auto& y = locksets_[b];
    size_t i = 0, j = 0;
    while (i < x.size() && j < y.size()) {
      if (x[i].first < y[j].first) {
        ++i;
      } else if (y[j].first < x[i].first) {
        ++j;
      } else {
        if (!(x[i].second && y[j].second)) {
          it->second = false;
          break;
        }
        ++i;
        ++j;
      }
    }
  }
  return it->second;
}

absl::Status GlobalRaceSweeper::Insert(const AccessRecord& record, std::vector<GlobalRace>* out) {
  if (options_.window_ns < 0) return absl::InvalidArgumentError("window must be >= 0");
  if (started_ && (record.variable < variable_ ||
                   (record.variable == variable_ && record.timestamp_ns < last_ts_))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "access records out of (variable, timestamp) order at event ", record.event_id));
  }
  if (!started_ || record.variable != variable_) {
    window_.clear();
    buckets_.clear();
    base_seq_ = 0;
    variable_ = record.variable;
    started_ = true;
  }
  last_ts_ = record.timestamp_ns;
  const uint64_t window = static_cast<uint64_t>(options_.window_ns);

  while (!window_.empty() &&
         Gap(window_.front().record.timestamp_ns, record.timestamp_ns) > window) {
    window_.pop_front();
    ++base_seq_;
  }
  Entry entry{record, ClassOf(record.access_type), InternLockSet(record.lock_set)};
  if (entry.record.has_causality_vector) {
    entry.record.causality_vector = NormalizeClientClock(std::move(entry.record.causality_vector));
  }
  const AccessRecord& b = entry.record;
  for (Bucket& bucket : buckets_) {
    while (!bucket.seqs.empty() && bucket.seqs.front() < base_seq_) bucket.seqs.pop_front();
    if (out == nullptr || bucket.seqs.empty() || !ClassesConflict(entry.cls, bucket.cls) ||
        !Compatible(entry.lockset, bucket.lockset)) {
      continue;
    }
    for (uint64_t seq : bucket.seqs) {
      const AccessRecord& a = window_[seq - base_seq_].record;
      if (a.trace_id == b.trace_id) continue;
      bool a_first = false;
      if (SpanOrdered(a, b, &a_first)) continue;
      const ClockOrder o = ClientOrder(a, b);
      if (o == ClockOrder::kBefore || o == ClockOrder::kAfter) continue;
      GlobalRace race;
      race.severity = SeverityOf(a.access_type, b.access_type);
      const bool a_earlier = a.timestamp_ns != b.timestamp_ns ? a.timestamp_ns < b.timestamp_ns
                                                              : a.event_id <= b.event_id;
      race.first = a_earlier ? a : b;
      race.second = a_earlier ? b : a;
      race.gap_ns = Gap(a.timestamp_ns, b.timestamp_ns);
      out->push_back(std::move(race));
    }
  }
  buckets_.erase(std::remove_if(buckets_.begin(), buckets_.end(),
                                [](const Bucket& k) { return k.seqs.empty(); }),
                 buckets_.end());
  const uint64_t seq = base_seq_ + window_.size();
  const uint8_t cls = entry.cls;
  const uint32_t lockset = entry.lockset;
  window_.push_back(std::move(entry));
  Bucket* target = nullptr;
  for (Bucket& k : buckets_) {
    if (k.cls == cls && k.lockset == lockset) target = &k;
  }
  if (target == nullptr) {
    buckets_.push_back({cls, lockset, {}});
    target = &buckets_.back();
  }
  target->seqs.push_back(seq);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<GlobalRace>> FindGlobalRaces(std::span<const AccessRecord> records,
                                                        const GlobalRaceOptions& options) {
  GlobalRaceSweeper sweeper(options);
  std::vector<GlobalRace> out;
  for (const AccessRecord& r : records) {
    absl::Status s = sweeper.Add(r, &out);
    if (!s.ok()) return s;
  }
  return out;
}

}  // namespace raceway::graph
