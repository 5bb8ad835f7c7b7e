// The media layer's SDP rewriting (webrtcbin-lab.md pitfalls 1, 3, 4): directions, candidates, default address.
#include <gtest/gtest.h>

#include "media/sdp.hpp"

namespace {

namespace sdp = wazo::media::sdp;
using wazo::media::Direction;

// What webrtcbin 1.22 writes for a re-offer: trickle placeholders and no candidates.
const char* kWebrtcbinOffer =
    "v=0\r\n"
    "o=- 123 0 IN IP4 0.0.0.0\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=ice-options:trickle\r\n"
    "a=group:BUNDLE audio0 video1\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=setup:actpass\r\n"
    "a=ice-ufrag:abc\r\n"
    "a=ice-pwd:def\r\n"
    "a=rtcp-mux\r\n"
    "a=sendrecv\r\n"
    "a=rtpmap:111 OPUS/48000/2\r\n"
    "a=rtcp-fb:111 transport-cc\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=mid:audio0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=sendrecv\r\n"
    "a=rtpmap:96 VP8/90000\r\n"
    "a=mid:video1\r\n";

TEST(MediaSdp, ParsesAndSerialisesLosslessly) {
  auto d = sdp::parse(kWebrtcbinOffer);
  ASSERT_TRUE(d.ok()) << d.error();
  EXPECT_EQ(d->session.size(), 6u);
  ASSERT_EQ(d->media.size(), 2u);
  EXPECT_EQ(sdp::media_kind(d->media[0]), "audio");
  EXPECT_EQ(sdp::media_kind(d->media[1]), "video");
  EXPECT_EQ(sdp::media_port(d->media[0]), 9);
  EXPECT_EQ(sdp::serialize(*d), kWebrtcbinOffer);
}

// An ICE restart rewrites the credentials where they are (here the audio section only) and adds none.
TEST(MediaSdp, IceCredentialsAreReadAndReplaced) {
  auto d = sdp::parse(kWebrtcbinOffer);
  ASSERT_TRUE(d.ok()) << d.error();
  EXPECT_EQ(sdp::ice_ufrag(*d), "abc");
  sdp::set_ice_credentials(*d, "NewUfrag", "NewPasswordOf22CharsAtLeast");
  EXPECT_EQ(sdp::ice_ufrag(*d), "NewUfrag");
  EXPECT_EQ(sdp::attribute(d->media[0], "ice-pwd"), "NewPasswordOf22CharsAtLeast");
  const std::string text = sdp::serialize(*d);
  EXPECT_EQ(text.find("a=ice-ufrag:abc"), std::string::npos);
  EXPECT_EQ(text.find("a=ice-pwd:def"), std::string::npos);
  EXPECT_EQ(text.size(), std::string(kWebrtcbinOffer).size() - 3 - 3 + 8 + 27);

  auto session_level = sdp::parse(
      "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-ufrag:top\r\n"
      "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n");
  ASSERT_TRUE(session_level.ok()) << session_level.error();
  EXPECT_EQ(sdp::ice_ufrag(*session_level), "top");
  auto none = sdp::parse("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n");
  ASSERT_TRUE(none.ok()) << none.error();
  EXPECT_EQ(sdp::ice_ufrag(*none), "");
  sdp::set_ice_credentials(*none, "x", "y");
  EXPECT_EQ(sdp::serialize(*none).find("ice-"), std::string::npos);
}

TEST(MediaSdp, RejectsWhatIsNotSdp) {
  EXPECT_EQ(sdp::parse("").error().category, wazo::ErrorCategory::parse);
  EXPECT_EQ(sdp::parse("hello\r\n").error().category, wazo::ErrorCategory::parse);
  EXPECT_EQ(sdp::parse("v=0\r\nm=audio\r\n").error().category, wazo::ErrorCategory::parse);
  EXPECT_EQ(sdp::parse("v=0\r\nm=audio x RTP/AVP 0\r\n").error().category, wazo::ErrorCategory::parse);
  EXPECT_EQ(sdp::parse("v=0\r\nnonsense\r\n").error().category, wazo::ErrorCategory::parse);
}

TEST(MediaSdp, DirectionsAreReadReplacedAndIntersected) {
  auto d = sdp::parse(kWebrtcbinOffer);
  ASSERT_TRUE(d.ok());
  auto& audio = d->media[0];
  EXPECT_EQ(sdp::direction(audio), Direction::sendrecv);
  EXPECT_EQ(sdp::set_direction(audio, Direction::sendonly), Direction::sendrecv);
  EXPECT_EQ(sdp::direction(audio), Direction::sendonly);
  EXPECT_EQ(std::count(audio.begin(), audio.end(), std::string("a=sendonly")), 1);
  EXPECT_EQ(std::count(audio.begin(), audio.end(), std::string("a=sendrecv")), 0);

  sdp::Section no_attr = {"m=audio 4000 RTP/AVP 0"};
  EXPECT_EQ(sdp::direction(no_attr), Direction::sendrecv);  // RFC 3264 default
  sdp::set_direction(no_attr, Direction::inactive);
  EXPECT_EQ(no_attr.back(), "a=inactive");
  sdp::Section rejected = {"m=video 0 RTP/AVP 96", "a=sendrecv"};
  EXPECT_EQ(sdp::direction(rejected), Direction::inactive);

  // The peer holds us (sendonly): we answer recvonly even if we want sendrecv.
  EXPECT_EQ(sdp::answer_direction(Direction::sendrecv, Direction::sendonly), Direction::recvonly);
  EXPECT_EQ(sdp::answer_direction(Direction::sendrecv, Direction::recvonly), Direction::sendonly);
  EXPECT_EQ(sdp::answer_direction(Direction::sendonly, Direction::sendonly), Direction::inactive);
  EXPECT_EQ(sdp::answer_direction(Direction::sendonly, Direction::sendrecv), Direction::sendonly);
  EXPECT_EQ(sdp::answer_direction(Direction::sendrecv, Direction::inactive), Direction::inactive);
  EXPECT_EQ(sdp::reverse(Direction::sendonly), Direction::recvonly);
  EXPECT_EQ(sdp::reverse(Direction::sendrecv), Direction::sendrecv);
}

TEST(MediaSdp, CodecsAreFoundAndAdded) {
  auto d = sdp::parse(kWebrtcbinOffer);
  ASSERT_TRUE(d.ok());
  auto& audio = d->media[0];
  auto opus = sdp::find_codec(audio, "opus", 48000);
  ASSERT_TRUE(opus.has_value());
  EXPECT_EQ(opus->pt, 111);
  EXPECT_EQ(opus->channels, 2);
  EXPECT_EQ(opus->fmtp, "minptime=10;useinbandfec=1");
  EXPECT_FALSE(sdp::find_codec(audio, "opus", 8000).has_value());
  sdp::add_codec(audio, {.pt = 101, .name = "telephone-event", .clock_rate = 8000, .channels = 0, .fmtp = "0-16"});
  EXPECT_EQ(audio[0], "m=audio 9 UDP/TLS/RTP/SAVPF 111 101");
  auto te = sdp::find_codec(audio, "TELEPHONE-EVENT");
  ASSERT_TRUE(te.has_value());
  EXPECT_EQ(te->pt, 101);
  EXPECT_EQ(te->fmtp, "0-16");
  sdp::add_codec(audio, {.pt = 101, .name = "telephone-event", .clock_rate = 8000});  // already there: no-op
  EXPECT_EQ(sdp::formats(audio), (std::vector<int>{111, 101}));
  // Static payload types need no rtpmap.
  sdp::Section pcmu = {"m=audio 4000 RTP/AVP 0 8"};
  EXPECT_EQ(sdp::find_codec(pcmu, "PCMA", 8000)->pt, 8);
}

TEST(MediaSdp, CachedCandidatesGoBackIntoSectionsThatHaveNone) {
  auto d = sdp::parse(kWebrtcbinOffer);
  ASSERT_TRUE(d.ok());
  d->media[1].push_back("a=candidate:9 1 UDP 100 127.0.0.1 5000 typ host");
  const std::map<unsigned, std::vector<std::string>> cached = {
      {0,
       {"candidate:1 1 UDP 2015363327 127.0.0.1 40000 typ host", "candidate:2 1 TCP 1015022079 127.0.0.1 9 typ host"}},
      {1, {"candidate:3 1 UDP 2015363327 127.0.0.1 40002 typ host"}}};
  EXPECT_EQ(sdp::inject_candidates(*d, cached), 2);
  EXPECT_EQ(sdp::candidates(d->media[0]).size(), 2u);
  EXPECT_EQ(sdp::candidates(d->media[1]).size(), 1u) << "a section with candidates keeps its own";
}

TEST(MediaSdp, SipifyPutsTheDefaultCandidateInMAndCAndDropsTrickle) {
  auto d = sdp::parse(kWebrtcbinOffer);
  ASSERT_TRUE(d.ok());
  d->media[0].push_back("a=candidate:1 1 UDP 2015363327 192.0.2.2 57550 typ host");
  d->media[0].push_back("a=candidate:2 1 UDP 2015363583 fe80::1 57551 typ host");    // IPv6: not the default
  d->media[0].push_back("a=candidate:3 1 TCP 2015363999 192.0.2.2 9 typ host");      // TCP: not the default
  d->media[0].push_back("a=candidate:4 2 UDP 2015363900 192.0.2.2 57560 typ host");  // RTCP component
  d->media[0].push_back("a=candidate:5 1 UDP 1677729535 198.51.100.7 61000 typ srflx raddr 192.0.2.2 rport 57550");
  sdp::sipify(*d);
  EXPECT_EQ(sdp::media_port(d->media[0]), 57550);
  EXPECT_NE(std::find(d->media[0].begin(), d->media[0].end(), "c=IN IP4 192.0.2.2"), d->media[0].end());
  EXPECT_EQ(sdp::media_port(d->media[1]), 9) << "no candidate of its own: left as webrtcbin wrote it";
  const auto text = sdp::serialize(*d);
  EXPECT_EQ(text.find("ice-options:trickle"), std::string::npos);
  EXPECT_EQ(sdp::candidate_type("candidate:5 1 UDP 1677729535 198.51.100.7 61000 typ srflx raddr 192.0.2.2 rport 1"),
            "srflx");
  EXPECT_EQ(sdp::candidate_type("a=candidate:1 1 UDP 1 10.0.0.1 1 typ relay"), "relay");
  EXPECT_EQ(sdp::candidate_type("garbage"), "");
}

TEST(MediaSdp, AttributesAreFoundAndRemoved) {
  sdp::Section m = {"m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=setup:active", "a=rtcp-mux", "a=ice-options:trickle",
                    "a=ice-options:renomination"};
  EXPECT_EQ(sdp::attribute(m, "setup").value_or("?"), "active");
  EXPECT_EQ(sdp::attribute(m, "rtcp-mux").value_or("?"), "");
  EXPECT_FALSE(sdp::attribute(m, "rtcp").has_value());
  sdp::remove_attributes(m, "ice-options", "trickle");
  EXPECT_EQ(m.size(), 4u);
  EXPECT_EQ(sdp::attribute(m, "ice-options").value_or(""), "renomination");
  sdp::remove_attributes(m, "setup");
  EXPECT_FALSE(sdp::attribute(m, "setup").has_value());
}

}  // namespace
