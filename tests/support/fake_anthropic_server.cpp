// GCC 12 reports a false -Wmismatched-new-delete when it inlines Asio's awaitable frame
// allocation (class-specific operator new/delete, which do match); see GCC PR 109224.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "support/fake_anthropic_server.hpp"

#include <engram/net/sse_writer.hpp>

#include <atomic>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/object.hpp>

namespace engram::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

scripted_response scripted_response::sse(std::string body, std::vector<std::size_t> pieces) {
    scripted_response r;
    r.body = std::move(body);
    r.content_type = "text/event-stream; charset=utf-8";
    r.chunked = true;
    r.piece_sizes = std::move(pieces);
    return r;
}

scripted_response scripted_response::json(int status, std::string body) {
    scripted_response r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

struct fake_anthropic_server::impl {
    asio::io_context ioc;
    tcp::acceptor acceptor{ioc};
    std::optional<asio::ssl::context> ssl;
    std::thread thread;

    mutable std::mutex mutex;
    std::deque<scripted_response> queue;
    std::function<scripted_response(const recorded_request&)> handler;
    std::vector<recorded_request> requests;
    std::size_t accepted = 0;
    std::atomic<std::size_t> open{0};

    bool next_answers_before_body() {
        std::lock_guard lock(mutex);
        return !queue.empty() && queue.front().answer_before_body;
    }

    scripted_response next_script(const recorded_request& req) {
        std::function<scripted_response(const recorded_request&)> h;
        {
            std::lock_guard lock(mutex);
            requests.push_back(req);
            if (!queue.empty()) {
                auto r = std::move(queue.front());
                queue.pop_front();
                return r;
            }
            h = handler;
        }
        if (h) return h(req);
        return scripted_response::json(500, R"({"type":"error","error":{"type":"api_error","message":"fake server: no script"}})");
    }

    static std::string reason(int status) {
        switch (status) {
            case 200: return "OK";
            case 400: return "Bad Request";
            case 401: return "Unauthorized";
            case 408: return "Request Timeout";
            case 413: return "Payload Too Large";
            case 429: return "Too Many Requests";
            case 500: return "Internal Server Error";
            case 529: return "Site Overloaded";
            default: return "Status";
        }
    }

    template <class Stream>
    asio::awaitable<void> serve(Stream& s, std::size_t conn_id) {
        beast::flat_buffer buffer;
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.body_limit(64 * 1024 * 1024);  // Beast's default (1 MiB) is below what tests send
            auto [hec, hn] = co_await http::async_read_header(s, buffer, parser, asio::as_tuple(asio::use_awaitable));
            if (hec) co_return;
            if (next_answers_before_body()) {
                recorded_request rec;
                rec.method = std::string(parser.get().method_string());
                rec.target = std::string(parser.get().target());
                rec.connection = conn_id;
                auto script = next_script(rec);
                boost::system::error_code ignored;
                s.lowest_layer().set_option(tcp::no_delay(true), ignored);  // the answer leaves at once
                co_await respond(s, script);
                // A moment for the answer to reach the client, then the close, which (the body
                // unread) resets the connection under the client's send.
                asio::steady_timer linger(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
                co_await linger.async_wait(asio::as_tuple(asio::use_awaitable));
                co_return;
            }
            auto [ec, n] = co_await http::async_read(s, buffer, parser, asio::as_tuple(asio::use_awaitable));
            if (ec) co_return;
            auto req = parser.release();
            recorded_request rec;
            rec.method = std::string(req.method_string());
            rec.target = std::string(req.target());
            for (const auto& f : req) {
                std::string name(f.name_string());
                for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                rec.headers[name] = std::string(f.value());
            }
            rec.body = req.body();
            rec.connection = conn_id;
            const bool client_keep_alive = req.keep_alive();
            auto script = next_script(rec);
            if (script.drop) {  // after delay_before_header, if any: a server that worked on it first
                if (script.delay_before_header.count() > 0) {
                    asio::steady_timer wait(co_await asio::this_coro::executor, script.delay_before_header);
                    co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
                }
                co_return;
            }
            if (!co_await respond(s, script)) co_return;
            if (!script.keep_alive || !client_keep_alive) co_return;
            if (script.close_after.count() > 0) {
                asio::steady_timer idle(co_await asio::this_coro::executor, script.close_after);
                co_await idle.async_wait(asio::as_tuple(asio::use_awaitable));
                co_return;
            }
        }
    }

    // Writes `data`, in fragments if the script asks for them.
    template <class Stream>
    asio::awaitable<boost::system::error_code> send(Stream& s, const scripted_response& r, std::string_view data) {
        if (r.wire_piece_size == 0) {
            auto [ec, n] = co_await asio::async_write(s, asio::buffer(data), asio::as_tuple(asio::use_awaitable));
            co_return ec;
        }
        asio::steady_timer gap(co_await asio::this_coro::executor);
        for (std::size_t pos = 0; pos < data.size(); pos += r.wire_piece_size) {
            const auto piece = data.substr(pos, r.wire_piece_size);
            auto [ec, n] = co_await asio::async_write(s, asio::buffer(piece), asio::as_tuple(asio::use_awaitable));
            if (ec) co_return ec;
            gap.expires_after(std::chrono::milliseconds(1));
            co_await gap.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        co_return boost::system::error_code();
    }

    // Returns false when the connection must end (closed or stalled).
    template <class Stream>
    asio::awaitable<bool> respond(Stream& s, const scripted_response& r) {
        if (r.delay_before_header.count() > 0) {
            asio::steady_timer wait(co_await asio::this_coro::executor, r.delay_before_header);
            co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        std::string head = r.before_header + "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) + "\r\n";
        head += "Content-Type: " + r.content_type + "\r\n";
        bool has_request_id = false;
        for (const auto& [k, v] : r.headers) {
            head += k + ": " + v + "\r\n";
            has_request_id = has_request_id || k == "request-id";
        }
        if (!has_request_id) head += "request-id: req_fake_" + std::to_string(r.status) + "\r\n";
        if (!r.keep_alive) head += "Connection: close\r\n";
        head += r.chunked ? "Transfer-Encoding: chunked\r\n" : "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
        head += "\r\n";
        if (co_await send(s, r, head)) co_return false;

        const std::size_t limit = r.stop_after_bytes.value_or(r.body.size());
        std::size_t pos = 0, piece = 0;
        asio::steady_timer timer(co_await asio::this_coro::executor);
        while (pos < std::min(limit, r.body.size())) {
            std::size_t len = r.piece_sizes.empty() ? r.body.size() : r.piece_sizes[piece++ % r.piece_sizes.size()];
            len = std::max<std::size_t>(1, std::min(len, std::min(limit, r.body.size()) - pos));
            std::string out;
            if (r.chunked) {
                char size[32];
                std::snprintf(size, sizeof size, "%zx", len);
                out = size + r.chunk_extension + "\r\n" + r.body.substr(pos, len) + "\r\n";
            } else {
                out = r.body.substr(pos, len);
                if (pos + len == r.body.size() && r.after_body_delay.count() == 0 && !r.after_body_own_write) out += r.after_body;
            }
            if (co_await send(s, r, out)) co_return false;
            pos += len;
            if (r.delay_between_pieces.count() > 0 && pos < r.body.size()) {
                timer.expires_after(r.delay_between_pieces);
                co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
            }
        }
        if (r.stop_after_bytes && *r.stop_after_bytes < r.body.size()) {
            if (r.stall) {
                // Send nothing more; wait until the client goes away.
                char sink[512];
                for (;;) {
                    auto [rec, rn] = co_await s.async_read_some(asio::buffer(sink), asio::as_tuple(asio::use_awaitable));
                    if (rec) break;
                }
            }
            co_return false;
        }
        if (r.chunked) {
            if (r.delay_before_end.count() > 0) {
                timer.expires_after(r.delay_before_end);
                co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
            }
            std::string last = "0\r\n\r\n";  // (no conditional inside co_await: GCC 12 miscompiles its temporaries)
            if (r.after_body_delay.count() == 0 && !r.after_body_own_write) last += r.after_body;
            if (co_await send(s, r, last)) co_return false;
        }
        if (r.after_body_delay.count() == 0 && r.after_body_own_write && !r.after_body.empty())
            if (co_await send(s, r, r.after_body)) co_return false;
        if (r.after_body_delay.count() > 0 && !r.after_body.empty()) {
            timer.expires_after(r.after_body_delay);
            co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
            if (co_await send(s, r, r.after_body)) co_return false;
        }
        co_return true;
    }

    asio::awaitable<void> session(tcp::socket socket, std::size_t conn_id) {
        ++open;
        if (ssl) {
            asio::ssl::stream<tcp::socket> tls(std::move(socket), *ssl);
            auto [ec] = co_await tls.async_handshake(asio::ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
            if (!ec) co_await serve(tls, conn_id);
            boost::system::error_code ignored;
            tls.lowest_layer().close(ignored);
        } else {
            co_await serve(socket, conn_id);
            boost::system::error_code ignored;
            socket.shutdown(tcp::socket::shutdown_both, ignored);
            socket.close(ignored);
        }
        --open;
    }

    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) co_return;
            std::size_t id;
            {
                std::lock_guard lock(mutex);
                id = ++accepted;
            }
            asio::co_spawn(ioc, session(std::move(socket), id), asio::detached);
        }
    }
};

fake_anthropic_server::fake_anthropic_server(tls_mode tls) : impl_(std::make_unique<impl>()) {
    if (tls != tls_mode::none) {
        const auto& kc = tls == tls_mode::localhost_cert ? pki().localhost : pki().other_host;
        impl_->ssl.emplace(asio::ssl::context::tls_server);
        impl_->ssl->use_certificate_chain(asio::buffer(kc.cert_pem));
        impl_->ssl->use_private_key(asio::buffer(kc.key_pem), asio::ssl::context::pem);
    }
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    impl_->acceptor.open(ep.protocol());
    impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    impl_->acceptor.bind(ep);
    impl_->acceptor.listen(asio::socket_base::max_listen_connections);
    asio::co_spawn(impl_->ioc, impl_->accept_loop(), asio::detached);
    impl_->thread = std::thread([this] { impl_->ioc.run(); });
}

fake_anthropic_server::~fake_anthropic_server() {
    impl_->ioc.stop();
    impl_->thread.join();
}

std::uint16_t fake_anthropic_server::port() const noexcept { return impl_->acceptor.local_endpoint().port(); }

std::string fake_anthropic_server::base_url() const {
    return std::string(impl_->ssl ? "https" : "http") + "://127.0.0.1:" + std::to_string(port());
}

void fake_anthropic_server::push(scripted_response r) {
    std::lock_guard lock(impl_->mutex);
    impl_->queue.push_back(std::move(r));
}

void fake_anthropic_server::set_handler(std::function<scripted_response(const recorded_request&)> handler) {
    std::lock_guard lock(impl_->mutex);
    impl_->handler = std::move(handler);
}

std::vector<recorded_request> fake_anthropic_server::requests() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->requests;
}

std::size_t fake_anthropic_server::connections_accepted() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->accepted;
}

std::size_t fake_anthropic_server::connections_open() const { return impl_->open.load(); }

std::string make_text_stream(const std::string& text, std::size_t deltas, const std::string& model) {
    namespace json = boost::json;
    std::string out;
    auto event = [&](const char* name, const json::object& data) { engram::net::append_sse_event(out, name, json::serialize(data)); };
    event("message_start", {{"type", "message_start"},
                            {"message", {{"id", "msg_fake"}, {"type", "message"}, {"role", "assistant"}, {"model", model},
                                         {"content", json::array()}, {"stop_reason", nullptr}, {"stop_sequence", nullptr},
                                         {"usage", {{"input_tokens", 10}, {"output_tokens", 1}}}}}});
    event("content_block_start", {{"type", "content_block_start"}, {"index", 0}, {"content_block", {{"type", "text"}, {"text", ""}}}});
    event("ping", {{"type", "ping"}});
    const std::size_t n = std::max<std::size_t>(1, deltas);
    const std::size_t step = (text.size() + n - 1) / n;
    for (std::size_t pos = 0; pos < text.size(); pos += step) {
        event("content_block_delta", {{"type", "content_block_delta"}, {"index", 0},
                                      {"delta", {{"type", "text_delta"}, {"text", text.substr(pos, step)}}}});
    }
    event("content_block_stop", {{"type", "content_block_stop"}, {"index", 0}});
    event("message_delta", {{"type", "message_delta"}, {"delta", {{"stop_reason", "end_turn"}, {"stop_sequence", nullptr}}},
                            {"usage", {{"output_tokens", static_cast<std::int64_t>(n)}}}});
    event("message_stop", {{"type", "message_stop"}});
    return out;
}

}  // namespace engram::test
