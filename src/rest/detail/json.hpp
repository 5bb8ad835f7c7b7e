// Tolerant field readers shared by the REST models: a missing field, or one of another type, gives the default.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wazo/core/result.hpp"

namespace wazo::rest::detail {

inline std::string str(const nlohmann::json& o, const char* key) {
  auto it = o.find(key);
  return (it != o.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

inline bool flag(const nlohmann::json& o, const char* key, bool fallback = false) {
  auto it = o.find(key);
  return (it != o.end() && it->is_boolean()) ? it->get<bool>() : fallback;
}

inline std::int64_t integer(const nlohmann::json& o, const char* key) {
  auto it = o.find(key);
  return (it != o.end() && it->is_number_integer()) ? it->get<std::int64_t>() : 0;
}

inline std::vector<std::string> strings(const nlohmann::json& o, const char* key) {
  std::vector<std::string> out;
  auto it = o.find(key);
  if (it == o.end() || !it->is_array()) return out;
  for (const auto& e : *it) {
    if (e.is_string()) out.push_back(e.get<std::string>());
  }
  return out;
}

inline Error not_object(const char* what) {
  return Error(ErrorCategory::parse, std::string(what) + ": expected a JSON object");
}

// The items of a list response ({"items": [...]}, or a bare array) parsed with `item`; elements that do not
// parse are skipped, like the seed's parseMany. (list_from_json in models.hpp keeps total/filtered and fails on
// a bad element instead.)
template <class T, class F>
Result<std::vector<T>> items_from_json(const nlohmann::json& j, F item) {
  const nlohmann::json* items = &j;
  if (j.is_object()) {
    auto it = j.find("items");
    if (it == j.end() || !it->is_array()) return Error(ErrorCategory::parse, "list: no items array");
    items = &*it;
  } else if (!j.is_array()) {
    return Error(ErrorCategory::parse, "list: expected an object or an array");
  }
  std::vector<T> out;
  for (const auto& e : *items) {
    if (auto r = item(e)) out.push_back(std::move(r).value());
  }
  return out;
}

}  // namespace wazo::rest::detail
