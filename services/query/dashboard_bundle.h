#ifndef RACEWAY_SERVICES_QUERY_DASHBOARD_BUNDLE_H_
#define RACEWAY_SERVICES_QUERY_DASHBOARD_BUNDLE_H_

// The web dashboard (web/) as the build embedded it into raceway-query
// (embed_dashboard.cmake): kDashboardFileCount files, 0 when the build had
// no npm. Constant data; safe from any thread.

#include <cstddef>

#include "libs/service/static_site.h"

namespace raceway::query {

extern const service::EmbeddedFile kDashboardFiles[];
extern const size_t kDashboardFileCount;

}  // namespace raceway::query

#endif  // RACEWAY_SERVICES_QUERY_DASHBOARD_BUNDLE_H_
