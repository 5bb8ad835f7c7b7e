// What the event WebSocket delivers: raw events (any name, zero-copy, during the handler) and the client's own
// connection events. Typed events for the known names are in wazo/events/catalog.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "wazo/core/error.hpp"
#include "wazo/core/result.hpp"

namespace wazo::events {

using Json = nlohmann::json;

// An event as it arrived. The views are valid only while the handler runs; copy what you keep.
struct RawEvent {
  std::string_view name;          // "chatd_presence_updated"
  std::string_view payload_json;  // the bus message's `data`: the event's payload
  std::string_view frame_json;    // the frame as received (v2: {"op": "event", "code": 0, "data": <bus message>})
  int version = 2;

  [[nodiscard]] Result<Json> payload() const;  // parsed on demand
  // The whole bus message (name, origin_uuid, timestamp, required_acl, tenant_uuid, data, …), parsed on demand.
  [[nodiscard]] Result<Json> message() const;
};

// An event whose name the SDK has no type for (a newer engine, a plugin): never an error.
struct Unknown {
  std::string name;
  Json payload;
};

enum class ConnectionState : std::uint8_t {
  idle,          // not connected yet
  connecting,    // first connection under way
  open,          // init, subscriptions and start done: events flow
  reconnecting,  // lost; waiting or trying again
  closed,        // close() was called, or reconnection gave up (see `error`)
};
std::string_view to_string(ConnectionState state) noexcept;

struct StateChanged {
  ConnectionState state;
  int close_code = 0;          // the WebSocket close code that ended the last connection, if any
  std::string reason;          // why (close reason, transport error, heartbeat timeout, …)
  std::optional<Error> error;  // set when the state change comes from a failure
};

// The server refused the token (close 4002) or said it expired (4003). With an ApiClient the client refreshes
// through it and carries on; this is reported either way, and `recovered` says whether a fresh token was got.
struct AuthFailed {
  int close_code = 0;
  bool recovered = false;
  std::optional<Error> error;
};

struct Pong {
  std::string payload;
};

// `max_misses` pings in a row went unanswered: the connection is dropped and reconnection starts.
struct HeartbeatTimeout {
  int missed = 0;
};

// A frame that could not be used (malformed JSON, oversize, unexpected op): logged, dropped, connection kept.
struct DroppedFrame {
  std::string reason;
  std::size_t bytes = 0;
};

}  // namespace wazo::events
