// engram::net error codes, their category, and the exception that carries API diagnostics.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace engram::net {

/// Every failure net/ reports. Grouped by `error_kind` (see `kind_of`), which is what retry
/// logic and user-facing messages branch on.
enum class errc {
    // connection
    resolve_failed = 1,
    connect_failed,
    connection_closed,  ///< the peer closed or reset the connection before the response ended
    // tls
    tls_handshake_failed,
    certificate_verify_failed,
    // timeout
    connect_timeout,
    tls_handshake_timeout,
    response_header_timeout,
    stream_idle_timeout,
    total_timeout,
    // protocol
    http_protocol_error,  ///< malformed HTTP from the server
    event_too_large,      ///< an SSE event exceeded client_config::max_event_bytes
    invalid_json,         ///< an event or body that is not the JSON it must be
    unexpected_event,     ///< events out of order (delta before message_start, unknown index, ...)
    incomplete_stream,    ///< the stream ended without message_stop
    body_too_large,       ///< a body (non-streaming, streamed or an error's) exceeded its limit
    // api (HTTP error status or in-band `error` event)
    invalid_request,      ///< 400 invalid_request_error
    authentication,       ///< 401 authentication_error
    permission,           ///< 403 permission_error
    not_found,            ///< 404 not_found_error
    request_too_large,    ///< 413 request_too_large
    rate_limited,         ///< 429 rate_limit_error
    api_internal,         ///< 500 api_error and other 5xx
    overloaded,           ///< 529 or in-band overloaded_error
    api_other,            ///< any other API error type or status
    // local
    cancelled,
    invalid_config,
};

enum class error_kind { connection, tls, timeout, protocol, api, cancelled, config };

const std::error_category& net_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), net_category()}; }
error_kind kind_of(errc e) noexcept;
const char* to_string(error_kind k) noexcept;

/// Maps an Anthropic `error.type` string (and HTTP status, 0 when in-band) to an errc.
errc errc_from_api(std::string_view error_type, int http_status) noexcept;

/// What the API said about a failure. Never contains the API key.
struct api_error_details {
    int http_status = 0;      ///< 0 when the error arrived in-band in a 200 stream
    std::string error_type;   ///< e.g. "overloaded_error"
    std::string message;      ///< the API's human-readable message
    std::string request_id;   ///< `request-id` header, or the body's `request_id`
};

class message;

/// Keys shorter than this are not redacted: a local server accepts any key, and replacing a short
/// one such as "e" would garble every message while protecting nothing (real keys are about 100
/// characters).
inline constexpr std::size_t min_redacted_key_length = 8;

/// `text` with every occurrence of `api_key` replaced by "***" (a key shorter than
/// min_redacted_key_length is left alone). The client applies it to all text a server sends
/// back (an error's message, type and request id): a gateway may quote the key it refused.
std::string redact_key(std::string text, std::string_view api_key);

/// The exception thrown by every awaitable net/ operation (and passed as the exception_ptr of
/// callback-style completions). `what()` is a one-line, key-free description.
class client_error : public std::system_error {
public:
    client_error(errc code, std::string what, std::optional<api_error_details> api = {},
                 std::shared_ptr<const message> partial = {});

    errc code_value() const noexcept { return static_cast<errc>(code().value()); }
    error_kind kind() const noexcept { return kind_of(code_value()); }
    /// Present for API errors (HTTP status >= 400 or an in-band `error` event).
    const std::optional<api_error_details>& api() const noexcept { return api_; }
    /// For failures after a stream had started: everything that arrived before the failure.
    const std::shared_ptr<const message>& partial_message() const noexcept { return partial_; }
    /// The description alone (std::system_error would append the code's message again).
    const char* what() const noexcept override { return what_.c_str(); }

private:
    std::string what_;
    std::optional<api_error_details> api_;
    std::shared_ptr<const message> partial_;
};

}  // namespace engram::net

template <>
struct std::is_error_code_enum<engram::net::errc> : std::true_type {};
