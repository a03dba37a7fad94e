#include "url.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace engram::net::detail {

std::string base_url::host_header() const {
    // Appended piece by piece: GCC 12 -O3 reports a false -Wrestrict for "[" + host.
    const bool v6 = host.find(':') != std::string::npos;
    std::string h;
    if (v6) h += '[';
    h += host;
    if (v6) h += ']';
    if (port != (tls ? 443 : 80)) {
        h += ':';
        h += std::to_string(port);
    }
    return h;
}

std::string base_url::origin() const {
    const bool v6 = host.find(':') != std::string::npos;
    return std::string(tls ? "https://" : "http://") + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool base_url::host_is_ip_literal() const {
    unsigned char buf[16];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

namespace {

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Whether `s` holds only the characters RFC 3986 allows in a host name or a path (unreserved,
// sub-delims, a valid %-escape, and the few `extra` ones). A base URL goes into the request
// line and the Host header as it is: a space, CR or LF there would split them.
bool uri_chars_only(std::string_view s, std::string_view extra) {
    static constexpr std::string_view allowed = "-._~!$&'()*+,;=";
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) continue;
        if (allowed.find(c) != std::string_view::npos || extra.find(c) != std::string_view::npos) continue;
        if (c == '%' && i + 2 < s.size() && is_hex(s[i + 1]) && is_hex(s[i + 2])) {
            i += 2;
            continue;
        }
        return false;
    }
    return true;
}

}  // namespace

std::optional<base_url> parse_base_url(std::string_view url, std::string& error) {
    base_url out;
    if (url.starts_with("https://")) {
        url.remove_prefix(8);
    } else if (url.starts_with("http://")) {
        out.tls = false;
        out.port = 80;
        url.remove_prefix(7);
    } else {
        error = "base URL must start with http:// or https://";
        return std::nullopt;
    }
    if (url.find_first_of("?#") != std::string_view::npos) {
        error = "base URL must not contain a query or fragment";
        return std::nullopt;
    }
    const auto slash = url.find('/');
    std::string_view authority = url.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view() : url.substr(slash);
    if (authority.find('@') != std::string_view::npos) {
        error = "base URL must not contain user information";
        return std::nullopt;
    }
    std::string_view port_text;
    if (authority.starts_with("[")) {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            error = "base URL has an unterminated IPv6 literal";
            return std::nullopt;
        }
        out.host = std::string(authority.substr(1, close - 1));
        auto rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                error = "base URL has junk after the IPv6 literal";
                return std::nullopt;
            }
            port_text = rest.substr(1);
        }
    } else {
        const auto colon = authority.find(':');
        out.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
    }
    if (out.host.empty()) {
        error = "base URL has no host";
        return std::nullopt;
    }
    if (!uri_chars_only(out.host, authority.starts_with("[") ? ":" : "")) {
        error = "base URL has a character a host name cannot hold";
        return std::nullopt;
    }
    if (!port_text.empty() || authority.ends_with(":")) {
        unsigned port = 0;
        auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
        if (ec != std::errc() || p != port_text.data() + port_text.size() || port == 0 || port > 65535) {
            error = "base URL has an invalid port";
            return std::nullopt;
        }
        out.port = static_cast<std::uint16_t>(port);
    }
    if (!uri_chars_only(path, "/:@")) {
        error = "base URL path has a character a URL path cannot hold (a space, a control character or non-ASCII: escape it as %XX)";
        return std::nullopt;
    }
    while (path.ends_with("/")) path.remove_suffix(1);
    out.path_prefix = std::string(path);
    return out;
}

}  // namespace engram::net::detail
