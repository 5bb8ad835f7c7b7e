#include "media/sdp.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace wazo::media::sdp {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    const auto i = s.find(sep);
    if (i == std::string_view::npos) {
      if (!s.empty()) out.push_back(s);
      return out;
    }
    if (i > 0) out.push_back(s.substr(0, i));
    s.remove_prefix(i + 1);
  }
}

std::optional<long long> to_number(std::string_view s) {
  long long v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

constexpr std::string_view kDirections[] = {"sendrecv", "sendonly", "recvonly", "inactive"};

std::optional<Direction> direction_of(std::string_view line) {
  if (!line.starts_with("a=")) return std::nullopt;
  line.remove_prefix(2);
  for (std::size_t i = 0; i < std::size(kDirections); ++i) {
    if (line == kDirections[i]) return static_cast<Direction>(i);
  }
  return std::nullopt;
}

struct Candidate {
  std::string component;
  std::string transport;
  unsigned long long priority = 0;
  std::string address;
  int port = 0;
  std::string type;
};

std::optional<Candidate> parse_candidate(std::string_view line) {
  if (line.starts_with("a=")) line.remove_prefix(2);
  if (!line.starts_with("candidate:")) return std::nullopt;
  const auto f = split(line, ' ');
  if (f.size() < 8) return std::nullopt;
  Candidate c;
  c.component = std::string(f[1]);
  c.transport = std::string(f[2]);
  c.priority = static_cast<unsigned long long>(to_number(f[3]).value_or(0));
  c.address = std::string(f[4]);
  c.port = static_cast<int>(to_number(f[5]).value_or(0));
  if (f[6] == "typ") c.type = std::string(f[7]);
  return c;
}

}  // namespace

Result<Description> parse(std::string_view text) {
  Description d;
  bool first = true;
  for (auto line : split(text, '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (first) {
      if (line != "v=0") return Error(ErrorCategory::parse, "SDP: does not start with v=0");
      first = false;
    }
    if (line.size() < 2 || line[1] != '=') return Error(ErrorCategory::parse, "SDP: malformed line");
    if (line.starts_with("m=")) {
      const auto f = split(line.substr(2), ' ');
      if (f.size() < 4 || !to_number(f[1].substr(0, f[1].find('/')))) {
        return Error(ErrorCategory::parse, "SDP: malformed m= line");
      }
      d.media.emplace_back();
    }
    (d.media.empty() ? d.session : d.media.back()).emplace_back(line);
  }
  if (first) return Error(ErrorCategory::parse, "SDP: empty");
  return d;
}

std::string serialize(const Description& d) {
  std::string out;
  for (const auto& l : d.session) out.append(l).append("\r\n");
  for (const auto& m : d.media) {
    for (const auto& l : m) out.append(l).append("\r\n");
  }
  return out;
}

std::string media_kind(const Section& m) {
  if (m.empty() || !m[0].starts_with("m=")) return {};
  const auto f = split(std::string_view(m[0]).substr(2), ' ');
  return f.empty() ? std::string() : std::string(f[0]);
}

int media_port(const Section& m) {
  if (m.empty() || !m[0].starts_with("m=")) return -1;
  const auto f = split(std::string_view(m[0]).substr(2), ' ');
  if (f.size() < 2) return -1;
  return static_cast<int>(to_number(f[1].substr(0, f[1].find('/'))).value_or(-1));
}

void set_media_port(Section& m, int port) {
  if (m.empty() || !m[0].starts_with("m=")) return;
  auto f = split(std::string_view(m[0]).substr(2), ' ');
  if (f.size() < 2) return;
  std::string line = "m=" + std::string(f[0]) + " " + std::to_string(port);
  for (std::size_t i = 2; i < f.size(); ++i) line.append(" ").append(f[i]);
  m[0] = std::move(line);
}

bool has_send(Direction d) noexcept { return d == Direction::sendrecv || d == Direction::sendonly; }
bool has_recv(Direction d) noexcept { return d == Direction::sendrecv || d == Direction::recvonly; }
Direction make_direction(bool send, bool recv) noexcept {
  if (send) return recv ? Direction::sendrecv : Direction::sendonly;
  return recv ? Direction::recvonly : Direction::inactive;
}
Direction reverse(Direction d) noexcept { return make_direction(has_recv(d), has_send(d)); }
Direction answer_direction(Direction wanted, Direction offered) noexcept {
  return make_direction(has_send(wanted) && has_recv(offered), has_recv(wanted) && has_send(offered));
}

Direction direction(const Section& m) {
  if (media_port(m) == 0) return Direction::inactive;
  for (const auto& l : m) {
    if (auto d = direction_of(l)) return *d;
  }
  return Direction::sendrecv;
}

Direction set_direction(Section& m, Direction d) {
  const std::string line = std::string("a=") + to_string(d);
  for (auto& l : m) {
    if (auto old = direction_of(l)) {
      l = line;
      return *old;
    }
  }
  m.push_back(line);
  return Direction::sendrecv;
}

std::vector<int> formats(const Section& m) {
  std::vector<int> out;
  if (m.empty()) return out;
  const auto f = split(std::string_view(m[0]).substr(2), ' ');
  for (std::size_t i = 3; i < f.size(); ++i) {
    if (auto n = to_number(f[i])) out.push_back(static_cast<int>(*n));
  }
  return out;
}

std::vector<Rtpmap> rtpmaps(const Section& m) {
  std::vector<Rtpmap> out;
  for (int pt : formats(m)) {
    Rtpmap r;
    r.pt = pt;
    const std::string map_prefix = "a=rtpmap:" + std::to_string(pt) + " ";
    const std::string fmtp_prefix = "a=fmtp:" + std::to_string(pt) + " ";
    for (const auto& l : m) {
      if (l.starts_with(map_prefix)) {
        const auto f = split(std::string_view(l).substr(map_prefix.size()), '/');
        if (!f.empty()) r.name = std::string(f[0]);
        if (f.size() > 1) r.clock_rate = static_cast<int>(to_number(f[1]).value_or(0));
        if (f.size() > 2) r.channels = static_cast<int>(to_number(f[2]).value_or(0));
      } else if (l.starts_with(fmtp_prefix)) {
        r.fmtp = l.substr(fmtp_prefix.size());
      }
    }
    // Static payload types need no rtpmap (RFC 3551).
    if (r.name.empty() && pt == 0) r = {.pt = 0, .name = "PCMU", .clock_rate = 8000, .channels = 0, .fmtp = {}};
    if (r.name.empty() && pt == 8) r = {.pt = 8, .name = "PCMA", .clock_rate = 8000, .channels = 0, .fmtp = {}};
    if (!r.name.empty()) out.push_back(std::move(r));
  }
  return out;
}

std::optional<Rtpmap> find_codec(const Section& m, std::string_view name, int clock_rate) {
  for (auto& r : rtpmaps(m)) {
    if (iequals(r.name, name) && (clock_rate == 0 || r.clock_rate == clock_rate)) return r;
  }
  return std::nullopt;
}

void add_codec(Section& m, const Rtpmap& codec) {
  if (m.empty()) return;
  const auto existing = formats(m);
  if (std::find(existing.begin(), existing.end(), codec.pt) != existing.end()) return;
  m[0] += " " + std::to_string(codec.pt);
  std::string map = "a=rtpmap:" + std::to_string(codec.pt) + " " + codec.name + "/" + std::to_string(codec.clock_rate);
  if (codec.channels > 0) map += "/" + std::to_string(codec.channels);
  // After the section's last rtpmap/fmtp, so the payload attributes stay together.
  auto pos = m.end();
  for (auto it = m.begin(); it != m.end(); ++it) {
    if (it->starts_with("a=rtpmap:") || it->starts_with("a=fmtp:") || it->starts_with("a=rtcp-fb:")) pos = it + 1;
  }
  pos = m.insert(pos, map) + 1;
  if (!codec.fmtp.empty()) m.insert(pos, "a=fmtp:" + std::to_string(codec.pt) + " " + codec.fmtp);
}

std::optional<std::string> attribute(const Section& m, std::string_view key) {
  for (const auto& l : m) {
    std::string_view v(l);
    if (!v.starts_with("a=")) continue;
    v.remove_prefix(2);
    if (v == key) return std::string();
    if (v.size() > key.size() && v.starts_with(key) && v[key.size()] == ':') {
      return std::string(v.substr(key.size() + 1));
    }
  }
  return std::nullopt;
}

void remove_attributes(Section& m, std::string_view key, std::string_view value) {
  std::erase_if(m, [&](const std::string& l) {
    std::string_view v(l);
    if (!v.starts_with("a=")) return false;
    v.remove_prefix(2);
    if (v == key) return value.empty();
    if (!(v.size() > key.size() && v.starts_with(key) && v[key.size()] == ':')) return false;
    return value.empty() || v.substr(key.size() + 1) == value;
  });
}

std::string ice_ufrag(const Description& d) {
  if (!d.media.empty()) {
    if (auto u = attribute(d.media.front(), "ice-ufrag")) return *u;
  }
  return attribute(d.session, "ice-ufrag").value_or("");
}

void set_ice_credentials(Description& d, std::string_view ufrag, std::string_view pwd) {
  auto apply = [&](Section& lines) {
    for (auto& l : lines) {
      if (l.starts_with("a=ice-ufrag:")) l = "a=ice-ufrag:" + std::string(ufrag);
      if (l.starts_with("a=ice-pwd:")) l = "a=ice-pwd:" + std::string(pwd);
    }
  };
  apply(d.session);
  for (auto& m : d.media) apply(m);
}

std::vector<std::string> candidates(const Section& m) {
  std::vector<std::string> out;
  for (const auto& l : m) {
    if (l.starts_with("a=candidate:")) out.push_back(l.substr(2));
  }
  return out;
}

int inject_candidates(Description& d, const std::map<unsigned, std::vector<std::string>>& cached) {
  int added = 0;
  for (unsigned i = 0; i < d.media.size(); ++i) {
    auto& m = d.media[i];
    if (media_port(m) == 0 || attribute(m, "bundle-only") || !candidates(m).empty()) continue;
    const auto it = cached.find(i);
    if (it == cached.end()) continue;
    for (const auto& c : it->second) {
      m.push_back("a=" + (c.starts_with("candidate:") ? c : "candidate:" + c));
      ++added;
    }
  }
  return added;
}

void sipify(Description& d) {
  for (auto& m : d.media) {
    if (media_port(m) == 0) continue;
    std::optional<Candidate> best;
    for (const auto& l : m) {
      auto c = parse_candidate(l);
      if (!c || c->component != "1" || !iequals(c->transport, "UDP") || c->address.find(':') != std::string::npos ||
          c->port <= 0) {
        continue;
      }
      if (!best || c->priority > best->priority) best = std::move(c);
    }
    if (!best) continue;  // a bundled section without its own candidates keeps what webrtcbin wrote
    set_media_port(m, best->port);
    bool has_c = false;
    for (auto& l : m) {
      if (l.starts_with("c=")) {
        l = "c=IN IP4 " + best->address;
        has_c = true;
      }
    }
    if (!has_c) m.insert(m.begin() + 1, "c=IN IP4 " + best->address);
  }
  remove_attributes(d.session, "ice-options", "trickle");
  for (auto& m : d.media) remove_attributes(m, "ice-options", "trickle");
}

std::string candidate_type(std::string_view candidate) {
  auto c = parse_candidate(candidate);
  return c ? c->type : std::string();
}

}  // namespace wazo::media::sdp
