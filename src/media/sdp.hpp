// SDP text rewriting for webrtcbin 1.22 and SIP peers (webrtcbin-lab.md pitfalls 1, 3 and 4). Pure functions on
// the SDP text, no GStreamer: webrtcbin only ever sees `a=sendrecv`, and what we send to the peer gets our real
// direction, its candidates back (re-offers), the default candidate in m=/c= and no trickle option.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wazo/core/result.hpp"
#include "wazo/media/media.hpp"

namespace wazo::media::sdp {

// A session description split into its session-level lines and one line list per m= section (lines without
// their CRLF; the m= line is the first line of its section).
struct Description {
  std::vector<std::string> session;
  std::vector<std::vector<std::string>> media;
};
using Section = std::vector<std::string>;

// Fails with ErrorCategory::parse when the text does not start with v=0 or an m= line is malformed.
[[nodiscard]] Result<Description> parse(std::string_view text);
[[nodiscard]] std::string serialize(const Description& d);  // CRLF line ends

[[nodiscard]] std::string media_kind(const Section& m);  // "audio", "video", ...
[[nodiscard]] int media_port(const Section& m);          // -1 when the m= line is malformed
void set_media_port(Section& m, int port);

[[nodiscard]] bool has_send(Direction d) noexcept;
[[nodiscard]] bool has_recv(Direction d) noexcept;
[[nodiscard]] Direction make_direction(bool send, bool recv) noexcept;
[[nodiscard]] Direction reverse(Direction d) noexcept;  // the peer's sendonly is our recvonly
// Our answer's direction to an offer that said `offered` (RFC 3264 §6.1), given what we want.
[[nodiscard]] Direction answer_direction(Direction wanted, Direction offered) noexcept;
// The direction attribute of a section; sendrecv when none (RFC 3264 default). A port-0 section is inactive.
[[nodiscard]] Direction direction(const Section& m);
// Replaces the section's direction attribute (or adds one) and returns the previous one.
Direction set_direction(Section& m, Direction d);

struct Rtpmap {
  int pt = -1;
  std::string name;  // as written ("opus", "VP8", "telephone-event")
  int clock_rate = 0;
  int channels = 0;  // 0 when not written
  std::string fmtp;
};
[[nodiscard]] std::vector<Rtpmap> rtpmaps(const Section& m);
// The first payload type of `name` (case-insensitive) in m= order, optionally at a clock rate.
[[nodiscard]] std::optional<Rtpmap> find_codec(const Section& m, std::string_view name, int clock_rate = 0);
// Adds a payload type at the end of the m= format list with its rtpmap (and fmtp when not empty).
void add_codec(Section& m, const Rtpmap& codec);
// Payload types listed on the m= line.
[[nodiscard]] std::vector<int> formats(const Section& m);

// The value of the first `a=<key>:value` (or "" for a flag attribute), if present.
[[nodiscard]] std::optional<std::string> attribute(const Section& m, std::string_view key);
void remove_attributes(Section& m, std::string_view key, std::string_view value = {});

// The ICE username fragment: the first section's a=ice-ufrag, else the session's; "" when there is none.
[[nodiscard]] std::string ice_ufrag(const Description& d);
// Every a=ice-ufrag and a=ice-pwd (session level and sections) gets these values: how an ICE restart is written
// (RFC 8839 §4.4.1.1.1). Nothing is added where there was none.
void set_ice_credentials(Description& d, std::string_view ufrag, std::string_view pwd);

// Candidate lines ("candidate:..." without "a=") of a section.
[[nodiscard]] std::vector<std::string> candidates(const Section& m);
// Puts `cached[mline]` into every active section that has no candidate (webrtcbin writes none into re-offers).
// Returns how many lines were added.
int inject_candidates(Description& d, const std::map<unsigned, std::vector<std::string>>& cached);
// For SIP peers: the default candidate (highest-priority UDP IPv4 component-1 candidate) into m= and c=, and
// no `a=ice-options:trickle` (RFC 8839 §4.2.1.1: full SDP, no trickle).
void sipify(Description& d);

// The type ("host", "srflx", "relay", "prflx") of a candidate line, "" when unreadable.
[[nodiscard]] std::string candidate_type(std::string_view candidate);

}  // namespace wazo::media::sdp
