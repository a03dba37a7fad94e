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
    if (!port_text.empty() || authority.ends_with(":")) {
        unsigned port = 0;
        auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
        if (ec != std::errc() || p != port_text.data() + port_text.size() || port == 0 || port > 65535) {
            error = "base URL has an invalid port";
            return std::nullopt;
        }
        out.port = static_cast<std::uint16_t>(port);
    }
    while (path.ends_with("/")) path.remove_suffix(1);
    out.path_prefix = std::string(path);
    return out;
}

}  // namespace engram::net::detail
