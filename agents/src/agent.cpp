#include <engram/agents/agent.hpp>

#include <engram/memory/schema.hpp>
#include <engram/memory/utf8.hpp>

#include <algorithm>
#include <array>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <system_error>
#include <tuple>

#include <boost/json/parse_options.hpp>
#include <boost/json/stream_parser.hpp>

namespace json = boost::json;

namespace engram::agents {

namespace {

// Limits that catch a mistaken file long before a request would fail at the API.
constexpr std::size_t max_name = 64;
constexpr std::size_t max_short_text = 200;  // model names
constexpr std::size_t max_description = 2000;
constexpr std::size_t max_prompt = 100000;  // system_prompt, extraction_instructions
constexpr std::size_t max_focus_items = 50;
constexpr std::size_t max_focus_text = 500;
constexpr std::size_t max_cap = 100000;  // every other memory.* number
// What a memory record may hold (memory::record_limits): a cap above it would make the store
// refuse every write of that agent's users (the session would wait in the journal forever).
constexpr std::size_t max_item_cap = memory::record_limits{}.max_items;  // facts, decisions
constexpr std::size_t max_summary_cap = memory::record_limits{}.max_summary / 4;  // any UTF-8 fits
constexpr std::int64_t max_output_tokens = 1000000;
// memory::render_for_prompt frames its block in about 240 characters; a smaller budget would cut
// the frame itself.
constexpr std::size_t min_render_budget = 300;
constexpr std::uintmax_t max_file_bytes = 1 << 20;

using check = std::optional<error_info>;

error_info field_error(std::string_view path, std::string_view what) {
    std::string msg(path);
    msg += ": ";
    msg += what;
    return make_error(errc::invalid_agent, std::move(msg));
}

std::string_view kind_name(const json::value& v) noexcept {
    switch (v.kind()) {
        case json::kind::null:
            return "null";
        case json::kind::bool_:
            return "a boolean";
        case json::kind::int64:
        case json::kind::uint64:
        case json::kind::double_:
            return "a number";
        case json::kind::string:
            return "a string";
        case json::kind::array:
            return "an array";
        case json::kind::object:
            return "an object";
    }
    return "a value";
}

bool blank(std::string_view s) noexcept {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

check check_text(std::string_view s, std::string_view path, std::size_t max_bytes, bool required) {
    if (required && blank(s)) return field_error(path, "must not be empty");
    if (s.size() > max_bytes)
        return field_error(path, "too long (" + std::to_string(s.size()) + " bytes, limit " +
                                     std::to_string(max_bytes) + ")");
    if (!memory::is_valid_utf8(s)) return field_error(path, "not valid UTF-8");
    return std::nullopt;
}

// A model id as the API and its mirrors spell them ("claude-sonnet-4-5", Bedrock's
// "anthropic.claude-...-v1:0", Vertex's "...@20241022", a local "org/model:8b-q4_K_M"); anything
// else (a space, a line break) is a typo every request would fail on.
check check_model(std::string_view s, std::string_view path) {
    if (auto e = check_text(s, path, max_short_text, true)) return e;
    const auto allowed = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               std::string_view("._:@/+-").find(c) != std::string_view::npos;
    };
    if (!std::all_of(s.begin(), s.end(), allowed))
        return field_error(path, "not a model id (letters, digits and . _ : @ / + - only)");
    return std::nullopt;
}

check read_string(const json::value& v, std::string_view path, std::size_t max_bytes, bool required,
                  std::string& out) {
    if (!v.is_string())
        return field_error(path, std::string("expected a string, got ") + std::string(kind_name(v)));
    const auto& s = v.get_string();
    if (auto e = check_text(s, path, max_bytes, required)) return e;
    out.assign(s.data(), s.size());
    return std::nullopt;
}

// Integers only: 1024.0 or "1024" are mistakes worth reporting, not coercing.
check read_count(const json::value& v, std::string_view path, bool allow_zero, std::uint64_t max,
                 std::uint64_t& out) {
    const std::string expected =
        allow_zero ? "expected a non-negative integer" : "expected a positive integer";
    std::uint64_t n = 0;
    if (v.is_uint64()) {
        n = v.get_uint64();
    } else if (v.is_int64() && v.get_int64() >= 0) {
        n = static_cast<std::uint64_t>(v.get_int64());
    } else if (v.is_int64()) {
        return field_error(path, expected + ", got " + std::to_string(v.get_int64()));
    } else {
        return field_error(path, expected + ", got " + std::string(kind_name(v)));
    }
    if (n == 0 && !allow_zero) return field_error(path, expected + ", got 0");
    if (n > max)
        return field_error(path, "too large (" + std::to_string(n) + ", limit " + std::to_string(max) + ")");
    out = n;
    return std::nullopt;
}

check read_size(const json::value& v, std::string_view path, bool allow_zero, std::size_t& out) {
    std::uint64_t n = 0;
    if (auto e = read_count(v, path, allow_zero, max_cap, n)) return e;
    out = static_cast<std::size_t>(n);
    return std::nullopt;
}

check read_tokens(const json::value& v, std::string_view path, std::int64_t& out) {
    std::uint64_t n = 0;
    if (auto e = read_count(v, path, false, static_cast<std::uint64_t>(max_output_tokens), n)) return e;
    out = static_cast<std::int64_t>(n);
    return std::nullopt;
}

check check_name(std::string_view name) {
    if (name.empty()) return field_error("name", "must not be empty");
    if (name.size() > max_name)
        return field_error("name", "too long (limit " + std::to_string(max_name) + ")");
    const bool ok = std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
               c == '-' || c == '.';
    });
    if (!ok || name.front() == '.')
        return field_error("name",
                           "expected letters, digits, '_', '-' or '.' (not starting with '.'), got \"" +
                               std::string(name) + "\"");
    return std::nullopt;
}

// "{{memory}}" at most once; "{{user_id}}" any number of times; any other "{{...}}" is a typo.
check check_template(std::string_view t) {
    std::size_t memory_markers = 0;
    for (std::size_t pos = t.find("{{"); pos != std::string_view::npos; pos = t.find("{{", pos + 2)) {
        const auto end = t.find("}}", pos + 2);
        const auto name =
            end == std::string_view::npos ? t.substr(pos + 2, 20) : t.substr(pos + 2, end - pos - 2);
        if (end != std::string_view::npos && name == "memory") {
            ++memory_markers;
        } else if (end == std::string_view::npos || name != "user_id") {
            return field_error("system_prompt", "unknown placeholder \"{{" + std::string(name.substr(0, 40)) +
                                                    (end == std::string_view::npos ? "" : "}}") +
                                                    "\" (allowed: {{memory}}, {{user_id}})");
        }
        if (end != std::string_view::npos) pos = end;
    }
    if (memory_markers > 1) return field_error("system_prompt", "{{memory}} may appear at most once");
    return std::nullopt;
}

check validate_focus(const memory_focus_policy& m) {
    if (m.max_facts == 0) return field_error("memory.max_facts", "expected a positive integer, got 0");
    if (m.max_summary_chars == 0)
        return field_error("memory.max_summary_chars", "expected a positive integer, got 0");
    if (m.render_budget_chars < min_render_budget)
        return field_error("memory.render_budget_chars", "must be at least " +
                                                             std::to_string(min_render_budget) + ", got " +
                                                             std::to_string(m.render_budget_chars));
    const std::array<std::tuple<std::string_view, std::size_t, std::size_t>, 5> caps = {
        {{"memory.max_facts", m.max_facts, max_item_cap},
         {"memory.max_decisions", m.max_decisions, max_item_cap},
         {"memory.max_summary_chars", m.max_summary_chars, max_summary_cap},
         {"memory.render_budget_chars", m.render_budget_chars, max_cap},
         {"memory.render_max_decisions", m.render_max_decisions, max_cap}}};
    for (const auto& [path, value, limit] : caps)
        if (value > limit)
            return field_error(path, "too large (" + std::to_string(value) + ", limit " + std::to_string(limit) + ")");
    if (m.focus.size() > max_focus_items)
        return field_error("memory.focus",
                           "too many entries (limit " + std::to_string(max_focus_items) + ")");
    for (std::size_t i = 0; i < m.focus.size(); ++i)
        if (auto e = check_text(m.focus[i], "memory.focus[" + std::to_string(i) + "]", max_focus_text, true))
            return e;
    return std::nullopt;
}

check validate_agent(const agent_definition& a) {
    if (auto e = check_name(a.name)) return e;
    if (auto e = check_text(a.description, "description", max_description, false)) return e;
    if (auto e = check_model(a.model, "model")) return e;
    if (a.max_tokens <= 0)
        return field_error("max_tokens", "expected a positive integer, got " + std::to_string(a.max_tokens));
    if (a.max_tokens > max_output_tokens) return field_error("max_tokens", "too large");
    if (auto e = check_text(a.system_prompt, "system_prompt", max_prompt, true)) return e;
    if (auto e = check_template(a.system_prompt)) return e;
    if (auto e = validate_focus(a.memory)) return e;
    if (auto e = check_model(a.extraction_model, "extraction_model")) return e;
    if (a.extraction_max_tokens <= 0)
        return field_error("extraction_max_tokens",
                           "expected a positive integer, got " + std::to_string(a.extraction_max_tokens));
    if (a.extraction_max_tokens > max_output_tokens) return field_error("extraction_max_tokens", "too large");
    if (auto e = check_text(a.extraction_instructions, "extraction_instructions", max_prompt, false))
        return e;
    return std::nullopt;
}

check read_memory_policy(const json::value& v, memory_focus_policy& m) {
    if (!v.is_object())
        return field_error("memory", std::string("expected an object, got ") + std::string(kind_name(v)));
    for (const auto& kv : v.get_object()) {
        const std::string_view key = kv.key();
        const std::string path = "memory." + std::string(key.substr(0, 64));
        check e;
        if (key == "max_facts") {
            e = read_size(kv.value(), path, false, m.max_facts);
        } else if (key == "max_decisions") {
            e = read_size(kv.value(), path, true, m.max_decisions);
        } else if (key == "max_summary_chars") {
            e = read_size(kv.value(), path, false, m.max_summary_chars);
        } else if (key == "render_budget_chars") {
            e = read_size(kv.value(), path, false, m.render_budget_chars);
        } else if (key == "render_max_decisions") {
            e = read_size(kv.value(), path, true, m.render_max_decisions);
        } else if (key == "focus") {
            if (!kv.value().is_array())
                return field_error(path, std::string("expected an array of strings, got ") +
                                             std::string(kind_name(kv.value())));
            m.focus.clear();
            std::size_t i = 0;
            for (const auto& item : kv.value().get_array()) {
                std::string text;
                if (auto ie =
                        read_string(item, path + "[" + std::to_string(i++) + "]", max_focus_text, true, text))
                    return ie;
                m.focus.push_back(std::move(text));
            }
        } else {
            return field_error(path,
                               "unknown field (expected max_facts, max_decisions, max_summary_chars, "
                               "render_budget_chars, render_max_decisions or focus)");
        }
        if (e) return e;
    }
    return std::nullopt;
}

std::string with_origin(std::string_view origin, std::string message) {
    if (origin.empty()) return message;
    return std::string(origin) + ": " + message;
}

// 1-based line and column of byte `offset` in `text`.
std::pair<std::size_t, std::size_t> line_column(std::string_view text, std::size_t offset) {
    offset = std::min(offset, text.size());
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < offset; ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    return {line, column};
}

}  // namespace

result<agent_definition> agent_from_json(const json::value& v) {
    if (!v.is_object())
        return field_error("agent", std::string("expected an object, got ") + std::string(kind_name(v)));
    const auto& o = v.get_object();
    agent_definition a;
    bool have_name = false, have_prompt = false;
    for (const auto& kv : o) {
        const std::string_view key = kv.key();
        const auto& val = kv.value();
        check e;
        if (key == "name") {
            have_name = true;
            e = read_string(val, "name", max_name, true, a.name);
        } else if (key == "description") {
            e = read_string(val, "description", max_description, false, a.description);
        } else if (key == "model") {
            e = read_string(val, "model", max_short_text, true, a.model);
        } else if (key == "max_tokens") {
            e = read_tokens(val, "max_tokens", a.max_tokens);
        } else if (key == "system_prompt") {
            have_prompt = true;
            e = read_string(val, "system_prompt", max_prompt, true, a.system_prompt);
        } else if (key == "memory") {
            e = read_memory_policy(val, a.memory);
        } else if (key == "extraction_model") {
            e = read_string(val, "extraction_model", max_short_text, true, a.extraction_model);
        } else if (key == "extraction_max_tokens") {
            e = read_tokens(val, "extraction_max_tokens", a.extraction_max_tokens);
        } else if (key == "extraction_instructions") {
            e = read_string(val, "extraction_instructions", max_prompt, false, a.extraction_instructions);
        } else if (key == "remember") {
            if (!val.is_bool()) e = field_error("remember", "expected true or false");
            else a.remember = val.get_bool();
        } else {
            return field_error(
                std::string(key.substr(0, 64)),
                "unknown field (expected name, description, model, max_tokens, system_prompt, memory, "
                "extraction_model, extraction_max_tokens, extraction_instructions or remember)");
        }
        if (e) return *e;
    }
    if (!have_name) return field_error("name", "missing (required)");
    if (!have_prompt) return field_error("system_prompt", "missing (required)");
    if (auto e = validate_agent(a)) return *e;
    return a;
}

result<void> validate(const agent_definition& agent) {
    if (auto e = validate_agent(agent)) return *e;
    return {};
}

result<agent_definition> parse_agent(std::string_view text, std::string_view origin) {
    json::parse_options opts;
    opts.allow_comments = true;  // agent files are written by hand; comments document them
    json::stream_parser p({}, opts);
    boost::system::error_code ec;
    std::size_t consumed = p.write(text.data(), text.size(), ec);  // rejects data after the value
    if (!ec) {
        p.finish(ec);
        if (ec) consumed = text.size();  // the document ended early
    }
    if (ec) {
        const auto [line, column] = line_column(text, consumed);
        return make_error(
            errc::agent_file_syntax,
            with_origin(origin, "line " + std::to_string(line) + ", column " + std::to_string(column) +
                                    ": invalid JSON (" + ec.message() + ")"));
    }
    auto r = agent_from_json(p.release());
    if (!r) return make_error(errc::invalid_agent, with_origin(origin, r.error().message));
    return r;
}

result<agent_definition> load_agent_file(const std::filesystem::path& path) {
    const std::string name = path.string();
    std::error_code fec;
    const auto status = std::filesystem::status(path, fec);
    if (fec)
        return make_error(errc::agent_file_unreadable,
                          name + ": cannot read agent file (" + fec.message() + ")");
    if (!std::filesystem::is_regular_file(status))
        return make_error(errc::agent_file_unreadable,
                          name + ": cannot read agent file (not a regular file)");
    const auto size = std::filesystem::file_size(path, fec);
    if (fec)
        return make_error(errc::agent_file_unreadable,
                          name + ": cannot read agent file (" + fec.message() + ")");
    if (size > max_file_bytes)
        return make_error(errc::agent_file_unreadable, name + ": agent file too large (" +
                                                           std::to_string(size) + " bytes, limit " +
                                                           std::to_string(max_file_bytes) + ")");
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(errc::agent_file_unreadable, name + ": cannot open agent file");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return make_error(errc::agent_file_unreadable, name + ": read error");
    return parse_agent(text, name);
}

json::object to_json(const agent_definition& a) {
    json::array focus;
    for (const auto& f : a.memory.focus) focus.emplace_back(f);
    json::object m{{"max_facts", a.memory.max_facts},
                   {"max_decisions", a.memory.max_decisions},
                   {"max_summary_chars", a.memory.max_summary_chars},
                   {"render_budget_chars", a.memory.render_budget_chars},
                   {"render_max_decisions", a.memory.render_max_decisions},
                   {"focus", std::move(focus)}};
    return json::object{{"name", a.name},
                        {"description", a.description},
                        {"model", a.model},
                        {"max_tokens", a.max_tokens},
                        {"system_prompt", a.system_prompt},
                        {"memory", std::move(m)},
                        {"extraction_model", a.extraction_model},
                        {"extraction_max_tokens", a.extraction_max_tokens},
                        {"extraction_instructions", a.extraction_instructions},
                        {"remember", a.remember}};
}

const agent_definition* find_builtin(std::string_view name) {
    const auto& all = builtin_agents();
    const auto it =
        std::find_if(all.begin(), all.end(), [&](const agent_definition& a) { return a.name == name; });
    return it == all.end() ? nullptr : &*it;
}

memory::merge_policy merge_policy_for(const agent_definition& a) {
    memory::merge_policy p;
    p.max_facts = a.memory.max_facts;
    p.max_decisions = a.memory.max_decisions;
    p.max_summary_chars = a.memory.max_summary_chars;
    return p;
}

memory::render_options render_options_for(const agent_definition& a) {
    memory::render_options r;
    r.budget_chars = a.memory.render_budget_chars;
    r.max_decisions = a.memory.render_max_decisions;
    return r;
}

}  // namespace engram::agents
