#include "libs/service/static_site.h"

#include <httplib.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace raceway::service {
namespace {

// Files above this are not served from a directory (development only).
constexpr size_t kMaxDirectoryFileBytes = 64u << 20;
// Smaller bodies are not worth a gzip header.
constexpr size_t kMinGzipBytes = 1024;

bool Compressible(std::string_view type) {
  return type.starts_with("text/") || type.starts_with("application/json") ||
         type.starts_with("image/svg+xml");
}

// A relative path of plain names: no "..", no empty or hidden segments, only
// characters a bundler emits.
bool SafeRelativePath(std::string_view path) {
  if (path.empty() || path.size() > 512) return false;
  for (const char c : path) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_' &&
        c != '/') {
      return false;
    }
  }
  for (absl::string_view segment :
       absl::StrSplit(absl::string_view(path.data(), path.size()), '/')) {
    if (segment.empty() || segment.front() == '.') return false;
  }
  return true;
}

// gzip accepted unless given q=0 (RFC 9110 12.5.3).
bool AcceptsGzip(const std::string& accept_encoding) {
  for (absl::string_view item : absl::StrSplit(accept_encoding, ',')) {
    std::vector<absl::string_view> parts = absl::StrSplit(item, ';');
    const std::string coding = absl::AsciiStrToLower(absl::StripAsciiWhitespace(parts[0]));
    if (coding != "gzip" && coding != "*") continue;
    bool zero = false;
    for (size_t i = 1; i < parts.size(); ++i) {
      std::string p = absl::AsciiStrToLower(absl::StripAsciiWhitespace(parts[i]));
      p.erase(std::remove(p.begin(), p.end(), ' '), p.end());
      if (p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000") zero = true;
    }
    if (!zero) return true;
  }
  return false;
}

std::string Gzip(std::string_view data) {
  z_stream z{};
  if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return "";
  std::string out(deflateBound(&z, data.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END ? out : "";
}

// FNV-1a over the content: a strong validator for files read from a
// directory (embedded files carry their SHA-256 from the build).
std::string ContentHash(std::string_view data) {
  uint64_t h = 1469598103934665603ull;
  for (const char c : data) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return absl::StrCat(absl::Hex(h, absl::kZeroPad16), "-", data.size());
}

}  // namespace

const char kDashboardNotBuiltHtml[] = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Raceway</title></head>
<body>
<h1>Raceway</h1>
<p>The query service is running, but this binary was built without the web dashboard
(npm was not available when it was built).</p>
<p>To build it: install Node.js and npm, run <code>scripts/setup</code> (or
<code>cd web &amp;&amp; npm ci</code>), then rebuild (<code>ninja -C build</code>). For development,
<code>raceway-query --query.web_dir=web/dist</code> serves a directory instead.</p>
<p>The API is served here meanwhile: gRPC-Web and Connect JSON at
<code>/raceway.v1.QueryService/&lt;Method&gt;</code>.</p>
</body></html>
)";

std::unique_ptr<StaticSite> StaticSite::FromEmbedded(const EmbeddedFile* files, size_t count) {
  std::unique_ptr<StaticSite> site(new StaticSite());
  for (size_t i = 0; i < count; ++i) {
    File f;
    f.data = std::string_view(reinterpret_cast<const char*>(files[i].data), files[i].size);
    f.etag = std::string(files[i].sha256).substr(0, 32);
    site->embedded_.emplace(files[i].path, std::move(f));
  }
  return site;
}

absl::StatusOr<std::unique_ptr<StaticSite>> StaticSite::FromDirectory(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("query.web_dir: \"", dir, "\" is not a directory"));
  }
  std::unique_ptr<StaticSite> site(new StaticSite());
  site->dir_ = dir;
  return site;
}

bool StaticSite::has_page() const {
  File f;
  return Find("/", &f);
}

std::string_view StaticSite::ContentType(std::string_view path) {
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
      {".wasm", "application/wasm"},
  };
  for (const auto& [ext, type] : kTypes) {
    if (path.ends_with(ext)) return type;
  }
  return "application/octet-stream";
}

bool StaticSite::Find(std::string_view path, File* out) const {
  std::string_view rel = path;
  if (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
  if (rel.empty()) rel = "index.html";
  if (!SafeRelativePath(rel)) return false;
  if (dir_.empty()) {
    const auto it = embedded_.find(rel);
    if (it == embedded_.end()) return false;
    out->data = it->second.data;
    out->etag = it->second.etag;
    return true;
  }
  const std::string full = absl::StrCat(dir_, "/", std::string(rel));
  struct stat st;
  if (stat(full.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<uint64_t>(st.st_size) > kMaxDirectoryFileBytes) {
    return false;
  }
  std::ifstream in(full, std::ios::binary);
  if (!in) return false;
  std::ostringstream content;
  content << in.rdbuf();
  out->owned = content.str();
  out->data = out->owned;
  out->etag = ContentHash(out->owned);
  return true;
}

std::string_view StaticSite::Gzipped(const std::string& path, std::string_view data) const {
  storage::common::MutexLock lock(&gzip_mu_);
  auto it = gzipped_.find(path);
  if (it == gzipped_.end()) it = gzipped_.emplace(path, Gzip(data)).first;
  return it->second;
}

bool StaticSite::Serve(const httplib::Request& req, httplib::Response& res) const {
  File file;
  if (!Find(req.path, &file)) return false;
  const std::string path = req.path == "/" ? "/index.html" : req.path;
  const std::string_view type = ContentType(path);
  const std::string etag = absl::StrCat("\"", file.etag, "\"");
  const bool immutable = path.starts_with("/assets/");
  res.set_header("ETag", etag);
  res.set_header("Cache-Control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("X-Frame-Options", "DENY");
  if (type.starts_with("text/html")) {
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
                   "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
                   "form-action 'none'");
  }
  const bool compressible = Compressible(type);
  if (compressible) res.set_header("Vary", "Accept-Encoding");
  for (absl::string_view tag : absl::StrSplit(req.get_header_value("If-None-Match"), ',')) {
    if (absl::StripAsciiWhitespace(tag) == etag) {
      res.status = 304;
      return true;
    }
  }
  res.status = 200;
  if (compressible && file.data.size() >= kMinGzipBytes &&
      AcceptsGzip(req.get_header_value("Accept-Encoding"))) {
    const std::string gz = dir_.empty() ? std::string(Gzipped(path, file.data)) : Gzip(file.data);
    if (!gz.empty()) {
      res.set_header("Content-Encoding", "gzip");
      res.set_content(gz, std::string(type));
      return true;
    }
  }
  res.set_content(std::string(file.data), std::string(type));
  return true;
}

}  // namespace raceway::service
