#include "dev_routes.hpp"

#include "access.hpp"

namespace wazo::engine {

namespace {

using http::verb;

constexpr std::size_t max_raw_frame = 256 * 1024 * 1024;

bool valid_close_code(long code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

}  // namespace

void add_dev_routes(Router& router, State& state, Bus& bus, WebsocketHub& hub, const SipProxy* sip) {
  // {name, data?, required_acl?, tenant_uuid?, user_uuids?}: no user_uuids → a TenantEvent.
  router.add(verb::post, "/_dev/events", [&state, &bus](Call& c) {
    auto body = c.json();
    if (!body || !body->is_object()) return bad_request("an object is expected");
    const Json& j = *body;
    if (!j.contains("name") || !j["name"].is_string() || j["name"].get<std::string>().empty())
      return bad_request("name: a string is required");
    Event e;
    e.name = j["name"].get<std::string>();
    e.data = j.value("data", Json::object());
    if (auto it = j.find("required_acl"); it != j.end() && !it->is_null()) {
      if (!it->is_string()) return bad_request("required_acl: a string is expected");
      e.required_acl = it->get<std::string>();
    }
    if (auto it = j.find("user_uuids"); it != j.end() && !it->is_null()) {
      if (!it->is_array()) return bad_request("user_uuids: a list of strings is expected");
      for (const auto& u : *it) {
        if (!u.is_string()) return bad_request("user_uuids: a list of strings is expected");
        e.user_uuids.push_back(u.get<std::string>());
      }
      e.audience = e.user_uuids.size() == 1 ? Audience::user : Audience::multi_user;
    }
    e.tenant_uuid = j.value("tenant_uuid", "");
    if (e.tenant_uuid.empty()) {  // the first target's tenant, else the first tenant
      const User* u = e.user_uuids.empty() ? nullptr : state.user(e.user_uuids.front());
      e.tenant_uuid = u != nullptr ? u->tenant_uuid : state.tenants.begin()->first;
    }
    const std::size_t delivered = bus.publish(e);
    return json_reply(200, Json{{"delivered", delivered}, {"message", bus.message(e)}});
  });

  // {text?, repeat?, binary?}: one frame of text × repeat to every open websocket.
  router.add(verb::post, "/_dev/websocket/send", [&hub](Call& c) {
    auto body = c.json();
    if (!body || !body->is_object()) return bad_request("an object is expected");
    const Json& j = *body;
    const std::string text = j.contains("text") && j["text"].is_string() ? j["text"].get<std::string>() : "";
    long long repeat = 1;
    if (auto it = j.find("repeat"); it != j.end()) {
      if (!it->is_number_integer() || it->get<long long>() < 0) return bad_request("repeat: a count is expected");
      repeat = it->get<long long>();
    }
    if (!text.empty() && static_cast<unsigned long long>(repeat) > max_raw_frame / text.size())
      return bad_request("the frame would exceed 256 MiB");
    std::string frame;
    frame.reserve(text.size() * static_cast<std::size_t>(repeat));
    for (long long i = 0; i < repeat; ++i) frame += text;
    const bool binary = j.value("binary", false);
    const std::size_t n = hub.send_raw(std::make_shared<const std::string>(std::move(frame)), binary);
    return json_reply(200, Json{{"connections", n}});
  });

  // {seconds}: for that long nothing is sent to any websocket (events, pongs, pings queue up).
  router.add(verb::post, "/_dev/websocket/stall", [&hub](Call& c) {
    auto body = c.json();
    if (!body || !body->is_object() || !(*body)["seconds"].is_number() || (*body)["seconds"].get<double>() < 0 ||
        (*body)["seconds"].get<double>() > 3600)
      return bad_request("seconds: a number from 0 to 3600 is expected");
    hub.stall(std::chrono::milliseconds(static_cast<long long>((*body)["seconds"].get<double>() * 1000)));
    return json_reply(200, Json{{"connections", hub.open_count()}});
  });

  // {code, reason?}: closes every websocket with that code.
  router.add(verb::post, "/_dev/websocket/close", [&hub](Call& c) {
    auto body = c.json();
    if (!body || !body->is_object() || !(*body)["code"].is_number_integer() ||
        !valid_close_code((*body)["code"].get<long>()))
      return bad_request("code: a valid close code (1000-1003, 1007-1014, 3000-4999) is expected");
    const std::string reason = body->value("reason", "");
    const std::size_t n = hub.close_all(static_cast<std::uint16_t>((*body)["code"].get<long>()), reason);
    return json_reply(200, Json{{"connections", n}});
  });

  router.add(verb::get, "/_dev/metrics", [&router, &bus, &hub, sip](Call&) {
    Json m = router.metrics();
    if (sip != nullptr) {
      m["sip_registrations"] = sip->registrations();
      m["sip_connections"] = sip->connections();
      m["sip"] = sip->metrics();
    }
    m["websockets"] = hub.open_count();
    m["websocket"] = hub.metrics();
    m["events"] = bus.metrics();
    return json_reply(200, m);
  });
}

}  // namespace wazo::engine
