#!/usr/bin/env python3
"""Generates the typed event catalogue of the SDK (include/wazo/events/catalog.hpp, src/events/catalog.cpp).

The names are the 74 event names of the JavaScript SDK (shared/reference/wazo-js-sdk-study.md §2.4); the payload
fields and their types come from the official wazo-bus catalogue (shared/wazo-api/events/events-catalog.json,
`content_example`). The catalogue is read, not copied: only field names and JSON types end up in the output.
Run from the repository root:  python3 tools/codegen/gen_events.py ../shared/wazo-api/events/events-catalog.json
The generated files are committed; the build does not need Python.
"""
import json
import sys

NAMES = """
auth_session_expire_soon auth_user_external_auth_added auth_user_external_auth_deleted user_status_update
users_forwards_busy_updated users_forwards_noanswer_updated users_forwards_unconditional_updated
users_services_dnd_updated endpoint_status_update line_status_updated trunk_status_updated
favorite_added favorite_deleted
chat_message_sent chat_message_received chatd_presence_updated chatd_user_room_message_created chatd_user_room_created
chatd_message_delivery_status
global_voicemail_message_created global_voicemail_message_updated global_voicemail_message_deleted
user_voicemail_message_created user_voicemail_message_updated user_voicemail_message_deleted
call_log_user_created call_created call_answered call_dtmf_created call_ended call_updated call_held call_resumed
conference_user_participant_joined conference_user_participant_left conference_user_participant_talk_started
conference_user_participant_talk_stopped conference_adhoc_participant_left conference_adhoc_deleted
meeting_user_participant_joined meeting_user_participant_left meeting_user_progress
meeting_user_guest_authorization_created
switchboard_queued_calls_updated switchboard_queued_call_answered switchboard_held_calls_updated
switchboard_held_call_answered
fax_outbound_user_created fax_outbound_user_succeeded fax_outbound_user_failed
application_call_dtmf_received application_call_entered application_call_initiated application_call_deleted
application_call_updated application_call_answered application_progress_started application_progress_stopped
application_destination_node_created application_node_created application_node_deleted application_node_updated
application_playback_created application_playback_deleted application_snoop_created application_snoop_deleted
application_snoop_updated application_user_outgoing_call_created
agent_status_update agent_paused agent_unpaused user_agent_queue_logged_in user_agent_queue_logged_off
user_agent_queue_logged_out
""".split()

# Names the JavaScript SDK still lists but wazo-bus no longer publishes: raw payload only.
RETIRED = {
    "user_status_update": "replaced by chatd_presence_updated",
    "endpoint_status_update": "replaced by line_status_updated",
    "chat_message_sent": "replaced by chatd_user_room_message_created",
    "chat_message_received": "replaced by chatd_user_room_message_created",
    "user_agent_queue_logged_out": "not in the current wazo-bus catalogue",
}
TEMPLATES = {
    "users_forwards_": "users_forwards_{forward_name}_updated",
    "users_services_": "users_services_{service_name}_updated",
}
# Where the catalogue's TypedDict differs from what is on the wire (shared/wazo-api/README.md §5).
RENAMES = {("call_log_user_created", "call_drection"): "call_direction"}

CPP_TYPES = {bool: ("bool", "false", "boolean"), int: ("std::int64_t", "0", "integer"),
             float: ("double", "0.0", "number"), str: ("std::string", None, "string")}


def camel(name):
    return "".join(part.capitalize() for part in name.split("_"))


def main():
    catalogue = {e["name"]: e for e in json.load(open(sys.argv[1]))["events"]}
    structs, parsers, table = [], [], []
    for name in NAMES:
        entry = catalogue.get(name)
        if entry is None:
            for prefix, template in TEMPLATES.items():
                if name.startswith(prefix):
                    entry = catalogue[template]
        cls = camel(name)
        lines = []
        if entry is None:
            lines.append(f"// {name}: {RETIRED[name]}; kept for older engines, with the raw payload only.")
            fields = {}
        else:
            lines.append(f"// {name} ({entry['service']}, {entry['audience']}): "
                         f"required ACL {entry['required_acl_fmt']}")
            fields = entry.get("content_example") or {}
        lines.append(f"struct {cls} {{")
        lines.append(f'  static constexpr std::string_view event_name = "{name}";')
        body = []
        for key in sorted(fields):
            value = fields[key]
            field = RENAMES.get((name, key), key)
            kind = CPP_TYPES.get(type(value))
            if kind is None:
                lines.append(f"  Json {field};")
                body.append(f'  if (auto it = j.find("{field}"); it != j.end()) e.{field} = *it;')
            else:
                cpp, default, getter = kind
                lines.append(f"  {cpp} {field}{{{default if default else ''}}};")
                body.append(f'  e.{field} = detail::get_{getter}(j, "{field}");')
        lines.append("  Json raw;  // the whole payload, fields above included")
        lines.append(f"  static Result<{cls}> from_json(const Json& payload);")
        lines.append("};")
        structs.append("\n".join(lines))
        parsers.append("\n".join([
            f"Result<{cls}> {cls}::from_json(const Json& j) {{",
            f'  if (!j.is_object()) return Error(ErrorCategory::parse, "{name}: the payload is not an object");',
            f"  {cls} e;",
            *body,
            "  e.raw = j;",
            "  return e;",
            "}",
        ]))
        table.append(f'    {{"{name}", &dispatch<{cls}>}},')

    header = HEADER.replace("@STRUCTS@", "\n\n".join(structs)).replace("@COUNT@", str(len(NAMES)))
    source = SOURCE.replace("@PARSERS@", "\n\n".join(parsers)).replace("@TABLE@", "\n".join(sorted(table))).replace("@N@", str(len(table)))
    open("include/wazo/events/catalog.hpp", "w").write(header)
    open("src/events/catalog.cpp", "w").write(source)


HEADER = """// Typed events: one type per event name of the JavaScript SDK (@COUNT@), with the payload fields of the
// official wazo-bus catalogue. Subscribe with `ws.on<ChatdPresenceUpdated>(handler)`; any other name arrives as
// events::Unknown. Fields missing from a payload keep their defaults; `raw` has the payload as received.
// Generated by tools/codegen/gen_events.py; edit the generator, not this file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "wazo/core/result.hpp"

namespace wazo {
class Emitter;
}

namespace wazo::events {

using Json = nlohmann::json;

@STRUCTS@

namespace detail {
// Tolerant field readers: a missing field, or one of another type, gives the default ("12" reads as 12).
std::string get_string(const Json& object, const char* key);
std::int64_t get_integer(const Json& object, const char* key);
double get_number(const Json& object, const char* key);
bool get_boolean(const Json& object, const char* key);

// For a known event name: parses the payload into its type and emits it, if the emitter has listeners for that
// type (nothing is parsed otherwise). Returns false for a name the catalogue does not know.
bool dispatch_typed(std::string_view name, std::string_view payload_json, const Emitter& emitter,
                    std::string* error);
bool is_known(std::string_view name) noexcept;
std::size_t known_count() noexcept;
}  // namespace detail

}  // namespace wazo::events
"""

SOURCE = """// Generated by tools/codegen/gen_events.py; edit the generator, not this file.
#include "wazo/events/catalog.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "wazo/core/subscription.hpp"

namespace wazo::events {

namespace detail {

std::string get_string(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number() || it->is_boolean()) return it->dump();
  return {};
}

std::int64_t get_integer(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_number_float()) return static_cast<std::int64_t>(it->get<double>());
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size()) return v;
  }
  return 0;
}

double get_number(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return 0.0;
  return it->get<double>();
}

bool get_boolean(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace detail

@PARSERS@

namespace detail {

namespace {

using Dispatch = bool (*)(std::string_view, const Emitter&, std::string*);

template <class E>
bool dispatch(std::string_view payload_json, const Emitter& emitter, std::string* error) {
  if (emitter.count<E>() == 0) return true;
  Json j = Json::parse(payload_json, nullptr, false);
  auto e = E::from_json(j);
  if (!e) {
    if (error != nullptr) *error = e.error().message;
    return true;
  }
  emitter.emit(*e);
  return true;
}

struct Entry {
  std::string_view name;
  Dispatch fn;
};

constexpr std::array<Entry, @N@> table{{
@TABLE@
}};

const Entry* find(std::string_view name) noexcept {
  auto it = std::lower_bound(table.begin(), table.end(), name,
                             [](const Entry& e, std::string_view n) { return e.name < n; });
  return (it != table.end() && it->name == name) ? &*it : nullptr;
}

}  // namespace

bool dispatch_typed(std::string_view name, std::string_view payload_json, const Emitter& emitter,
                    std::string* error) {
  const Entry* e = find(name);
  return e != nullptr && e->fn(payload_json, emitter, error);
}

bool is_known(std::string_view name) noexcept { return find(name) != nullptr; }
std::size_t known_count() noexcept { return table.size(); }

}  // namespace detail

}  // namespace wazo::events
"""

if __name__ == "__main__":
    main()
