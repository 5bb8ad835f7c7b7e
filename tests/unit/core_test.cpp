#include <atomic>
#include <coroutine>
#include <thread>

#include <gtest/gtest.h>

#include "wazo/core/async.hpp"
#include "wazo/core/log.hpp"
#include "wazo/core/runtime.hpp"
#include "wazo/core/subscription.hpp"
#include "wazo/rest/session.hpp"

namespace wazo {
namespace {

TEST(Result, HoldsValueOrError) {
  Result<int> ok = 42;
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 42);
  Result<int> bad = Error(ErrorCategory::parse, "nope");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().category, ErrorCategory::parse);
  EXPECT_EQ(bad.value_or(7), 7);
  auto mapped = Result<int>(2).map([](int v) { return v * 10; });
  EXPECT_EQ(*mapped, 20);
  Result<void> v;
  EXPECT_TRUE(v);
  Result<void> e = Error(ErrorCategory::timeout, "late");
  EXPECT_FALSE(e);
  EXPECT_TRUE(e.error().retryable);
}

TEST(Error, DescribesCategoryStatusAndId) {
  Error e(ErrorCategory::http, "No such user", 404);
  e.error_id = "not-found";
  EXPECT_EQ(e.describe(), "http 404 (not-found): No such user");
  EXPECT_FALSE(e.timestamp.empty());
}

TEST(Async, ThenRunsOnTheIoThread) {
  Runtime rt;
  Promise<int> p(rt.executor());
  std::promise<bool> on_io;
  p.async().then([&](Result<int> r) { on_io.set_value(rt.in_io_thread() && r && *r == 5); });
  std::thread([p] { p.set(5); }).join();
  EXPECT_TRUE(on_io.get_future().get());
}

TEST(Async, GetBlocksUntilSetAndFirstSetWins) {
  Runtime rt;
  Promise<std::string> p(rt.executor());
  auto a = p.async();
  std::thread t([p] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    p.set(std::string("first"));
    EXPECT_FALSE(p.set(std::string("second")));
  });
  auto r = a.get();
  t.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "first");
}

TEST(Async, GetOnTheIoThreadRefusesInsteadOfDeadlocking) {
  Runtime rt;
  std::promise<ErrorCategory> seen;
  rt.post([&] {
    Promise<int> p(rt.executor());
    auto r = p.async().get();
    seen.set_value(r ? ErrorCategory::transport : r.error().category);
  });
  EXPECT_EQ(seen.get_future().get(), ErrorCategory::invalid_argument);
}

TEST(Async, CancelCompletesWithCancelledAndRunsTheCanceller) {
  Runtime rt;
  Promise<int> p(rt.executor());
  std::atomic<int> stopped{0};
  p.on_cancel([&] { ++stopped; });
  auto a = p.async();
  a.cancel();
  auto r = a.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().category, ErrorCategory::cancelled);
  EXPECT_EQ(stopped.load(), 1);
  EXPECT_FALSE(p.set(3));  // the late result is dropped
}

TEST(Async, FutureAdapter) {
  Runtime rt;
  Promise<int> p(rt.executor());
  auto f = p.async().future();
  p.set(9);
  EXPECT_EQ(*f.get(), 9);
}

struct Task {
  struct promise_type {
    Task get_return_object() { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() {}
    void unhandled_exception() { std::terminate(); }
  };
};

Task await_twice(Runtime& rt, Promise<int> a, Promise<int> b, std::promise<int>& out) {
  auto x = co_await a.async();
  auto y = co_await b.async();
  out.set_value((x ? *x : -100) + (y ? *y : -100) + (rt.in_io_thread() ? 1000 : 0));
}

TEST(Async, CoAwaitResumesOnTheIoThread) {
  Runtime rt;
  Promise<int> a(rt.executor());
  Promise<int> b(rt.executor());
  std::promise<int> out;
  await_twice(rt, a, b, out);
  a.set(1);
  b.set(2);
  EXPECT_EQ(out.get_future().get(), 1003);
}

struct Ping {
  int n;
};
struct Pong {};

TEST(Emitter, TypedHandlersWithRaiiSubscriptions) {
  Emitter em;
  int pings = 0;
  int pongs = 0;
  {
    auto s1 = em.on<Ping>([&](const Ping& p) { pings += p.n; });
    auto s2 = em.on<Pong>([&](const Pong&) { ++pongs; });
    em.emit(Ping{2});
    em.emit(Pong{});
    EXPECT_EQ(em.count<Ping>(), 1U);
  }
  em.emit(Ping{5});
  EXPECT_EQ(pings, 2);
  EXPECT_EQ(pongs, 1);
  EXPECT_EQ(em.count<Ping>(), 0U);
}

TEST(Emitter, HandlerMayUnsubscribeItselfAndOthersDuringEmit) {
  Emitter em;
  int a = 0;
  int b = 0;
  Subscription sb;
  Subscription sa = em.on<Ping>([&](const Ping&) {
    ++a;
    sa.reset();
    sb.reset();  // b must not run in this emit, nor later
  });
  sb = em.on<Ping>([&](const Ping&) { ++b; });
  em.emit(Ping{1});
  em.emit(Ping{1});
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 0);
}

TEST(Log, ObfuscateKeepsFourCharacters) {
  EXPECT_EQ(obfuscate(""), "");
  EXPECT_EQ(obfuscate("abc"), "…");
  EXPECT_EQ(obfuscate("8a3f0c2e-1111"), "8a3f…");
}

TEST(Log, SinkAndLevel) {
  std::vector<std::string> lines;
  std::mutex m;
  Logger logger(
      [&](const LogRecord& r) {
        std::lock_guard lock(m);
        lines.push_back(std::string(r.category) + ":" + std::string(r.message));
      },
      LogLevel::info);
  logger.debug("x", "hidden");
  logger.info("x", "shown");
  logger.set_level(LogLevel::error);
  logger.warn("x", "hidden too");
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_EQ(lines[0], "x:shown");
}

TEST(Runtime, TwoRuntimesSideBySide) {
  Runtime a;
  Runtime b;
  std::promise<std::thread::id> ta;
  std::promise<std::thread::id> tb;
  a.post([&] { ta.set_value(std::this_thread::get_id()); });
  b.post([&] { tb.set_value(std::this_thread::get_id()); });
  EXPECT_NE(ta.get_future().get(), tb.get_future().get());
}

TEST(Runtime, RunsOnAnApplicationIoContext) {
  boost::asio::io_context ctx;
  Runtime rt(ctx);
  Promise<int> p(rt.executor());
  int got = 0;
  p.async().then([&](Result<int> r) { got = *r; });
  p.set(11);
  ctx.run();
  EXPECT_EQ(got, 11);
}

TEST(Iso8601, ParsesWazoTimes) {
  using namespace std::chrono;
  auto a = rest::parse_iso8601("2026-11-25T10:00:00.500000+00:00");
  auto b = rest::parse_iso8601("2026-11-25T10:00:00.5Z");
  auto c = rest::parse_iso8601("2026-11-25T11:00:00.5+01:00");
  auto d = rest::parse_iso8601("2026-11-25T10:00:00.5");
  ASSERT_TRUE(a && b && c && d);
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(*a, *c);
  EXPECT_EQ(*a, *d);
  EXPECT_EQ(duration_cast<seconds>(a->time_since_epoch()).count(), 1795600800);
  EXPECT_FALSE(rest::parse_iso8601("yesterday"));
  EXPECT_FALSE(rest::parse_iso8601("2026-11-25T10:00:00junk"));
}

TEST(Session, ParsesTokenResponse) {
  auto j = nlohmann::json::parse(R"({"data":{"token":"tok","refresh_token":"rt","session_uuid":"s1",
    "acl":["confd.#"],"utc_expires_at":"2030-01-01T00:00:00+00:00","expires_at":"2030-01-01T00:00:00",
    "metadata":{"uuid":"u1","tenant_uuid":"t1","username":"alice"},"extra":1}})");
  auto s = rest::Session::from_json(j);
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->token, "tok");
  EXPECT_EQ(s->refresh_token, "rt");
  EXPECT_EQ(s->uuid, "u1");
  EXPECT_EQ(s->tenant_uuid, "t1");
  EXPECT_EQ(s->username, "alice");
  EXPECT_EQ(s->acl, std::vector<std::string>{"confd.#"});
  EXPECT_FALSE(s->has_expired());
  EXPECT_EQ(s->raw["extra"], 1);
  auto back = rest::Session::from_json(s->to_json());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->token, "tok");
  EXPECT_EQ(back->expires, s->expires);
  EXPECT_FALSE(rest::Session::from_json(nlohmann::json::parse(R"({"data":{}})")));
  EXPECT_FALSE(rest::Session::from_json(nlohmann::json::parse("[1,2]")));
}

}  // namespace
}  // namespace wazo
