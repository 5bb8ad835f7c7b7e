#include "events/decoder.hpp"

#include <simdjson.h>

namespace wazo::events::detail {

namespace od = simdjson::ondemand;

namespace {

Op op_from(std::string_view s) noexcept {
  if (s == "event") return Op::event;
  if (s == "pong") return Op::pong;
  if (s == "init") return Op::init;
  if (s == "subscribe") return Op::subscribe;
  if (s == "start") return Op::start;
  if (s == "token") return Op::token;
  if (s == "ping") return Op::ping;
  return Op::other;
}

}  // namespace

std::string_view to_string(Op op) noexcept {
  switch (op) {
    case Op::init:
      return "init";
    case Op::subscribe:
      return "subscribe";
    case Op::start:
      return "start";
    case Op::event:
      return "event";
    case Op::token:
      return "token";
    case Op::pong:
      return "pong";
    case Op::ping:
      return "ping";
    case Op::other:
      break;
  }
  return "unknown";
}

namespace {

Error malformed(const char* what) { return Error(ErrorCategory::parse, std::string("websocketd frame: ") + what); }

// The raw JSON text of any value.
simdjson::simdjson_result<std::string_view> raw(od::value v) {
  od::json_type type;
  if (auto err = v.type().get(type)) return err;
  if (type == od::json_type::object) {
    od::object o;
    if (auto err = v.get_object().get(o)) return err;
    return o.raw_json();
  }
  if (type == od::json_type::array) {
    od::array a;
    if (auto err = v.get_array().get(a)) return err;
    return a.raw_json();
  }
  return v.raw_json_token();
}

// A bus message: {"name": ..., "timestamp": ..., ..., "data": {...}}.
bool read_bus_message(od::object message, Frame& f) {
  bool have_name = false;
  f.payload = "null";
  for (auto field : message) {
    od::raw_json_string key;
    if (field.key().get(key)) return false;
    if (key == "name") {
      if (field.value().get_string().get(f.name)) return false;
      have_name = true;
    } else if (key == "data") {
      if (raw(field.value()).get(f.payload)) return false;
    } else if (key == "timestamp") {
      if (field.value().get_string().get(f.timestamp)) f.timestamp = {};
    }
  }
  return have_name;
}

}  // namespace

struct Decoder::Impl {
  od::parser parser;
};

Decoder::Decoder() : impl_(std::make_unique<Impl>()) {}
Decoder::~Decoder() = default;

std::size_t Decoder::padding() noexcept { return simdjson::SIMDJSON_PADDING; }

Result<Frame> Decoder::decode(std::string& buffer, int version) {
  if (buffer.capacity() < buffer.size() + simdjson::SIMDJSON_PADDING) buffer.reserve(buffer.size() + padding());
  Frame f;
  f.frame = std::string_view(buffer);
  f.version = version;
  od::document doc;
  if (impl_->parser.iterate(buffer.data(), buffer.size(), buffer.capacity()).get(doc)) return malformed("not JSON");
  od::object root;
  if (doc.get_object().get(root)) return malformed("not a JSON object");
  if (version < 2) {
    f.op = Op::event;
    if (!read_bus_message(root, f)) return malformed("a v1 event needs a name");
    return f;
  }
  // One pass in the usual order (op before data); a `data` that comes first is read again afterwards.
  bool have_op = false;
  bool data_first = false;
  for (auto field : root) {
    od::raw_json_string key;
    if (field.key().get(key)) return malformed("bad key");
    if (key == "op") {
      std::string_view op;
      if (field.value().get_string().get(op)) return malformed("op is not a string");
      f.op = op_from(op);
      have_op = true;
    } else if (key == "code") {
      if (field.value().get_int64().get(f.code)) return malformed("code is not an integer");
    } else if (key == "data") {
      od::value data = field.value();
      od::json_type type;
      if (data.type().get(type)) return malformed("bad data");
      if (type != od::json_type::object) continue;  // init/subscribe/start/token replies carry null or a version
      od::object obj;
      if (data.get_object().get(obj)) return malformed("bad data");
      if (!have_op) {
        data_first = true;
        continue;  // skipped; read below once the op is known
      }
      if (f.op == Op::event) {
        if (!read_bus_message(obj, f)) return malformed("an event needs a name");
      } else if (f.op == Op::pong) {
        for (auto inner : obj) {
          od::raw_json_string k;
          if (inner.key().get(k)) return malformed("bad key");
          if (k == "payload" && inner.value().get_string().get(f.text)) return malformed("pong payload");
        }
      }
    }
  }
  if (!have_op) return malformed("no op");
  if (data_first && (f.op == Op::event || f.op == Op::pong)) {
    od::document again;
    od::object r;
    od::value data;
    od::object obj;
    if (impl_->parser.iterate(buffer.data(), buffer.size(), buffer.capacity()).get(again) ||
        again.get_object().get(r) || r.find_field_unordered("data").get(data) || data.get_object().get(obj)) {
      return malformed("bad data");
    }
    if (f.op == Op::event) {
      if (!read_bus_message(obj, f)) return malformed("an event needs a name");
    } else {
      od::value payload;
      if (!obj.find_field_unordered("payload").get(payload) && payload.get_string().get(f.text)) f.text = {};
    }
  } else if (f.op == Op::event && f.name.empty()) {
    return malformed("an event needs data");
  }
  return f;
}

}  // namespace wazo::events::detail
