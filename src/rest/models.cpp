#include "wazo/rest/models.hpp"

#include "rest/detail/json.hpp"

namespace wazo::rest {

namespace {
using nlohmann::json;

using detail::flag;
using detail::not_object;
using detail::str;
using detail::strings;
}  // namespace

Result<Email> email_from_json(const json& j) {
  if (!j.is_object()) return not_object("email");
  return Email{str(j, "uuid"), str(j, "address"), flag(j, "main", false), flag(j, "confirmed", false)};
}

Result<User> user_from_json(const json& j) {
  if (!j.is_object()) return not_object("user");
  User u;
  u.uuid = str(j, "uuid");
  u.username = str(j, "username");
  u.firstname = str(j, "firstname");
  u.lastname = str(j, "lastname");
  u.purpose = str(j, "purpose");
  u.tenant_uuid = str(j, "tenant_uuid");
  u.enabled = flag(j, "enabled", true);
  if (auto it = j.find("emails"); it != j.end() && it->is_array()) {
    for (const auto& e : *it) {
      if (auto em = email_from_json(e)) u.emails.push_back(std::move(em).value());
    }
  }
  u.raw = j;
  return u;
}

Result<Tenant> tenant_from_json(const json& j) {
  if (!j.is_object()) return not_object("tenant");
  Tenant t;
  t.uuid = str(j, "uuid");
  t.name = str(j, "name");
  t.slug = str(j, "slug");
  t.parent_uuid = str(j, "parent_uuid");
  t.contact = str(j, "contact");
  t.phone = str(j, "phone");
  t.domain_names = strings(j, "domain_names");
  t.address = j.value("address", json::object());
  t.raw = j;
  return t;
}

Result<Group> group_from_json(const json& j) {
  if (!j.is_object()) return not_object("group");
  return Group{str(j, "uuid"), str(j, "name"), str(j, "slug"), str(j, "tenant_uuid"), j};
}

Result<Policy> policy_from_json(const json& j) {
  if (!j.is_object()) return not_object("policy");
  Policy p;
  p.uuid = str(j, "uuid");
  p.name = str(j, "name");
  p.slug = str(j, "slug");
  p.description = str(j, "description");
  p.tenant_uuid = str(j, "tenant_uuid");
  p.acl = strings(j, "acl");
  p.raw = j;
  return p;
}

Result<UserSession> user_session_from_json(const json& j) {
  if (!j.is_object()) return not_object("session");
  return UserSession{str(j, "uuid"), str(j, "user_uuid"), str(j, "tenant_uuid"), flag(j, "mobile", false), j};
}

Result<DeviceToken> device_token_from_json(const json& j) {
  if (!j.is_object()) return not_object("device token");
  return DeviceToken{str(j, "token"), str(j, "apns_token"), str(j, "apns_voip_token"),
                     str(j, "apns_notification_token"), j};
}

}  // namespace wazo::rest
