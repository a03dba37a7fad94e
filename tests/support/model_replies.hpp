// What the fake server answers a runtime with: recognising the two kinds of model call engram
// makes (a streamed chat turn, a non-streamed extraction) and scripting replies for them.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "support/fake_anthropic_server.hpp"

namespace engram::test {

/// True for engram's extraction (memory) call, which is the only non-streamed one.
bool is_extraction(const recorded_request& r);
/// The text of the last message of the request (a content array is given as its JSON).
std::string last_user_text(const recorded_request& r);
/// The requests that were chat turns, in order.
std::vector<recorded_request> chat_requests(const fake_anthropic_server& server);
/// The requests that were extraction calls, in order.
std::vector<recorded_request> extraction_requests(const fake_anthropic_server& server);

/// A complete (non-streamed) Message whose only text block is `text` ("max_tokens": cut off).
scripted_response extraction_reply(const std::string& text, const std::string& stop_reason = "end_turn");
/// A streamed reply "echo: <last user text>" in 3 deltas; with `drip`, sent in 60-byte pieces
/// that far apart.
scripted_response echo_reply(const recorded_request& r, std::chrono::milliseconds drip = std::chrono::milliseconds(0));
/// Chat turns get echo_reply, extraction calls `update`.
void echo_server(fake_anthropic_server& server, std::string update, std::chrono::milliseconds drip = std::chrono::milliseconds(0));

}  // namespace engram::test
