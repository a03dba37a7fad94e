// Parsing of client_config::base_url (private to net/).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace engram::net::detail {

struct base_url {
    bool tls = true;
    std::string host;         ///< without brackets for IPv6 literals
    std::uint16_t port = 443;
    std::string path_prefix;  ///< "" or "/prefix" without a trailing slash
    /// The Host header value: host, plus ":port" when not the scheme's default.
    std::string host_header() const;
    /// "scheme://host:port", the connection pool key.
    std::string origin() const;
    bool host_is_ip_literal() const;
};

/// Accepts `http://` and `https://` URLs with an optional port and path; rejects anything else
/// (user-info, queries and fragments included) with a description in `error`.
std::optional<base_url> parse_base_url(std::string_view url, std::string& error);

}  // namespace engram::net::detail
