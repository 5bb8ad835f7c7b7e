// Decodes wazo-websocketd frames on the hot path with simdjson On Demand: the op, the event name and the raw
// payload text are found without building a DOM; typed payloads are parsed later, only for typed handlers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "wazo/core/result.hpp"

namespace wazo::events::detail {

enum class Op : std::uint8_t { init, subscribe, start, event, token, pong, ping, other };
std::string_view to_string(Op op) noexcept;

struct Frame {
  Op op = Op::other;
  std::int64_t code = 0;
  std::string_view name;       // op event: the bus message's name
  std::string_view payload;    // op event: the raw JSON of the bus message's `data` ("null" when absent)
  std::string_view timestamp;  // op event: the bus message's timestamp, when it has one
  std::string_view frame;      // the whole frame as received
  std::string_view text;       // op pong: data.payload
  int version = 2;
};

class Decoder {
 public:
  Decoder();
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // `buffer` holds the frame; its capacity should exceed its size by padding() bytes (else it is reserved).
  // Views in the Frame point into `buffer` or the decoder and stay valid until `buffer` changes or the next
  // decode(). version 1 frames are bare bus
  // messages; version 2 frames have the {op, code, data} envelope.
  Result<Frame> decode(std::string& buffer, int version = 2);

  static std::size_t padding() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wazo::events::detail
