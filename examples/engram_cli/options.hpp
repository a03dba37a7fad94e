// Command-line options, the .env file and the environment, turned into one settings value.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <engram/runtime/config.hpp>

namespace engram::cli {

/// Everything the command line said, before the environment is consulted.
struct options {
    std::string command;                  ///< run, chat, memory, agents, help (empty: none given)
    std::vector<std::string> positionals;  ///< after the command (memory: sub-command, id)
    bool help = false;
    bool version = false;
    bool quiet = false;                   ///< no progress lines on stderr
    std::string agent = "assistant";
    std::string user;
    bool user_given = false;
    std::optional<std::string> message;
    std::string output = "text";          ///< text | json
    std::string memory_dir;
    std::string model;
    std::string ca_file;
    std::string base_url;
    std::vector<std::string> agent_files;
};

/// Parses argv. Options may come before or after the command, as `--name value` or
/// `--name=value`. @throws usage_error for an unknown option or a missing value.
options parse_command_line(int argc, char** argv);

/// Reads KEY=VALUE lines from `path` (blank lines and `#` comments ignored; an optional `export `
/// prefix; values may be single- or double-quoted, and an unquoted value ends at ` #`). A
/// variable already set (non-empty) in the real environment wins. A missing file is not an
/// error; a malformed line is reported on stderr and skipped. Returns how many values were set.
int load_dotenv(const std::string& path);

/// Whether load_dotenv() set `key` (so a setting can say where it came from).
bool set_from_dotenv(const std::string& key);

/// The runtime configuration: client settings from ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY,
/// overridden by --base-url and --ca-file; ENGRAM_MAX_RETRIES and ENGRAM_RETRY_BASE_MS; the
/// memory directory from --memory-dir, else ENGRAM_MEMORY_DIR, else the default.
/// @throws usage_error for a malformed ENGRAM_* number.
runtime::runtime_config make_runtime_config(const options& o);

/// The memory directory the options select (empty: the default directory).
/// @throws usage_error when the default would not be absolute (no HOME nor XDG_DATA_HOME).
std::string memory_directory(const options& o);

}  // namespace engram::cli
