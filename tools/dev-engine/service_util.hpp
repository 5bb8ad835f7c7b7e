// Small helpers shared by the chatd and confd routes.
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "router.hpp"

namespace wazo::engine {

// A string member, "" when absent or not a string.
std::string str(const Json& o, const char* key);
// A non-negative integer query parameter: nullopt when absent, or an error message when malformed.
std::variant<std::optional<std::size_t>, std::string> count_param(const Call& call, const char* name);
// "2019-06-12T10:00:00.000+00:00", "…Z", "2019-06-12T10:00:00" (UTC) or "2019-06-12"; nullopt when malformed.
std::optional<Clock::time_point> parse_iso_time(std::string_view text);

}  // namespace wazo::engine
