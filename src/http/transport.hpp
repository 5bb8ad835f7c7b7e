// Internal HTTP(S) transport: libcurl's multi interface driven by the runtime's Boost.Asio I/O thread.
// One Transport keeps one connection cache (keep-alive reuse across requests). Completions run on the
// I/O thread. Every request carries its own timeout, which libcurl releases with the request.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "wazo/core/async.hpp"
#include "wazo/core/connection.hpp"
#include "wazo/core/runtime.hpp"

namespace wazo::http {

using Header = std::pair<std::string, std::string>;
using Headers = std::vector<Header>;

struct Request {
  std::string method = "GET";
  std::string url;
  Headers headers;
  std::string body;
  std::optional<std::chrono::milliseconds> timeout;  // default: ConnectionOptions::request_timeout
};

struct Response {
  int status = 0;
  Headers headers;  // names in lower case, in arrival order
  std::string body;

  // First header with this (case-insensitive) name, or nullptr.
  [[nodiscard]] const std::string* header(std::string_view name) const;
};

class Transport {
 public:
  Transport(Runtime& runtime, ConnectionOptions options);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Thread-safe. The returned Async can be cancelled from any thread.
  Async<Response> send(Request request);

  [[nodiscard]] const ConnectionOptions& options() const noexcept;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace wazo::http
