// The wazo-chatd client: the 12 methods of the seed's `client.chatd` (base /api/chatd/1.0).
// Obtain it with `client.chatd()`; it is a light handle sharing the ApiClient's state.
//
// Return types follow the seed: where it returns an array, a std::vector; where it returns the list response,
// a List<T> (total, filtered, items); where it returns the seed's boolean success, Async<bool>.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "wazo/rest/api_client.hpp"
#include "wazo/rest/chatd_models.hpp"

namespace wazo::rest {

class ChatdApi {
 public:
  // At most this many user uuids per GET /users/presences (longer lists are split, to avoid HTTP 414).
  static constexpr std::size_t kMaxPresencesPerRequest = 30;

  explicit ChatdApi(ApiClient client) : client_(std::move(client)) {}

  // Presences.
  Async<bool> update_state(const std::string& user_uuid, const std::string& state);  // PUT /users/{uuid}/presences
  Async<bool> update_status(const std::string& user_uuid, const std::string& state,
                            const std::string& status);                   // PUT /users/{uuid}/presences
  Async<std::string> get_state(const std::string& user_uuid);             // GET /users/{uuid}/presences → state
  Async<Presence> get_contact_status_info(const std::string& user_uuid);  // GET /users/{uuid}/presences
  Async<std::string> get_line_state(const std::string& user_uuid);  // GET /users/{uuid}/presences → lines_state()
  // GET /users/presences?user_uuid=a,b,… in chunks of 30 sent together; the items of all chunks, in order. An
  // empty list asks for every presence the token may see. Any failed chunk fails the call.
  Async<std::vector<Presence>> get_multiple_line_state(const std::vector<std::string>& user_uuids);

  // Rooms and messages.
  Async<std::vector<ChatRoom>> get_user_rooms();  // GET /users/me/rooms
  // POST /users/me/rooms. The seed's optional `kind` is not sent: chatd's Room schema has no such field.
  Async<ChatRoom> create_room(const std::string& name, const std::vector<ChatUser>& users);
  Async<std::vector<ChatMessage>> get_room_messages(const std::string& room_uuid,
                                                    const GetMessagesOptions& options = {});  // GET …/messages
  Async<ChatMessage> send_room_message(const std::string& room_uuid, const ChatMessageDraft& message,
                                       const std::string& sender_identity_uuid = {});  // POST …/messages
  Async<List<ChatMessage>> get_messages(const GetMessagesOptions& options);            // GET /users/me/rooms/messages
  Async<std::vector<UserIdentity>> get_identities(const std::string& room_uuid = {});  // GET /users/me/identities

  [[nodiscard]] ApiClient& client() noexcept { return client_; }

 private:
  ApiClient client_;
};

// The query get_room_messages / get_messages send (exposed for tests).
Query messages_query(const GetMessagesOptions& options);

}  // namespace wazo::rest
