// Exit codes, and every failure turned into one actionable line on stderr.
#pragma once

#include <cstddef>
#include <exception>
#include <stdexcept>
#include <string>

namespace engram::cli {

/// Process exit statuses (documented in README.md and `engram --help`).
enum exit_code : int {
    exit_ok = 0,
    exit_api = 1,          ///< the model call failed: API error, network, TLS, timeout, bad stream
    exit_usage = 2,        ///< bad arguments or configuration (missing key, unknown agent, bad id, ...)
    exit_memory = 3,       ///< the memory store failed, or memory could not be saved
    exit_interrupted = 130, ///< Ctrl-C (run), or a second one: quit at once (pending memory stays in the journal)
    exit_terminated = 143   ///< SIGTERM (128 + 15, as a shell reports it), after memory was saved
};

/// A failure the CLI itself detects; what() is the one-line message (without "engram: error: ").
class cli_error : public std::runtime_error {
public:
    cli_error(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
    int code() const noexcept { return code_; }

private:
    int code_;
};

inline cli_error usage_error(const std::string& what) { return {exit_usage, what}; }

/// Context that makes messages actionable; the key is only used to scrub it from any text.
struct error_context {
    std::string base_url;
    std::string api_key;
    /// What chose base_url, for hints: "--base-url", "ANTHROPIC_BASE_URL" or "ANTHROPIC_BASE_URL in ./.env".
    std::string base_url_setting = "ANTHROPIC_BASE_URL";
};

/// The one-line message and exit status for any exception the CLI can meet.
struct failure {
    int code = exit_api;
    std::string message;
};
failure describe(std::exception_ptr e, const error_context& ctx);

/// Prints "engram: error: MESSAGE" (one line, key scrubbed) to stderr and returns the code.
int report(const failure& f, const error_context& ctx);

/// Collapses `text` to one line and replaces any occurrence of the key with "***"
/// (net::redact_key: a key shorter than net::min_redacted_key_length is left alone).
std::string one_line(std::string text, const std::string& api_key = {});

}  // namespace engram::cli
