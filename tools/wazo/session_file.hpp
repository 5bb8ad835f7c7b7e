// The CLI's saved session: where it lives, and how it is read and written (atomically, mode 0600).
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "wazo/core/result.hpp"

namespace wazo::cli {

struct SavedSession {
  std::string host;  // as given to --host at login
  std::string token;
  std::string refresh_token;
  std::string client_id;
  std::string uuid;
  std::string username;
  std::string tenant_uuid;
  std::string expires_at;
  bool insecure = false;
  std::string ca_file;

  [[nodiscard]] nlohmann::json to_json() const;
  static Result<SavedSession> from_json(const nlohmann::json& j);
};

// $WAZO_SESSION_FILE, else $XDG_CONFIG_HOME/wazo/session.json, else $HOME/.config/wazo/session.json.
// Empty when none of these variables is set.
std::string session_file_path();

// The session in `path`; nullopt when the file does not exist; an Error when it cannot be read or parsed.
Result<std::optional<SavedSession>> load_session(const std::string& path);

// Writes `session` to `path`: missing directories are created with mode 0700, the file is written to a
// temporary file (mode 0600) in the same directory, synced, then renamed over `path`.
Result<void> save_session(const std::string& path, const SavedSession& session);

// Removes `path`; a missing file is not an error.
Result<void> remove_session(const std::string& path);

}  // namespace wazo::cli
