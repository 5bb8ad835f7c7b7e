#include "bus.hpp"

namespace wazo::engine {

Json Bus::message(const Event& event) const {
  Json m = {{"name", event.name},
            {"origin_uuid", origin_uuid_},
            {"timestamp", iso_time_utc(Clock::now())},
            {"required_acl", event.required_acl.empty() ? Json(nullptr) : Json(event.required_acl)},
            {"required_access", "event." + event.name},
            {"tenant_uuid", event.tenant_uuid}};
  if (event.audience == Audience::tenant) {
    m["user_uuid:*"] = true;
  } else {
    for (const auto& user : event.user_uuids) m["user_uuid:" + user] = true;
  }
  m["data"] = event.data;
  return m;
}

std::size_t Bus::publish(const Event& event) {
  ++published_;
  if (event.required_acl.empty()) {  // wazo-websocketd drops these
    ++dropped_;
    return 0;
  }
  const std::string body = message(event).dump(-1, ' ', false, Json::error_handler_t::replace);
  const BusMessage m{event, std::make_shared<const std::string>(body),
                     std::make_shared<const std::string>(R"({"op":"event","code":0,"data":)" + body + "}")};
  std::size_t delivered = 0;
  for (const auto& listener : listeners_) delivered += listener(m);
  delivered_ += delivered;
  return delivered;
}

Json Bus::metrics() const { return Json{{"published", published_}, {"dropped", dropped_}, {"delivered", delivered_}}; }

}  // namespace wazo::engine
