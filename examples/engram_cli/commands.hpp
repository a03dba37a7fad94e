// The commands. Each returns the process exit status (see errors.hpp); failures are reported as
// one line on stderr by the command itself or by main().
#pragma once

#include <string>
#include <vector>

#include <engram/agents/agent.hpp>

#include "options.hpp"

namespace engram::cli {

/// `engram run` and `engram chat`: sessions against the model, memory saved before returning.
int run_command(const options& o);
int chat_command(const options& o);

/// `engram memory ...` and `engram agents`: offline, on the memory store and agent files.
int memory_command(const options& o);
int agents_command(const options& o);

/// The built-in agents followed by those of --agent-file (a file's agent replaces a built-in of
/// the same name). `origins` says where each came from. @throws cli_error for a bad file.
std::vector<agents::agent_definition> resolve_agents(const options& o, std::vector<std::string>* origins = nullptr);

}  // namespace engram::cli
