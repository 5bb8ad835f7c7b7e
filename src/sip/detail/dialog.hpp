// A dialog (RFC 3261 §12): its identifiers, the route set from Record-Route, the remote target from Contact,
// the local and remote CSeq; builds in-dialog requests with loose (or strict) routing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "wazo/core/result.hpp"
#include "wazo/sip/message.hpp"

namespace wazo::sip::detail {

struct Dialog {
  std::string call_id;
  std::string local_tag;
  std::string remote_tag;
  NameAddr local;   // our From in requests (with the tag)
  NameAddr remote;  // our To in requests (with the tag)
  Uri remote_target;
  std::vector<NameAddr> route_set;
  std::uint32_t local_cseq = 0;
  std::optional<std::uint32_t> remote_cseq;
  bool early = true;

  // UAC side (§12.1.2): from our request and a response with a To tag (18x or 2xx).
  static Result<Dialog> as_uac(const Message& request, const Message& response);
  // UAS side (§12.1.1): from the request and our local tag.
  static Result<Dialog> as_uas(const Message& request, const std::string& local_tag);

  // The route set and target refresh of a 2xx (the UAC's confirmed dialog takes the 2xx's Record-Route).
  void confirm_from(const Message& response_or_request, bool uac);
  // A target refresh (re-INVITE / UPDATE / their 2xx): the Contact becomes the remote target.
  void refresh_target(const Message& m);

  // A new in-dialog request (CSeq incremented; ACK uses `cseq_override`).
  Message make_request(const std::string& method, std::optional<std::uint32_t> cseq_override = std::nullopt);
  // Checks an incoming in-dialog request's CSeq (§12.2.2): false when it is lower than the last one.
  bool accept_remote_cseq(std::uint32_t cseq);
};

}  // namespace wazo::sip::detail
