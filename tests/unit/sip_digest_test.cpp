// Digest authentication: RFC 2617 and RFC 7616 example vectors (HTTP examples; the arithmetic is the same for
// SIP), challenge/credential parsing, the client's nonce count and the server's stateless nonces.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "sip/detail/digest.hpp"
#include "wazo/sip/message.hpp"

namespace {

using wazo::sip::detail::DigestAlgorithm;
using wazo::sip::detail::DigestChallenge;
using wazo::sip::detail::DigestClient;
using wazo::sip::detail::DigestCredentials;
using wazo::sip::detail::DigestServer;
namespace d = wazo::sip::detail;

constexpr const char* kRfc7616Nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
constexpr const char* kRfc7616Cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
constexpr const char* kRfc7616Opaque = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";

TEST(SipDigest, Rfc2617Example) {
  EXPECT_EQ(d::digest_response(DigestAlgorithm::md5, "Mufasa", "testrealm@host.com", "Circle Of Life", "GET",
                               "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "auth"),
            "6629fae49393a05397450978507c4ef1");
}

TEST(SipDigest, Rfc7616Md5Example) {
  EXPECT_EQ(d::digest_response(DigestAlgorithm::md5, "Mufasa", "http-auth@example.org", "Circle of Life", "GET",
                               "/dir/index.html", kRfc7616Nonce, "00000001", kRfc7616Cnonce, "auth"),
            "8ca523f5e9506fed4657c9700eebdbec");
}

TEST(SipDigest, Rfc7616Sha256ExampleThroughTheClient) {
  const std::string header = std::string(R"(Digest realm="http-auth@example.org", qop="auth, auth-int", )") +
                             "algorithm=SHA-256, nonce=\"" + kRfc7616Nonce + "\", opaque=\"" + kRfc7616Opaque + "\"";
  auto challenge = d::parse_digest_challenge(header);
  ASSERT_TRUE(challenge) << challenge.error().message;
  EXPECT_EQ(challenge->realm, "http-auth@example.org");
  EXPECT_EQ(challenge->algorithm, DigestAlgorithm::sha256);
  ASSERT_EQ(challenge->qop.size(), 2U);
  EXPECT_EQ(challenge->qop[1], "auth-int");
  EXPECT_TRUE(challenge->offers_qop_auth());
  EXPECT_EQ(challenge->opaque.value_or(""), kRfc7616Opaque);

  DigestClient client;
  auto value = client.authorize(*challenge, "Mufasa", "Circle of Life", "GET", "/dir/index.html", kRfc7616Cnonce);
  ASSERT_TRUE(value) << value.error().message;
  auto creds = d::parse_digest_credentials(*value);
  ASSERT_TRUE(creds) << creds.error().message;
  EXPECT_EQ(creds->response, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
  EXPECT_EQ(creds->nc, "00000001");
  EXPECT_EQ(creds->qop, "auth");
  EXPECT_EQ(creds->cnonce, kRfc7616Cnonce);
  EXPECT_EQ(creds->opaque.value_or(""), kRfc7616Opaque);
  EXPECT_EQ(creds->algorithm, DigestAlgorithm::sha256);
  EXPECT_TRUE(d::digest_matches(*creds, "Circle of Life", "GET"));
  EXPECT_FALSE(d::digest_matches(*creds, "Circle of life", "GET"));
  EXPECT_FALSE(d::digest_matches(*creds, "Circle of Life", "POST"));
}

TEST(SipDigest, HashesAreLowerCaseHex) {
  EXPECT_EQ(d::digest_hash(DigestAlgorithm::md5, ""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(d::digest_hash(DigestAlgorithm::sha256, "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(SipDigest, AlgorithmNamesAreCaseInsensitive) {
  EXPECT_EQ(d::parse_digest_algorithm("md5"), DigestAlgorithm::md5);
  EXPECT_EQ(d::parse_digest_algorithm("sha-256"), DigestAlgorithm::sha256);
  EXPECT_EQ(d::parse_digest_algorithm("SHA-256-SESS"), DigestAlgorithm::sha256_sess);
  EXPECT_EQ(d::parse_digest_algorithm("md5-Sess"), DigestAlgorithm::md5_sess);
  EXPECT_FALSE(d::parse_digest_algorithm("SHA-512-256"));
  EXPECT_EQ(d::to_string(DigestAlgorithm::sha256_sess), "SHA-256-sess");
}

TEST(SipDigest, ParsesTheSharedChallengeAndCredentials) {
  auto c = d::parse_digest_challenge(
      R"(Digest realm="wazo.example.test",nonce="1732520000/8e5f5b0f9d2a6c3e7b1a4d9f0c2e8b6a",opaque="4e7a2c9b1d3f5a80",algorithm=md5,qop="auth")");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->nonce, "1732520000/8e5f5b0f9d2a6c3e7b1a4d9f0c2e8b6a");
  EXPECT_EQ(c->algorithm, DigestAlgorithm::md5);
  EXPECT_FALSE(c->stale);

  auto creds = d::parse_digest_credentials(
      R"(Digest algorithm=MD5, username="k3h2j4l5", realm="wazo.example.test", nonce="1732520000/8e5f5b0f9d2a6c3e7b1a4d9f0c2e8b6a", uri="sip:wazo.example.test", response="0b7c1a9d3e5f2c8a6d4b1e0f9a7c3d25", opaque="4e7a2c9b1d3f5a80", qop=auth, cnonce="h6s2k9l0p3qa", nc=00000001)");
  ASSERT_TRUE(creds) << creds.error().message;
  EXPECT_EQ(creds->username, "k3h2j4l5");
  EXPECT_EQ(creds->uri, "sip:wazo.example.test");
  EXPECT_EQ(creds->cnonce, "h6s2k9l0p3qa");
  EXPECT_EQ(creds->nc, "00000001");
}

TEST(SipDigest, ChallengeEdgeCases) {
  auto stale = d::parse_digest_challenge("digest  realm=\"r\" ,  nonce=\"n\", stale=TRUE, qop=\"auth\"");
  ASSERT_TRUE(stale) << stale.error().message;
  EXPECT_TRUE(stale->stale);
  auto escaped = d::parse_digest_challenge(R"(Digest realm="a \"quoted\" realm", nonce="x")");
  ASSERT_TRUE(escaped);
  EXPECT_EQ(escaped->realm, "a \"quoted\" realm");
  EXPECT_TRUE(escaped->qop.empty());

  EXPECT_FALSE(d::parse_digest_challenge("Basic realm=\"r\""));
  EXPECT_FALSE(d::parse_digest_challenge("Digest nonce=\"n\""));                        // no realm
  EXPECT_FALSE(d::parse_digest_challenge("Digest realm=\"r\""));                        // no nonce
  EXPECT_FALSE(d::parse_digest_challenge("Digest realm=\"r, nonce=\"n\""));             // unterminated
  EXPECT_FALSE(d::parse_digest_challenge("Digest realm=\"r\", realm=\"s\", nonce=x"));  // duplicate
  EXPECT_FALSE(d::parse_digest_challenge("Digest realm=\"r\", nonce=x, algorithm=SHA-512-256"));
  EXPECT_FALSE(d::parse_digest_challenge("Digest realm=\"r\" nonce=x"));  // missing comma
  EXPECT_FALSE(d::parse_digest_challenge(""));
  EXPECT_FALSE(d::parse_digest_challenge(std::string(9000, 'a')));
}

TEST(SipDigest, SelectsTheStrongestUsableChallenge) {
  const auto picked = d::select_digest_challenge({
      "Digest realm=\"r\", nonce=\"a\", algorithm=SHA-512-256, qop=\"auth\"",
      "Digest realm=\"r\", nonce=\"b\", algorithm=MD5, qop=\"auth\"",
      "Digest realm=\"r\", nonce=\"c\", algorithm=SHA-256, qop=\"auth-int\"",
      "Digest realm=\"r\", nonce=\"d\", algorithm=SHA-256, qop=\"auth\"",
  });
  ASSERT_TRUE(picked);
  EXPECT_EQ(picked->nonce, "d");
  const auto md5 = d::select_digest_challenge({"Digest realm=\"r\", nonce=\"b\""});
  ASSERT_TRUE(md5);
  EXPECT_EQ(md5->algorithm, DigestAlgorithm::md5);
  EXPECT_FALSE(d::select_digest_challenge({"Basic realm=\"x\""}));
}

TEST(SipDigest, ClientCountsNoncesPerNonce) {
  DigestChallenge c;
  c.realm = "wazo";
  c.nonce = "n1";
  c.qop = {"auth"};
  DigestClient client;
  auto first = d::parse_digest_credentials(*client.authorize(c, "u", "p", "REGISTER", "sip:wazo"));
  auto second = d::parse_digest_credentials(*client.authorize(c, "u", "p", "REGISTER", "sip:wazo"));
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->nc, "00000001");
  EXPECT_EQ(second->nc, "00000002");
  EXPECT_NE(first->cnonce, second->cnonce);  // random each time
  EXPECT_EQ(first->cnonce.size(), 32U);
  c.nonce = "n2";
  auto third = d::parse_digest_credentials(*client.authorize(c, "u", "p", "REGISTER", "sip:wazo"));
  ASSERT_TRUE(third);
  EXPECT_EQ(third->nc, "00000001");
  EXPECT_EQ(client.nonce_count(), 1U);
  EXPECT_TRUE(d::digest_matches(*third, "p", "REGISTER"));
}

TEST(SipDigest, ClientWithoutQopUsesRfc2069Form) {
  DigestChallenge c;
  c.realm = "r";
  c.nonce = "n";
  DigestClient client;
  auto value = client.authorize(c, "u", "secret", "INVITE", "sip:1002@r");
  ASSERT_TRUE(value);
  EXPECT_EQ(value->find("qop"), std::string::npos);
  EXPECT_EQ(value->find("cnonce"), std::string::npos);
  auto creds = d::parse_digest_credentials(*value);
  ASSERT_TRUE(creds);
  // RFC 2069: H(HA1:nonce:HA2)
  const std::string ha1 = d::digest_hash(DigestAlgorithm::md5, "u:r:secret");
  const std::string ha2 = d::digest_hash(DigestAlgorithm::md5, "INVITE:sip:1002@r");
  EXPECT_EQ(creds->response, d::digest_hash(DigestAlgorithm::md5, ha1 + ":n:" + ha2));
}

TEST(SipDigest, ClientRefusesAuthIntOnly) {
  DigestChallenge c;
  c.realm = "r";
  c.nonce = "n";
  c.qop = {"auth-int"};
  DigestClient client;
  auto value = client.authorize(c, "u", "p", "INVITE", "sip:x@r");
  ASSERT_FALSE(value);
  EXPECT_EQ(value.error().category, wazo::ErrorCategory::sip);
}

TEST(SipDigest, SessVariantsRoundTrip) {
  for (auto alg : {DigestAlgorithm::md5_sess, DigestAlgorithm::sha256_sess}) {
    DigestChallenge c;
    c.realm = "r";
    c.nonce = "nonce";
    c.qop = {"auth"};
    c.algorithm = alg;
    DigestClient client;
    auto creds = d::parse_digest_credentials(*client.authorize(c, "u", "p", "BYE", "sip:b@r"));
    ASSERT_TRUE(creds);
    EXPECT_EQ(creds->algorithm, alg);
    const std::string ha1 =
        d::digest_hash(alg, d::digest_hash(alg, "u:r:p") + ":nonce:" + creds->cnonce);  // RFC 7616 §3.4.2
    EXPECT_EQ(creds->response,
              d::digest_response_from_ha1(alg, ha1, "BYE", "sip:b@r", "nonce", creds->nc, creds->cnonce, "auth"));
    EXPECT_TRUE(d::digest_matches(*creds, "p", "BYE"));
  }
}

TEST(SipDigest, CredentialsNeedTheirFields) {
  EXPECT_FALSE(d::parse_digest_credentials(R"(Digest realm="r", nonce="n", uri="u", response="x")"));
  EXPECT_FALSE(d::parse_digest_credentials(R"(Digest username="a", realm="r", nonce="n", uri="u")"));
  EXPECT_FALSE(
      d::parse_digest_credentials(R"(Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth)"));
  EXPECT_FALSE(d::parse_digest_credentials(
      R"(Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth, cnonce="c", nc=1)"));
  EXPECT_TRUE(d::parse_digest_credentials(
      R"(Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth, cnonce="c", nc=0000000a)"));
}

TEST(SipDigest, ServerRoundTrip) {
  DigestServer server({.realm = "wazo.example.test", .secret = "k", .nonce_lifetime = std::chrono::seconds(60)});
  const auto now = DigestServer::Clock::now();
  auto challenge = d::parse_digest_challenge(server.challenge(false, now));
  ASSERT_TRUE(challenge);
  EXPECT_EQ(challenge->realm, "wazo.example.test");
  EXPECT_TRUE(challenge->offers_qop_auth());
  EXPECT_TRUE(challenge->opaque.has_value());
  EXPECT_EQ(server.check_nonce(challenge->nonce, now), DigestServer::Verdict::ok);

  DigestClient client;
  auto good = d::parse_digest_credentials(*client.authorize(*challenge, "alice", "pw", "REGISTER", "sip:wazo"));
  ASSERT_TRUE(good);
  EXPECT_EQ(server.verify(*good, "pw", "REGISTER", now), DigestServer::Verdict::ok);
  EXPECT_EQ(server.verify(*good, "wrong", "REGISTER", now), DigestServer::Verdict::wrong_response);
  EXPECT_EQ(server.verify(*good, "pw", "INVITE", now), DigestServer::Verdict::wrong_response);
  EXPECT_EQ(server.verify(*good, "pw", "REGISTER", now + std::chrono::seconds(61)), DigestServer::Verdict::stale_nonce);
  EXPECT_EQ(server.verify(*good, "wrong", "REGISTER", now + std::chrono::seconds(61)),
            DigestServer::Verdict::wrong_response);

  // A nonce signed with another secret, or tampered with, is not ours.
  DigestServer other({.realm = "wazo.example.test", .secret = "other"});
  EXPECT_EQ(other.verify(*good, "pw", "REGISTER", now), DigestServer::Verdict::invalid_nonce);
  std::string tampered = challenge->nonce;
  tampered[3] = tampered[3] == '0' ? '1' : '0';
  EXPECT_EQ(server.check_nonce(tampered, now), DigestServer::Verdict::invalid_nonce);
  EXPECT_EQ(server.check_nonce("garbage", now), DigestServer::Verdict::invalid_nonce);

  DigestCredentials wrong_realm = *good;
  wrong_realm.realm = "elsewhere";
  EXPECT_EQ(server.verify(wrong_realm, "pw", "REGISTER", now), DigestServer::Verdict::wrong_realm);
  EXPECT_EQ(d::to_string(DigestServer::Verdict::stale_nonce), "stale-nonce");
}

TEST(SipDigest, ServerSha256AndStaleFlag) {
  DigestServer server({.realm = "r", .algorithm = DigestAlgorithm::sha256});
  auto challenge = d::parse_digest_challenge(server.challenge(true));
  ASSERT_TRUE(challenge);
  EXPECT_TRUE(challenge->stale);
  EXPECT_EQ(challenge->algorithm, DigestAlgorithm::sha256);
  DigestClient client;
  auto creds = d::parse_digest_credentials(*client.authorize(*challenge, "bob", "pw", "INVITE", "sip:x@r"));
  ASSERT_TRUE(creds);
  EXPECT_EQ(server.verify(*creds, "pw", "INVITE"), DigestServer::Verdict::ok);
  creds->algorithm = DigestAlgorithm::md5;
  EXPECT_EQ(server.verify(*creds, "pw", "INVITE"), DigestServer::Verdict::unsupported);
}

TEST(SipDigest, AnswersTheChallengeOfTheShared401) {
  // The whole path a UA takes: parse the 401, pick the challenge, authorize, and the result parses back.
  auto m = wazo::sip::Message::parse(
      "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/WSS h.invalid;branch=z9hG4bK1\r\nFrom: <sip:a@r>;tag=1\r\n"
      "To: <sip:a@r>;tag=2\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n"
      "WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", algorithm=MD5, qop=\"auth\"\r\n"
      "WWW-Authenticate: Digest realm=\"r\", nonce=\"s\", algorithm=SHA-256, qop=\"auth\"\r\nContent-Length: "
      "0\r\n\r\n");
  ASSERT_TRUE(m) << m.error().message;
  auto c = d::select_digest_challenge(m->header_values("WWW-Authenticate"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->nonce, "s");
}

}  // namespace
