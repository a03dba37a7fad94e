// Request builders for an agent's chat turns and its extraction pass. Pure functions: they build
// Messages API bodies and never touch the network or the memory store.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include <boost/json/array.hpp>

#include <engram/agents/agent.hpp>
#include <engram/memory/schema.hpp>
#include <engram/net/claude_client.hpp>

namespace engram::agents {

/// The system prompt as Messages API `system` text blocks. The agent's template with "{{user_id}}"
/// replaced, split at "{{memory}}": the text before it is the first block, and the rendered memory
/// (plus any template text after the marker) is the last block. Without the marker the memory
/// block follows the whole template. The blocks' texts concatenate to the substituted template.
/// The last block carries `"cache_control": {"type": "ephemeral"}`, so the whole system prefix is
/// cached; the runtime builds it once per session (freezing the memory) so the cache holds.
///
/// `rendered_memory` is memory::render_for_prompt's output, used as it is. Any other text (one
/// that does not open `<user_memory>`, close it at its very end and nowhere before, in any letter
/// case) is framed as data remembered from earlier sessions, with `</user_memory>` tags inside
/// it defused. Empty text reads as "no prior context". Never produces an empty block.
boost::json::array system_blocks(const agent_definition& agent, std::string_view user_id,
                                 std::string_view rendered_memory);

/// One chat turn: `model`, `max_tokens`, `system` and `messages` (the session's history, ending
/// with the user's turn). The client sets `stream` itself.
net::message_request chat_request(const agent_definition& agent, const boost::json::array& system,
                                  boost::json::array messages);

/// The same request, composed from parts already serialised: `system_json`, the JSON text of
/// system_blocks(), and `messages_json`, one message object's JSON text per element. The
/// result's `serialized_body` holds it. The runtime keeps a session's prompt and history as
/// text, so a turn copies text instead of JSON trees.
net::message_request chat_request(const agent_definition& agent, std::string_view system_json,
                                  std::span<const std::string> messages_json);

/// The extraction pass after a session (send it non-streaming): `extraction_model`,
/// `extraction_max_tokens`, temperature 0, a system prompt that documents the memory update
/// contract (memory::update_contract_version) and the guards against invented memories, the
/// agent's focus and extraction_instructions; one user turn with the current memory
/// (memory::to_json) and the transcript ("USER: ..."/"ASSISTANT: ..." lines).
/// Parse the reply with memory::parse_extraction_reply.
net::message_request extraction_request(const agent_definition& agent, const memory::user_memory& current,
                                        std::string_view transcript);

/// The single retry after an invalid extraction reply: extraction_request's body plus the bad
/// reply as an assistant turn and a user turn quoting `error` and asking for only the corrected
/// JSON object.
net::message_request extraction_repair_request(const agent_definition& agent,
                                               const memory::user_memory& current,
                                               std::string_view transcript, std::string_view bad_reply,
                                               std::string_view error);

/// The generic part of the extraction system prompt (the contract and the guards), for docs/tests.
std::string_view extraction_contract_text() noexcept;

}  // namespace engram::agents
