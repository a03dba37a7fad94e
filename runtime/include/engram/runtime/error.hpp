// engram::runtime error codes.
#pragma once

#include <string>
#include <system_error>

namespace engram::runtime {

enum class errc {
    session_busy = 1,       ///< busy_policy::refuse and a turn is already running
    session_ended,          ///< send() after end()
    shutting_down,          ///< the runtime no longer opens sessions or accepts turns
    unknown_agent,          ///< open_session() with an agent name nobody registered
    vetoed,                 ///< a hook refused to open the session
    message_too_large,      ///< a single message exceeds the history budget
    extraction_failed,      ///< the extraction reply was invalid twice (the job stays journaled)
    memory_error,           ///< the memory store failed (see the message)
    not_started,            ///< start() was not awaited first
    resource_limit,         ///< a process limit (open files) is below what the configuration needs
    empty_reply,            ///< the model's reply had no content; the turn was not kept
    invalid_agent,          ///< add_agent() with a definition agents::validate() refuses
    empty_message,          ///< send() with no text but whitespace (the API refuses such a message)
    invalid_message,        ///< send() with text that is not valid UTF-8 (nothing is sent)
    too_many_sessions,      ///< open_session() while runtime_config::max_open_sessions are open
};

const std::error_category& runtime_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), runtime_category()}; }

/// Thrown by runtime and session operations for their own failures; failures of the model call
/// itself arrive as net::client_error.
class runtime_error : public std::system_error {
public:
    runtime_error(errc e, std::string what) : std::system_error(make_error_code(e)), what_(std::move(what)) {}
    const char* what() const noexcept override { return what_.c_str(); }
    errc code_value() const noexcept { return static_cast<errc>(code().value()); }

private:
    std::string what_;
};

}  // namespace engram::runtime

template <>
struct std::is_error_code_enum<engram::runtime::errc> : std::true_type {};
