// The namespace the media tests run in: only loopback is up, and loopback works.
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>

#include "netns.hpp"

TEST(MediaTestNamespace, OnlyLoopbackIsUp) {
  const auto names = wazo::test::interfaces_up();
  ASSERT_EQ(names, std::vector<std::string>{"lo"});
}

TEST(MediaTestNamespace, LoopbackCarriesUdpAndNothingElseIsReachable) {
  namespace ip = boost::asio::ip;
  boost::asio::io_context io;
  ip::udp::socket a(io, ip::udp::endpoint(ip::address_v4::loopback(), 0));
  ip::udp::socket b(io, ip::udp::endpoint(ip::address_v4::loopback(), 0));
  const std::string payload = "ping";
  a.send_to(boost::asio::buffer(payload), b.local_endpoint());
  char buf[16] = {};
  ip::udp::endpoint from;
  const auto n = b.receive_from(boost::asio::buffer(buf), from);
  EXPECT_EQ(std::string(buf, n), payload);

  // A public address has no route here.
  ip::udp::socket c(io, ip::udp::v4());
  boost::system::error_code ec;
  c.connect(ip::udp::endpoint(ip::make_address("192.0.2.1"), 9), ec);
  EXPECT_TRUE(ec) << "a route to 192.0.2.1 exists inside the test namespace";
}
