// The client's HTTP/1.1 response parser (private to net/).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/beast/http/basic_parser.hpp>
#include <boost/optional/optional.hpp>

#include "body_sink.hpp"

namespace engram::net::detail {

/// Parses a response with Beast's parser, but keeps only what the client reads from the header
/// (the status, `request-id`, the rate-limit and retry headers) and hands the decoded body,
/// chunk framing removed, straight to a sink. Beast's own response_parser stores every header
/// field in an allocation of its own, on every request, to be thrown away unread.
class response_reader final : public boost::beast::http::basic_parser<false> {
public:
    int status() const noexcept { return status_; }
    /// The value of a kept header field (`name` in lower case), or "" if it was not sent.
    std::string_view header(std::string_view name) const noexcept;
    /// Where the body goes from now on (null: it is dropped).
    void set_sink(body_sink* sink) noexcept { sink_ = sink; }
    /// Frees the kept header fields once they have been read.
    void clear_headers() noexcept { std::string().swap(kept_); }

    /// Whether a field is one the client reads (`name` in any case).
    static bool kept(std::string_view name) noexcept;

private:
    using string_view = boost::beast::string_view;
    using error_code = boost::system::error_code;

    void on_request_impl(boost::beast::http::verb, string_view, string_view, int, error_code&) override {}
    void on_response_impl(int code, string_view, int, error_code&) override { status_ = code; }
    void on_field_impl(boost::beast::http::field, string_view name, string_view value, error_code&) override;
    void on_header_impl(error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
    std::size_t on_body_impl(string_view body, error_code&) override { return deliver(body); }
    void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override { return deliver(body); }
    void on_finish_impl(error_code&) override {}

    std::size_t deliver(string_view body) {
        if (sink_) sink_->on_body(std::string_view(body.data(), body.size()));
        return body.size();
    }

    int status_ = 0;
    std::string kept_;  // "name\0value\0" for each kept field, names in lower case
    body_sink* sink_ = nullptr;
};

}  // namespace engram::net::detail
