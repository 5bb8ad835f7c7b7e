// A loopback HTTP/1.1 server for tests: it records every request it gets and answers with what the test
// says, including deliberately broken answers (malformed JSON, oversize bodies, silence). It is the "mock"
// for what no real server does on purpose; behaviour tests run against wazo-dev-engine instead.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace wazo::test {

struct RecordedRequest {
  std::string method;
  std::string target;                          // path + query, as sent
  std::string path;                            // without the query
  std::string query;                           // without '?'
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  [[nodiscard]] std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
  [[nodiscard]] bool has_header(const std::string& lower_name) const { return headers.count(lower_name) != 0; }
};

struct Reply {
  int status = 200;
  std::string body = "{}";
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string raw;           // when set, written as-is instead of a formatted response
  int delay_ms = 0;          // wait before answering
  bool close_after = false;  // close the connection after this answer
  bool hang = false;         // never answer (until the server stops)
};

class RecordingServer {
 public:
  using Handler = std::function<Reply(const RecordedRequest&)>;

  explicit RecordingServer(Handler handler = nullptr);
  ~RecordingServer();
  RecordingServer(const RecordingServer&) = delete;
  RecordingServer& operator=(const RecordingServer&) = delete;

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] std::vector<RecordedRequest> requests() const;
  [[nodiscard]] std::size_t count() const;
  [[nodiscard]] std::size_t connections() const { return connections_.load(); }
  void set_handler(Handler handler);
  void clear();

 private:
  void accept_loop();
  void serve(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> connections_{0};
  mutable std::mutex mutex_;
  Handler handler_;
  std::vector<RecordedRequest> requests_;
  std::vector<int> client_fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace wazo::test
