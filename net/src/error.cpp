#include <engram/net/error.hpp>
#include <engram/net/message.hpp>

namespace engram::net {
namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "engram.net"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::resolve_failed: return "could not resolve host name";
            case errc::connect_failed: return "could not connect";
            case errc::connection_closed: return "connection closed before the response ended";
            case errc::tls_handshake_failed: return "TLS handshake failed";
            case errc::certificate_verify_failed: return "server certificate verification failed";
            case errc::connect_timeout: return "timed out connecting";
            case errc::tls_handshake_timeout: return "timed out in TLS handshake";
            case errc::response_header_timeout: return "timed out waiting for the response header";
            case errc::stream_idle_timeout: return "no data from the server within the idle timeout";
            case errc::total_timeout: return "request exceeded its total timeout";
            case errc::http_protocol_error: return "malformed HTTP response";
            case errc::event_too_large: return "server-sent event exceeds the configured maximum size";
            case errc::invalid_json: return "invalid JSON from the server";
            case errc::unexpected_event: return "stream events out of order";
            case errc::incomplete_stream: return "stream ended without message_stop";
            case errc::body_too_large: return "response body exceeds the configured limit";
            case errc::invalid_request: return "invalid request";
            case errc::authentication: return "authentication failed";
            case errc::permission: return "permission denied";
            case errc::not_found: return "not found";
            case errc::request_too_large: return "request too large";
            case errc::rate_limited: return "rate limited";
            case errc::api_internal: return "API internal error";
            case errc::overloaded: return "API overloaded";
            case errc::api_other: return "API error";
            case errc::cancelled: return "operation cancelled";
            case errc::invalid_config: return "invalid client configuration";
        }
        return "unknown engram.net error";
    }
};

}  // namespace

const std::error_category& net_category() noexcept {
    static const category instance;
    return instance;
}

error_kind kind_of(errc e) noexcept {
    switch (e) {
        case errc::resolve_failed:
        case errc::connect_failed:
        case errc::connection_closed: return error_kind::connection;
        case errc::tls_handshake_failed:
        case errc::certificate_verify_failed: return error_kind::tls;
        case errc::connect_timeout:
        case errc::tls_handshake_timeout:
        case errc::response_header_timeout:
        case errc::stream_idle_timeout:
        case errc::total_timeout: return error_kind::timeout;
        case errc::http_protocol_error:
        case errc::event_too_large:
        case errc::invalid_json:
        case errc::unexpected_event:
        case errc::incomplete_stream:
        case errc::body_too_large: return error_kind::protocol;
        case errc::cancelled: return error_kind::cancelled;
        case errc::invalid_config: return error_kind::config;
        default: return error_kind::api;
    }
}

const char* to_string(error_kind k) noexcept {
    switch (k) {
        case error_kind::connection: return "connection";
        case error_kind::tls: return "tls";
        case error_kind::timeout: return "timeout";
        case error_kind::protocol: return "protocol";
        case error_kind::api: return "api";
        case error_kind::cancelled: return "cancelled";
        case error_kind::config: return "config";
    }
    return "unknown";
}

errc errc_from_api(std::string_view type, int status) noexcept {
    if (type == "invalid_request_error") return errc::invalid_request;
    if (type == "authentication_error") return errc::authentication;
    if (type == "permission_error") return errc::permission;
    if (type == "not_found_error") return errc::not_found;
    if (type == "request_too_large") return errc::request_too_large;
    if (type == "rate_limit_error") return errc::rate_limited;
    if (type == "api_error") return errc::api_internal;
    if (type == "overloaded_error") return errc::overloaded;
    switch (status) {
        case 400: return errc::invalid_request;
        case 401: return errc::authentication;
        case 403: return errc::permission;
        case 404: return errc::not_found;
        case 413: return errc::request_too_large;
        case 429: return errc::rate_limited;
        case 529: return errc::overloaded;
        default: return status >= 500 ? errc::api_internal : errc::api_other;
    }
}

client_error::client_error(errc code, std::string what, std::optional<api_error_details> api,
                           std::shared_ptr<const message> partial)
    : std::system_error(make_error_code(code)),
      what_(std::move(what)),
      api_(std::move(api)),
      partial_(std::move(partial)) {}

std::string redact_key(std::string text, std::string_view api_key) {
    if (api_key.size() < min_redacted_key_length) return text;
    for (auto pos = text.find(api_key); pos != std::string::npos; pos = text.find(api_key, pos + 3))
        text.replace(pos, api_key.size(), "***");
    return text;
}

}  // namespace engram::net
