#include "libs/storage/tools/copy.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "libs/model/operation_key.h"
#include "libs/model/validation.h"
#include "libs/storage/common/page_token.h"
#include "libs/storage/tools/jsonl.h"

namespace raceway::storage::tools {

using raceway::v1::Event;

namespace {

constexpr int kMaxAttempts = 6;

// Retries transient failures (the database restarting, a pool timeout)
// with backoff; anything else is returned at once.
template <typename F>
auto Retry(F&& f) -> decltype(f()) {
  absl::Duration backoff = absl::Milliseconds(500);
  for (int attempt = 1;; ++attempt) {
    auto r = f();
    if (r.ok() || attempt == kMaxAttempts ||
        (r.status().code() != absl::StatusCode::kUnavailable &&
         r.status().code() != absl::StatusCode::kAborted &&
         r.status().code() != absl::StatusCode::kDeadlineExceeded)) {
      return r;
    }
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
    backoff = std::min(backoff * 2, absl::Seconds(8));
  }
}

// Visits traces newest first, strictly after `start_token` (a ListTraces
// page token / trace cursor), then their events in pages.
absl::Status ForEachTrace(EventReader& from, const std::string& start_token, uint32_t page_events,
                          const std::function<absl::Status(const TraceSummary&)>& begin_trace,
                          const std::function<absl::Status(const Event&)>& on_event,
                          const std::function<absl::Status(const TraceSummary&)>& end_trace) {
  std::string traces_token = start_token;
  while (true) {
    auto traces = Retry([&] {
      return from.ListTraces(TraceFilter{}, PageRequest{1000, traces_token}, nullptr);
    });
    if (!traces.ok()) return traces.status();
    for (const TraceSummary& t : traces->items) {
      if (absl::Status st = begin_trace(t); !st.ok()) return st;
      std::string token;
      while (true) {
        auto page = Retry([&] {
          return from.GetTraceEventsPage(t.trace_id, PageRequest{page_events, token});
        });
        if (!page.ok()) {
          if (page.status().code() == absl::StatusCode::kNotFound) break;  // Deleted meanwhile.
          return page.status();
        }
        for (const Event& e : page->items) {
          if (absl::Status st = on_event(e); !st.ok()) return st;
        }
        if (page->next_page_token.empty()) break;
        token = page->next_page_token;
      }
      if (absl::Status st = end_trace(t); !st.ok()) return st;
    }
    if (traces->next_page_token.empty()) return absl::OkStatus();
    traces_token = traces->next_page_token;
  }
}

// Checkpoint file: "raceway-copy-checkpoint 1\n<key>\n<cursor token>\n".
constexpr char kCheckpointMagic[] = "raceway-copy-checkpoint 1";

absl::StatusOr<std::string> ReadCheckpoint(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  if (!in) return std::string();
  std::string magic, stored_key, token;
  std::getline(in, magic);
  std::getline(in, stored_key);
  std::getline(in, token);
  if (magic != kCheckpointMagic) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint ", path, " is not a raceway copy checkpoint"));
  }
  if (stored_key != key) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint ", path, " belongs to another copy (", stored_key,
                     "); remove it or choose another checkpoint file"));
  }
  if (!token.empty()) {
    auto cursor = common::DecodeTraceCursor(token);
    if (!cursor.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("checkpoint ", path, " is corrupt: ", cursor.status().message()));
    }
  }
  return token;
}

absl::Status WriteCheckpoint(const std::string& path, const std::string& key,
                             const std::string& token) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << kCheckpointMagic << '\n' << key << '\n' << token << '\n';
    out.flush();
    if (!out) return absl::InternalError(absl::StrCat("cannot write checkpoint ", tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec)
    return absl::InternalError(absl::StrCat("cannot write checkpoint ", path, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace

std::string FormatProgress(const CopyProgress& p) {
  const double secs = absl::ToDoubleSeconds(p.elapsed);
  const uint64_t done = p.traces_skipped + p.traces_done;
  const double pct = p.traces_total
                         ? 100.0 * static_cast<double>(done) / static_cast<double>(p.traces_total)
                         : 100.0;
  return absl::StrFormat("traces %d/%d (%.1f%%)  events %d  new %d  dup %d  %.0f ev/s", done,
                         p.traces_total, std::min(pct, 100.0), p.events_read, p.accepted,
                         p.duplicates, secs > 0 ? static_cast<double>(p.events_read) / secs : 0);
}

absl::Status ForEachEvent(EventReader& from, uint32_t page_events,
                          const std::function<absl::Status(const Event&)>& fn) {
  auto none = [](const TraceSummary&) { return absl::OkStatus(); };
  return ForEachTrace(from, "", page_events, none, fn, none);
}

absl::StatusOr<CopyProgress> CopyEvents(EventReader& from, EventWriter& to,
                                        const CopyOptions& options) {
  const absl::Time start = absl::Now();
  const uint32_t batch_size = std::clamp<uint32_t>(options.batch_events, 1, 10000);
  CopyProgress progress;
  std::string resume_token;
  if (!options.checkpoint_path.empty()) {
    auto token = ReadCheckpoint(options.checkpoint_path, options.checkpoint_key);
    if (!token.ok()) return token.status();
    resume_token = *token;
    progress.resumed = !resume_token.empty();
  }
  {
    uint64_t total = 0;
    auto first = Retry([&] { return from.ListTraces(TraceFilter{}, PageRequest{1, ""}, &total); });
    if (!first.ok()) return first.status();
    progress.traces_total = total;
  }
  if (progress.resumed) {
    // Traces before the cursor were copied by an earlier run.
    auto cursor = common::DecodeTraceCursor(resume_token);
    TraceFilter before;
    before.last_activity.start_ns = cursor->last_ns;
    uint64_t newer_or_equal = 0;
    auto r = Retry([&] { return from.ListTraces(before, PageRequest{1, ""}, &newer_or_equal); });
    if (!r.ok()) return r.status();
    progress.traces_skipped = std::min(newer_or_equal, progress.traces_total);
  }

  std::vector<Event> batch;
  batch.reserve(batch_size);
  std::string completed_cursor;  // Last trace whose events are all in `batch` or committed.
  auto report = [&](bool final) {
    progress.elapsed = absl::Now() - start;
    if (options.progress) options.progress(progress, final);
  };
  auto checkpoint = [&]() -> absl::Status {
    if (options.checkpoint_path.empty() || completed_cursor.empty()) return absl::OkStatus();
    return WriteCheckpoint(options.checkpoint_path, options.checkpoint_key, completed_cursor);
  };
  auto flush = [&]() -> absl::Status {
    if (batch.empty()) return absl::OkStatus();
    std::vector<const Event*> ptrs;
    ptrs.reserve(batch.size());
    for (const Event& e : batch) ptrs.push_back(&e);
    auto r = Retry([&] { return to.WriteBatch(ptrs); });
    if (!r.ok()) {
      return absl::Status(r.status().code(),
                          absl::StrCat("writing to the target: ", r.status().message()));
    }
    progress.accepted += r->accepted;
    progress.duplicates += r->duplicate;
    ++progress.batches;
    batch.clear();
    if (absl::Status st = checkpoint(); !st.ok()) return st;
    report(false);
    if (options.stop_after_batches != 0 && progress.batches >= options.stop_after_batches) {
      return absl::AbortedError(
          absl::StrCat("stopped after ", progress.batches, " batches (test hook)"));
    }
    return absl::OkStatus();
  };

  absl::Status st = ForEachTrace(
      from, resume_token, std::max<uint32_t>(options.page_events, 1),
      [&](const TraceSummary&) { return absl::OkStatus(); },
      [&](const Event& e) -> absl::Status {
        ++progress.events_read;
        batch.push_back(e);
        if (batch.size() >= batch_size) {
          absl::Status s = flush();
          return s;
        }
        return absl::OkStatus();
      },
      [&](const TraceSummary& t) -> absl::Status {
        ++progress.traces_done;
        completed_cursor = common::EncodeTraceCursor({t.last_ns, t.trace_id});
        // Everything up to this trace is committed when the batch is empty.
        return batch.empty() ? checkpoint() : absl::OkStatus();
      });
  if (st.ok()) st = flush();
  if (!st.ok()) {
    report(true);
    return st;
  }
  if (!options.checkpoint_path.empty()) {
    std::error_code ec;
    std::filesystem::remove(options.checkpoint_path, ec);
  }
  report(true);
  return progress;
}

absl::StatusOr<VerifyReport> VerifyCopy(EventReader& from, EventReader& to) {
  VerifyReport report;
  auto se = Retry([&] { return from.CountEvents(); });
  auto stc = Retry([&] { return from.CountTraces(); });
  auto te = Retry([&] { return to.CountEvents(); });
  auto ttc = Retry([&] { return to.CountTraces(); });
  for (const auto* s : {&se, &stc, &te, &ttc}) {
    if (!s->ok()) return s->status();
  }
  report.source_events = *se;
  report.source_traces = *stc;
  report.target_events = *te;
  report.target_traces = *ttc;

  std::string token;
  std::set<std::string> operations;
  while (true) {
    auto traces = Retry([&] {
      return from.ListTraces(TraceFilter{}, PageRequest{1000, token}, nullptr);
    });
    if (!traces.ok()) return traces.status();
    for (const TraceSummary& s : traces->items) {
      ++report.traces_checked;
      auto t = Retry([&] { return to.GetTraceSummary(s.trace_id); });
      std::string problem;
      if (!t.ok()) {
        problem = absl::StrCat("trace ", s.trace_id, ": ", t.status().ToString());
      } else if (t->event_count != s.event_count || t->first_ns != s.first_ns ||
                 t->last_ns != s.last_ns || t->services != s.services) {
        problem = absl::StrCat("trace ", s.trace_id, ": ", t->event_count,
                               " events on the target, ", s.event_count, " on the source");
      }
      if (!problem.empty()) {
        ++report.traces_mismatched;
        if (report.examples.size() < 5) report.examples.push_back(problem);
      }
    }
    if (traces->next_page_token.empty()) break;
    token = traces->next_page_token;
  }
  // Baselines of the source's operation keys (reported only).
  absl::Status st = ForEachEvent(from, 5000, [&](const Event& e) {
    if (model::DurationNs(e)) operations.insert(model::OperationKey(e));
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  std::vector<std::string> ops(operations.begin(), operations.end());
  auto a = Retry([&] { return from.GetBaselines(ops); });
  auto b = Retry([&] { return to.GetBaselines(ops); });
  if (!a.ok()) return a.status();
  if (!b.ok()) return b.status();
  std::map<std::string, uint64_t> target_counts;
  for (const Baseline& x : *b) target_counts[x.operation] = x.count;
  report.baseline_keys = a->size();
  for (const Baseline& x : *a) {
    auto it = target_counts.find(x.operation);
    if (it == target_counts.end() || it->second != x.count) ++report.baseline_differences;
  }
  return report;
}

absl::StatusOr<CopyProgress> ImportJsonl(std::istream& in, EventWriter& to,
                                         const ImportOptions& options) {
  const absl::Time start = absl::Now();
  const uint32_t batch_size = std::clamp<uint32_t>(options.batch_events, 1, 10000);
  const model::ValidationLimits limits;
  CopyProgress progress;
  JsonlReader reader(in);
  std::vector<Event> batch;
  absl::flat_hash_set<std::string> ids;
  auto report = [&](bool final) {
    progress.elapsed = absl::Now() - start;
    if (options.progress) options.progress(progress, final);
  };
  auto flush = [&]() -> absl::Status {
    if (batch.empty()) return absl::OkStatus();
    std::vector<const Event*> ptrs;
    for (const Event& e : batch) ptrs.push_back(&e);
    auto r = Retry([&] { return to.WriteBatch(ptrs); });
    if (!r.ok()) return r.status();
    progress.accepted += r->accepted;
    progress.duplicates += r->duplicate;
    ++progress.batches;
    batch.clear();
    ids.clear();
    report(false);
    return absl::OkStatus();
  };
  while (true) {
    Event e;
    auto more = reader.Next(&e);
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (auto err = model::ValidateEvent(e, limits)) {
      return absl::InvalidArgumentError(absl::StrCat("line ", reader.line(), ": event ",
                                                     model::EchoSafe(e.id(), 64), ": ", err->field,
                                                     " ", err->reason));
    }
    ++progress.events_read;
    if (!ids.insert(e.id()).second) {  // Repeated within this batch.
      ++progress.duplicates;
      continue;
    }
    batch.push_back(std::move(e));
    if (batch.size() >= batch_size) {
      if (absl::Status st = flush(); !st.ok()) return st;
    }
  }
  if (absl::Status st = flush(); !st.ok()) return st;
  report(true);
  return progress;
}

absl::StatusOr<uint64_t> ExportJsonl(EventReader& from, std::ostream& out,
                                     const std::function<void(uint64_t)>& progress) {
  JsonlWriter writer(out);
  absl::Status st = ForEachEvent(from, 5000, [&](const Event& e) -> absl::Status {
    if (absl::Status w = writer.Write(e); !w.ok()) return w;
    if (progress && writer.written() % 10000 == 0) progress(writer.written());
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  out.flush();
  if (!out) return absl::InternalError("write failed (disk full?)");
  if (progress) progress(writer.written());
  return writer.written();
}

}  // namespace raceway::storage::tools
