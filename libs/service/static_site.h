#ifndef RACEWAY_LIBS_SERVICE_STATIC_SITE_H_
#define RACEWAY_LIBS_SERVICE_STATIC_SITE_H_

// The files of a web page served over HTTP GET: the dashboard bundle built
// into the binary, or a directory read at request time (development). `/`
// serves index.html; other paths name a file relative to the site's root.
// Responses carry their content type, a strong ETag (304 on If-None-Match),
// caching (hashed assets/ files immutable for a year, everything else
// revalidated), gzip when the client accepts it (compressed once, cached),
// and headers that keep other origins from framing or scripting the page.
// Thread-safe after construction: Serve runs on the HTTP server's threads.

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "libs/storage/common/mutex.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace raceway::service {

// One file as the build embedded it.
struct EmbeddedFile {
  const char* path;  // Relative to the site's root, "/"-separated: "index.html", "assets/a.js".
  const unsigned char* data;
  size_t size;
  const char* sha256;  // Hex of the content.
};

class StaticSite {
 public:
  // The files the build embedded (`count` may be 0: the page was not built;
  // then `/` explains how to build it).
  static std::unique_ptr<StaticSite> FromEmbedded(const EmbeddedFile* files, size_t count);
  // Files read from `dir` on each request (a missing dir is an error now).
  static absl::StatusOr<std::unique_ptr<StaticSite>> FromDirectory(const std::string& dir);

  // Answers a GET or HEAD for `path` (the request's path, starting with
  // "/"). False when the site has no such file: the caller answers 404.
  bool Serve(const httplib::Request& req, httplib::Response& res) const;

  // True when the site has its index.html (the page was built).
  bool has_page() const;

  // The MIME type served for a file name, by extension.
  static std::string_view ContentType(std::string_view path);

 private:
  struct File {
    std::string_view data;  // Embedded bytes, or `owned` for a directory read.
    std::string owned;
    std::string etag;
  };
  StaticSite() = default;

  // The file for a request path ("" when absent or not a safe relative path).
  bool Find(std::string_view path, File* out) const;
  // The gzip form of an embedded file, made once.
  std::string_view Gzipped(const std::string& path, std::string_view data) const;

  std::map<std::string, File, std::less<>> embedded_;
  std::string dir_;                         // Directory mode when non-empty.
  mutable storage::common::Mutex gzip_mu_;  // Visible to ThreadSanitizer.
  mutable std::map<std::string, std::string, std::less<>> gzipped_ ABSL_GUARDED_BY(gzip_mu_);
};

// The page `/` answers when the dashboard was not built into the binary.
extern const char kDashboardNotBuiltHtml[];

}  // namespace raceway::service

#endif  // RACEWAY_LIBS_SERVICE_STATIC_SITE_H_
