#include "history.hpp"

#include <ctime>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

namespace engram::runtime::detail {
namespace json = boost::json;

namespace {
std::string text_of(const json::value& content) {
    if (content.is_string()) return std::string(content.get_string());
    std::string out;
    if (!content.is_array()) return out;
    for (const auto& b : content.get_array()) {
        const auto* o = b.if_object();
        if (!o) continue;
        if (auto* t = o->if_contains("text"); t && t->is_string()) {
            if (!out.empty()) out += "\n";
            out += t->get_string();
        }
    }
    return out;
}
}  // namespace

std::size_t message_chars(const json::value& message) {
    const auto* o = message.if_object();
    if (!o) return 0;
    const auto* c = o->if_contains("content");
    if (!c) return 0;
    if (c->is_string()) return c->get_string().size();
    std::size_t n = 0;
    if (c->is_array())
        for (const auto& b : c->get_array()) {
            const auto* bo = b.if_object();
            if (!bo) continue;
            for (const char* key : {"text", "thinking"})
                if (auto* t = bo->if_contains(key); t && t->is_string()) n += t->get_string().size();
            if (auto* in = bo->if_contains("input")) n += json::serialize(*in).size();
        }
    return n;
}

std::size_t history_chars(const json::array& history) {
    std::size_t n = 0;
    for (const auto& m : history) n += message_chars(m);
    return n;
}

std::size_t trim_history(json::array& history, std::size_t budget) {
    std::size_t dropped = 0;
    while (history.size() > 1 && history_chars(history) > budget) {
        // Remove the first turn: the leading user message and everything up to the next one.
        std::size_t end = 1;
        while (end < history.size() - 1) {
            const auto* o = history[end].if_object();
            if (o && o->contains("role") && o->at("role") == "user") break;
            ++end;
        }
        if (end >= history.size()) break;  // only the newest message is left
        history.erase(history.begin(), history.begin() + static_cast<std::ptrdiff_t>(end));
        dropped += end;
    }
    return dropped;
}

std::string transcript_text(const json::array& history) {
    std::string out;
    for (const auto& m : history) {
        const auto* o = m.if_object();
        if (!o || !o->contains("role") || !o->contains("content")) continue;
        const bool user = o->at("role") == "user";
        out += user ? "USER: " : "ASSISTANT: ";
        out += text_of(o->at("content"));
        out += "\n";
    }
    return out;
}

long long parse_rfc3339_utc(const std::string& s) {
    std::tm tm{};
    const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end) return 0;
    return static_cast<long long>(timegm(&tm));
}

}  // namespace engram::runtime::detail
