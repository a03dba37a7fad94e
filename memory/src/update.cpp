#include <engram/memory/update.hpp>
#include <engram/memory/utf8.hpp>

#include <algorithm>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "json_read.hpp"

namespace json = boost::json;

namespace engram::memory {

using detail::check;
using detail::field_error;
using detail::index_path;
using detail::member_path;
using detail::read_string;

namespace {

constexpr errc bad = errc::invalid_update;

const json::value* find(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    return it == o.end() ? nullptr : &it->value();
}

check read_nonempty(const json::value& v, std::string_view path, std::size_t max, std::string& out) {
    if (auto e = read_string(v, path, max, bad, out)) return e;
    if (normalize_for_compare(out).empty()) return field_error(bad, path, "must not be empty");
    return std::nullopt;
}

check read_confidence_source(const json::object& o, std::string_view path, std::optional<confidence>& c,
                             std::optional<fact_source>& s) {
    if (const auto* v = find(o, "confidence"); v && !v->is_null()) {
        std::string str;
        if (auto e = read_string(*v, member_path(path, "confidence"), 16, bad, str)) return e;
        c = parse_confidence(str);
        if (!c) return field_error(bad, member_path(path, "confidence"), "expected one of high, medium, low");
    }
    if (const auto* v = find(o, "source"); v && !v->is_null()) {
        std::string str;
        if (auto e = read_string(*v, member_path(path, "source"), 16, bad, str)) return e;
        s = parse_fact_source(str);
        if (!s) return field_error(bad, member_path(path, "source"), "expected one of stated, inferred");
    }
    return std::nullopt;
}

check check_array(const json::value& v, std::string_view path, const update_limits& lim) {
    if (!v.is_array())
        return field_error(bad, path,
                           std::string("expected an array, got ") + std::string(detail::kind_name(v)));
    if (v.get_array().size() > lim.max_entries)
        return field_error(bad, path, "too many entries (limit " + std::to_string(lim.max_entries) + ")");
    return std::nullopt;
}

}  // namespace

result<memory_update> update_from_json(const json::value& v, const update_limits& lim) {
    if (!v.is_object())
        return field_error(bad, "update",
                           std::string("expected an object, got ") + std::string(detail::kind_name(v)));
    const auto& o = v.get_object();
    memory_update u;

    // Unknown fields are ignored, but not when they are all there is, nor when they are the
    // stored memory's own: a model that answered with the memory's shape ({"key_facts": …}) or
    // wrapped the update ({"update": {…}}) would otherwise have its facts dropped as "nothing
    // learned", and the job closed; refused, the runtime's repair request gets to fix it.
    // ("version" alone says nothing learned: {"version": 1, "update": {…}} is refused too.)
    static constexpr std::string_view known[] = {"running_summary", "new_facts", "updated_preferences",
                                                 "removed_preferences", "superseded_facts", "new_decision"};
    static constexpr std::string_view record_fields[] = {"key_facts", "preferences", "recent_decisions"};
    bool any_known = false;
    for (const auto& kv : o) {
        const std::string_view key = kv.key();
        for (const auto r : record_fields)
            if (key == r && !kv.value().is_null())
                return field_error(bad, std::string(key),
                                   "this is a field of the stored memory, not of an update (facts go in new_facts, "
                                   "preferences in updated_preferences, a decision in new_decision)");
        for (const auto k : known) any_known = any_known || key == k;
    }
    if (!any_known && std::any_of(o.begin(), o.end(), [](const auto& kv) { return kv.key() != "version"; }))
        return field_error(bad, "update",
                           "none of its fields is an update field (running_summary, new_facts, updated_preferences, "
                           "removed_preferences, superseded_facts, new_decision); reply {} if nothing was learned");

    if (const auto* ver = find(o, "version")) {
        if (!ver->is_int64() && !ver->is_uint64()) return field_error(bad, "version", "expected an integer");
        boost::system::error_code ec;  // the throwing overload would escape on a uint64 above INT64_MAX
        const auto n = ver->to_number<std::int64_t>(ec);
        if (ec || n < 1 || n > update_contract_version)
            return field_error(bad, "version",
                               "unsupported update contract version " + json::serialize(*ver));
    }
    if (const auto* s = find(o, "running_summary"); s && !s->is_null()) {
        std::string text;
        if (auto e = read_string(*s, "running_summary", lim.max_summary, bad, text)) return *e;
        if (!single_line(text).empty()) u.running_summary = std::move(text);
    }
    if (const auto* a = find(o, "new_facts"); a && !a->is_null()) {
        if (auto e = check_array(*a, "new_facts", lim)) return *e;
        std::size_t i = 0;
        for (const auto& item : a->get_array()) {
            const auto path = index_path("new_facts", i++);
            new_fact f;
            if (item.is_string()) {  // the tutorial's extraction prompt asks for plain strings
                if (auto e = read_nonempty(item, path, lim.max_text, f.text)) return *e;
            } else if (item.is_object()) {
                const auto* text = find(item.get_object(), "text");
                if (!text) return field_error(bad, member_path(path, "text"), "missing");
                if (auto e = read_nonempty(*text, member_path(path, "text"), lim.max_text, f.text)) return *e;
                if (auto e = read_confidence_source(item.get_object(), path, f.confidence, f.source))
                    return *e;
            } else {
                return field_error(bad, path,
                                   std::string("expected an object or a string, got ") +
                                       std::string(detail::kind_name(item)));
            }
            u.new_facts.push_back(std::move(f));
        }
    }
    if (const auto* p = find(o, "updated_preferences"); p && !p->is_null()) {
        if (!p->is_object())
            return field_error(bad, "updated_preferences",
                               std::string("expected an object, got ") + std::string(detail::kind_name(*p)));
        if (p->get_object().size() > lim.max_entries)
            return field_error(bad, "updated_preferences", "too many entries");
        for (const auto& kv : p->get_object()) {
            const std::string_view key = kv.key();
            const auto path = "updated_preferences." + std::string(key.substr(0, byte_offset_of(key, 64)));
            if (single_line(key).empty() || key.size() > lim.max_key || !is_valid_utf8(key))
                return field_error(bad, path,
                                   "key must be 1-" + std::to_string(lim.max_key) + " bytes of UTF-8");
            std::string value;
            if (auto e = read_string(kv.value(), path, lim.max_text, bad, value)) return *e;
            u.updated_preferences[std::string(key)] = std::move(value);
        }
    }
    if (const auto* a = find(o, "removed_preferences"); a && !a->is_null()) {
        if (auto e = check_array(*a, "removed_preferences", lim)) return *e;
        std::size_t i = 0;
        for (const auto& item : a->get_array()) {
            std::string key;
            if (auto e = read_string(item, index_path("removed_preferences", i++), lim.max_key, bad, key))
                return *e;
            u.removed_preferences.push_back(std::move(key));
        }
    }
    if (const auto* a = find(o, "superseded_facts"); a && !a->is_null()) {
        if (auto e = check_array(*a, "superseded_facts", lim)) return *e;
        std::size_t i = 0;
        for (const auto& item : a->get_array()) {
            const auto path = index_path("superseded_facts", i++);
            if (!item.is_object())
                return field_error(
                    bad, path,
                    std::string("expected an object, got ") + std::string(detail::kind_name(item)));
            const auto& io = item.get_object();
            fact_supersession s;
            const auto* old_v = find(io, "old");
            const auto* new_v = find(io, "new");
            if (!old_v) return field_error(bad, member_path(path, "old"), "missing");
            if (!new_v) return field_error(bad, member_path(path, "new"), "missing");
            if (auto e = read_nonempty(*old_v, member_path(path, "old"), lim.max_text, s.old_text)) return *e;
            if (auto e = read_nonempty(*new_v, member_path(path, "new"), lim.max_text, s.new_text)) return *e;
            if (auto e = read_confidence_source(io, path, s.confidence, s.source)) return *e;
            u.superseded_facts.push_back(std::move(s));
        }
    }
    if (const auto* d = find(o, "new_decision"); d && !d->is_null()) {
        if (!d->is_object())
            return field_error(bad, "new_decision",
                               std::string("expected an object, got ") + std::string(detail::kind_name(*d)));
        const auto& dobj = d->get_object();
        if (!dobj.empty()) {  // the tutorial's `if updates["new_decision"]` treats {} as absent
            decision dec;
            const auto* topic = find(dobj, "topic");
            const auto* text = find(dobj, "decision");
            if (!topic) return field_error(bad, "new_decision.topic", "missing");
            if (!text) return field_error(bad, "new_decision.decision", "missing");
            if (auto e = read_nonempty(*topic, "new_decision.topic", lim.max_text, dec.topic)) return *e;
            if (auto e = read_nonempty(*text, "new_decision.decision", lim.max_text, dec.decision)) return *e;
            if (const auto* date = find(dobj, "date")) {
                if (auto e = read_string(*date, "new_decision.date", 64, bad, dec.date, true)) return *e;
                // The date is rendered into the prompt: a free-form one could carry instructions.
                if (!dec.date.empty() && normalize_for_compare(dec.date) != "today" &&
                    !detail::is_iso_date(dec.date))
                    return field_error(bad, "new_decision.date",
                                       "expected a date such as 2024-01-16, \"today\" or empty");
            }
            u.new_decision = std::move(dec);
        }
    }
    return u;
}

result<memory_update> parse_update(std::string_view text, const update_limits& limits) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) return make_error(errc::invalid_update, "update is not valid JSON: " + ec.message());
    return update_from_json(v, limits);
}

result<memory_update> parse_extraction_reply(std::string_view text, const update_limits& limits) {
    const auto open = text.find('{');
    const auto close = text.rfind('}');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open)
        return make_error(errc::invalid_update, "update: the reply contains no JSON object");
    return parse_update(text.substr(open, close - open + 1), limits);
}

json::object to_json(const memory_update& u) {
    json::object o;
    o["version"] = update_contract_version;
    if (u.running_summary) o["running_summary"] = *u.running_summary;
    if (!u.new_facts.empty()) {
        json::array a;
        for (const auto& f : u.new_facts) {
            json::object fo{{"text", f.text}};
            if (f.confidence) fo["confidence"] = to_string(*f.confidence);
            if (f.source) fo["source"] = to_string(*f.source);
            a.push_back(std::move(fo));
        }
        o["new_facts"] = std::move(a);
    }
    if (!u.updated_preferences.empty()) {
        json::object p;
        for (const auto& [k, v] : u.updated_preferences) p[k] = v;
        o["updated_preferences"] = std::move(p);
    }
    if (!u.removed_preferences.empty()) {
        json::array a;
        for (const auto& k : u.removed_preferences) a.push_back(json::value(k));
        o["removed_preferences"] = std::move(a);
    }
    if (!u.superseded_facts.empty()) {
        json::array a;
        for (const auto& s : u.superseded_facts) {
            json::object so{{"old", s.old_text}, {"new", s.new_text}};
            if (s.confidence) so["confidence"] = to_string(*s.confidence);
            if (s.source) so["source"] = to_string(*s.source);
            a.push_back(std::move(so));
        }
        o["superseded_facts"] = std::move(a);
    }
    if (u.new_decision)
        o["new_decision"] = json::object{{"topic", u.new_decision->topic},
                                         {"decision", u.new_decision->decision},
                                         {"date", u.new_decision->date}};
    return o;
}

}  // namespace engram::memory
