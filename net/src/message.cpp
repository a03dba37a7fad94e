#include <engram/net/message.hpp>

#include <boost/json/array.hpp>
#include <boost/json/string.hpp>

namespace engram::net {
namespace json = boost::json;

std::string_view message::string_field(std::string_view key) const noexcept {
    if (auto* v = json_.if_contains(key); v && v->is_string()) return v->get_string();
    return {};
}

const json::array& message::content() const noexcept {
    static const json::array empty;
    if (auto* v = json_.if_contains("content"); v && v->is_array()) return v->get_array();
    return empty;
}

std::string message::text() const {
    std::string out;
    for (const auto& block : content()) {
        const auto* obj = block.if_object();
        if (!obj) continue;
        const auto* type = obj->if_contains("type");
        const auto* text = obj->if_contains("text");
        if (type && type->is_string() && type->get_string() == "text" && text && text->is_string())
            out.append(text->get_string());
    }
    return out;
}

usage message::usage() const noexcept {
    struct usage u;
    const auto* v = json_.if_contains("usage");
    if (!v || !v->is_object()) return u;
    const auto& o = v->get_object();
    auto read = [&](std::string_view key, std::optional<std::int64_t>& out) {
        if (auto* f = o.if_contains(key)) {
            if (f->is_int64()) out = f->get_int64();
            else if (f->is_uint64()) out = static_cast<std::int64_t>(f->get_uint64());
        }
    };
    read("input_tokens", u.input_tokens);
    read("output_tokens", u.output_tokens);
    read("cache_creation_input_tokens", u.cache_creation_input_tokens);
    read("cache_read_input_tokens", u.cache_read_input_tokens);
    return u;
}

}  // namespace engram::net
