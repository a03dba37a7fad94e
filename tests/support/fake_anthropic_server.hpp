// An in-process fake of the Anthropic Messages API on 127.0.0.1: real HTTP/1.1 (optionally over
// TLS), scripted per request, with fault injection. It runs on its own thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/test_pki.hpp"

namespace engram::test {

/// What the server does with one request.
struct scripted_response {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;  ///< in addition to the defaults
    std::string body;
    std::string content_type = "application/json";
    /// Chunked transfer encoding (what the real API uses for SSE); else Content-Length.
    bool chunked = false;
    /// Body write sizes, used in turn (cycled); empty = the whole body in one write.
    std::vector<std::size_t> piece_sizes;
    std::chrono::milliseconds delay_between_pieces{0};
    /// Wait this long before sending the status line (to exercise the header timeout).
    std::chrono::milliseconds delay_before_header{0};
    /// Wait this long before the chunked body's last chunk, which ends it.
    std::chrono::milliseconds delay_before_end{0};
    /// After this many body bytes, stop: close the connection (or stall, see below).
    std::optional<std::size_t> stop_after_bytes;
    /// At the stop point, keep the connection open and send nothing until the client leaves.
    bool stall = false;
    bool keep_alive = true;
    /// Kept alive, then closed this long after the response, as a server closes kept-alive
    /// connections that stay idle (what comes meanwhile is not read). Zero: not closed.
    std::chrono::milliseconds close_after{0};
    /// Read the request, then close the connection without a byte of response (a server that
    /// timed the kept-alive connection out just as the request came, or dropped it; after
    /// delay_before_header, one that worked on it first).
    bool drop = false;
    /// Splits everything written, status line, header and chunk framing included, into writes
    /// of at most this many bytes, 1 ms apart, so the client reads arbitrary fragments (0: off).
    std::size_t wire_piece_size = 0;
    /// Appended to every chunk-size line (";name=value..."): chunk extensions, which a client
    /// must skip.
    std::string chunk_extension;
    /// Sent right after the body, in the same write: bytes beyond the response (a stray CRLF, a
    /// second response), which a client must not take for the next request's.
    std::string after_body;
    /// When set, after_body is sent this long after the response, in a write of its own (bytes
    /// that reach a connection while it is idle in the client's pool).
    std::chrono::milliseconds after_body_delay{0};
    /// With no delay: after_body in a write of its own right after the response's last one (over
    /// TLS a record of its own, which reaches the client together with the response's last one:
    /// decrypting that record leaves it in OpenSSL's buffers, past what the socket shows).
    bool after_body_own_write = false;
    /// Sent before the status line: interim responses ("HTTP/1.1 100 Continue\r\n\r\n").
    std::string before_header;
    /// Answer as soon as the request's header is in, read none of its body, then close: a
    /// server refusing a body too large. The recorded request has an empty body. Taken only
    /// from the queue (push), not from a handler.
    bool answer_before_body = false;

    static scripted_response sse(std::string body, std::vector<std::size_t> pieces = {});
    static scripted_response json(int status, std::string body);
};

struct recorded_request {
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers;  ///< names lower-cased
    std::string body;
    std::size_t connection = 0;  ///< which accepted connection carried it (1-based)
};

class fake_anthropic_server {
public:
    enum class tls_mode { none, localhost_cert, other_host_cert };

    explicit fake_anthropic_server(tls_mode tls = tls_mode::none);
    ~fake_anthropic_server();
    fake_anthropic_server(const fake_anthropic_server&) = delete;
    fake_anthropic_server& operator=(const fake_anthropic_server&) = delete;

    std::uint16_t port() const noexcept;
    /// "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT".
    std::string base_url() const;

    /// Scripts the next requests in order; once the queue is empty the handler (if any) answers,
    /// else a 500.
    void push(scripted_response r);
    void set_handler(std::function<scripted_response(const recorded_request&)> handler);

    std::vector<recorded_request> requests() const;
    std::size_t connections_accepted() const;
    std::size_t connections_open() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// A plain text reply streamed as the real API does, in `deltas` text_delta events.
std::string make_text_stream(const std::string& text, std::size_t deltas = 4, const std::string& model = "claude-test");

}  // namespace engram::test
