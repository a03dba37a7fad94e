// Configuration of net::claude_client: endpoint, credentials, TLS, timeouts, retries, limits.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace engram::net {

/// How failed requests are retried. The defaults are the official SDKs'.
struct retry_policy {
    /// Retries after the first attempt (so up to max_retries + 1 requests).
    unsigned max_retries = 2;
    /// Backoff without a server hint: initial_backoff * 2^retry, capped at max_backoff, then
    /// reduced by up to `jitter` (a fraction) at random.
    std::chrono::milliseconds initial_backoff{500};
    std::chrono::milliseconds max_backoff{8000};
    double jitter = 0.25;
    /// A `retry-after-ms` / `retry-after` hint is obeyed when it is positive and at most this.
    std::chrono::milliseconds max_retry_after{60000};
};

/// Everything the client needs to know. Defaults are usable against api.anthropic.com once
/// `api_key` is set; `from_env()` fills the endpoint and key from the environment.
struct client_config {
    /// `https://host[:port][/prefix]` or `http://...` for local servers (e.g. llama.cpp).
    std::string base_url = "https://api.anthropic.com";
    /// Sent as `x-api-key`. Never logged and never part of any error text.
    std::string api_key;
    std::string anthropic_version = "2023-06-01";
    /// Joined with ',' into one `anthropic-beta` header when non-empty.
    std::vector<std::string> anthropic_beta;
    std::string user_agent = "engram/0.1";

    /// Extra PEM file of trusted CAs, added to the system store (which honours SSL_CERT_FILE
    /// and SSL_CERT_DIR). Both are loaded, and a bad file reported, only for an https base URL.
    std::string ca_file;
    /// Certificate and host-name verification. Turning it off is insecure and exists only for
    /// debugging against throw-away servers.
    bool verify_peer = true;

    /// Name resolution plus the TCP connect, across the host's addresses (as curl's connect
    /// timeout). A lookup that outlasts it is left to finish in the background (getaddrinfo
    /// cannot be interrupted) and fills the cache for later requests. Each step timeout: zero
    /// disables it.
    std::chrono::milliseconds connect_timeout{10'000};
    /// How long a host name's addresses serve new connections before it is looked up again
    /// (curl's default); zero looks it up for every connection. Requests that need the
    /// addresses while a lookup runs share it either way.
    std::chrono::milliseconds dns_cache_ttl{60'000};
    std::chrono::milliseconds tls_handshake_timeout{10'000};
    /// From sending the request to the end of the response header. A non-streaming request's
    /// header only comes once the whole message is generated, hence the generous default.
    std::chrono::milliseconds response_header_timeout{600'000};
    /// Longest silence between two reads of a response body (re-armed before every read). The
    /// API sends `ping` events while a stream is otherwise quiet.
    std::chrono::milliseconds stream_idle_timeout{90'000};
    /// A request until its response header, retries and backoff included, and a non-streaming
    /// response's body; zero disables it. A stream's body, once its 200 header is in, is
    /// bounded by stream_idle_timeout and stream_total_timeout instead: a long generation
    /// (extended thinking, a large max_tokens) may stream for longer than this.
    std::chrono::milliseconds total_timeout{600'000};
    /// A stream's body from its 200 header to its end; zero (the default) leaves it unbounded
    /// but for stream_idle_timeout. Set it to stop a server that trickles forever. Its expiry
    /// is reported as errc::total_timeout.
    std::chrono::milliseconds stream_total_timeout{0};

    retry_policy retry;

    /// Connections open to one host at most (idle plus in use); further requests wait for one.
    std::size_t max_connections_per_host = 1000;
    /// Idle keep-alive connections kept per host; extras are closed when released.
    std::size_t max_idle_connections_per_host = 100;
    /// A keep-alive connection idle for longer is closed instead of reused (as Go's
    /// IdleConnTimeout): a NAT or firewall drops idle connections silently, and a request sent on
    /// one would wait for its response_header_timeout. Zero keeps them. Whatever its age, a
    /// pooled connection on which the server sent anything while it was idle (its close, stray
    /// bytes) is never reused.
    std::chrono::milliseconds idle_connection_timeout{90'000};
    /// Bound on one server-sent event (protects against unbounded growth).
    std::size_t max_event_bytes = 16 * 1024 * 1024;
    /// Bound on a response body: a non-streaming one, and a stream's in all (a server that never
    /// ends its stream must not grow the message without limit). Exceeded: errc::body_too_large.
    std::size_t max_body_bytes = 64 * 1024 * 1024;
    /// Bound on an error response body that is read for its diagnostics.
    std::size_t max_error_body_bytes = 1024 * 1024;

    /// The defaults, with `base_url` from ANTHROPIC_BASE_URL and `api_key` from
    /// ANTHROPIC_API_KEY when those are set and non-empty.
    static client_config from_env();
};

}  // namespace engram::net
