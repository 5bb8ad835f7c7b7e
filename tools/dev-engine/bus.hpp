// The dev engine's event bus: what wazo-bus carries between the services and wazo-websocketd, in one process.
// publish() builds the wire message (the full wazo-bus body) once and hands it to each listener (the websocket hub).
// Used on the I/O thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "util.hpp"

namespace wazo::engine {

// Who an event is for (wazo-bus's event classes; ServiceEvent never reaches plain users, so it is not here).
enum class Audience {
  user,        // UserEvent: one user
  multi_user,  // MultiUserEvent: the listed users
  tenant,      // TenantEvent: every user of the tenant
};

struct Event {
  std::string name;            // e.g. "chatd_presence_updated"
  Json data = Json::object();  // the payload
  std::string required_acl;    // formatted from the catalogue's required_acl_fmt; "" → never delivered
  std::string tenant_uuid;
  Audience audience = Audience::tenant;
  std::vector<std::string> user_uuids;  // user / multi_user targets
};

// An event with its serialised forms, shared by every connection that receives it.
struct BusMessage {
  const Event& event;
  std::shared_ptr<const std::string> body;      // the wazo-bus message: websocketd v1 sends it as is
  std::shared_ptr<const std::string> envelope;  // {"op":"event","code":0,"data":<body>}: v2
};

class Bus {
 public:
  explicit Bus(std::string origin_uuid) : origin_uuid_(std::move(origin_uuid)) {}

  // Returns the number of deliveries the listeners report.
  std::size_t publish(const Event& event);
  // A listener returns how many connections it delivered the message to.
  void listen(std::function<std::size_t(const BusMessage&)> listener) { listeners_.push_back(std::move(listener)); }

  [[nodiscard]] Json metrics() const;
  // The wazo-bus message body of an event (exposed for tests and the dev hooks).
  [[nodiscard]] Json message(const Event& event) const;

 private:
  std::string origin_uuid_;
  std::vector<std::function<std::size_t(const BusMessage&)>> listeners_;
  std::uint64_t published_ = 0, dropped_ = 0, delivered_ = 0;
};

}  // namespace wazo::engine
