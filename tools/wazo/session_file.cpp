#include "session_file.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace wazo::cli {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

Error file_error(std::string_view what, const std::string& path, int err) {
  return Error(ErrorCategory::invalid_argument,
               std::string(what) + " session file " + path + ": " + std::strerror(err));
}

std::string parent_dir(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// mkdir -p, each directory it creates with mode 0700.
Result<void> make_dirs(const std::string& dir) {
  for (std::size_t pos = dir.find('/', 1);; pos = dir.find('/', pos + 1)) {
    const std::string prefix = dir.substr(0, pos);
    if (!prefix.empty() && ::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return file_error("cannot create the directory of the", prefix, errno);
    }
    if (pos == std::string::npos) break;
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return file_error("cannot create the directory of the", dir, errno);
  if (!S_ISDIR(st.st_mode)) return file_error("cannot create the directory of the", dir, ENOTDIR);
  return {};
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

nlohmann::json SavedSession::to_json() const {
  return {{"host", host},         {"token", token},       {"refresh_token", refresh_token}, {"client_id", client_id},
          {"uuid", uuid},         {"username", username}, {"tenant_uuid", tenant_uuid},     {"expires_at", expires_at},
          {"insecure", insecure}, {"ca_file", ca_file}};
}

Result<SavedSession> SavedSession::from_json(const nlohmann::json& j) {
  if (!j.is_object()) return Error(ErrorCategory::parse, "expected a JSON object");
  SavedSession s;
  s.host = str(j, "host");
  s.token = str(j, "token");
  s.refresh_token = str(j, "refresh_token");
  s.client_id = str(j, "client_id");
  s.uuid = str(j, "uuid");
  s.username = str(j, "username");
  s.tenant_uuid = str(j, "tenant_uuid");
  s.expires_at = str(j, "expires_at");
  if (auto it = j.find("insecure"); it != j.end() && it->is_boolean()) s.insecure = it->get<bool>();
  s.ca_file = str(j, "ca_file");
  if (s.host.empty() || s.token.empty()) return Error(ErrorCategory::parse, "no host or token");
  return s;
}

std::string session_file_path() {
  if (auto p = env("WAZO_SESSION_FILE"); !p.empty()) return p;
  if (auto xdg = env("XDG_CONFIG_HOME"); !xdg.empty()) return xdg + "/wazo/session.json";
  if (auto home = env("HOME"); !home.empty()) return home + "/.config/wazo/session.json";
  return {};
}

Result<std::optional<SavedSession>> load_session(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<SavedSession>();
    return file_error("cannot read the", path, errno);
  }
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return file_error("cannot read the", path, err);
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto s = SavedSession::from_json(j);
  if (!s) return Error(ErrorCategory::parse, "invalid session file " + path + " (" + s.error().message + ")");
  return std::optional<SavedSession>(std::move(s).value());
}

Result<void> save_session(const std::string& path, const SavedSession& session) {
  const std::string dir = parent_dir(path);
  if (auto r = make_dirs(dir); !r) return r;
  const std::string text = session.to_json().dump(2) + "\n";

  // A private temporary file in the same directory, so that rename() replaces the session atomically.
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(attempt);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) return file_error("cannot write the", path, errno);
  }
  if (fd < 0) return file_error("cannot write the", path, EEXIST);
  if (!write_all(fd, text) || ::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return file_error("cannot write the", path, err);
  }
  if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return file_error("cannot write the", path, err);
  }
  // Make the rename itself durable; failing to sync the directory is not worth an error.
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

Result<void> remove_session(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return file_error("cannot remove the", path, errno);
  return {};
}

}  // namespace wazo::cli
