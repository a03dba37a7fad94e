#include "support/model_replies.hpp"

#include <boost/json.hpp>

namespace engram::test {
namespace json = boost::json;

bool is_extraction(const recorded_request& r) { return json::parse(r.body).at("stream") == false; }

std::string last_user_text(const recorded_request& r) {
    const auto body = json::parse(r.body);
    const auto& c = body.at("messages").as_array().back().at("content");
    return c.is_string() ? std::string(c.as_string()) : json::serialize(c);
}

namespace {
std::vector<recorded_request> requests_where(const fake_anthropic_server& server, bool extraction) {
    std::vector<recorded_request> out;
    for (auto& r : server.requests())
        if (is_extraction(r) == extraction) out.push_back(r);
    return out;
}
}  // namespace

std::vector<recorded_request> chat_requests(const fake_anthropic_server& server) { return requests_where(server, false); }
std::vector<recorded_request> extraction_requests(const fake_anthropic_server& server) { return requests_where(server, true); }

scripted_response extraction_reply(const std::string& text, const std::string& stop_reason) {
    json::object msg{{"id", "msg_x"}, {"type", "message"}, {"role", "assistant"}, {"model", "claude-haiku-4-5"},
                     {"stop_reason", stop_reason}};
    json::array content;
    content.push_back(json::object{{"type", "text"}, {"text", text}});
    msg["content"] = std::move(content);
    msg["usage"] = json::object{{"input_tokens", 50}, {"output_tokens", 20}};
    return scripted_response::json(200, json::serialize(msg));
}

scripted_response echo_reply(const recorded_request& r, std::chrono::milliseconds drip) {
    auto s = scripted_response::sse(make_text_stream("echo: " + last_user_text(r), 3),
                                    drip.count() ? std::vector<std::size_t>{60} : std::vector<std::size_t>{});
    s.delay_between_pieces = drip;
    return s;
}

void echo_server(fake_anthropic_server& server, std::string update, std::chrono::milliseconds drip) {
    server.set_handler([update, drip](const recorded_request& r) {
        return is_extraction(r) ? extraction_reply(update) : echo_reply(r, drip);
    });
}

}  // namespace engram::test
