// raceway: command-line tool for Raceway storages (ARCHITECTURE §7 "Data
// tools").
//
//   raceway migrate --from URL --to URL [--batch N] [--checkpoint FILE |
//                   --no-checkpoint] [--no-verify] [--quiet]
//       Copies every event from one storage to any other (memory://,
//       sqlite://PATH, postgres://, supabase://, mysql://), re-deriving the
//       derived rows and baselines on the target (see
//       libs/storage/tools/copy.h), streaming in batches with a progress line
//       on stderr, then verifies every trace's event count on the target.
//       Idempotent; resumable: the checkpoint (default
//       ./raceway-migrate-<hash>.checkpoint) makes a re-run continue after
//       the last fully copied trace.
//   raceway migrate up --to URL       applies pending schema migrations
//   raceway migrate status --to URL   says whether the schema is up to date
//   raceway export --from URL --out FILE.jsonl   (- = stdout)
//   raceway import --to URL --in FILE.jsonl      (- = stdin) [--batch N]
//
// The service and query commands are in service_commands.h. `raceway
// --help` prints every command's usage; `raceway help COMMAND`, `COMMAND
// --help` and `COMMAND -h` print one command's usage and exit 0.
// Exit status: 0 success, 1 failure, 2 usage error.

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "libs/service/config.h"
#include "libs/storage/factory.h"
#include "libs/storage/tools/copy.h"
#include "tools/raceway/service_commands.h"

namespace {

using raceway::storage::Storage;
using raceway::storage::StorageOptions;
namespace tools = raceway::storage::tools;

// The storage commands' usage, by command (`raceway help migrate`).
const std::map<std::string, std::string>& DataUsage() {
  static const auto* usage = new std::map<std::string, std::string>{
      {"migrate",
       "  raceway migrate --from URL --to URL [--batch N] [--checkpoint FILE | --no-checkpoint]\n"
       "                  [--no-verify] [--quiet]       copy every event between storages "
       "(resumable)\n"
       "  raceway migrate up --to URL | --config FILE   apply pending schema migrations\n"
       "  raceway migrate status --to URL | --config FILE\n"
       "                                                is the schema up to date?\n"},
      {"export",
       "  raceway export --from URL --out FILE.jsonl    events as JSON Lines (- = stdout)\n"},
      {"import",
       "  raceway import --to URL --in FILE.jsonl [--batch N]\n"
       "                                                JSON Lines into a storage (- = stdin)\n"},
  };
  return *usage;
}

constexpr char kUrls[] =
    "URLs: memory://  sqlite:///abs/path.db  sqlite://rel/path.db  postgres://...\n"
    "      supabase://... (postgres behind a transaction pooler)  mysql://user:pass@host:port/db\n";

std::string DataCommandUsage(const std::string& command) {
  return absl::StrCat("usage:\n", DataUsage().at(command), kUrls);
}

std::string FullUsage() {
  std::string out = "usage:\n";
  for (const char* c : {"migrate", "export", "import"}) out += DataUsage().at(c);
  out += kUrls;
  return out + raceway::cli::ServiceCommandsUsage();
}

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;  // --key value
  std::map<std::string, bool> flags;          // --flag
};

// Flags that take no value.
bool IsFlag(const std::string& name) {
  return name == "no-checkpoint" || name == "no-verify" || name == "quiet";
}

absl::StatusOr<Args> Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0 || arg == "-") {
      a.positional.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (!IsFlag(name)) {
      if (i + 1 >= argc)
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      value = argv[++i];
    }
    if (IsFlag(name)) {
      a.flags[name] = true;
    } else {
      a.values[name] = value;
    }
  }
  return a;
}

absl::Status CheckKnown(const Args& a, std::initializer_list<const char*> allowed) {
  for (const auto& [k, v] : a.values) {
    if (std::find_if(allowed.begin(), allowed.end(), [&](const char* x) { return k == x; }) ==
        allowed.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown option --", k));
    }
  }
  for (const auto& [k, v] : a.flags) {
    if (std::find_if(allowed.begin(), allowed.end(), [&](const char* x) { return k == x; }) ==
        allowed.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown option --", k));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Required(const Args& a, const char* name) {
  auto it = a.values.find(name);
  if (it == a.values.end() || it->second.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " is required"));
  }
  return it->second;
}

absl::StatusOr<uint32_t> BatchSize(const Args& a) {
  auto it = a.values.find("batch");
  if (it == a.values.end()) return 2000u;
  uint32_t n = 0;
  if (!absl::SimpleAtoi(it->second, &n) || n == 0 || n > 10000) {
    return absl::InvalidArgumentError("--batch must be between 1 and 10000");
  }
  return n;
}

// Opens a storage by URL. A source must exist (an SQLite source file is not
// created) and is opened without migrating it.
absl::StatusOr<std::unique_ptr<Storage>> Open(const std::string& url, bool source) {
  auto options = raceway::storage::StorageOptionsFromUrl(url);
  if (!options.ok()) return options.status();
  if (source && options->backend == "sqlite" && !std::filesystem::exists(options->sqlite_path)) {
    return absl::NotFoundError(
        absl::StrCat("source database ", options->sqlite_path, " does not exist"));
  }
  if (source && options->backend == "memory") {
    return absl::InvalidArgumentError("memory:// cannot be a source (it starts empty)");
  }
  options->max_connections = 4;
  options->min_connections = 1;
  options->auto_migrate = !source;
  auto s = raceway::storage::OpenStorage(*options);
  if (!s.ok()) {
    return absl::Status(s.status().code(), absl::StrCat("opening ", source ? "source" : "target",
                                                        " ", url, ": ", s.status().message()));
  }
  return s;
}

// Progress on stderr: rewritten in place on a terminal, one line every few
// seconds otherwise.
class ProgressLine {
 public:
  explicit ProgressLine(bool quiet) : quiet_(quiet), tty_(isatty(STDERR_FILENO) != 0) {}
  void Show(const std::string& text, bool final) {
    if (quiet_) return;
    const absl::Time now = absl::Now();
    if (!final && now - last_ < (tty_ ? absl::Milliseconds(200) : absl::Seconds(5))) return;
    last_ = now;
    if (tty_) {
      std::fprintf(stderr, "\r\033[K%s%s", text.c_str(), final ? "\n" : "");
    } else {
      std::fprintf(stderr, "%s\n", text.c_str());
    }
    std::fflush(stderr);
  }

 private:
  bool quiet_, tty_;
  absl::Time last_ = absl::InfinitePast();
};

std::string DefaultCheckpoint(const std::string& from, const std::string& to) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a of "from\nto".
  for (char c : absl::StrCat(from, "\n", to)) {
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  }
  return absl::StrFormat("raceway-migrate-%08x.checkpoint", static_cast<uint32_t>(h));
}

int Fail(const absl::Status& st) {
  std::fprintf(stderr, "raceway: %s\n", std::string(st.message()).c_str());
  return st.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

int CopyCommand(const Args& a) {
  if (absl::Status st = CheckKnown(
          a, {"from", "to", "batch", "checkpoint", "no-checkpoint", "no-verify", "quiet"});
      !st.ok()) {
    return Fail(st);
  }
  auto from_url = Required(a, "from");
  if (!from_url.ok()) return Fail(from_url.status());
  auto to_url = Required(a, "to");
  if (!to_url.ok()) return Fail(to_url.status());
  auto batch = BatchSize(a);
  if (!batch.ok()) return Fail(batch.status());
  auto from = Open(*from_url, /*source=*/true);
  if (!from.ok()) return Fail(from.status());
  auto to = Open(*to_url, /*source=*/false);
  if (!to.ok()) return Fail(to.status());

  tools::CopyOptions options;
  options.batch_events = *batch;
  if (!a.flags.contains("no-checkpoint")) {
    auto it = a.values.find("checkpoint");
    options.checkpoint_path =
        it != a.values.end() ? it->second : DefaultCheckpoint(*from_url, *to_url);
    options.checkpoint_key = absl::StrCat((*from)->BackendName(), " -> ", (*to)->BackendName(), " ",
                                          DefaultCheckpoint(*from_url, *to_url));
  }
  const bool quiet = a.flags.contains("quiet");
  ProgressLine line(quiet);
  options.progress = [&](const tools::CopyProgress& p, bool final) {
    line.Show(absl::StrCat("[migrate] ", p.resumed ? "(resumed) " : "", tools::FormatProgress(p)),
              final);
  };
  if (!quiet) {
    std::fprintf(stderr, "[migrate] %s -> %s%s\n", (*from)->BackendName().c_str(),
                 (*to)->BackendName().c_str(),
                 options.checkpoint_path.empty()
                     ? ""
                     : absl::StrCat(" (checkpoint ", options.checkpoint_path, ")").c_str());
  }
  auto copied = tools::CopyEvents(**from, **to, options);
  if (!copied.ok()) {
    std::fprintf(stderr, "raceway: copy interrupted: %s\n%s",
                 std::string(copied.status().message()).c_str(),
                 options.checkpoint_path.empty()
                     ? "re-run to finish (duplicates are skipped)\n"
                     : "re-run the same command to resume from the checkpoint\n");
    return 1;
  }
  if (a.flags.contains("no-verify")) return 0;
  auto report = tools::VerifyCopy(**from, **to);
  if (!report.ok()) return Fail(report.status());
  std::fprintf(stderr,
               "[verify] source %llu events / %llu traces; target %llu events / %llu traces; "
               "%llu traces checked, %llu mismatched\n",
               static_cast<unsigned long long>(report->source_events),
               static_cast<unsigned long long>(report->source_traces),
               static_cast<unsigned long long>(report->target_events),
               static_cast<unsigned long long>(report->target_traces),
               static_cast<unsigned long long>(report->traces_checked),
               static_cast<unsigned long long>(report->traces_mismatched));
  for (const std::string& ex : report->examples) std::fprintf(stderr, "  %s\n", ex.c_str());
  if (report->baseline_differences > 0) {
    std::fprintf(stderr,
                 "[verify] baselines: %llu of %llu operation keys differ (the source's baselines "
                 "include history of traces deleted by retention, which is not copied)\n",
                 static_cast<unsigned long long>(report->baseline_differences),
                 static_cast<unsigned long long>(report->baseline_keys));
  } else {
    std::fprintf(stderr, "[verify] baselines: %llu operation keys identical\n",
                 static_cast<unsigned long long>(report->baseline_keys));
  }
  return report->ok() ? 0 : 1;
}

int SchemaCommand(const std::string& what, const Args& a) {
  if (absl::Status st = CheckKnown(a, {"to", "config"}); !st.ok()) return Fail(st);
  absl::StatusOr<StorageOptions> options;
  if (a.values.contains("config")) {
    // The [storage] section of raceway.toml (+ RACEWAY_* environment), as the
    // services read it: what the Kubernetes migrations Job runs.
    auto config = raceway::service::LoadConfig(a.values.at("config"),
                                               raceway::service::RacewayEnvironment(), {});
    if (!config.ok()) return Fail(config.status());
    options = config->storage;
  } else {
    std::string url;
    if (a.positional.size() == 3) {
      url = a.positional[2];
    } else {
      auto to = Required(a, "to");
      if (!to.ok()) return Fail(to.status());
      url = *to;
    }
    options = raceway::storage::StorageOptionsFromUrl(url);
  }
  if (!options.ok()) return Fail(options.status());
  options->min_connections = 1;
  options->auto_migrate = what == "up";
  // `up` provisions (a new SQLite file too); `status` only looks.
  options->create_if_missing = what == "up";
  options->read_only = what == "status";
  auto s = raceway::storage::OpenStorage(*options);
  if (!s.ok()) {
    if (what == "status" && s.status().code() == absl::StatusCode::kFailedPrecondition) {
      std::printf("%s\n", std::string(s.status().message()).c_str());
      return 1;
    }
    return Fail(s.status());
  }
  std::printf("%s schema is up to date\n", (*s)->BackendName().c_str());
  return 0;
}

int ExportCommand(const Args& a) {
  if (absl::Status st = CheckKnown(a, {"from", "out", "quiet"}); !st.ok()) return Fail(st);
  auto from_url = Required(a, "from");
  if (!from_url.ok()) return Fail(from_url.status());
  auto out_path = Required(a, "out");
  if (!out_path.ok()) return Fail(out_path.status());
  auto from = Open(*from_url, true);
  if (!from.ok()) return Fail(from.status());
  std::ofstream file;
  std::ostream* out = &std::cout;
  if (*out_path != "-") {
    file.open(*out_path, std::ios::trunc | std::ios::binary);
    if (!file) return Fail(absl::InternalError(absl::StrCat("cannot write ", *out_path)));
    out = &file;
  }
  ProgressLine line(a.flags.contains("quiet"));
  const absl::Time start = absl::Now();
  auto n = tools::ExportJsonl(**from, *out, [&](uint64_t written) {
    line.Show(absl::StrFormat("[export] %d events (%.0f ev/s)", written,
                              static_cast<double>(written) /
                                  std::max(1e-9, absl::ToDoubleSeconds(absl::Now() - start))),
              false);
  });
  if (!n.ok()) return Fail(n.status());
  line.Show(absl::StrFormat("[export] %d events written", *n), true);
  return 0;
}

int ImportCommand(const Args& a) {
  if (absl::Status st = CheckKnown(a, {"to", "in", "batch", "quiet"}); !st.ok()) return Fail(st);
  auto to_url = Required(a, "to");
  if (!to_url.ok()) return Fail(to_url.status());
  auto in_path = Required(a, "in");
  if (!in_path.ok()) return Fail(in_path.status());
  auto batch = BatchSize(a);
  if (!batch.ok()) return Fail(batch.status());
  std::ifstream file;
  std::istream* in = &std::cin;
  if (*in_path != "-") {
    file.open(*in_path, std::ios::binary);
    if (!file) return Fail(absl::NotFoundError(absl::StrCat("cannot read ", *in_path)));
    in = &file;
  }
  auto to = Open(*to_url, false);
  if (!to.ok()) return Fail(to.status());
  ProgressLine line(a.flags.contains("quiet"));
  tools::ImportOptions options;
  options.batch_events = *batch;
  options.progress = [&](const tools::CopyProgress& p, bool final) {
    line.Show(absl::StrFormat("[import] events %d  new %d  dup %d", p.events_read, p.accepted,
                              p.duplicates),
              final);
  };
  auto r = tools::ImportJsonl(*in, **to, options);
  if (!r.ok()) return Fail(r.status());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(FullUsage().c_str(), stderr);
    return 2;
  }
  std::string command = argv[1];
  std::vector<std::string> rest(argv + 2, argv + argc);
  if (command == "--help" || command == "-h" || (command == "help" && rest.empty())) {
    std::fputs(FullUsage().c_str(), stdout);
    return 0;
  }
  if (command == "help") {  // raceway help COMMAND = raceway COMMAND --help
    command = rest[0];
    rest = {"--help"};
  }
  const int service_rc = raceway::cli::RunServiceCommand(command, rest);
  if (service_rc >= 0) return service_rc;
  if (!DataUsage().contains(command)) {
    std::fprintf(stderr, "raceway: unknown command \"%s\"\n%s", command.c_str(),
                 FullUsage().c_str());
    return 2;
  }
  if (std::any_of(rest.begin(), rest.end(),
                  [](const std::string& a) { return a == "--help" || a == "-h"; })) {
    std::fputs(DataCommandUsage(command).c_str(), stdout);
    return 0;
  }
  auto args = Parse(argc, argv);
  if (!args.ok()) {
    std::fprintf(stderr, "raceway %s: %s\n%s", command.c_str(),
                 std::string(args.status().message()).c_str(), DataCommandUsage(command).c_str());
    return 2;
  }
  const Args& a = *args;
  int rc = 2;
  if (command == "migrate" && a.positional.size() >= 2 &&
      (a.positional[1] == "up" || a.positional[1] == "status")) {
    rc = SchemaCommand(a.positional[1], a);
  } else if (command == "migrate" && a.positional.size() == 1) {
    rc = CopyCommand(a);
  } else if (command == "export" && a.positional.size() == 1) {
    rc = ExportCommand(a);
  } else if (command == "import" && a.positional.size() == 1) {
    rc = ImportCommand(a);
  } else {
    std::fprintf(stderr, "raceway %s: unexpected arguments\n", command.c_str());
  }
  if (rc == 2) std::fputs(DataCommandUsage(command).c_str(), stderr);
  return rc;
}
