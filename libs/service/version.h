#ifndef RACEWAY_LIBS_SERVICE_VERSION_H_
#define RACEWAY_LIBS_SERVICE_VERSION_H_

// The Raceway release these binaries are (the image tag in deploy/k8s).
// Reported by the services' status endpoints.

namespace raceway::service {

inline constexpr char kRacewayVersion[] = "0.1.0";

}  // namespace raceway::service

#endif  // RACEWAY_LIBS_SERVICE_VERSION_H_
