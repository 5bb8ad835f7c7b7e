// The connection under the user agent: one SIP message per WebSocket text frame (RFC 7118). An interface so the
// core can be driven by a fake in unit tests. Every method is called on the runtime's I/O thread, and the
// callbacks run there.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "wazo/core/runtime.hpp"
#include "wazo/sip/user_agent.hpp"

namespace wazo::sip::detail {

class Transport {
 public:
  struct Callbacks {
    std::function<void(TransportState, std::string reason, std::optional<Error>)> on_state;
    std::function<void(std::string data)> on_message;  // one frame (already bounded)
  };
  virtual ~Transport() = default;
  virtual void set_callbacks(Callbacks callbacks) = 0;
  virtual void start() = 0;                   // connects; reconnects on its own until close()
  virtual void close() = 0;                   // for good
  virtual void drop(std::string reason) = 0;  // loses the current connection (then reconnects)
  virtual bool send(std::string data) = 0;    // false when not connected
  [[nodiscard]] virtual bool connected() const = 0;
  [[nodiscard]] virtual std::string via_transport() const = 0;  // "WS" or "WSS"
};

// The Beast client: `Sec-WebSocket-Protocol: sip` (checked in the answer), TLS from the connection options,
// keep-alive (ws pings or CRLF), jittered backoff.
std::shared_ptr<Transport> make_ws_transport(Runtime& runtime, const UserAgentOptions& options);

}  // namespace wazo::sip::detail
