// Where response_reader hands the decoded body (private to net/). A streamed reply goes from
// the connection's read buffer into the SSE parser with no intermediate buffer per stream and
// no copy; an error body goes into a bounded string.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace engram::net::detail {

/// Receives the body as the parser decodes it (chunk framing removed).
class body_sink {
public:
    virtual void on_body(std::string_view piece) = 0;

protected:
    ~body_sink() = default;
};

/// Keeps up to `limit` bytes and remembers whether more came.
class string_sink final : public body_sink {
public:
    explicit string_sink(std::size_t limit) : limit_(limit) {}
    void on_body(std::string_view piece) override {
        const auto room = limit_ - text.size();
        if (piece.size() > room) overflowed = true;
        text.append(piece.substr(0, room));
    }
    std::string text;
    bool overflowed = false;

private:
    std::size_t limit_;
};

/// Counts and drops what it is given (the rest of a body after the message ended).
class discard_sink final : public body_sink {
public:
    void on_body(std::string_view piece) override { bytes += piece.size(); }
    std::size_t bytes = 0;
};

}  // namespace engram::net::detail
