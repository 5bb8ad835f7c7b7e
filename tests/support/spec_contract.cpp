#include "spec_contract.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <utility>

namespace wazo::test {

namespace {

using Json = nlohmann::json;

// "/a/b" → {"a", "b"}; empty segments are kept ("/a//b" → {"a", "", "b"}) so that they never match "{param}".
std::vector<std::string> split_path(std::string_view path) {
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t next = path.find('/', pos);
    out.emplace_back(path.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos));
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  return out;
}

bool is_param(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t pos = 0;
  while (pos < query.size()) {
    std::size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    const std::string_view item = query.substr(pos, amp - pos);
    if (!item.empty()) {
      const std::size_t eq = item.find('=');
      out.emplace_back(percent_decode(item.substr(0, eq), true),
                       eq == std::string_view::npos ? std::string() : percent_decode(item.substr(eq + 1), true));
    }
    pos = amp + 1;
  }
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Whether `segments` (a request path) fits `tmpl` (a template); counts the literal segments.
bool fits(const std::vector<std::string>& parts, const std::vector<std::string>& segments, int& literals) {
  if (parts.size() != segments.size()) return false;
  literals = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (is_param(parts[i])) {
      if (segments[i].empty()) return false;
    } else {
      if (parts[i] != segments[i]) return false;
      ++literals;
    }
  }
  return true;
}

// j[key] by reference (so pointers into it stay valid), or an empty array when j has no such key.
const Json& member(const Json& j, const char* key) {
  static const Json none = Json::array();
  if (!j.is_object()) return none;
  const auto it = j.find(key);
  return it == j.end() ? none : *it;
}

// Why a text value (query parameter, header, path segment) does not fit its parameter; nullopt when it fits.
std::optional<std::string> text_value_problem(const Json& param, const std::string& value) {
  const std::string type = param.value("type", "");
  if (type == "integer" && (value.empty() || !std::all_of(value.begin() + (value[0] == '-' ? 1 : 0), value.end(),
                                                          [](unsigned char c) { return std::isdigit(c) != 0; })))
    return "is '" + value + "' but the spec says integer";
  if (type == "boolean" && value != "true" && value != "false") return "is '" + value + "' but the spec says boolean";
  if (param.contains("enum") && param["enum"].is_array()) {
    const auto& allowed_values = param["enum"];
    const bool listed = std::any_of(allowed_values.begin(), allowed_values.end(), [&](const Json& v) {
      return (v.is_string() && v.get<std::string>() == value) || (!v.is_string() && v.dump() == value);
    });
    if (!listed) return "is '" + value + "', not one of " + allowed_values.dump();
  }
  return std::nullopt;
}

}  // namespace

SpecIndex::SpecIndex(Json spec, std::vector<SpecAllowance> allowances)
    : spec_(std::move(spec)), allowances_(std::move(allowances)) {
  base_path_ = spec_.value("basePath", std::string());
  while (!base_path_.empty() && base_path_.back() == '/') base_path_.pop_back();
}

std::optional<SpecIndex> SpecIndex::load(const std::filesystem::path& file, std::string& error,
                                         std::vector<SpecAllowance> allowances) {
  std::ifstream in(file);
  if (!in) {
    error = "cannot open " + file.string();
    return std::nullopt;
  }
  Json j = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("paths")) {
    error = file.string() + " is not a Swagger document";
    return std::nullopt;
  }
  return SpecIndex(std::move(j), std::move(allowances));
}

SpecIndex::Found SpecIndex::find(std::string_view method, std::string_view path) const {
  const std::string m = lower(std::string(method));
  const auto segments = split_path(path);
  std::vector<std::pair<int, std::string>> candidates;  // (literal segments, template)
  for (const auto& [tmpl, item] : spec_["paths"].items()) {
    int literals = 0;
    if (fits(split_path(tmpl), segments, literals)) candidates.emplace_back(literals, tmpl);
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  Found found;
  for (const auto& [literals, tmpl] : candidates) {
    const Json& item = spec_["paths"][tmpl];
    if (found.path_item == nullptr) {
      found.path_template = tmpl;
      found.path_item = &item;
    }
    if (item.contains(m) && item[m].is_object()) {
      found.path_template = tmpl;
      found.path_item = &item;
      found.operation = &item[m];
      break;
    }
  }
  return found;
}

SpecIndex::Found SpecIndex::resolve_operation(std::string_view method, std::string_view path) const {
  Found found = find(method, path);
  if (found.operation != nullptr) return found;
  const std::string m = lower(std::string(method));
  const auto segments = split_path(path);
  for (const auto& a : allowances_) {
    if (a.kind != "path" || a.method != m) continue;
    int literals = 0;
    if (!fits(split_path(a.name), segments, literals)) continue;
    const std::string tmpl(a.path_template);
    const Json& paths = spec_["paths"];
    if (!paths.contains(tmpl) || !paths[tmpl].contains(m)) continue;
    return Found{tmpl, &paths[tmpl], &paths[tmpl][m]};
  }
  return found;
}

std::vector<SpecIndex::Json> SpecIndex::parameters(const Json& path_item, const Json& operation) const {
  // Path-level ones, then the operation's (which override by name and location).
  std::vector<Json> params;
  auto add_params = [&](const Json& list) {
    if (!list.is_array()) return;
    for (const auto& p : list) {
      const Json& r = resolve(p);
      params.erase(std::remove_if(params.begin(), params.end(),
                                  [&](const Json& q) {
                                    return q.value("name", "") == r.value("name", "") &&
                                           q.value("in", "") == r.value("in", "");
                                  }),
                   params.end());
      params.push_back(r);
    }
  };
  add_params(member(path_item, "parameters"));
  add_params(member(operation, "parameters"));
  return params;
}

bool SpecIndex::allowed(std::string_view method, const std::string& path_template, std::string_view kind,
                        const std::string& name) const {
  return std::any_of(allowances_.begin(), allowances_.end(), [&](const SpecAllowance& a) {
    return a.method == method && a.path_template == path_template && a.kind == kind && a.name == name;
  });
}

std::vector<std::string> SpecIndex::check(const RecordedRequest& request) const {
  std::vector<std::string> problems;
  const std::string where = request.method + " " + request.target;
  if (request.path.compare(0, base_path_.size(), base_path_) != 0 ||
      (request.path.size() > base_path_.size() && request.path[base_path_.size()] != '/')) {
    problems.push_back(where + ": path is outside the spec's basePath " + base_path_);
    return problems;
  }
  const std::string rel = request.path.substr(base_path_.size());
  const std::string method = lower(request.method);
  const Found found = resolve_operation(method, rel);
  if (found.path_item == nullptr) {
    problems.push_back(where + ": no path of the spec matches " + rel);
    return problems;
  }
  if (found.operation == nullptr) {
    problems.push_back(where + ": the spec has no " + request.method + " on " + found.path_template);
    return problems;
  }
  const std::string op = request.method + " " + found.path_template;
  const std::vector<Json> params = parameters(*found.path_item, *found.operation);
  auto declared_param = [&](std::string_view in, const std::string& name, bool case_insensitive) {
    return std::find_if(params.begin(), params.end(), [&](const Json& p) {
      if (p.value("in", "") != in) return false;
      return case_insensitive ? lower(p.value("name", "")) == lower(name) : p.value("name", "") == name;
    });
  };

  // (1) Path parameters: the value in each `{param}` segment must fit its declaration (type, enum).
  const auto parts = split_path(found.path_template);
  const auto segments = split_path(rel);
  for (std::size_t i = 0; i < parts.size() && i < segments.size(); ++i) {
    if (!is_param(parts[i])) continue;
    const std::string name = parts[i].substr(1, parts[i].size() - 2);
    const auto declared = declared_param("path", name, false);
    if (declared == params.end()) {
      problems.push_back(op + ": path parameter '" + name + "' is not declared by the spec");
    } else if (auto bad = text_value_problem(*declared, percent_decode(segments[i], false))) {
      problems.push_back(op + ": path parameter '" + name + "' " + *bad);
    }
  }

  // (2) Query parameters.
  std::set<std::string> sent_query;
  for (const auto& [name, value] : parse_query(request.query)) {
    sent_query.insert(name);
    const auto declared = declared_param("query", name, false);
    if (declared == params.end()) {
      if (!allowed(method, found.path_template, "query", name))
        problems.push_back(op + ": query parameter '" + name + "' is not declared by the spec");
    } else if (auto bad = text_value_problem(*declared, value)) {
      problems.push_back(op + ": query parameter '" + name + "' " + *bad);
    }
  }
  for (const auto& p : params) {
    if (p.value("in", "") == "query" && p.value("required", false) && sent_query.count(p.value("name", "")) == 0)
      problems.push_back(op + ": required query parameter '" + p.value("name", "") + "' is missing");
  }

  // Wazo-* headers (Wazo-Tenant, Wazo-Session-Type): each one sent must be declared (in: header).
  for (const auto& [name, value] : request.headers) {
    if (name.rfind("wazo-", 0) != 0) continue;
    const auto declared = declared_param("header", name, true);
    if (declared == params.end()) {
      if (!allowed(method, found.path_template, "header", name))
        problems.push_back(op + ": header '" + name + "' is not declared by the spec");
    } else if (auto bad = text_value_problem(*declared, value)) {
      problems.push_back(op + ": header '" + name + "' " + *bad);
    }
  }

  // (3) The JSON body.
  const Json* body_param = nullptr;
  for (const auto& p : params)
    if (p.value("in", "") == "body") body_param = &p;
  if (request.body.empty()) {
    if (body_param != nullptr && body_param->value("required", false))
      problems.push_back(op + ": the spec requires a body and none was sent");
    return problems;
  }
  if (body_param == nullptr) {
    problems.push_back(op + ": a body was sent but the spec declares none");
    return problems;
  }
  const Json body = Json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    problems.push_back(op + ": the body is not JSON");
    return problems;
  }
  if (!body.is_object()) return problems;  // arrays etc.: only object bodies are checked field by field
  std::map<std::string, const Json*> properties;
  std::set<std::string> required;
  bool open = false;
  collect(member(*body_param, "schema"), properties, required, open, 0);
  if (properties.empty()) open = true;  // a free-form object
  for (const auto& [field, value] : body.items()) {
    const auto property = properties.find(field);
    if (property == properties.end()) {
      if (!open && !allowed(method, found.path_template, "body", field))
        problems.push_back(op + ": body field '" + field + "' is not a property of the spec's body schema");
    } else if (auto bad = json_value_problem(*property->second, value)) {
      problems.push_back(op + ": body field '" + field + "' " + *bad);
    }
  }
  for (const auto& field : required) {
    if (!body.contains(field)) problems.push_back(op + ": required body field '" + field + "' is missing");
  }
  return problems;
}

std::optional<bool> SpecIndex::declares(std::string_view method, std::string_view path_template, std::string_view kind,
                                        const std::string& name) const {
  const Json& paths = spec_["paths"];
  const std::string key(path_template);
  const std::string m(method);
  if (!paths.contains(key) || !paths[key].contains(m)) return std::nullopt;
  if (kind == "path") return paths.contains(name) && paths[name].contains(m);
  for (const auto& p : parameters(paths[key], paths[key][m])) {
    if (kind == "body" && p.value("in", "") == "body") {
      std::map<std::string, const Json*> properties;
      std::set<std::string> required;
      bool open = false;
      collect(member(p, "schema"), properties, required, open, 0);
      if (properties.count(name) != 0) return true;
    } else if (p.value("in", "") == kind && lower(p.value("name", "")) == lower(name)) {
      return true;
    }
  }
  return false;
}

std::string SpecIndex::operation_key(const RecordedRequest& request) const {
  if (request.path.compare(0, base_path_.size(), base_path_) != 0) return {};
  const Found found = resolve_operation(request.method, request.path.substr(base_path_.size()));
  return found.operation == nullptr ? std::string() : request.method + " " + found.path_template;
}

const SpecIndex::Json& SpecIndex::resolve(const Json& node) const {
  // Follows local `$ref`s ("#/definitions/X", "#/parameters/Y").
  const Json* current = &node;
  for (int depth = 0; depth < 32 && current->is_object() && current->contains("$ref"); ++depth) {
    const std::string ref = (*current)["$ref"].get<std::string>();
    if (ref.rfind("#/", 0) != 0) break;
    const Json::json_pointer pointer(ref.substr(1));
    if (!spec_.contains(pointer)) break;
    current = &spec_.at(pointer);
  }
  return *current;
}

std::optional<std::string> SpecIndex::json_value_problem(const Json& schema_node, const Json& value) const {
  // Why a JSON value does not fit a (property) schema's `type` and `enum`; nullopt when it fits.
  const Json& schema = resolve(schema_node);
  if (!schema.is_object()) return std::nullopt;
  if (value.is_null()) return std::nullopt;  // optional fields may be sent as null; the services accept most
  const std::string type = schema.value("type", "");
  const bool fits_type = type.empty() || (type == "string" && value.is_string()) ||
                         (type == "integer" && value.is_number_integer()) || (type == "number" && value.is_number()) ||
                         (type == "boolean" && value.is_boolean()) || (type == "array" && value.is_array()) ||
                         (type == "object" && value.is_object());
  if (!fits_type) return "is " + std::string(value.type_name()) + " but the spec says " + type;
  if (schema.contains("enum") && schema["enum"].is_array()) {
    const auto& allowed_values = schema["enum"];
    if (std::find(allowed_values.begin(), allowed_values.end(), value) == allowed_values.end())
      return "is " + value.dump() + ", not one of " + allowed_values.dump();
  }
  return std::nullopt;
}

void SpecIndex::collect(const Json& schema_node, std::map<std::string, const Json*>& properties,
                        std::set<std::string>& required, bool& open, int depth) const {
  // Top-level properties (name → schema) and required names of a schema, through $ref and allOf.
  if (depth > 16) return;
  const Json& schema = resolve(schema_node);
  if (!schema.is_object()) return;
  if (schema.contains("properties") && schema["properties"].is_object())
    for (const auto& [name, value] : schema["properties"].items()) properties.emplace(name, &value);
  if (schema.contains("required") && schema["required"].is_array())
    for (const auto& name : schema["required"])
      if (name.is_string()) required.insert(name.get<std::string>());
  if (schema.contains("additionalProperties")) {
    const Json& extra = schema["additionalProperties"];
    if ((extra.is_boolean() && extra.get<bool>()) || extra.is_object()) open = true;
  }
  if (schema.contains("allOf") && schema["allOf"].is_array())
    for (const auto& part : schema["allOf"]) collect(part, properties, required, open, depth + 1);
}

bool on_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && lower(ci) == "true";
}

std::vector<std::string> declared_async_methods(const std::filesystem::path& header) {
  std::ifstream in(header);
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t comment = line.find("//");
    const std::size_t at = line.find("Async<");
    if (at == std::string::npos || (comment != std::string::npos && comment < at)) continue;
    const std::size_t paren = line.find('(', at);
    if (paren == std::string::npos) continue;
    std::size_t end = paren;
    while (end > at && line[end - 1] == ' ') --end;
    std::size_t begin = end;
    while (begin > at && (std::isalnum(static_cast<unsigned char>(line[begin - 1])) != 0 || line[begin - 1] == '_'))
      --begin;
    if (begin < end) names.push_back(line.substr(begin, end - begin));
  }
  return names;
}

RecordedRequest make_recorded(std::string method, const std::string& target, std::string body) {
  RecordedRequest r;
  r.method = std::move(method);
  r.target = target;
  const auto q = target.find('?');
  r.path = target.substr(0, q);
  r.query = q == std::string::npos ? std::string() : target.substr(q + 1);
  r.body = std::move(body);
  return r;
}

bool mentions(const std::vector<std::string>& problems, std::string_view needle) {
  return std::any_of(problems.begin(), problems.end(),
                     [&](const std::string& p) { return p.find(needle) != std::string::npos; });
}

}  // namespace wazo::test
