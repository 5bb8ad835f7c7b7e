// How the SDK reaches a server: TLS, proxy, timeouts and bounds. Shared by the REST client and (later) the
// WebSocket clients so that one set of options governs every connection to an engine.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace wazo {

struct TlsOptions {
  std::string ca_file;    // PEM file of CAs to trust instead of the system store; empty = system store
  bool insecure = false;  // explicit opt-in: accept any certificate and host name (development only)
};

struct ConnectionOptions {
  TlsOptions tls;
  // Proxy URL, e.g. "http://proxy.example:3128". Empty: none, unless `use_environment_proxy` lets the
  // usual http_proxy/https_proxy/no_proxy variables apply.
  std::string proxy;
  bool use_environment_proxy = false;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{30'000};     // per request, from start to last byte
  std::size_t max_response_bytes = 32U * 1024U * 1024U;  // larger bodies fail with a parse error
  std::string user_agent = "wazo-sdk-cpp/0.1";
};

}  // namespace wazo
