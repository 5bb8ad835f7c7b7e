// The HTTP transport's connection handling, checked on what really crosses a loopback socket: keep-alive reuse
// across every method (a pooled handle carries nothing from one request to the next), a connection the server
// closed while it idled, cancellation and timeouts while connections idle in the cache, no descriptor leaks.
// The server is the recording server: the faults here (closing an idle connection, never answering) are what
// no real server does on purpose.
#include <atomic>
#include <filesystem>
#include <functional>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "http/transport.hpp"
#include "recording_server.hpp"

namespace wazo::http {
namespace {

using test::RecordedRequest;
using test::RecordingServer;
using test::Reply;

// Waits for a result, giving up (as a failure, not a time assertion) only if something is badly stuck.
Result<Response> wait(Async<Response> a) {
  auto r = a.get_for(std::chrono::seconds(30));
  if (!r) return Error(ErrorCategory::invalid_argument, "the test gave up waiting");
  return std::move(*r);
}

void wait_for_requests(const RecordingServer& server, std::size_t n) {
  for (int i = 0; i < 3000 && server.count() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

Request make(const RecordingServer& server, std::string method, const std::string& path, std::string body = {},
             std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
  Request r;
  r.method = std::move(method);
  r.url = server.url() + path;
  r.body = std::move(body);
  r.headers = {{"Accept", "application/json"}};
  r.timeout = timeout;
  return r;
}

class HttpTransport : public ::testing::Test {
 protected:
  Runtime rt{RuntimeOptions{.log_sink = [](const LogRecord&) {}, .log_level = LogLevel::off}};
  RecordingServer server;
  Transport transport{rt, {}};

  Result<Response> send(std::string method, const std::string& path, std::string body = {}) {
    return wait(transport.send(make(server, std::move(method), path, std::move(body))));
  }
};

TEST_F(HttpTransport, EveryMethodInTurnOnOneConnectionCarriesNothingOver) {
  server.set_handler([](const RecordedRequest& req) {
    Reply reply{.status = 200, .body = "{\"path\":\"" + req.path + "\"}"};
    if (req.path == "/first") reply.headers = {{"X-First", "1"}};
    return reply;
  });
  struct Step {
    const char* method;
    const char* path;
    const char* body;
  };
  const Step steps[] = {{"GET", "/first", ""},       {"HEAD", "/head", ""},
                        {"GET", "/after-head", ""},  {"POST", "/post", "x=1"},
                        {"GET", "/after-post", ""},  {"PUT", "/put", ""},
                        {"DELETE", "/delete", ""},   {"PATCH", "/patch", "{}"},
                        {"OPTIONS", "/options", ""}, {"DELETE", "/delete-body", "[1]"},
                        {"HEAD", "/head-again", ""}, {"POST", "/post-empty", ""},
                        {"GET", "/last", ""}};
  for (const auto& step : steps) {
    SCOPED_TRACE(std::string(step.method) + " " + step.path);
    auto r = send(step.method, step.path, step.body);
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(r->status, 200);
    if (std::string(step.method) == "HEAD") {
      EXPECT_TRUE(r->body.empty());
    } else {
      EXPECT_EQ(r->body, std::string("{\"path\":\"") + step.path + "\"}");
    }
    EXPECT_EQ(r->header("x-first") != nullptr, std::string(step.path) == "/first");
  }
  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), std::size(steps));
  for (std::size_t i = 0; i < seen.size(); ++i) {
    SCOPED_TRACE(steps[i].path);
    EXPECT_EQ(seen[i].method, steps[i].method);
    EXPECT_EQ(seen[i].path, steps[i].path);
    EXPECT_EQ(seen[i].body, steps[i].body);
    const std::string m = steps[i].method;
    const bool sends_body = m == "POST" || m == "PUT" || m == "PATCH" || *steps[i].body != '\0';
    EXPECT_EQ(seen[i].has_header("content-length"), sends_body);
    EXPECT_FALSE(seen[i].has_header("expect"));
    EXPECT_EQ(seen[i].header("accept"), "application/json");
  }
  EXPECT_EQ(server.connections(), 1U);
}

TEST_F(HttpTransport, RequestsChainedOnTheIoThreadKeepOneConnection) {
  constexpr int kRequests = 100;
  std::promise<int> done;
  std::atomic<int> failures{0};
  std::function<void(int)> next = [&](int left) {
    if (left == 0) {
      done.set_value(failures.load());
      return;
    }
    transport.send(make(server, "GET", "/chained/" + std::to_string(left))).then([&, left](Result<Response> r) {
      if (!r || r->status != 200) ++failures;
      next(left - 1);
    });
  };
  rt.post([&] { next(kRequests); });
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  EXPECT_EQ(f.get(), 0);
  EXPECT_EQ(server.count(), static_cast<std::size_t>(kRequests));
  EXPECT_EQ(server.connections(), 1U);
}

TEST_F(HttpTransport, MockServerClosesIdleConnectionsAndTheNextRequestReconnects) {
  // A keep-alive answer, then the server hangs up: the client's connection idles, then finds it closed.
  server.set_handler(
      [](const RecordedRequest&) { return Reply{.raw = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"}; });
  auto r1 = send("GET", "/one");
  ASSERT_TRUE(r1) << r1.error().describe();
  wait_for_requests(server, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the close reach the idle socket
  auto r2 = send("GET", "/two");
  ASSERT_TRUE(r2) << r2.error().describe();
  EXPECT_EQ(r2->body, "{}");
  auto r3 = send("POST", "/three", "abc");  // at once: the close may not have arrived yet
  ASSERT_TRUE(r3) << r3.error().describe();
  EXPECT_EQ(server.connections(), 3U);
  server.set_handler(nullptr);  // keep-alive again
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(send("GET", "/kept"));
  EXPECT_EQ(server.connections(), 4U);
}

TEST_F(HttpTransport, MockServerHangsCancellingLeavesTheIdleConnectionUsable) {
  // Two connections: one idles in the cache while a request on the other hangs and is cancelled.
  server.set_handler([](const RecordedRequest& req) {
    if (req.path == "/hang") return Reply{.hang = true};
    return Reply{.body = "{}", .delay_ms = req.path == "/slow" ? 100 : 0};
  });
  auto slow = transport.send(make(server, "GET", "/slow"));
  auto hanging = transport.send(make(server, "GET", "/hang"));
  ASSERT_TRUE(wait(std::move(slow)));  // its connection is now idle
  wait_for_requests(server, 2);
  hanging.cancel();
  auto r = wait(std::move(hanging));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().category, ErrorCategory::cancelled);
  for (int i = 0; i < 3; ++i) {
    auto ok = send("GET", "/after");
    ASSERT_TRUE(ok) << ok.error().describe();
  }
  EXPECT_EQ(server.connections(), 2U);  // the cancelled one is gone, the idle one served the rest
}

TEST_F(HttpTransport, MockServerHangsTimeoutsFireWhateverTheOrderOfDeadlines) {
  server.set_handler([](const RecordedRequest& req) {
    if (req.path.starts_with("/hang")) return Reply{.hang = true};
    return Reply{};
  });
  // A later deadline first, then an earlier one: the earlier one must not wait for the later.
  auto long_wait = transport.send(make(server, "GET", "/hang-long", {}, std::chrono::milliseconds(60'000)));
  auto short_wait = transport.send(make(server, "GET", "/hang-short", {}, std::chrono::milliseconds(200)));
  auto r = wait(std::move(short_wait));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().category, ErrorCategory::timeout);
  long_wait.cancel();
  EXPECT_EQ(wait(std::move(long_wait)).error().category, ErrorCategory::cancelled);
  // An early deadline that completes, then a later one that must still fire.
  ASSERT_TRUE(wait(transport.send(make(server, "GET", "/quick", {}, std::chrono::milliseconds(100)))));
  auto later = wait(transport.send(make(server, "GET", "/hang-later", {}, std::chrono::milliseconds(400))));
  ASSERT_FALSE(later);
  EXPECT_EQ(later.error().category, ErrorCategory::timeout);
  // The handle that timed out is reused: nothing of its failure carries over.
  ASSERT_TRUE(send("GET", "/fine"));
}

TEST_F(HttpTransport, MockOversizeBodyFailsAndThePooledHandleRecovers) {
  Transport small(rt, ConnectionOptions{.max_response_bytes = 1024});
  server.set_handler([](const RecordedRequest& req) {
    return Reply{.body = req.path == "/big" ? std::string(64 * 1024, 'x') : std::string("{}")};
  });
  for (int i = 0; i < 3; ++i) {
    auto big = wait(small.send(make(server, "GET", "/big")));
    ASSERT_FALSE(big);
    EXPECT_EQ(big.error().category, ErrorCategory::parse);
    auto fine = wait(small.send(make(server, "GET", "/small")));
    ASSERT_TRUE(fine) << fine.error().describe();
    EXPECT_EQ(fine->body, "{}");
  }
}

TEST_F(HttpTransport, ManyConcurrentRequestsAllComplete) {
  server.set_handler([](const RecordedRequest&) { return Reply{.body = "{}", .delay_ms = 20}; });
  std::vector<Async<Response>> inflight;
  for (int i = 0; i < 40; ++i) inflight.push_back(transport.send(make(server, "GET", "/c/" + std::to_string(i))));
  for (auto& a : inflight) {
    auto r = wait(std::move(a));
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(server.count(), 40U);
}

TEST_F(HttpTransport, MockServerHangsDestroyingTheTransportCancelsAndClosesEverything) {
  server.set_handler([](const RecordedRequest& req) { return req.path == "/hang" ? Reply{.hang = true} : Reply{}; });
  auto t = std::make_unique<Transport>(rt, ConnectionOptions{});
  ASSERT_TRUE(wait(t->send(make(server, "GET", "/idle"))));  // a connection idles in the cache
  auto hanging = t->send(make(server, "GET", "/hang"));
  wait_for_requests(server, 2);
  t.reset();
  auto r = wait(std::move(hanging));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().category, ErrorCategory::cancelled);
}

TEST(HttpTransportDescriptors, MockFaultsLeaveNoDescriptorOpen) {
  const auto run = [](bool faults) {
    Runtime rt{RuntimeOptions{.log_sink = [](const LogRecord&) {}, .log_level = LogLevel::off}};
    RecordingServer server([](const RecordedRequest& req) {
      if (req.path == "/hang") return Reply{.hang = true};
      if (req.path == "/close") return Reply{.raw = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"};
      return Reply{};
    });
    Transport t(rt, {});
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(wait(t.send(make(server, "GET", "/ok"))));
    if (!faults) return;
    EXPECT_TRUE(wait(t.send(make(server, "GET", "/close"))));
    auto hanging = t.send(make(server, "GET", "/hang"));
    wait_for_requests(server, 7);
    hanging.cancel();
    EXPECT_FALSE(wait(std::move(hanging)));
    auto timed_out = t.send(make(server, "GET", "/hang", {}, std::chrono::milliseconds(100)));
    EXPECT_FALSE(wait(std::move(timed_out)));
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(wait(t.send(make(server, "GET", "/ok"))));
    (void)t.send(make(server, "GET", "/hang"));  // still in flight when everything goes away
    wait_for_requests(server, 12);
  };
  run(false);  // whatever libcurl and OpenSSL open once per process
  const auto before = open_descriptors();
  run(true);
  EXPECT_EQ(open_descriptors(), before);
}

}  // namespace
}  // namespace wazo::http
