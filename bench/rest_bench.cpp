// REST overhead: one loopback GET through the SDK (ApiClient → libcurl multi on the I/O thread → Async::get)
// against a bare libcurl easy request (same server, same connection reuse) in the same run, printed as a ratio.
// The server is a real wazo-dev-engine process; the route is GET /api/auth/0.1/backends.
#include <cstdio>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>
#include <curl/curl.h>

#include "engine_process.hpp"
#include "wazo/rest/api_client.hpp"

namespace {

wazo::test::EngineProcess* g_engine = nullptr;

std::size_t discard(char* /*data*/, std::size_t size, std::size_t n, void* /*user*/) { return size * n; }

void BM_BareCurlEasyGet(benchmark::State& state) {
  CURL* e = curl_easy_init();
  const std::string url = g_engine->url() + "/api/auth/0.1/backends";
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &discard);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  for (auto _ : state) {
    if (curl_easy_perform(e) != CURLE_OK) state.SkipWithError("curl failed");
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(e);
}

void BM_SdkGet(benchmark::State& state) {
  wazo::Runtime rt;
  wazo::rest::ApiClient client(rt, wazo::rest::ClientOptions{.server = g_engine->url()});
  wazo::rest::Request req;
  req.path = "auth/0.1/backends";
  req.authenticated = false;
  for (auto _ : state) {
    auto r = client.send(req).get();
    if (!r) state.SkipWithError("sdk request failed");
    benchmark::DoNotOptimize(r);
  }
}

void BM_SdkGetParsed(benchmark::State& state) {
  wazo::Runtime rt;
  wazo::rest::ApiClient client(rt, wazo::rest::ClientOptions{.server = g_engine->url()});
  for (auto _ : state) {
    auto r = client.call(wazo::rest::Method::get, "auth/0.1/backends").get();
    if (!r) state.SkipWithError("sdk request failed");
    benchmark::DoNotOptimize(r);
  }
}

// The SDK without the caller's thread hand-off: each request is sent from the previous one's completion, on the
// I/O thread (how an event-driven app uses it); the caller only waits for the whole batch of 200.
void BM_SdkGetChainedOnIoThread(benchmark::State& state) {
  wazo::Runtime rt;
  wazo::rest::ApiClient client(rt, wazo::rest::ClientOptions{.server = g_engine->url()});
  constexpr int kBatch = 200;
  for (auto _ : state) {
    std::promise<int> done;
    auto failures = std::make_shared<int>(0);
    std::function<void(int)> next = [&](int left) {
      if (left == 0) {
        done.set_value(*failures);
        return;
      }
      wazo::rest::Request req;
      req.path = "auth/0.1/backends";
      req.authenticated = false;
      client.send(req).then([&, left, failures](wazo::Result<wazo::rest::Response> r) {
        if (!r) ++*failures;
        next(left - 1);
      });
    };
    rt.post([&] { next(kBatch); });
    if (done.get_future().get() != 0) state.SkipWithError("sdk request failed");
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

BENCHMARK(BM_BareCurlEasyGet)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_SdkGet)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_SdkGetParsed)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_SdkGetChainedOnIoThread)->UseRealTime()->MinTime(2.0);

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) ns_[r.benchmark_name()] = r.GetAdjustedRealTime();
    ConsoleReporter::ReportRuns(runs);
  }
  void print_ratios() const {
    auto base = find("BM_BareCurlEasyGet");
    if (base <= 0) return;
    for (const char* name : {"BM_SdkGet", "BM_SdkGetParsed", "BM_SdkGetChainedOnIoThread"}) {
      double t = find(name);
      if (t > 0 && std::string(name) == "BM_SdkGetChainedOnIoThread") t /= 200;  // per request
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

}  // namespace

int main(int argc, char** argv) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  wazo::test::EngineProcess engine;
  if (!engine.running()) {
    std::fprintf(stderr, "cannot start wazo-dev-engine: %s\n", engine.error().c_str());
    return 1;
  }
  g_engine = &engine;
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratios();
  benchmark::Shutdown();
  return 0;
}
