#include <engram/memory/schema.hpp>
#include <engram/memory/utf8.hpp>

#include <algorithm>
#include <ctime>

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

std::string_view to_string(confidence c) noexcept {
    switch (c) {
        case confidence::high:
            return "high";
        case confidence::medium:
            return "medium";
        case confidence::low:
            return "low";
    }
    return "medium";
}

std::string_view to_string(fact_source s) noexcept {
    return s == fact_source::stated ? "stated" : "inferred";
}

std::optional<confidence> parse_confidence(std::string_view s) noexcept {
    if (s == "high") return confidence::high;
    if (s == "medium") return confidence::medium;
    if (s == "low") return confidence::low;
    return std::nullopt;
}

std::optional<fact_source> parse_fact_source(std::string_view s) noexcept {
    if (s == "stated") return fact_source::stated;
    if (s == "inferred") return fact_source::inferred;
    return std::nullopt;
}

user_memory blank_memory(std::string user_id, std::string now) {
    user_memory m;
    m.user_id = std::move(user_id);
    m.created_at = std::move(now);
    return m;
}

namespace {

/// Malformed: the file is corrupt (quarantined by the store).
constexpr errc bad = errc::invalid_record;
/// Well-formed but beyond what this build reads (a newer schema_version, or larger than its
/// record_limits, as a build with larger limits writes): the store leaves such a file alone.
constexpr errc over = errc::unsupported_record;

check read_timestamp(const json::value& v, std::string_view path, const record_limits& lim,
                     std::string& out) {
    if (auto e = read_string(v, path, lim.max_timestamp, bad, over, out, true)) return e;
    if (!out.empty() && !detail::looks_like_date(out))
        return field_error(bad, path, "expected an ISO-8601 timestamp such as 2024-01-15T14:32:00Z");
    return std::nullopt;
}

const json::value* find(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    return it == o.end() ? nullptr : &it->value();
}

check read_fact(const json::value& v, std::string_view path, const record_limits& lim, bool legacy_allowed,
                fact& out) {
    if (v.is_string() && legacy_allowed) {  // tutorial format: a plain string
        if (auto e = read_string(v, path, lim.max_text, bad, over, out.text)) return e;
        out.confidence = confidence::medium;
        out.source = fact_source::inferred;
        return std::nullopt;
    }
    if (!v.is_object())
        return field_error(bad, path,
                           std::string("expected an object, got ") + std::string(detail::kind_name(v)));
    const auto& o = v.get_object();
    const auto* text = find(o, "text");
    if (!text) return field_error(bad, member_path(path, "text"), "missing");
    if (auto e = read_string(*text, member_path(path, "text"), lim.max_text, bad, over, out.text)) return e;
    if (out.text.empty()) return field_error(bad, member_path(path, "text"), "must not be empty");
    if (const auto* c = find(o, "confidence")) {
        std::string s;
        if (auto e = read_string(*c, member_path(path, "confidence"), 16, bad, s)) return e;
        auto p = parse_confidence(s);
        if (!p) return field_error(bad, member_path(path, "confidence"), "expected one of high, medium, low");
        out.confidence = *p;
    }
    if (const auto* s = find(o, "source")) {
        std::string str;
        if (auto e = read_string(*s, member_path(path, "source"), 16, bad, str)) return e;
        auto p = parse_fact_source(str);
        if (!p) return field_error(bad, member_path(path, "source"), "expected one of stated, inferred");
        out.source = *p;
    }
    if (const auto* t = find(o, "first_seen"))
        if (auto e = read_timestamp(*t, member_path(path, "first_seen"), lim, out.first_seen)) return e;
    if (const auto* t = find(o, "last_confirmed"))
        if (auto e = read_timestamp(*t, member_path(path, "last_confirmed"), lim, out.last_confirmed))
            return e;
    if (const auto* t = find(o, "session"))
        if (auto e = read_string(*t, member_path(path, "session"), lim.max_key, bad, over, out.session, true))
            return e;
    return std::nullopt;
}

check read_decision(const json::value& v, std::string_view path, const record_limits& lim, decision& out) {
    if (!v.is_object())
        return field_error(bad, path,
                           std::string("expected an object, got ") + std::string(detail::kind_name(v)));
    const auto& o = v.get_object();
    const auto* topic = find(o, "topic");
    const auto* dec = find(o, "decision");
    if (!topic) return field_error(bad, member_path(path, "topic"), "missing");
    if (!dec) return field_error(bad, member_path(path, "decision"), "missing");
    if (auto e = read_string(*topic, member_path(path, "topic"), lim.max_text, bad, over, out.topic))
        return e;
    if (auto e = read_string(*dec, member_path(path, "decision"), lim.max_text, bad, over, out.decision))
        return e;
    if (const auto* d = find(o, "date"))
        if (auto e = read_string(*d, member_path(path, "date"), lim.max_timestamp, bad, over, out.date, true))
            return e;
    return std::nullopt;
}

/// A tutorial preference that is not a string, as text: a list of strings joined by ", ",
/// anything else as its JSON.
std::string legacy_preference_text(const json::value& v) {
    if (const auto* a = v.if_array();
        a && !a->empty() && std::all_of(a->begin(), a->end(), [](const json::value& x) { return x.is_string(); })) {
        std::string out;
        for (const auto& x : *a) {
            if (!out.empty()) out += ", ";
            out += x.get_string();
        }
        return out;
    }
    return json::serialize(v);
}

check read_memory(const json::value& v, std::string_view path, const record_limits& lim, user_memory& m) {
    if (!v.is_object())
        return field_error(bad, path.empty() ? "record" : path,
                           std::string("expected an object, got ") + std::string(detail::kind_name(v)));
    const auto& o = v.get_object();
    int version = 0;
    if (const auto* sv = find(o, "schema_version")) {
        if (!sv->is_int64() && !sv->is_uint64())
            return field_error(bad, member_path(path, "schema_version"), "expected an integer");
        boost::system::error_code ec;  // the throwing overload would escape on a uint64 above INT64_MAX
        const auto n = sv->to_number<std::int64_t>(ec);
        if (!ec && n < 0)
            return field_error(bad, member_path(path, "schema_version"), "expected a non-negative integer");
        // Above ours (a uint64 beyond INT64_MAX included) is a newer engram's file: checked before any
        // other field, since a newer schema may change any of them.
        if (ec || n > current_schema_version)
            return field_error(over, member_path(path, "schema_version"),
                               "the file has version " + json::serialize(*sv) +
                                   ", written by a newer engram; this build reads up to " +
                                   std::to_string(current_schema_version));
        version = static_cast<int>(n);
    }
    m.schema_version = current_schema_version;  // upgraded on the next write
    const bool legacy = version == 0;

    const auto* uid = find(o, "user_id");
    if (!uid) return field_error(bad, member_path(path, "user_id"), "missing");
    if (auto e = read_string(*uid, member_path(path, "user_id"), lim.max_key, bad, over, m.user_id)) return e;
    if (const auto* t = find(o, "created_at"))
        if (auto e = read_timestamp(*t, member_path(path, "created_at"), lim, m.created_at)) return e;
    if (const auto* t = find(o, "last_session"))
        if (auto e = read_timestamp(*t, member_path(path, "last_session"), lim, m.last_session)) return e;
    if (const auto* sc = find(o, "session_count")) {
        if (!sc->is_int64() && !sc->is_uint64())
            return field_error(bad, member_path(path, "session_count"), "expected a non-negative integer");
        boost::system::error_code ec;
        const auto n = sc->to_number<std::int64_t>(ec);
        if (ec || n < 0)
            return field_error(bad, member_path(path, "session_count"),
                               "expected a non-negative integer up to 9223372036854775807");
        m.session_count = n;
    }
    if (const auto* p = find(o, "preferences"); p && !p->is_null()) {
        const auto ppath = member_path(path, "preferences");
        if (!p->is_object()) return field_error(bad, ppath, "expected an object of strings");
        if (p->get_object().size() > lim.max_items) return field_error(over, ppath, "too many entries");
        for (const auto& kv : p->get_object()) {
            const std::string_view key = kv.key();
            const auto kpath = ppath + "." + std::string(key.substr(0, byte_offset_of(key, 64)));
            if (key.empty() || !is_valid_utf8(key))
                return field_error(bad, kpath, "key must be non-empty UTF-8");
            if (key.size() > lim.max_key)
                return field_error(over, kpath,
                                   "key too long (" + std::to_string(key.size()) + " bytes, limit " +
                                       std::to_string(lim.max_key) + ")");
            std::string value;
            const json::value& pv = kv.value();
            if (legacy && !pv.is_string()) {
                // The tutorial stored whatever the model returned: a flag, a number, a list. Kept
                // as text (quarantined, the record would have cost the user all of their memory).
                if (pv.is_null()) continue;
                if (auto e = read_string(json::value(legacy_preference_text(pv)), kpath, lim.max_text, bad, over, value))
                    return e;
            } else if (auto e = read_string(pv, kpath, lim.max_text, bad, over, value)) {
                return e;
            }
            m.preferences.emplace(std::string(key), std::move(value));
        }
    }
    if (const auto* f = find(o, "key_facts"); f && !f->is_null()) {
        const auto fpath = member_path(path, "key_facts");
        if (!f->is_array()) return field_error(bad, fpath, "expected an array");
        if (f->get_array().size() > lim.max_items) return field_error(over, fpath, "too many entries");
        std::size_t i = 0;
        for (const auto& item : f->get_array()) {
            // The tutorial stored whatever the model returned, "" included; kept, such a fact
            // would make every later write of this record fail its own check.
            if (legacy && item.is_string() && item.get_string().empty()) {
                ++i;
                continue;
            }
            fact fa;
            if (auto e = read_fact(item, index_path(fpath, i), lim, legacy, fa)) return e;
            if (legacy && fa.first_seen.empty()) fa.first_seen = m.last_session;
            if (legacy && fa.last_confirmed.empty()) fa.last_confirmed = m.last_session;
            m.key_facts.push_back(std::move(fa));
            ++i;
        }
    }
    if (const auto* s = find(o, "running_summary"))
        if (auto e = read_string(*s, member_path(path, "running_summary"), lim.max_summary, bad, over,
                                 m.running_summary, true))
            return e;
    if (const auto* d = find(o, "recent_decisions"); d && !d->is_null()) {
        const auto dpath = member_path(path, "recent_decisions");
        if (!d->is_array()) return field_error(bad, dpath, "expected an array");
        if (d->get_array().size() > lim.max_items) return field_error(over, dpath, "too many entries");
        std::size_t i = 0;
        for (const auto& item : d->get_array()) {
            decision de;
            if (auto e = read_decision(item, index_path(dpath, i), lim, de)) return e;
            m.recent_decisions.push_back(std::move(de));
            ++i;
        }
    }
    return std::nullopt;
}

}  // namespace

result<user_memory> memory_from_json(const json::value& v, const record_limits& limits) {
    user_memory m;
    if (auto e = read_memory(v, "", limits, m)) return *e;
    return m;
}

result<user_record> record_from_json(const json::value& v, const record_limits& lim) {
    user_record r;
    if (auto e = read_memory(v, "", lim, r.memory)) return *e;
    const auto& o = v.get_object();
    if (const auto* a = find(o, "applied_sessions"); a && !a->is_null()) {
        if (!a->is_array()) return field_error(bad, "applied_sessions", "expected an array of strings");
        if (a->get_array().size() > lim.max_applied)
            return field_error(over, "applied_sessions", "too many entries");
        std::size_t i = 0;
        for (const auto& item : a->get_array()) {
            std::string s;
            if (auto e = read_string(item, index_path("applied_sessions", i), lim.max_key, bad, over, s))
                return *e;
            r.applied_sessions.push_back(std::move(s));
            ++i;
        }
    }
    if (const auto* h = find(o, "history"); h && !h->is_null()) {
        if (!h->is_array()) return field_error(bad, "history", "expected an array");
        if (h->get_array().size() > lim.max_items) return field_error(over, "history", "too many entries");
        std::size_t i = 0;
        for (const auto& item : h->get_array()) {
            const auto path = index_path("history", i);
            if (!item.is_object()) return field_error(bad, path, "expected an object");
            const auto& ho = item.get_object();
            history_entry he;
            const auto* at = find(ho, "at");
            const auto* session = find(ho, "session");
            const auto* changes = find(ho, "changes");
            const auto* before = find(ho, "before");
            if (!at || !session || !changes || !before)
                return field_error(bad, path, "expected fields at, session, changes and before");
            if (auto e = read_timestamp(*at, member_path(path, "at"), lim, he.at)) return *e;
            if (auto e =
                    read_string(*session, member_path(path, "session"), lim.max_key, bad, over, he.session))
                return *e;
            if (!changes->is_array())
                return field_error(bad, member_path(path, "changes"), "expected an array");
            std::size_t k = 0;
            for (const auto& c : changes->get_array()) {
                std::string s;
                if (auto e = read_string(c, index_path(member_path(path, "changes"), k), 4 * lim.max_text,
                                         bad, over, s))
                    return *e;
                he.changes.push_back(std::move(s));
                ++k;
            }
            if (auto e = read_memory(*before, member_path(path, "before"), lim, he.before)) return *e;
            r.history.push_back(std::move(he));
            ++i;
        }
    }
    return r;
}

result<user_record> parse_record(std::string_view text, const record_limits& limits) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) return make_error(errc::invalid_record, "not valid JSON: " + ec.message());
    return record_from_json(v, limits);
}

json::object to_json(const user_memory& m) {
    json::object o;
    o["schema_version"] = current_schema_version;
    o["user_id"] = m.user_id;
    o["created_at"] = m.created_at.empty() ? json::value(nullptr) : json::value(m.created_at);
    o["last_session"] = m.last_session.empty() ? json::value(nullptr) : json::value(m.last_session);
    o["session_count"] = m.session_count;
    json::object prefs;
    for (const auto& [k, v] : m.preferences) prefs[k] = v;
    o["preferences"] = std::move(prefs);
    json::array facts;
    for (const auto& f : m.key_facts) {
        json::object fo;
        fo["text"] = f.text;
        fo["confidence"] = to_string(f.confidence);
        fo["source"] = to_string(f.source);
        fo["first_seen"] = f.first_seen;
        fo["last_confirmed"] = f.last_confirmed;
        fo["session"] = f.session;
        facts.push_back(std::move(fo));
    }
    o["key_facts"] = std::move(facts);
    o["running_summary"] = m.running_summary;
    json::array decisions;
    for (const auto& d : m.recent_decisions)
        decisions.push_back(json::object{{"topic", d.topic}, {"decision", d.decision}, {"date", d.date}});
    o["recent_decisions"] = std::move(decisions);
    return o;
}

json::object to_json(const user_record& r) {
    json::object o = to_json(r.memory);
    json::array applied;
    for (const auto& s : r.applied_sessions) applied.push_back(json::value(s));
    o["applied_sessions"] = std::move(applied);
    json::array hist;
    for (const auto& h : r.history) {
        json::array changes;
        for (const auto& c : h.changes) changes.push_back(json::value(c));
        hist.push_back(json::object{{"at", h.at},
                                    {"session", h.session},
                                    {"changes", std::move(changes)},
                                    {"before", to_json(h.before)}});
    }
    o["history"] = std::move(hist);
    return o;
}

namespace {
void pretty(std::string& out, const json::value& v, int indent) {
    const auto pad = [&](int n) { out.append(static_cast<std::size_t>(n) * 2, ' '); };
    switch (v.kind()) {
        case json::kind::object: {
            const auto& o = v.get_object();
            if (o.empty()) {
                out += "{}";
                return;
            }
            out += "{\n";
            bool first = true;
            for (const auto& kv : o) {
                if (!first) out += ",\n";
                first = false;
                pad(indent + 1);
                out += json::serialize(json::string_view(kv.key()));
                out += ": ";
                pretty(out, kv.value(), indent + 1);
            }
            out += "\n";
            pad(indent);
            out += "}";
            return;
        }
        case json::kind::array: {
            const auto& a = v.get_array();
            if (a.empty()) {
                out += "[]";
                return;
            }
            out += "[\n";
            bool first = true;
            for (const auto& item : a) {
                if (!first) out += ",\n";
                first = false;
                pad(indent + 1);
                pretty(out, item, indent + 1);
            }
            out += "\n";
            pad(indent);
            out += "]";
            return;
        }
        default:
            out += json::serialize(v);
            return;
    }
}
}  // namespace

std::string pretty_json(const json::value& v) {
    std::string out;
    pretty(out, v, 0);
    out += "\n";
    return out;
}

std::string serialize(const user_record& r) {
    return pretty_json(json::value(to_json(r)));
}

std::string utc_timestamp(std::chrono::system_clock::time_point t) {
    const std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string(buf, n);
}

}  // namespace engram::memory
