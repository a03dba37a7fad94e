// Agents as data: what an agent is, its JSON form, the built-in agents, and the memory policy
// an agent implies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <engram/agents/error.hpp>
#include <engram/memory/merge.hpp>
#include <engram/memory/render.hpp>

namespace engram::agents {

/// What an agent's memory keeps (merge caps) and shows (render limits), and what matters to it.
struct memory_focus_policy {
    std::size_t max_facts = 10;              ///< merge_policy::max_facts (tutorial default)
    std::size_t max_decisions = 5;           ///< merge_policy::max_decisions (tutorial default)
    std::size_t max_summary_chars = 500;     ///< merge_policy::max_summary_chars (tutorial default)
    std::size_t render_budget_chars = 2000;  ///< render_options::budget_chars
    std::size_t render_max_decisions = 3;    ///< render_options::max_decisions
    /// What matters to this agent, one item per line in the extraction prompt.
    std::vector<std::string> focus;
    bool operator==(const memory_focus_policy&) const = default;
};

/// An agent. Everything a session and its extraction need besides the user's memory.
struct agent_definition {
    std::string name;  ///< 1-64 characters from [A-Za-z0-9_.-], not starting with '.'
    std::string description;
    std::string model = "claude-sonnet-4-5";
    std::int64_t max_tokens = 1024;
    /// Template. "{{memory}}" (at most once) marks where the memory block goes, "{{user_id}}" is
    /// replaced by the user id; without "{{memory}}" the block follows the text. No other
    /// "{{...}}" placeholder is accepted.
    std::string system_prompt;
    memory_focus_policy memory;
    std::string extraction_model = "claude-haiku-4-5";
    std::int64_t extraction_max_tokens = 1024;
    /// Agent-specific guidance added to the generic extraction prompt; may be empty.
    std::string extraction_instructions;
    /// False: sessions of this agent neither load nor save memory (no journal, no extraction
    /// call), for stateless agents and load tests.
    bool remember = true;
    bool operator==(const agent_definition&) const = default;
};

/// Validates and converts an agent's JSON form (see agents/README.md). Strict: a wrong type, a bad
/// value, an empty required field or an unknown key is rejected with errc::invalid_agent and a
/// message naming the field, e.g. "memory.max_facts: expected a positive integer" or
/// "unknown field \"max_token\"". Never throws on bad input.
result<agent_definition> agent_from_json(const boost::json::value& v);

/// Parses JSON text (comments allowed) and validates it. Syntax errors (errc::agent_file_syntax)
/// carry "line L, column C"; `origin` (a file name, or empty) prefixes every message.
result<agent_definition> parse_agent(std::string_view json_text, std::string_view origin = {});

/// Reads and validates an agent file (at most 1 MiB). Every error message starts with the path;
/// read failures are errc::agent_file_unreadable. Never throws.
result<agent_definition> load_agent_file(const std::filesystem::path& path);

/// Validates an agent built in code (the same rules as agent_from_json).
result<void> validate(const agent_definition& agent);

/// The JSON form; agent_from_json(to_json(a)) == a for every valid agent. Every field is written.
boost::json::object to_json(const agent_definition& agent);

/// The built-in agents, in a fixed order: "assistant" (the tutorial's personal assistant),
/// "sales" (remembers each prospect's history, deal stage and commitments) and "dba" (a
/// database-administration helper remembering engines, schemas and past decisions).
///
/// @par Thread safety
/// Safe: built once on first use, never modified.
const std::vector<agent_definition>& builtin_agents();

/// The built-in agent named `name`, or nullptr.
const agent_definition* find_builtin(std::string_view name);

/// The merge caps of the agent's memory policy (other merge_policy fields keep their defaults).
memory::merge_policy merge_policy_for(const agent_definition& agent);

/// The render limits of the agent's memory policy.
memory::render_options render_options_for(const agent_definition& agent);

}  // namespace engram::agents
