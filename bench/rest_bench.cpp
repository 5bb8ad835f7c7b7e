// REST overhead: one loopback GET through the SDK (ApiClient → libcurl multi on the I/O thread → Async::get)
// against a bare libcurl easy request (same server, same connection reuse) in the same run, printed as a ratio.
// The server is a real wazo-dev-engine process (or the one named by WAZO_BENCH_SERVER, e.g.
// "http://127.0.0.1:8080", so that `strace -f` sees only this process); the route is GET /api/auth/0.1/backends.
//
// `wazo_bench_rest --requests=N --mode=curl|sdk|chained|transport|transport-chained` runs exactly N requests of
// one kind and prints the time per request, without Google Benchmark: for counting system calls per request
// (`strace -f -c -e trace=epoll_wait,epoll_ctl`), where a fixed count matters more than statistics.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <benchmark/benchmark.h>
#include <curl/curl.h>

#include "../src/http/transport.hpp"  // internal: the transport alone, to split its cost from ApiClient's
#include "engine_process.hpp"
#include "wazo/rest/api_client.hpp"

namespace {

std::string g_server;  // "http://127.0.0.1:PORT"
constexpr const char* kPath = "auth/0.1/backends";
constexpr int kBatch = 200;  // requests per chained iteration

std::size_t discard(char* /*data*/, std::size_t size, std::size_t n, void* /*user*/) { return size * n; }

// --- one request of each kind --------------------------------------------------------------------------------

struct BareCurl {
  BareCurl() : url(g_server + "/api/" + kPath) {
    e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &discard);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    headers = curl_slist_append(nullptr, "Accept: application/json");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  }
  ~BareCurl() {
    curl_slist_free_all(headers);
    curl_easy_cleanup(e);
  }
  BareCurl(const BareCurl&) = delete;
  BareCurl& operator=(const BareCurl&) = delete;
  bool get() { return curl_easy_perform(e) == CURLE_OK; }
  std::string url;
  CURL* e = nullptr;
  curl_slist* headers = nullptr;
};

wazo::rest::Request sdk_request() {
  wazo::rest::Request req;
  req.path = kPath;
  req.authenticated = false;
  return req;
}

wazo::http::Request transport_request() {
  wazo::http::Request req;
  req.url = g_server + "/api/" + kPath;
  req.headers = {{"Accept", "application/json"}};
  return req;
}

// Sends `count` requests one after the other, each from the previous one's completion on the I/O thread, and
// waits for the last; returns the number of failures. `send(done)` sends one request and calls done(ok).
int chain(wazo::Runtime& rt, int count, const std::function<void(std::function<void(bool)>)>& send) {
  std::promise<int> finished;
  int failures = 0;
  std::function<void(int)> next = [&](int left) {
    if (left == 0) {
      finished.set_value(failures);
      return;
    }
    send([&, left](bool ok) {
      if (!ok) ++failures;
      next(left - 1);
    });
  };
  rt.post([&] { next(count); });
  return finished.get_future().get();
}

// --- benchmarks ----------------------------------------------------------------------------------------------

void BM_BareCurlEasyGet(benchmark::State& state) {
  BareCurl curl;
  for (auto _ : state) {
    if (!curl.get()) state.SkipWithError("curl failed");
  }
}

void BM_SdkGet(benchmark::State& state) {
  wazo::Runtime rt;
  wazo::rest::ApiClient client(rt, wazo::rest::ClientOptions{.server = g_server});
  const auto req = sdk_request();
  for (auto _ : state) {
    auto r = client.send(req).get();
    if (!r) state.SkipWithError("sdk request failed");
    benchmark::DoNotOptimize(r);
  }
}

void BM_SdkGetParsed(benchmark::State& state) {
  wazo::Runtime rt;
  wazo::rest::ApiClient client(rt, wazo::rest::ClientOptions{.server = g_server});
  for (auto _ : state) {
    auto r = client.call(wazo::rest::Method::get, kPath).get();
    if (!r) state.SkipWithError("sdk request failed");
    benchmark::DoNotOptimize(r);
  }
}

// The SDK without the caller's thread hand-off: each request is sent from the previous one's completion, on the
// I/O thread (how an event-driven app uses it); the caller only waits for the whole batch.
void BM_SdkGetChainedOnIoThread(benchmark::State& state) {
  wazo::Runtime rt;
  wazo::rest::ApiClient client(rt, wazo::rest::ClientOptions{.server = g_server});
  const auto req = sdk_request();
  for (auto _ : state) {
    const int failures = chain(rt, kBatch, [&](std::function<void(bool)> done) {
      client.send(req).then([done = std::move(done)](wazo::Result<wazo::rest::Response> r) { done(r.ok()); });
    });
    if (failures != 0) state.SkipWithError("sdk request failed");
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

// The internal HTTP transport alone (no ApiClient), from the caller's thread and chained on the I/O thread.
void BM_TransportGet(benchmark::State& state) {
  wazo::Runtime rt;
  wazo::http::Transport transport(rt, {});
  const auto req = transport_request();
  for (auto _ : state) {
    auto r = transport.send(req).get();
    if (!r) state.SkipWithError("transport request failed");
    benchmark::DoNotOptimize(r);
  }
}

void BM_TransportGetChainedOnIoThread(benchmark::State& state) {
  wazo::Runtime rt;
  wazo::http::Transport transport(rt, {});
  const auto req = transport_request();
  for (auto _ : state) {
    const int failures = chain(rt, kBatch, [&](std::function<void(bool)> done) {
      transport.send(req).then([done = std::move(done)](wazo::Result<wazo::http::Response> r) { done(r.ok()); });
    });
    if (failures != 0) state.SkipWithError("transport request failed");
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

BENCHMARK(BM_BareCurlEasyGet)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_SdkGet)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_SdkGetParsed)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_SdkGetChainedOnIoThread)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_TransportGet)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_TransportGetChainedOnIoThread)->UseRealTime()->MinTime(2.0);

bool is_chained(const std::string& name) { return name.find("Chained") != std::string::npos; }

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(OO_Tabular) {}  // no colour codes: the ratio lines stay greppable
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) ns_[r.benchmark_name()] = r.GetAdjustedRealTime();
    ConsoleReporter::ReportRuns(runs);
  }
  void print_ratios() const {
    auto base = find("BM_BareCurlEasyGet");
    if (base <= 0) return;
    for (const char* name : {"BM_SdkGet", "BM_SdkGetParsed", "BM_SdkGetChainedOnIoThread", "BM_TransportGet",
                             "BM_TransportGetChainedOnIoThread"}) {
      double t = find(name);
      if (t > 0 && is_chained(name)) t /= kBatch;  // per request
      if (t > 0)
        std::printf("ratio %s / BM_BareCurlEasyGet = %.3f (%.1f us vs %.1f us)\n", name, t / base, t / 1e3, base / 1e3);
    }
  }

 private:
  double find(const std::string& prefix) const {
    for (const auto& [k, v] : ns_) {
      if (k.rfind(prefix, 0) == 0 && (k.size() == prefix.size() || k[prefix.size()] == '/')) return v;
    }
    return -1;
  }
  std::map<std::string, double> ns_;
};

// --- fixed-count mode ----------------------------------------------------------------------------------------

int run_fixed(int count, const std::string& mode) {
  int failures = 0;
  // One warm-up request per kind (connection set up) outside the timed loop.
  std::chrono::steady_clock::time_point start;
  if (mode == "curl") {
    BareCurl curl;
    (void)curl.get();
    start = std::chrono::steady_clock::now();
    for (int i = 0; i < count; ++i) failures += curl.get() ? 0 : 1;
  } else if (mode == "sdk" || mode == "chained") {
    wazo::Runtime rt;
    wazo::rest::ApiClient client(rt, wazo::rest::ClientOptions{.server = g_server});
    const auto req = sdk_request();
    (void)client.send(req).get();
    start = std::chrono::steady_clock::now();
    if (mode == "sdk") {
      for (int i = 0; i < count; ++i) failures += client.send(req).get() ? 0 : 1;
    } else {
      failures = chain(rt, count, [&](std::function<void(bool)> done) {
        client.send(req).then([done = std::move(done)](wazo::Result<wazo::rest::Response> r) { done(r.ok()); });
      });
    }
  } else if (mode == "transport" || mode == "transport-chained") {
    wazo::Runtime rt;
    wazo::http::Transport transport(rt, {});
    const auto req = transport_request();
    (void)transport.send(req).get();
    start = std::chrono::steady_clock::now();
    if (mode == "transport") {
      for (int i = 0; i < count; ++i) failures += transport.send(req).get() ? 0 : 1;
    } else {
      failures = chain(rt, count, [&](std::function<void(bool)> done) {
        transport.send(req).then([done = std::move(done)](wazo::Result<wazo::http::Response> r) { done(r.ok()); });
      });
    }
  } else {
    std::fprintf(stderr, "unknown --mode=%s\n", mode.c_str());
    return 2;
  }
  const auto end = std::chrono::steady_clock::now();
  const double us = std::chrono::duration<double, std::micro>(end - start).count() / count;
  std::printf("%s: %d requests, %d failed, %.1f us per request\n", mode.c_str(), count, failures, us);
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::optional<int> requests;
  std::string mode = "chained";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--requests=", 11) == 0) requests = std::atoi(argv[i] + 11);
    if (std::strncmp(argv[i], "--mode=", 7) == 0) mode = argv[i] + 7;
  }
  std::optional<wazo::test::EngineProcess> engine;
  if (const char* server = std::getenv("WAZO_BENCH_SERVER"); server != nullptr && *server != '\0') {
    g_server = server;
  } else {
    engine.emplace();
    if (!engine->running()) {
      std::fprintf(stderr, "cannot start wazo-dev-engine: %s\n", engine->error().c_str());
      return 1;
    }
    g_server = engine->url();
  }
  if (requests) return run_fixed(*requests > 0 ? *requests : 1, mode);
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratios();
  benchmark::Shutdown();
  return 0;
}
