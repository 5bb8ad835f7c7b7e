// The whole State as JSON and back, for --state: the engine can be killed and restarted with the same tokens.
#include <stdexcept>

#include "state.hpp"

namespace wazo::engine {

namespace {

std::int64_t micros(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

Clock::time_point from_micros(const Json& j) {
  if (!j.is_number_integer()) throw std::runtime_error("state: a time must be an integer (microseconds)");
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::microseconds(j.get<std::int64_t>())));
}

template <class T>
std::vector<T> list_of(const Json& j, const char* key) {
  std::vector<T> out;
  if (auto it = j.find(key); it != j.end() && !it->is_null()) out = it->get<std::vector<T>>();
  return out;
}

Json forwards_json(const std::map<std::string, Forward, std::less<>>& forwards) {
  Json out = Json::object();
  for (const auto& [name, f] : forwards) out[name] = {{"enabled", f.enabled}, {"destination", f.destination}};
  return out;
}

}  // namespace

Json State::snapshot() const {
  Json j = {{"format", "wazo-dev-engine-state/1"},
            {"engine_uuid", engine_uuid},
            {"wazo_version", wazo_version},
            {"mobile_sender_id", mobile_sender_id},
            {"default_user_policy_name", default_user_policy_name},
            {"default_user_acl", default_user_acl}};
  Json& ts = j["tenants"] = Json::array();
  for (const auto& [uuid, t] : tenants) {
    ts.push_back({{"uuid", t.uuid},
                  {"name", t.name},
                  {"slug", t.slug},
                  {"parent_uuid", t.parent_uuid},
                  {"contact", t.contact},
                  {"phone", t.phone},
                  {"address", t.address},
                  {"domain_names", t.domain_names}});
  }
  Json& us = j["users"] = Json::array();
  for (const auto& [uuid, u] : users) {
    Json emails = Json::array();
    for (const auto& e : u.emails) {
      emails.push_back({{"uuid", e.uuid}, {"address", e.address}, {"main", e.main}, {"confirmed", e.confirmed}});
    }
    Json presence = {{"state", u.presence.state}, {"status", u.presence.status}};
    if (u.presence.last_activity) presence["last_activity"] = micros(*u.presence.last_activity);
    Json external = Json::object();
    for (const auto& [k, v] : u.external) external[k] = v;
    us.push_back({{"uuid", u.uuid},
                  {"username", u.username},
                  {"password", u.password},
                  {"firstname", u.firstname},
                  {"lastname", u.lastname},
                  {"tenant_uuid", u.tenant_uuid},
                  {"purpose", u.purpose},
                  {"enabled", u.enabled},
                  {"emails", emails},
                  {"policies", u.policies},
                  {"mobile", u.mobile ? *u.mobile : Json(nullptr)},
                  {"external", external},
                  {"confd_id", u.confd_id},
                  {"presence", presence},
                  {"dnd", u.dnd},
                  {"incallfilter", u.incallfilter},
                  {"forwards", forwards_json(u.forwards)},
                  {"line", u.line ? line_to_json(*u.line) : Json(nullptr)}});
  }
  Json& ps = j["policies"] = Json::array();
  for (const auto& [uuid, p] : policies) {
    ps.push_back({{"uuid", p.uuid},
                  {"name", p.name},
                  {"slug", p.slug},
                  {"description", p.description},
                  {"tenant_uuid", p.tenant_uuid},
                  {"acl", p.acl},
                  {"shared", p.shared},
                  {"read_only", p.read_only}});
  }
  Json& gs = j["groups"] = Json::array();
  for (const auto& [uuid, g] : groups) {
    gs.push_back({{"uuid", g.uuid},
                  {"name", g.name},
                  {"slug", g.slug},
                  {"tenant_uuid", g.tenant_uuid},
                  {"users", g.users},
                  {"policies", g.policies},
                  {"read_only", g.read_only}});
  }
  Json& tks = j["tokens"] = Json::array();
  for (const auto& [key, t] : tokens) {
    tks.push_back({{"token", t.token},
                   {"session_uuid", t.session_uuid},
                   {"user_uuid", t.user_uuid},
                   {"tenant_uuid", t.tenant_uuid},
                   {"auth_id", t.auth_id},
                   {"remote_addr", t.remote_addr},
                   {"user_agent", t.user_agent},
                   {"acl", t.acl},
                   {"issued_at", micros(t.issued_at)},
                   {"expires_at", micros(t.expires_at)},
                   {"mobile", t.mobile},
                   {"expire_soon_sent", t.expire_soon_sent}});
  }
  Json& ss = j["sessions"] = Json::array();
  for (const auto& [uuid, s] : sessions) {
    ss.push_back({{"uuid", s.uuid},
                  {"user_uuid", s.user_uuid},
                  {"tenant_uuid", s.tenant_uuid},
                  {"token", s.token},
                  {"mobile", s.mobile}});
  }
  Json& rts = j["refresh_tokens"] = Json::array();
  for (const auto& [key, r] : refresh_tokens) {
    rts.push_back({{"token", r.token},
                   {"client_id", r.client_id},
                   {"user_uuid", r.user_uuid},
                   {"tenant_uuid", r.tenant_uuid},
                   {"created_at", micros(r.created_at)},
                   {"mobile", r.mobile}});
  }
  Json& rs = j["rooms"] = Json::array();
  for (const auto& [uuid, r] : rooms) {
    Json members = Json::array();
    for (const auto& m : r.users) {
      members.push_back({{"uuid", m.uuid}, {"tenant_uuid", m.tenant_uuid}, {"wazo_uuid", m.wazo_uuid}});
    }
    rs.push_back({{"uuid", r.uuid}, {"name", r.name}, {"tenant_uuid", r.tenant_uuid}, {"users", members}});
  }
  Json& ms = j["messages"] = Json::array();
  for (const auto& m : messages) {
    ms.push_back({{"uuid", m.uuid},
                  {"room_uuid", m.room_uuid},
                  {"content", m.content},
                  {"alias", m.alias},
                  {"user_uuid", m.user_uuid},
                  {"tenant_uuid", m.tenant_uuid},
                  {"wazo_uuid", m.wazo_uuid},
                  {"created_at", micros(m.created_at)}});
  }
  return j;
}

void State::load_snapshot(const Json& j) {
  try {
    if (!j.is_object() || j.value("format", "") != "wazo-dev-engine-state/1")
      throw std::runtime_error("not a wazo-dev-engine state file");
    engine_uuid = j.at("engine_uuid").get<std::string>();
    wazo_version = j.value("wazo_version", wazo_version);
    mobile_sender_id = j.value("mobile_sender_id", mobile_sender_id);
    default_user_policy_name = j.value("default_user_policy_name", default_user_policy_name);
    default_user_acl = list_of<std::string>(j, "default_user_acl");
    for (const auto& t : j.at("tenants")) {
      Tenant x;
      x.uuid = t.at("uuid").get<std::string>();
      x.name = t.value("name", "");
      x.slug = t.value("slug", "");
      x.parent_uuid = t.value("parent_uuid", "");
      x.contact = t.value("contact", "");
      x.phone = t.value("phone", "");
      x.address = t.value("address", Json::object());
      x.domain_names = list_of<std::string>(t, "domain_names");
      tenants[x.uuid] = std::move(x);
    }
    for (const auto& u : j.at("users")) {
      User x;
      x.uuid = u.at("uuid").get<std::string>();
      x.username = u.value("username", "");
      x.password = u.value("password", "");
      x.firstname = u.value("firstname", "");
      x.lastname = u.value("lastname", "");
      x.tenant_uuid = u.value("tenant_uuid", "");
      x.purpose = u.value("purpose", "user");
      x.enabled = u.value("enabled", true);
      for (const auto& e : u.value("emails", Json::array())) {
        x.emails.push_back(
            {e.value("uuid", ""), e.value("address", ""), e.value("main", false), e.value("confirmed", false)});
      }
      for (const auto& p : list_of<std::string>(u, "policies")) x.policies.insert(p);
      if (auto m = u.find("mobile"); m != u.end() && !m->is_null()) x.mobile = *m;
      for (const auto& [k, v] : u.value("external", Json::object()).items()) x.external[k] = v;
      x.confd_id = u.value("confd_id", 0);
      const Json presence = u.value("presence", Json::object());
      x.presence.state = presence.value("state", "available");
      x.presence.status = presence.value("status", "");
      if (auto la = presence.find("last_activity"); la != presence.end()) x.presence.last_activity = from_micros(*la);
      x.dnd = u.value("dnd", false);
      x.incallfilter = u.value("incallfilter", false);
      if (auto l = u.find("line"); l != u.end() && !l->is_null()) x.line = line_from_json(*l);
      for (const auto& [name, f] : u.value("forwards", Json::object()).items()) {
        x.forwards[name] = Forward{f.value("enabled", false), f.value("destination", "")};
      }
      users[x.uuid] = std::move(x);
    }
    for (auto& [uuid, u] : users) {
      if (u.confd_id == 0) u.confd_id = next_confd_id();
    }
    for (const auto& p : j.at("policies")) {
      Policy x;
      x.uuid = p.at("uuid").get<std::string>();
      x.name = p.value("name", "");
      x.slug = p.value("slug", "");
      x.description = p.value("description", "");
      x.tenant_uuid = p.value("tenant_uuid", "");
      x.acl = list_of<std::string>(p, "acl");
      x.shared = p.value("shared", false);
      x.read_only = p.value("read_only", false);
      policies[x.uuid] = std::move(x);
    }
    for (const auto& g : j.value("groups", Json::array())) {
      Group x;
      x.uuid = g.at("uuid").get<std::string>();
      x.name = g.value("name", "");
      x.slug = g.value("slug", "");
      x.tenant_uuid = g.value("tenant_uuid", "");
      for (const auto& u : list_of<std::string>(g, "users")) x.users.insert(u);
      for (const auto& p : list_of<std::string>(g, "policies")) x.policies.insert(p);
      x.read_only = g.value("read_only", false);
      groups[x.uuid] = std::move(x);
    }
    for (const auto& t : j.value("tokens", Json::array())) {
      Token x;
      x.token = t.at("token").get<std::string>();
      x.session_uuid = t.value("session_uuid", "");
      x.user_uuid = t.value("user_uuid", "");
      x.tenant_uuid = t.value("tenant_uuid", "");
      x.auth_id = t.value("auth_id", "");
      x.remote_addr = t.value("remote_addr", "");
      x.user_agent = t.value("user_agent", "");
      x.acl = list_of<std::string>(t, "acl");
      x.issued_at = from_micros(t.at("issued_at"));
      x.expires_at = from_micros(t.at("expires_at"));
      x.mobile = t.value("mobile", false);
      x.expire_soon_sent = t.value("expire_soon_sent", false);
      tokens[x.token] = std::move(x);
    }
    for (const auto& s : j.value("sessions", Json::array())) {
      SessionRecord x{s.at("uuid").get<std::string>(), s.value("user_uuid", ""), s.value("tenant_uuid", ""),
                      s.value("token", ""), s.value("mobile", false)};
      sessions[x.uuid] = std::move(x);
    }
    for (const auto& r : j.value("refresh_tokens", Json::array())) {
      RefreshToken x{r.at("token").get<std::string>(), r.value("client_id", ""),        r.value("user_uuid", ""),
                     r.value("tenant_uuid", ""),       from_micros(r.at("created_at")), r.value("mobile", false)};
      refresh_tokens[x.token] = std::move(x);
    }
    for (const auto& r : j.value("rooms", Json::array())) {
      Room x;
      x.uuid = r.at("uuid").get<std::string>();
      x.name = r.value("name", "");
      x.tenant_uuid = r.value("tenant_uuid", "");
      for (const auto& m : r.value("users", Json::array())) {
        x.users.push_back({m.value("uuid", ""), m.value("tenant_uuid", ""), m.value("wazo_uuid", "")});
      }
      rooms[x.uuid] = std::move(x);
    }
    for (const auto& m : j.value("messages", Json::array())) {
      messages.push_back({m.at("uuid").get<std::string>(), m.value("room_uuid", ""), m.value("content", ""),
                          m.value("alias", ""), m.value("user_uuid", ""), m.value("tenant_uuid", ""),
                          m.value("wazo_uuid", ""), from_micros(m.at("created_at"))});
    }
  } catch (const Json::exception& e) {
    throw std::runtime_error(std::string("state: ") + e.what());
  }
  if (tenants.empty()) throw std::runtime_error("state: no tenant");
}

}  // namespace wazo::engine
