// engram_standin_server: a local stand-in for the Anthropic Messages API, so engram's examples
// run with no API key and no network. It listens on 127.0.0.1 only, speaks HTTP/1.1 with
// keep-alive, answers POST /v1/messages streaming (SSE, like the real API) or not, and says in
// every reply that it is a stand-in. It is NOT a model: replies are canned, and engram's
// memory-extraction calls get an update built from what the user said about themselves.
//
// Usage: engram_standin_server [--port N] [--delay-ms N]
//   Prints "listening on http://127.0.0.1:PORT" once ready (PORT 0 = pick a free one).

#include <engram/net/sse_writer.hpp>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

struct options {
    unsigned short port = 0;
    std::chrono::milliseconds delay{25};
};

// The text of the last user message (string content or text blocks).
std::string last_user_text(const json::value& body) {
    std::string text;
    const auto* messages = body.is_object() ? body.get_object().if_contains("messages") : nullptr;
    if (!messages || !messages->is_array()) return text;
    for (const auto& m : messages->get_array()) {
        const auto* o = m.if_object();
        if (!o || !o->contains("role") || o->at("role") != "user") continue;
        text.clear();
        const auto& content = o->at("content");
        if (content.is_string()) {
            text = content.get_string();
        } else if (content.is_array()) {
            for (const auto& b : content.get_array())
                if (b.is_object() && b.get_object().contains("text") && b.at("text").is_string()) text += b.at("text").get_string();
        }
    }
    return text;
}

std::vector<std::string> sentences(const std::string& text) {
    std::vector<std::string> out;
    std::string current;
    for (std::size_t i = 0; i < text.size(); ++i) {
        current += text[i];
        const bool end = (text[i] == '.' || text[i] == '!' || text[i] == '?') && (i + 1 == text.size() || text[i + 1] == ' ');
        if (end || i + 1 == text.size()) {
            while (!current.empty() && current.front() == ' ') current.erase(0, 1);
            if (!current.empty()) out.push_back(current);
            current.clear();
        }
    }
    return out;
}

bool about_self(const std::string& s) {
    for (std::string_view marker : {"I'm ", "I am ", "I ", "My ", "my ", "I've "})
        if (s.starts_with(marker) || s.find(" " + std::string(marker)) != std::string::npos) return true;
    return false;
}

// An extraction call (engram's memory pass) carries the session in <transcript> tags. The
// stand-in "remembers" what the user said about themselves, so memory visibly carries over.
std::optional<std::string> extraction_update(const std::string& user_turn) {
    const auto open = user_turn.find("<transcript>");
    const auto close = user_turn.find("</transcript>");
    if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
    std::string transcript = user_turn.substr(open + 12, close - open - 12);
    json::array facts;
    std::size_t pos = 0;
    while (pos < transcript.size()) {
        auto end = transcript.find('\n', pos);
        if (end == std::string::npos) end = transcript.size();
        std::string line = transcript.substr(pos, end - pos);
        pos = end + 1;
        if (!line.starts_with("USER: ")) continue;
        // Each sentence in which the user speaks about themselves becomes a fact.
        for (auto& sentence : sentences(line.substr(6)))
            if (about_self(sentence) && sentence.size() < 300 && facts.size() < 5)
                facts.push_back({{"text", "The user said: " + sentence}, {"confidence", "high"}, {"source", "stated"}});
    }
    json::object update;
    if (!facts.empty()) {
        update["running_summary"] = "The user has told the stand-in about themselves.";
        update["new_facts"] = std::move(facts);
    }
    return json::serialize(update);
}

// The remembered lines ("Summary: ...", "- ...") of the <user_memory> block in the system prompt.
std::string remembered_lines(const json::value& body) {
    const auto* o = body.if_object();
    const auto* system = o ? o->if_contains("system") : nullptr;
    std::string text;
    if (system && system->is_string()) text = system->get_string();
    if (system && system->is_array())
        for (const auto& b : system->get_array())
            if (b.is_object() && b.get_object().contains("text") && b.at("text").is_string()) text += b.at("text").get_string();
    const auto open = text.find("<user_memory>");
    const auto close = text.find("</user_memory>");
    if (open == std::string::npos || close == std::string::npos || close < open) return {};
    std::string out;
    std::size_t pos = open;
    while (pos < close) {
        auto end = std::min(text.find('\n', pos), close);
        std::string line = text.substr(pos, end - pos);
        pos = end + 1;
        if (line.starts_with("- ") || line.starts_with("Summary: ")) out += (out.empty() ? "" : " ") + line;
    }
    return out;
}

std::string reply_for(const json::value& body) {
    std::string said = last_user_text(body);
    if (said.size() > 200) said = said.substr(0, 200) + "...";
    std::string reply = "Hello from the engram stand-in server. This is a local program, not Claude: it streams a canned "
                        "reply so you can see engram work without an API key. You said: \"" + said + "\"";
    const auto memory = remembered_lines(body);
    reply += memory.empty() ? " My system prompt holds no memory of you yet."
                            : " From engram's memory in my system prompt: " + memory;
    return reply;
}

std::string http_head(int status, std::string_view content_type, bool chunked, std::size_t length) {
    std::string h = "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Error") + "\r\n";
    h += "Content-Type: " + std::string(content_type) + "\r\n";
    h += "request-id: req_standin\r\n";
    h += chunked ? std::string("Transfer-Encoding: chunked\r\n") : "Content-Length: " + std::to_string(length) + "\r\n";
    return h + "\r\n";
}

json::object message_json(const std::string& model, const json::array& content, std::int64_t in, std::int64_t out) {
    return {{"id", "msg_standin"}, {"type", "message"}, {"role", "assistant"}, {"model", model},
            {"content", content}, {"stop_reason", out ? json::value("end_turn") : json::value(nullptr)},
            {"stop_sequence", nullptr}, {"usage", {{"input_tokens", in}, {"output_tokens", out}}}};
}

asio::awaitable<bool> write_chunk(tcp::socket& s, std::string payload) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", payload.size());
    std::string out = size;
    out.append(payload);
    out += "\r\n";
    auto [ec, n] = co_await asio::async_write(s, asio::buffer(out), asio::as_tuple(asio::use_awaitable));
    co_return !ec;
}

std::string sse(std::string_view type, const json::object& data) {
    std::string ev;
    engram::net::append_sse_event(ev, type, json::serialize(data));
    return ev;
}

// The event sequence of a streamed text reply, one word (with its trailing space) per delta.
std::vector<std::string> reply_events(const std::string& model, const std::string& text, std::int64_t input_tokens) {
    std::vector<std::string> events;
    events.push_back(sse("message_start", {{"type", "message_start"}, {"message", message_json(model, {}, input_tokens, 1)}}));
    events.push_back(sse("content_block_start",
                         {{"type", "content_block_start"}, {"index", 0}, {"content_block", {{"type", "text"}, {"text", ""}}}}));
    std::int64_t words = 0;
    for (std::size_t pos = 0; pos < text.size(); ++words) {
        std::size_t end = text.find(' ', pos);
        end = end == std::string::npos ? text.size() : end + 1;
        events.push_back(sse("content_block_delta", {{"type", "content_block_delta"}, {"index", 0},
                                                     {"delta", {{"type", "text_delta"}, {"text", text.substr(pos, end - pos)}}}}));
        pos = end;
    }
    events.push_back(sse("content_block_stop", {{"type", "content_block_stop"}, {"index", 0}}));
    events.push_back(sse("message_delta", {{"type", "message_delta"},
                                           {"delta", {{"stop_reason", "end_turn"}, {"stop_sequence", nullptr}}},
                                           {"usage", {{"output_tokens", words}}}}));
    events.push_back(sse("message_stop", {{"type", "message_stop"}}));
    return events;
}

asio::awaitable<bool> stream_reply(tcp::socket& s, std::vector<std::string> events, std::chrono::milliseconds delay) {
    std::string head = http_head(200, "text/event-stream; charset=utf-8", true, 0);
    auto [hec, hn] = co_await asio::async_write(s, asio::buffer(head), asio::as_tuple(asio::use_awaitable));
    if (hec) co_return false;
    asio::steady_timer timer(s.get_executor());
    for (auto& ev : events) {
        if (!co_await write_chunk(s, std::move(ev))) co_return false;
        timer.expires_after(delay);  // pace the deltas so streaming is visible
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    auto [fec, fn] = co_await asio::async_write(s, asio::buffer(std::string_view("0\r\n\r\n")), asio::as_tuple(asio::use_awaitable));
    co_return !fec;
}

std::string complete_reply(const std::string& model, const std::string& text, std::int64_t input_tokens) {
    json::array content{{{"type", "text"}, {"text", text}}};
    return json::serialize(message_json(model, content, input_tokens, static_cast<std::int64_t>(text.size() / 4)));
}

asio::awaitable<bool> plain_reply(tcp::socket& s, int status, std::string body) {
    std::string out = http_head(status, "application/json", false, body.size()) + body;
    auto [ec, n] = co_await asio::async_write(s, asio::buffer(out), asio::as_tuple(asio::use_awaitable));
    co_return !ec;
}

asio::awaitable<void> session(tcp::socket socket, options opt) {
    beast::flat_buffer buffer;
    for (;;) {
        http::request<http::string_body> req;
        auto [ec, n] = co_await http::async_read(socket, buffer, req, asio::as_tuple(asio::use_awaitable));
        if (ec) break;
        bool ok = true;
        std::error_code jec;
        json::value body = json::parse(req.body(), jec);
        if (req.method() != http::verb::post || !req.target().ends_with("/v1/messages")) {
            ok = co_await plain_reply(socket, 404, R"({"type":"error","error":{"type":"not_found_error","message":"the stand-in serves POST /v1/messages only"}})");
        } else if (jec || !body.is_object()) {
            ok = co_await plain_reply(socket, 400, R"({"type":"error","error":{"type":"invalid_request_error","message":"body is not JSON"}})");
        } else {
            const auto& o = body.get_object();
            const std::string model = o.contains("model") && o.at("model").is_string() ? std::string(o.at("model").get_string()) : "stand-in";
            auto update = extraction_update(last_user_text(body));
            const std::string text = update ? *update : reply_for(body);
            const auto input_tokens = static_cast<std::int64_t>(req.body().size() / 4);
            if (o.contains("stream") && o.at("stream") == true) {
                auto events = reply_events(model, text, input_tokens);
                ok = co_await stream_reply(socket, std::move(events), opt.delay);
            } else {
                std::string reply = complete_reply(model, text, input_tokens);
                ok = co_await plain_reply(socket, 200, std::move(reply));
            }
        }
        if (!ok || !req.keep_alive()) break;
    }
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> listen(tcp::acceptor& acceptor, options opt) {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;
        asio::co_spawn(acceptor.get_executor(), session(std::move(socket), opt), asio::detached);
    }
}

bool parse_number(const char* text, unsigned long& out) {
    auto [p, ec] = std::from_chars(text, text + std::strlen(text), out);
    return ec == std::errc() && *p == '\0';
}

}  // namespace

int main(int argc, char** argv) {
    options opt;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        unsigned long v = 0;
        if ((arg == "--port" || arg == "--delay-ms") && i + 1 < argc && parse_number(argv[i + 1], v)) {
            if (arg == "--port" && v <= 65535) opt.port = static_cast<unsigned short>(v);
            else if (arg == "--delay-ms") opt.delay = std::chrono::milliseconds(v);
            else {
                std::cerr << "engram_standin_server: invalid port\n";
                return 2;
            }
            ++i;
        } else {
            std::cerr << "usage: engram_standin_server [--port N] [--delay-ms N]\n";
            return arg == "--help" || arg == "-h" ? 0 : 2;
        }
    }
    try {
        asio::io_context ioc;
        tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), opt.port));
        asio::signal_set signals(ioc, SIGINT, SIGTERM);
        signals.async_wait([&](auto, int) { ioc.stop(); });
        asio::co_spawn(ioc, listen(acceptor, opt), asio::detached);
        std::cout << "listening on http://127.0.0.1:" << acceptor.local_endpoint().port() << std::endl;
        ioc.run();
    } catch (const std::exception& e) {
        std::cerr << "engram_standin_server: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
