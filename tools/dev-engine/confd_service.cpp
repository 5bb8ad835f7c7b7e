#include "confd_service.hpp"

#include <algorithm>
#include <array>
#include <optional>

#include "access.hpp"
#include "chatd_service.hpp"
#include "events.hpp"

namespace wazo::engine {

namespace {

using http::verb;

constexpr const char* base = "/api/confd/1.1";
constexpr std::array<const char*, 2> service_names = {"dnd", "incallfilter"};
constexpr std::array<const char*, 3> forward_names = {"busy", "noanswer", "unconditional"};
constexpr std::size_t max_destination = 128;

bool known(const auto& names, const std::string& name) {
  return std::find_if(names.begin(), names.end(), [&](const char* n) { return name == n; }) != names.end();
}

// confd answers validation errors with a list of strings.
Reply invalid(const std::string& message) { return json_reply(400, Json::array({"Input Error - " + message})); }

Reply user_not_found(const std::string& id) {
  return json_reply(
      404, api_error_body("Resource Not Found - User was not found", "not-found", Json{{"user_id", id}}, "users"));
}

Json null_if_empty(const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); }

Json services_json(const User& u) {
  return Json{{"dnd", {{"enabled", u.dnd}}}, {"incallfilter", {{"enabled", u.incallfilter}}}};
}

Forward forward_of(const User& u, const std::string& name) {
  auto it = u.forwards.find(name);
  return it == u.forwards.end() ? Forward{} : it->second;
}

Json forward_json(const Forward& f) {
  return Json{{"enabled", f.enabled}, {"destination", null_if_empty(f.destination)}};
}

Json forwards_json(const User& u) {
  Json out = Json::object();
  for (const char* name : forward_names) out[name] = forward_json(forward_of(u, name));
  return out;
}

Json user_json(const User& u) {
  std::string email;
  for (const auto& e : u.emails) {
    if (e.main) email = e.address;
  }
  const std::string name = u.firstname + (u.lastname.empty() ? "" : " " + u.lastname);
  return Json{{"id", u.confd_id},
              {"uuid", u.uuid},
              {"tenant_uuid", u.tenant_uuid},
              {"firstname", u.firstname},
              {"lastname", u.lastname},
              {"email", null_if_empty(email)},
              {"username", u.username},
              {"password", nullptr},  // the auth password is not confd's to show
              {"timezone", nullptr},
              {"language", nullptr},
              {"country", nullptr},
              {"description", nullptr},
              {"caller_id", "\"" + name + "\""},
              {"outgoing_caller_id", "default"},
              {"mobile_phone_number", nullptr},
              {"mobile_fallback_enabled", false},
              {"music_on_hold", nullptr},
              {"preprocess_subroutine", nullptr},
              {"userfield", nullptr},
              {"call_transfer_enabled", false},
              {"dtmf_hangup_enabled", false},
              {"call_record_enabled", false},
              {"call_record_outgoing_external_enabled", false},
              {"call_record_incoming_external_enabled", false},
              {"call_record_outgoing_internal_enabled", false},
              {"call_record_incoming_internal_enabled", false},
              {"online_call_record_enabled", false},
              {"supervision_enabled", true},
              {"ring_seconds", 30},
              {"simultaneous_calls", 5},
              {"call_permission_password", nullptr},
              {"subscription_type", 0},
              {"enabled", u.enabled},
              {"agent", nullptr},
              {"voicemail", nullptr},
              {"lines", Json::array()},
              {"incalls", Json::array()},
              {"groups", Json::array()},
              {"switchboards", Json::array()},
              {"queues", Json::array()},
              {"call_pickup_target_users", Json::array()},
              {"fallbacks",
               {{"noanswer_destination", nullptr},
                {"busy_destination", nullptr},
                {"congestion_destination", nullptr},
                {"fail_destination", nullptr}}},
              {"services", services_json(u)},
              {"forwards", forwards_json(u)}};
}

// Reads {"enabled"?, "destination"?} into f; an error message when malformed.
std::optional<std::string> read_forward(const Json& j, Forward& f) {
  if (!j.is_object()) return "forward: Not a valid mapping type.";
  if (auto it = j.find("enabled"); it != j.end()) {
    if (!it->is_boolean()) return "field 'enabled': Not a valid boolean.";
    f.enabled = it->get<bool>();
  }
  if (auto it = j.find("destination"); it != j.end()) {
    if (!it->is_string() && !it->is_null()) return "field 'destination': Not a valid string.";
    const std::string d = it->is_string() ? it->get<std::string>() : std::string();
    if (d.size() > max_destination) return "field 'destination': Longer than maximum length 128.";
    f.destination = d;
  }
  return std::nullopt;
}

class ConfdService {
 public:
  ConfdService(Router& router, State& state, Bus& bus) : r_(router), s_(state), bus_(bus) {}

  void add_routes() {
    guarded(verb::get, "/infos", "confd.infos.read", [this](Call&, const Access&) {
      return json_reply(200, Json{{"uuid", s_.engine_uuid}, {"wazo_version", s_.wazo_version}});
    });
    guarded(verb::get, "/users/{user_id}", "confd.users.{user_id}.read", [this](Call& c, const Access& a) {
      const User* u = find_user(a, c.param("user_id"));
      return u == nullptr ? user_not_found(c.param("user_id")) : json_reply(200, user_json(*u));
    });
    guarded(verb::get, "/users/{user_id}/services", "confd.users.{user_id}.services.read",
            [this](Call& c, const Access& a) {
              const User* u = find_user(a, c.param("user_id"));
              return u == nullptr ? user_not_found(c.param("user_id")) : json_reply(200, services_json(*u));
            });
    guarded(verb::put, "/users/{user_id}/services", "confd.users.{user_id}.services.update",
            [this](Call& c, const Access& a) { return put_services(c, a); });
    guarded(verb::get, "/users/{user_id}/services/{service_name}", "confd.users.{user_id}.services.{service_name}.read",
            [this](Call& c, const Access& a) {
              const User* u = find_user(a, c.param("user_id"));
              if (u == nullptr) return user_not_found(c.param("user_id"));
              if (!known(service_names, c.param("service_name"))) return not_found("service", c.param("service_name"));
              return json_reply(200, services_json(*u)[c.param("service_name")]);
            });
    guarded(verb::put, "/users/{user_id}/services/{service_name}",
            "confd.users.{user_id}.services.{service_name}.update", [this](Call& c, const Access& a) {
              User* u = find_user(a, c.param("user_id"));
              if (u == nullptr) return user_not_found(c.param("user_id"));
              const std::string service = c.param("service_name");
              if (!known(service_names, service)) return not_found("service", service);
              auto body = c.json();
              if (!body || !body->is_object()) return invalid("Not a valid mapping type.");
              auto enabled = body->find("enabled");
              if (enabled == body->end() || !enabled->is_boolean())
                return invalid("field 'enabled': Missing data for required field or not a valid boolean.");
              set_service(*u, service, enabled->get<bool>());
              return empty_reply(204);
            });
    guarded(verb::get, "/users/{user_id}/forwards", "confd.users.{user_id}.forwards.read",
            [this](Call& c, const Access& a) {
              const User* u = find_user(a, c.param("user_id"));
              return u == nullptr ? user_not_found(c.param("user_id")) : json_reply(200, forwards_json(*u));
            });
    guarded(verb::put, "/users/{user_id}/forwards", "confd.users.{user_id}.forwards.update",
            [this](Call& c, const Access& a) { return put_forwards(c, a); });
    guarded(verb::get, "/users/{user_id}/forwards/{forward_name}", "confd.users.{user_id}.forwards.{forward_name}.read",
            [this](Call& c, const Access& a) {
              const User* u = find_user(a, c.param("user_id"));
              if (u == nullptr) return user_not_found(c.param("user_id"));
              if (!known(forward_names, c.param("forward_name"))) return not_found("forward", c.param("forward_name"));
              return json_reply(200, forward_json(forward_of(*u, c.param("forward_name"))));
            });
    guarded(verb::put, "/users/{user_id}/forwards/{forward_name}",
            "confd.users.{user_id}.forwards.{forward_name}.update", [this](Call& c, const Access& a) {
              User* u = find_user(a, c.param("user_id"));
              if (u == nullptr) return user_not_found(c.param("user_id"));
              const std::string name = c.param("forward_name");
              if (!known(forward_names, name)) return not_found("forward", name);
              auto body = c.json();
              if (!body) return invalid("Not a valid JSON document.");
              Forward f = forward_of(*u, name);
              if (auto err = read_forward(*body, f)) return invalid(*err);
              set_forward(*u, name, f);
              return empty_reply(204);
            });
  }

 private:
  void guarded(verb method, const char* path, std::string acl, Protected handler) {
    r_.add(method, std::string(base) + path, protect(s_, std::move(acl), std::move(handler)));
  }

  // By confd id or uuid, in the acting tenant or below it.
  User* find_user(const Access& a, const std::string& id) {
    User* found = nullptr;
    const bool numeric = !id.empty() && id.size() < 10 && id.find_first_not_of("0123456789") == std::string::npos;
    if (numeric) {
      const int wanted = std::stoi(id);
      for (auto& [uuid, u] : s_.users) {
        if (u.confd_id == wanted) found = &u;
      }
    } else {
      found = s_.user(id);
    }
    return (found != nullptr && s_.tenant_within(found->tenant_uuid, a.tenant)) ? found : nullptr;
  }

  void set_service(User& u, const std::string& service, bool enabled) {
    (service == "dnd" ? u.dnd : u.incallfilter) = enabled;
    bus_.publish(events::user_service_updated(u, service, enabled));
    if (service == "dnd") publish_presence(s_, bus_, u);  // chatd follows DND into the presence
  }

  void set_forward(User& u, const std::string& name, const Forward& f) {
    u.forwards[name] = f;
    bus_.publish(events::user_forward_updated(u, name, f));
  }

  Reply put_services(Call& c, const Access& a) {
    User* u = find_user(a, c.param("user_id"));
    if (u == nullptr) return user_not_found(c.param("user_id"));
    auto body = c.json();
    if (!body || !body->is_object()) return invalid("Not a valid mapping type.");
    std::vector<std::pair<std::string, bool>> changes;
    for (const char* name : service_names) {
      auto it = body->find(name);
      if (it == body->end()) continue;
      if (!it->is_object() || !it->contains("enabled") || !(*it)["enabled"].is_boolean())
        return invalid(std::string("field '") + name + "': {\"enabled\": boolean} expected.");
      changes.emplace_back(name, (*it)["enabled"].get<bool>());
    }
    for (const auto& [name, enabled] : changes) set_service(*u, name, enabled);
    return empty_reply(204);
  }

  Reply put_forwards(Call& c, const Access& a) {
    User* u = find_user(a, c.param("user_id"));
    if (u == nullptr) return user_not_found(c.param("user_id"));
    auto body = c.json();
    if (!body || !body->is_object()) return invalid("Not a valid mapping type.");
    std::vector<std::pair<std::string, Forward>> changes;
    for (const char* name : forward_names) {
      auto it = body->find(name);
      if (it == body->end()) continue;
      Forward f = forward_of(*u, name);
      if (auto err = read_forward(*it, f)) return invalid(std::string("field '") + name + "': " + *err);
      changes.emplace_back(name, f);
    }
    for (const auto& [name, f] : changes) set_forward(*u, name, f);
    return empty_reply(204);
  }

  Router& r_;
  State& s_;
  Bus& bus_;
};

}  // namespace

void add_confd_routes(Router& router, State& state, Bus& bus) {
  auto service = std::make_shared<ConfdService>(router, state, bus);
  service->add_routes();
  router.own(std::move(service));
}

}  // namespace wazo::engine
