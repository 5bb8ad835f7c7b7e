// Plain models of the Wazo REST services, apart from the clients. Each keeps the whole object in `raw`, so
// fields the SDK does not model yet are not lost.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wazo/core/result.hpp"

namespace wazo::rest {

// A list response: {"total", "filtered", "items"}.
template <class T>
struct List {
  std::int64_t total = 0;
  std::int64_t filtered = 0;
  std::vector<T> items;
};

struct Email {
  std::string uuid;
  std::string address;
  bool main = false;
  bool confirmed = false;
};

struct User {  // wazo-auth user
  std::string uuid;
  std::string username;
  std::string firstname;
  std::string lastname;
  std::string purpose;
  std::string tenant_uuid;
  bool enabled = true;
  std::vector<Email> emails;
  nlohmann::json raw;
};

struct Tenant {
  std::string uuid;
  std::string name;
  std::string slug;
  std::string parent_uuid;
  std::string contact;
  std::string phone;
  std::vector<std::string> domain_names;
  nlohmann::json address;
  nlohmann::json raw;
};

struct Group {
  std::string uuid;
  std::string name;
  std::string slug;
  std::string tenant_uuid;
  nlohmann::json raw;
};

struct Policy {
  std::string uuid;
  std::string name;
  std::string slug;
  std::string description;
  std::string tenant_uuid;
  std::vector<std::string> acl;
  nlohmann::json raw;
};

struct UserSession {  // an entry of GET /users/{uuid}/sessions
  std::string uuid;
  std::string user_uuid;
  std::string tenant_uuid;
  bool mobile = false;
  nlohmann::json raw;
};

struct DeviceToken {  // GET /users/{uuid}/external/mobile
  std::string token;
  std::string apns_token;
  std::string apns_voip_token;
  std::string apns_notification_token;
  nlohmann::json raw;
};

Result<Email> email_from_json(const nlohmann::json& j);
Result<User> user_from_json(const nlohmann::json& j);
Result<Tenant> tenant_from_json(const nlohmann::json& j);
Result<Group> group_from_json(const nlohmann::json& j);
Result<Policy> policy_from_json(const nlohmann::json& j);
Result<UserSession> user_session_from_json(const nlohmann::json& j);
Result<DeviceToken> device_token_from_json(const nlohmann::json& j);

// Parses {"total", "filtered", "items": [...]} (a bare array is accepted too) with `item` for each element.
template <class T, class F>
Result<List<T>> list_from_json(const nlohmann::json& j, F&& item) {
  const nlohmann::json* items = &j;
  List<T> out;
  if (j.is_object()) {
    auto it = j.find("items");
    if (it == j.end() || !it->is_array()) return Error(ErrorCategory::parse, "list: no items array");
    items = &*it;
    out.total = j.value("total", static_cast<std::int64_t>(it->size()));
    out.filtered = j.value("filtered", out.total);
  } else if (!j.is_array()) {
    return Error(ErrorCategory::parse, "list: expected an object or an array");
  } else {
    out.total = out.filtered = static_cast<std::int64_t>(j.size());
  }
  for (const auto& e : *items) {
    auto r = item(e);
    if (!r) return std::move(r).error();
    out.items.push_back(std::move(r).value());
  }
  return out;
}

}  // namespace wazo::rest
