// libFuzzer target for the SIP message layer (scripts/fuzz.sh builds and runs it). Every input goes through every
// parser; whatever parses must serialise to something that parses again, to the same wire form (a fixed point).
// A failed invariant aborts, which libFuzzer reports as a crash with the input saved.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sip/detail/digest.hpp"
#include "wazo/sip/message.hpp"

namespace {

[[noreturn]] void fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "invariant broken: %s\n%.*s\n", what, static_cast<int>(detail.size()), detail.data());
  std::abort();
}

void exercise_views(const wazo::sip::Message& m) {
  (void)m.vias();
  (void)m.from();
  (void)m.to();
  (void)m.cseq();
  (void)m.contacts();
  (void)m.routes();
  (void)m.record_routes();
  (void)m.expires();
  (void)m.max_forwards();
  (void)m.content_type();
  (void)m.call_id();
  (void)m.header_lists("Supported", "outbound");
  (void)m.header_values("Allow");
  (void)m.summary();
  (void)wazo::sip::detail::select_digest_challenge(m.header_values("WWW-Authenticate"));
}

template <class T>
void round_trip(std::string_view input, const char* what) {
  auto first = T::parse(input);
  if (!first) return;
  const std::string wire = first->str();
  auto second = T::parse(wire);
  if (!second) fail(what, wire + "\n-> " + second.error().message);
  if (second->str() != wire) fail(what, wire + "\n-> " + second->str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  if (auto m = wazo::sip::Message::parse(input)) {
    exercise_views(*m);
    const std::string wire = m->serialize();
    // Serialising may lengthen a message (long header names for compact ones, a Content-Length line): re-parse
    // with room for that (at most ~20 bytes per field); every other limit applies unchanged.
    auto again =
        wazo::sip::Message::parse(wire, wazo::sip::Limits{.max_message_bytes = std::max<std::size_t>(
                                                              wazo::sip::Limits{}.max_message_bytes, size + 4096)});
    if (!again) fail("message re-parse", wire + "\n-> " + again.error().message);
    if (again->serialize() != wire) fail("message fixed point", wire);
    if (again->body() != m->body()) fail("message body", wire);
    exercise_views(*again);
  }

  round_trip<wazo::sip::Uri>(input, "uri");
  round_trip<wazo::sip::NameAddr>(input, "name-addr");
  round_trip<wazo::sip::Via>(input, "via");
  if (auto c = wazo::sip::CSeq::parse(input)) {
    if (!wazo::sip::CSeq::parse(c->str())) fail("cseq", c->str());
  }
  (void)wazo::sip::parse_sipfrag_status(input);

  namespace d = wazo::sip::detail;
  if (auto c = d::parse_digest_challenge(input)) {
    const std::string wire = d::format_digest_challenge(*c);
    auto again = d::parse_digest_challenge(wire);
    if (!again) fail("digest challenge", wire + "\n-> " + again.error().message);
    if (again->nonce != c->nonce || again->realm != c->realm) fail("digest challenge fields", wire);
    d::DigestClient client;
    if (auto value = client.authorize(*c, "user", "password", "REGISTER", "sip:example.com")) {
      if (!d::parse_digest_credentials(*value)) fail("digest authorization", *value);
    }
  }
  if (auto c = d::parse_digest_credentials(input)) {
    const std::string wire = d::format_digest_credentials(*c);
    auto again = d::parse_digest_credentials(wire);
    if (!again) fail("digest credentials", wire + "\n-> " + again.error().message);
    (void)d::digest_matches(*again, "password", "REGISTER");
  }
  return 0;
}
