#include "history.hpp"

#include <algorithm>
#include <ctime>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include <engram/memory/utf8.hpp>

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

std::size_t content_chars(const json::array& blocks) {
    std::size_t n = 0;
    for (const auto& b : blocks) {
        const auto* bo = b.if_object();
        if (!bo) continue;
        for (const char* key : {"text", "thinking"})
            if (auto* t = bo->if_contains(key); t && t->is_string()) n += memory::code_points(t->get_string());
        if (auto* in = bo->if_contains("input")) n += memory::code_points(json::serialize(*in));
    }
    return n;
}

std::size_t content_chars(const json::value& c) {
    if (c.is_string()) return memory::code_points(c.get_string());
    return c.is_array() ? content_chars(c.get_array()) : 0;
}

std::size_t message_chars(const json::value& message) {
    const auto* o = message.if_object();
    if (!o) return 0;
    const auto* c = o->if_contains("content");
    return c ? content_chars(*c) : 0;
}

namespace {
/// Appends what `sr` produces to `out`.
void serialize_append(std::string& out, json::serializer& sr) {
    std::size_t len = out.size();
    // Room the string already has, within reason (resize writes it): a serializer that runs
    // out of room allocates to keep its place, so a reused buffer lets most messages through
    // in one read.
    for (std::size_t room = std::clamp<std::size_t>(out.capacity() - len, 256, 16 * 1024);; room *= 2) {
        out.resize(len + room);
        len += sr.read(out.data() + len, room).size();
        if (sr.done()) break;
    }
    out.resize(len);
}
}  // namespace

void message_history::push(std::string_view role, const json::array& blocks) {
    json::serializer sr;
    sr.reset(&blocks);
    append(role, content_chars(blocks), sr);
}

void message_history::push_text(std::string_view role, std::string_view text) {
    json::serializer sr;
    sr.reset(text);
    append(role, memory::code_points(text), sr);
}

void message_history::append(std::string_view role, std::size_t chars, json::serializer& content) {
    // The content is written into a buffer the thread reuses, then once more into the message's
    // own string at its exact size: one allocation, and no slack kept for the session's life.
    thread_local std::string scratch;
    scratch.clear();
    serialize_append(scratch, content);
    const std::string role_json = json::serialize(json::string_view(role));  // "user", "assistant": no allocation
    std::string text;
    text.reserve(role_json.size() + scratch.size() + 22);
    text += "{\"role\":";
    text += role_json;
    text += ",\"content\":";
    text += scratch;
    text += '}';
    json_.push_back(std::move(text));
    meta_.push_back({chars, role == "user"});
    chars_ += chars;
}

void message_history::pop_back() noexcept {
    if (json_.empty()) return;
    chars_ -= meta_.back().chars;
    json_.pop_back();
    meta_.pop_back();
}

bool message_history::has_reply() const noexcept {
    for (const auto& m : meta_)
        if (!m.user) return true;
    return false;
}

std::size_t message_history::fit_from(std::size_t budget) const {
    std::size_t end = 0, dropped_chars = 0;
    // Whole turns from the front: a user message and everything up to the next one.
    while (json_.size() - end > 1 && chars_ - dropped_chars > budget) {
        std::size_t next = end + 1;
        while (next < json_.size() - 1 && !meta_[next].user) ++next;
        if (next >= json_.size()) break;  // only the newest message is left
        for (std::size_t i = end; i < next; ++i) dropped_chars += meta_[i].chars;
        end = next;
    }
    return end;
}

std::size_t message_history::chars_from(std::size_t first) const noexcept {
    std::size_t before = 0;
    for (std::size_t i = 0; i < first && i < meta_.size(); ++i) before += meta_[i].chars;
    return chars_ - before;
}

std::size_t message_history::trim(std::size_t budget) {
    const std::size_t end = fit_from(budget);
    for (std::size_t i = 0; i < end; ++i) {
        std::string line = transcript_line(i);
        const auto line_chars = memory::code_points(line);
        if (earlier_omitted_ == 0 && earlier_chars_ + line_chars <= budget) {
            earlier_ += line;
            earlier_chars_ += line_chars;
        } else {
            ++earlier_omitted_;
        }
        chars_ -= meta_[i].chars;
    }
    json_.erase(json_.begin(), json_.begin() + static_cast<std::ptrdiff_t>(end));
    meta_.erase(meta_.begin(), meta_.begin() + static_cast<std::ptrdiff_t>(end));
    return end;
}

std::string message_history::transcript_line(std::size_t i) const {
    std::error_code ec;
    const auto v = json::parse(json_[i], ec);  // text this class wrote: it parses
    const auto* o = v.if_object();
    if (ec || !o || !o->contains("content")) return {};
    std::string line = meta_[i].user ? "USER: " : "ASSISTANT: ";
    // Only a message's first line starts with its speaker: further lines are indented, so no text
    // (a reply quoting "USER: I am the admin") can pass for something the other party said.
    const std::string text = text_of(o->at("content"));
    // Any line break counts, U+2028 and the like included: a model reads a new line there too.
    for (std::size_t k = 0; k < text.size(); ++k) {
        if (const auto n = memory::line_break_length(text, k)) {
            line += "\n  ";
            k += n - 1;
        } else {
            line += text[k];
        }
    }
    line += '\n';
    return line;
}

namespace {
bool starts_message(std::string_view line) { return line.starts_with("USER: ") || line.starts_with("ASSISTANT: "); }
}  // namespace

std::string message_history::transcript(std::size_t budget) const {
    // The newest messages come first (the session's outcome, its latest decisions); the start
    // of the session, where users tend to say who they are, keeps at least half of the budget.
    std::vector<std::string> newest;  // newest first
    const std::size_t start_share = std::min(earlier_chars_, budget / 2);
    std::size_t used = 0;
    for (std::size_t i = json_.size(); i > 0; --i) {
        std::string line = transcript_line(i - 1);
        const auto chars = memory::code_points(line);
        if (used + chars + start_share > budget) {
            // The newest message is always there (its start, when it alone is too long): the
            // session's outcome is what the extraction needs most.
            if (newest.empty() && budget > start_share) {
                line.resize(memory::byte_offset_of(line, budget - start_share - 1));
                line += '\n';
                used += memory::code_points(line);
                newest.push_back(std::move(line));
            }
            break;
        }
        used += chars;
        newest.push_back(std::move(line));
    }
    std::size_t omitted = earlier_omitted_ + (json_.size() - newest.size());
    // The start: whole lines of earlier_ that fit in what is left.
    std::string_view start = earlier_;
    if (earlier_chars_ > budget - used) {
        start = start.substr(0, memory::byte_offset_of(earlier_, budget - used));
        const auto last_line_end = start.rfind('\n');
        start = last_line_end == std::string_view::npos ? std::string_view{} : start.substr(0, last_line_end + 1);
        // Whole messages only: back to the start of the message that was cut (its further lines
        // are indented), so the "left out" count covers it.
        while (!start.empty() && !starts_message(std::string_view(earlier_).substr(start.size()))) {
            const auto previous = start.substr(0, start.size() - 1).rfind('\n');
            start = previous == std::string_view::npos ? std::string_view{} : start.substr(0, previous + 1);
        }
        for (std::string_view rest = std::string_view(earlier_).substr(start.size()); !rest.empty();) {
            const auto end = rest.find('\n');
            if (starts_message(rest.substr(0, end))) ++omitted;
            rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
        }
    }
    std::string out(start);
    if (omitted > 0) {  // appended piece by piece: GCC 12 at -O3 warns (-Wrestrict) on "(" + std::string
        out += '(';
        out += std::to_string(omitted);
        out += " more messages of this conversation are left out here)\n";
    }
    for (auto it = newest.rbegin(); it != newest.rend(); ++it) out += *it;
    return out;
}

long long parse_rfc3339_utc(const std::string& s) {
    std::tm tm{};
    const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end) return 0;
    return static_cast<long long>(timegm(&tm));
}

}  // namespace engram::runtime::detail
