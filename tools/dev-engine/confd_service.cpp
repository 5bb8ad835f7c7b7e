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

// --- lines and their SIP endpoints -----------------------------------------------------------------------------

constexpr const char* transport_uuid = "7a5e0000-0000-4000-8000-0000000000f1";  // transport-wss
constexpr const char* global_template_uuid = "7e3a0000-0000-4000-8000-0000000000a1";
constexpr const char* webrtc_template_uuid = "7e3a0000-0000-4000-8000-0000000000a2";

using Options = std::vector<std::pair<std::string, std::string>>;

Json options_json(const Options& options) {
  Json out = Json::array();
  for (const auto& [k, v] : options) out.push_back(Json::array({k, v}));
  return out;
}

// Template options first, then the endpoint's own, which replace a template's value of the same key (set_var
// accumulates, as in PJSIP).
Options merge(const Options& templates, const Options& own) {
  Options out;
  for (const auto& [k, v] : templates) {
    const bool overridden =
        k != "set_var" && std::any_of(own.begin(), own.end(), [&](const auto& o) { return o.first == k; });
    if (!overridden) out.emplace_back(k, v);
  }
  out.insert(out.end(), own.begin(), own.end());
  return out;
}

std::string display_name(const User& u) { return u.firstname + (u.lastname.empty() ? "" : " " + u.lastname); }

Json extensions_json(const Line& l) {
  return Json::array({Json{{"id", l.extension_id}, {"exten", l.exten}, {"context", l.context}}});
}

Json endpoint_relation_json(const Line& l) {
  return Json{{"uuid", l.sip_uuid},
              {"name", l.name},
              {"label", l.name},
              {"auth_section_options", options_json({{"username", l.username}})}};
}

// A UserRelationLine (an entry of a user's `lines`).
Json user_line_json(const Line& l) {
  return Json{{"id", l.id},
              {"name", l.name},
              {"endpoint_sip", endpoint_relation_json(l)},
              {"endpoint_sccp", nullptr},
              {"endpoint_custom", nullptr},
              {"extensions", extensions_json(l)}};
}

// A LineView.
Json line_view_json(const User& u, const Line& l) {
  return Json{{"id", l.id},
              {"name", l.name},
              {"tenant_uuid", u.tenant_uuid},
              {"context", l.context},
              {"caller_id_name", display_name(u)},
              {"caller_id_num", l.exten},
              {"device_id", nullptr},
              {"device_slot", 1},
              {"position", 1},
              {"protocol", "sip"},
              {"provisioning_code", std::to_string(100000 + l.id)},
              {"provisioning_extension", std::to_string(100000 + l.id)},
              {"registrar", "default"},
              {"is_webrtc", true},
              {"application", nullptr},
              {"endpoint_sip", endpoint_relation_json(l)},
              {"endpoint_sccp", nullptr},
              {"endpoint_custom", nullptr},
              {"extensions", extensions_json(l)},
              {"users", Json::array({Json{{"uuid", u.uuid}, {"firstname", u.firstname}, {"lastname", u.lastname}}})}};
}

// An EndpointSIP; `merged`: with the options of its templates (global, webrtc) merged in.
Json endpoint_sip_json(const User& u, const Line& l, bool merged) {
  const Options own_endpoint = {{"callerid", "\"" + display_name(u) + "\" <" + l.exten + ">"},
                                {"webrtc", "yes"},
                                {"set_var", "WAZO_TENANT_UUID=" + u.tenant_uuid},
                                {"set_var", "WAZO_LINE_ID=" + std::to_string(l.id)}};
  const Options template_endpoint = {{"allow", "!all,opus,g722,alaw,ulaw,vp9,vp8,h264"},
                                     {"context", l.context},
                                     {"direct_media", "no"},
                                     {"dtls_auto_generate_cert", "yes"},
                                     {"max_audio_streams", "1"},
                                     {"max_video_streams", "25"},
                                     {"rtcp_mux", "yes"},
                                     {"ice_support", "yes"},
                                     {"use_avpf", "yes"},
                                     {"media_encryption", "dtls"},
                                     {"dtls_verify", "no"},
                                     {"dtls_setup", "actpass"},
                                     {"webrtc", "yes"}};
  const Options own_aor = {{"max_contacts", "10"}};
  const Options template_aor = {{"maximum_expiration", "3600"},
                                {"minimum_expiration", "60"},
                                {"default_expiration", "120"},
                                {"qualify_frequency", "60"},
                                {"remove_existing", "no"}};
  const Options auth = {{"username", l.username}, {"password", l.password}};
  Json j{{"uuid", l.sip_uuid},
         {"tenant_uuid", u.tenant_uuid},
         {"name", l.name},
         {"label", l.name},
         {"asterisk_id", nullptr},
         {"auth_section_options", options_json(auth)},
         {"aor_section_options", options_json(merged ? merge(template_aor, own_aor) : own_aor)},
         {"endpoint_section_options", options_json(merged ? merge(template_endpoint, own_endpoint) : own_endpoint)},
         {"identify_section_options", Json::array()},
         {"registration_section_options", Json::array()},
         {"registration_outbound_auth_section_options", Json::array()},
         {"outbound_auth_section_options", Json::array()},
         {"templates", Json::array({Json{{"uuid", global_template_uuid}, {"label", "global"}},
                                    Json{{"uuid", webrtc_template_uuid}, {"label", "webrtc"}}})},
         {"transport", Json{{"uuid", transport_uuid}}},
         {"line", Json{{"id", l.id}, {"name", l.name}}},
         {"trunk", nullptr}};
  return j;
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
              {"lines", u.line ? Json::array({user_line_json(*u.line)}) : Json::array()},
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
    guarded(verb::get, "/users/{user_id}/lines", "confd.users.{user_id}.lines.read", [this](Call& c, const Access& a) {
      const User* u = find_user(a, c.param("user_id"));
      if (u == nullptr) return user_not_found(c.param("user_id"));
      Json items = Json::array();
      if (u->line) items.push_back(line_view_json(*u, *u->line));
      return json_reply(200, Json{{"total", items.size()}, {"items", items}});
    });
    guarded(verb::get, "/users/{user_uuid}/lines/{line_id}/associated/endpoints/sip",
            "confd.users.{user_uuid}.lines.{line_id}.associated.endpoints.sip.read",
            [this](Call& c, const Access& a) { return user_line_endpoint(c, a, c.param("line_id")); });
    guarded(verb::get, "/users/{user_uuid}/lines/main/associated/endpoints/sip",
            "confd.users.{user_uuid}.lines.main.associated.endpoints.sip.read",
            [this](Call& c, const Access& a) { return user_line_endpoint(c, a, "main"); });
    guarded(verb::get, "/lines", "confd.lines.read", [this](Call&, const Access& a) {
      Json items = Json::array();
      for (const auto& [uuid, u] : s_.users) {
        if (u.line && s_.tenant_within(u.tenant_uuid, a.tenant)) items.push_back(line_view_json(u, *u.line));
      }
      std::sort(items.begin(), items.end(), [](const Json& x, const Json& y) { return x["id"] < y["id"]; });
      return json_reply(200, Json{{"total", items.size()}, {"items", items}});
    });
    guarded(verb::get, "/lines/{line_id}", "confd.lines.{line_id}.read", [this](Call& c, const Access& a) {
      const User* u = user_of_line(a, c.param("line_id"));
      return u == nullptr ? line_not_found(c.param("line_id")) : json_reply(200, line_view_json(*u, *u->line));
    });
    guarded(verb::get, "/endpoints/sip/{sip_uuid}", "confd.endpoints.sip.{sip_uuid}.read",
            [this](Call& c, const Access& a) {
              auto view = c.query_value("view");
              if (view && *view != "merged") return invalid("view: Must be one of: merged.");
              for (const auto& [uuid, u] : s_.users) {
                if (u.line && u.line->sip_uuid == c.param("sip_uuid") && s_.tenant_within(u.tenant_uuid, a.tenant))
                  return json_reply(200, endpoint_sip_json(u, *u.line, view.has_value()));
              }
              return json_reply(404, api_error_body("Resource Not Found - EndpointSIP was not found", "not-found",
                                                    Json{{"uuid", c.param("sip_uuid")}}, "endpoint_sip"));
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

  // The user whose line has this id (in the acting tenant or below it), or nullptr.
  User* user_of_line(const Access& a, const std::string& line_id) {
    for (auto& [uuid, u] : s_.users) {
      if (u.line && std::to_string(u.line->id) == line_id && s_.tenant_within(u.tenant_uuid, a.tenant)) return &u;
    }
    return nullptr;
  }

  static Reply line_not_found(const std::string& id) {
    return json_reply(
        404, api_error_body("Resource Not Found - Line was not found", "not-found", Json{{"id", id}}, "lines"));
  }

  // GET /users/{user_uuid}/lines/{line_id|main}/associated/endpoints/sip[?view=merged]
  Reply user_line_endpoint(Call& c, const Access& a, const std::string& line_id) {
    auto view = c.query_value("view");
    if (view && *view != "merged") return invalid("view: Must be one of: merged.");
    const User* u = find_user(a, c.param("user_uuid"));
    if (u == nullptr) return user_not_found(c.param("user_uuid"));
    if (!u->line || (line_id != "main" && std::to_string(u->line->id) != line_id)) {
      return json_reply(404, api_error_body("Resource Not Found - UserLine was not found", "not-found",
                                            Json{{"user_uuid", u->uuid}, {"line_id", line_id}}, "user_line"));
    }
    return json_reply(200, endpoint_sip_json(*u, *u->line, view.has_value()));
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
