// What the CLI prints: help texts, the --output json form of a message, memory and agents.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include <engram/agents/agent.hpp>
#include <engram/memory/schema.hpp>
#include <engram/net/message.hpp>

namespace engram::cli {

/// The help of `command` (empty or unknown: the overview).
std::string help_text(std::string_view command);

/// `{"id","model","content","stop_reason","usage"}`: the final message as the API returned it.
boost::json::object message_json(const net::message& m);

/// A readable view of what is remembered about a user.
void print_memory(std::ostream& out, const memory::user_memory& m);

/// The update history, oldest first.
void print_history(std::ostream& out, const memory::user_record& r);

/// One line per agent: name, model, first sentence of the description, origin.
void print_agents(std::ostream& out, const std::vector<agents::agent_definition>& list,
                  const std::vector<std::string>& origins);

/// False once a write to stdout failed (the reader went away, the disk is full); the first
/// failure's errno is kept for stdout_failure(). Nothing more is printed after it.
bool stdout_ok();

/// Flushes stdout; the one-line failure when any write to it failed, else empty.
std::optional<std::string> stdout_failure();

/// Progress and status lines go to stderr (stdout stays the reply), unless --quiet. Each is one
/// line with the API key scrubbed: notices carry text from the server (an error message may
/// quote the key back) and memory changes carry what the model wrote.
class status_line {
public:
    explicit status_line(bool quiet) : quiet_(quiet) {}
    void say(const std::string& text) const;
    /// The key to scrub from every later line.
    void set_secret(std::string api_key) { secret_ = std::move(api_key); }

private:
    bool quiet_;
    std::string secret_;
};

}  // namespace engram::cli
