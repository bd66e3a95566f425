// The dashboard's files over HTTP (libs/service/static_site.h): types,
// validators, caching, gzip, and paths that must never leave the site.

#include "libs/service/static_site.h"

#include <httplib.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "libs/model/uuid.h"

namespace raceway::service {
namespace {

std::string Gunzip(const std::string& gz) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return "";
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&z, Z_FINISH);
  out.resize(z.total_out);
  inflateEnd(&z);
  return rc == Z_STREAM_END ? out : "";
}

httplib::Request Get(const std::string& path, httplib::Headers headers = {}) {
  httplib::Request req;
  req.method = "GET";
  req.path = path;
  req.headers = std::move(headers);
  return req;
}

const std::string kIndex = "<!doctype html><title>Raceway</title>";
const std::string kScript(4096, 'x');  // Large enough to be gzipped.
const service::EmbeddedFile kFiles[] = {
    {"index.html", reinterpret_cast<const unsigned char*>(kIndex.data()), kIndex.size(),
     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
    {"assets/app-1a2b.js", reinterpret_cast<const unsigned char*>(kScript.data()), kScript.size(),
     "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"},
};

TEST(StaticSiteTest, RootServesIndexWithTypeValidatorAndPageHeaders) {
  auto site = StaticSite::FromEmbedded(kFiles, 2);
  EXPECT_TRUE(site->has_page());
  httplib::Response res;
  ASSERT_TRUE(site->Serve(Get("/"), res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, kIndex);
  EXPECT_EQ(res.get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(res.get_header_value("ETag"), "\"0123456789abcdef0123456789abcdef\"");
  EXPECT_EQ(res.get_header_value("Cache-Control"), "no-cache");
  EXPECT_NE(res.get_header_value("Content-Security-Policy").find("frame-ancestors 'none'"),
            std::string::npos);
  EXPECT_EQ(res.get_header_value("X-Content-Type-Options"), "nosniff");

  httplib::Response again;
  ASSERT_TRUE(site->Serve(Get("/", {{"If-None-Match", res.get_header_value("ETag")}}), again));
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
}

TEST(StaticSiteTest, HashedAssetsAreImmutableAndGzippedWhenAccepted) {
  auto site = StaticSite::FromEmbedded(kFiles, 2);
  httplib::Response plain;
  ASSERT_TRUE(site->Serve(Get("/assets/app-1a2b.js"), plain));
  EXPECT_EQ(plain.body, kScript);
  EXPECT_EQ(plain.get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(plain.get_header_value("Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(plain.get_header_value("Vary"), "Accept-Encoding");
  EXPECT_FALSE(plain.has_header("Content-Encoding"));

  for (int i = 0; i < 2; ++i) {  // The second answer comes from the cache.
    httplib::Response gz;
    ASSERT_TRUE(site->Serve(Get("/assets/app-1a2b.js", {{"Accept-Encoding", "br, gzip"}}), gz));
    EXPECT_EQ(gz.get_header_value("Content-Encoding"), "gzip");
    EXPECT_LT(gz.body.size(), kScript.size() / 10);
    EXPECT_EQ(Gunzip(gz.body), kScript);
  }
  httplib::Response refused;
  ASSERT_TRUE(site->Serve(Get("/assets/app-1a2b.js", {{"Accept-Encoding", "gzip;q=0"}}), refused));
  EXPECT_FALSE(refused.has_header("Content-Encoding"));
  EXPECT_EQ(refused.body, kScript);
}

TEST(StaticSiteTest, PathsOutsideTheSiteAreNotFound) {
  auto site = StaticSite::FromEmbedded(kFiles, 2);
  for (const char* path : {"/nope.js", "/../index.html", "/assets/../index.html", "//index.html",
                           "/assets/.app-1a2b.js", "/assets/app-1a2b.js/", "/index.html%00",
                           "/assets\\app-1a2b.js", "/.env"}) {
    httplib::Response res;
    EXPECT_FALSE(site->Serve(Get(path), res)) << path;
  }
}

TEST(StaticSiteTest, AnEmptyBundleHasNoPage) {
  auto site = StaticSite::FromEmbedded(nullptr, 0);
  EXPECT_FALSE(site->has_page());
  httplib::Response res;
  EXPECT_FALSE(site->Serve(Get("/"), res));
}

TEST(StaticSiteTest, DirectoryModeReadsFilesOnEachRequestAndStaysInside) {
  const auto root = std::filesystem::temp_directory_path() / ("raceway_site_" + model::NewUuidV4());
  const auto dir = root / "dist";
  std::filesystem::create_directories(dir / "assets");
  std::ofstream(dir / "index.html") << "v1";
  std::ofstream(root / "secret.txt") << "not served";
  auto site = StaticSite::FromDirectory(dir.string());
  ASSERT_TRUE(site.ok()) << site.status();
  httplib::Response first;
  ASSERT_TRUE((*site)->Serve(Get("/"), first));
  EXPECT_EQ(first.body, "v1");
  std::ofstream(dir / "index.html") << "v2, rebuilt";
  httplib::Response second;
  ASSERT_TRUE((*site)->Serve(Get("/"), second));
  EXPECT_EQ(second.body, "v2, rebuilt");
  EXPECT_NE(first.get_header_value("ETag"), second.get_header_value("ETag"));
  httplib::Response outside;
  EXPECT_FALSE((*site)->Serve(Get("/../secret.txt"), outside));
  EXPECT_FALSE((*site)->Serve(Get("/assets"), outside)) << "a directory is not a file";
  EXPECT_FALSE(StaticSite::FromDirectory((root / "missing").string()).ok());
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace raceway::service
