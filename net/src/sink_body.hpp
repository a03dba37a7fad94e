// A Beast body type that hands every parsed piece of the body straight to a sink (private to
// net/). A streamed reply goes from the connection's read buffer into the SSE parser with no
// intermediate buffer per stream and no copy; an error body goes into a bounded string.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional/optional.hpp>
#include <boost/system/error_code.hpp>

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

struct sink_body {
    struct value_type {
        body_sink* sink = nullptr;  ///< null: the body is dropped
    };

    class reader {
    public:
        template <bool IsRequest, class Fields>
        reader(boost::beast::http::header<IsRequest, Fields>&, value_type& body) : body_(body) {}

        void init(const boost::optional<std::uint64_t>&, boost::system::error_code& ec) { ec = {}; }

        template <class ConstBufferSequence>
        std::size_t put(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
            ec = {};
            std::size_t n = 0;
            for (const auto b : boost::beast::buffers_range_ref(buffers)) {
                if (body_.sink) body_.sink->on_body(std::string_view(static_cast<const char*>(b.data()), b.size()));
                n += b.size();
            }
            return n;
        }

        void finish(boost::system::error_code& ec) { ec = {}; }

    private:
        value_type& body_;
    };
};

}  // namespace engram::net::detail
