#include <engram/memory/merge.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>

#include <engram/memory/utf8.hpp>

namespace engram::memory {

std::string memory_diff::to_string() const {
    std::string out;
    for (const auto& c : changes) {
        out += c.description;
        out += '\n';
    }
    return out;
}

std::size_t memory_diff::count(change::kind k) const noexcept {
    return static_cast<std::size_t>(
        std::count_if(changes.begin(), changes.end(), [k](const change& c) { return c.what == k; }));
}

std::string cut_summary(std::string_view text, std::size_t max_cp) {
    if (code_points(text) <= max_cp) return std::string(text);
    const std::size_t end = byte_offset_of(text, max_cp);
    const std::string_view prefix = text.substr(0, end);
    const std::size_t half = max_cp / 2;
    auto is_space = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; };
    // Sentence end: terminal punctuation followed by whitespace (possibly the first cut-off byte).
    for (std::size_t i = prefix.size(); i-- > 0;) {
        const char c = prefix[i];
        if (c != '.' && c != '!' && c != '?') continue;
        const bool followed_by_space = i + 1 < text.size() && is_space(text[i + 1]);
        if (followed_by_space && code_points(prefix.substr(0, i + 1)) >= half)
            return std::string(prefix.substr(0, i + 1));
        if (code_points(prefix.substr(0, i + 1)) < half) break;
    }
    // Otherwise a word boundary (the cut itself may already fall on one).
    for (std::size_t i = std::min(prefix.size(), text.size() - 1) + 1; i-- > 0;) {
        if (!is_space(text[i])) continue;
        std::size_t j = i;
        while (j > 0 && is_space(text[j - 1])) --j;
        if (code_points(prefix.substr(0, j)) >= half) return std::string(prefix.substr(0, j));
        break;
    }
    return std::string(prefix);
}

namespace {

// A quoted value in a diff line shows at most this many bytes (what a fact or a preference may
// hold): the summary may hold four times as much, and a line quoting two values must still fit
// a stored change line (record_limits: 4 x max_text). The memory itself keeps the whole text.
constexpr std::size_t max_quoted_bytes = 2000;

std::string quote(std::string_view s) {
    // Built with append, not `"\"" + str + "\""`: g++ 12 emits a false -Wrestrict for the latter.
    std::string out(1, '"');
    out += cut_with_ellipsis(single_line(s), max_quoted_bytes);
    out += '"';
    return out;
}

std::string describe(const fact& f) {
    return quote(f.text) + " (" + std::string(to_string(f.confidence)) + ", " +
           std::string(to_string(f.source)) + ")";
}

std::ptrdiff_t find_fact(const std::vector<fact>& facts, const std::string& norm, std::ptrdiff_t skip = -1) {
    for (std::size_t i = 0; i < facts.size(); ++i)
        if (static_cast<std::ptrdiff_t>(i) != skip && normalize_for_compare(facts[i].text) == norm)
            return static_cast<std::ptrdiff_t>(i);
    return -1;
}

void confirm(fact& f, std::optional<confidence> c, std::optional<fact_source> src, const session_info& s,
             memory_diff& diff) {
    std::string note;
    if (s.finished_at.substr(0, 19) >= f.last_confirmed.substr(0, 19)) {  // a late session's date is older
        f.last_confirmed = s.finished_at;
        f.session = s.id;
    }
    if (c && *c > f.confidence) {
        note = ", confidence " + std::string(to_string(f.confidence)) + " -> " + std::string(to_string(*c));
        f.confidence = *c;
    }
    if (src == fact_source::stated && f.source != fact_source::stated) {
        f.source = fact_source::stated;
        note += ", now stated";
    }
    diff.changes.push_back({change::kind::fact_confirmed, "~ fact confirmed: " + quote(f.text) + note});
}

// The first 19 characters (to the second) of two UTC timestamps compare as times do.
bool before(std::string_view a, std::string_view b) { return a.substr(0, 19) < b.substr(0, 19); }
bool utc(std::string_view t) { return t.size() >= 20 && t.back() == 'Z'; }

// What sessions that finished after a late one changed, read from the record's history (each
// entry holds the memory before it; the next entry's, or the current memory, is after it).
struct changed_later {
    bool all = true;  // the history does not reach back far enough to tell
    std::set<std::string> preferences;
    bool summary = false;
    std::set<std::string> decision_topics;  // normalized
    std::set<std::string> facts;            // normalized texts they confirmed, replaced or removed

    bool preference(const std::string& key) const { return all || preferences.count(key) > 0; }
    bool summary_changed() const { return all || summary; }
    bool decision(const std::string& topic) const { return all || decision_topics.count(topic) > 0; }
    bool fact(const std::string& norm) const { return all || facts.count(norm) > 0; }
};

changed_later changes_after(const user_memory& current, const std::vector<history_entry>* history,
                            std::string_view since) {
    changed_later out;
    // Sessions merged before the oldest entry kept are unknown: their last one must not be later.
    if (!history || history->empty() || before(since, history->front().before.last_session)) return out;
    out.all = false;
    for (std::size_t i = 0; i < history->size(); ++i) {
        const auto& entry = (*history)[i];
        if (utc(entry.at) && !before(since, entry.at)) continue;  // without a zone it may be later
        const user_memory& was = entry.before;
        const user_memory& now = i + 1 < history->size() ? (*history)[i + 1].before : current;
        for (const auto& [key, value] : was.preferences)
            if (auto it = now.preferences.find(key); it == now.preferences.end() || it->second != value)
                out.preferences.insert(key);
        for (const auto& [key, value] : now.preferences)
            if (!was.preferences.count(key)) out.preferences.insert(key);
        if (was.running_summary != now.running_summary) out.summary = true;
        for (const auto& d : now.recent_decisions)
            if (std::find(was.recent_decisions.begin(), was.recent_decisions.end(), d) == was.recent_decisions.end())
                out.decision_topics.insert(normalize_for_compare(d.topic));
        // Facts confirmed, replaced or removed, and those added (a replacement included).
        const auto changed = [&](const user_memory& from, const user_memory& to) {
            for (const auto& f : from.key_facts) {
                auto it = std::find_if(to.key_facts.begin(), to.key_facts.end(),
                                       [&](const fact& g) { return g.text == f.text; });
                if (it == to.key_facts.end() || it->last_confirmed != f.last_confirmed)
                    out.facts.insert(normalize_for_compare(f.text));
            }
        };
        changed(was, now);
        changed(now, was);
    }
    return out;
}

fact make_fact(std::string text, confidence c, fact_source src, const session_info& s) {
    fact f;
    f.text = std::move(text);
    f.confidence = c;
    f.source = src;
    f.first_seen = s.finished_at;
    f.last_confirmed = s.finished_at;
    f.session = s.id;
    return f;
}

}  // namespace

merge_result merge(const user_memory& old, const memory_update& u, const session_info& s,
                   const merge_policy& policy, const std::vector<history_entry>* history) {
    merge_result out{old, {}};
    user_memory& m = out.memory;
    memory_diff& diff = out.diff;
    // A session that ended before the last one merged (its pass was retried, or replayed from
    // the journal at a later start) adds what it learned, but does not overwrite what a newer
    // session said: the summary, a preference's value, a decision on the same topic, a fact.
    const bool late = utc(old.last_session) && utc(s.finished_at) && before(s.finished_at, old.last_session);
    const changed_later later = late ? changes_after(old, history, s.finished_at) : changed_later{};
    std::set<std::string> superseded_norms;

    for (const auto& sup : u.superseded_facts) {
        const auto old_norm = normalize_for_compare(sup.old_text);
        const auto new_norm = normalize_for_compare(sup.new_text);
        superseded_norms.insert(old_norm);
        const auto idx = find_fact(m.key_facts, old_norm);
        const auto dup = find_fact(m.key_facts, new_norm, idx);
        if (idx >= 0 && old_norm == new_norm) {  // "superseded" by itself: a confirmation
            confirm(m.key_facts[static_cast<std::size_t>(idx)], sup.confidence, sup.source, s, diff);
            continue;
        }
        // A later session confirmed the old fact, or replaced or removed it (then it is not
        // found): what it said stands.
        if (late && later.fact(old_norm) && (idx >= 0 || dup < 0)) {
            diff.changes.push_back({change::kind::fact_kept, "! fact " + quote(sup.old_text) + " not replaced by " +
                                                                 quote(sup.new_text) +
                                                                 ": a later session has been merged already"});
            continue;
        }
        if (idx >= 0) {
            const fact previous = m.key_facts[static_cast<std::size_t>(idx)];
            if (dup >= 0) {
                confirm(m.key_facts[static_cast<std::size_t>(dup)],
                        sup.confidence.value_or(previous.confidence), sup.source, s, diff);
                m.key_facts.erase(m.key_facts.begin() + idx);
                diff.changes.push_back(
                    {change::kind::fact_superseded,
                     "* fact superseded: " + quote(previous.text) + " -> " + quote(sup.new_text)});
            } else {
                fact& f = m.key_facts[static_cast<std::size_t>(idx)];
                f = make_fact(sup.new_text, sup.confidence.value_or(previous.confidence),
                              sup.source.value_or(previous.source), s);
                diff.changes.push_back({change::kind::fact_superseded,
                                        "* fact superseded: " + quote(previous.text) + " -> " + describe(f)});
            }
            continue;
        }
        if (dup >= 0) {
            confirm(m.key_facts[static_cast<std::size_t>(dup)], sup.confidence, sup.source, s, diff);
            continue;
        }
        m.key_facts.push_back(make_fact(sup.new_text, sup.confidence.value_or(confidence::medium),
                                        sup.source.value_or(fact_source::inferred), s));
        diff.changes.push_back({change::kind::fact_added, "+ fact: " + describe(m.key_facts.back()) +
                                                              " (replaces " + quote(sup.old_text) +
                                                              ", not found)"});
    }

    for (const auto& nf : u.new_facts) {
        const auto norm = normalize_for_compare(nf.text);
        if (norm.empty() || superseded_norms.count(norm)) continue;  // never re-add what was just superseded
        if (const auto idx = find_fact(m.key_facts, norm); idx >= 0) {
            confirm(m.key_facts[static_cast<std::size_t>(idx)], nf.confidence, nf.source, s, diff);
            continue;
        }
        if (late && !later.all && later.facts.count(norm)) {  // a later session replaced or removed it
            diff.changes.push_back({change::kind::fact_kept, "! fact " + quote(nf.text) +
                                                                 " not added again: a later session replaced or "
                                                                 "removed it"});
            continue;
        }
        m.key_facts.push_back(make_fact(nf.text, nf.confidence.value_or(confidence::medium),
                                        nf.source.value_or(fact_source::inferred), s));
        diff.changes.push_back({change::kind::fact_added, "+ fact: " + describe(m.key_facts.back())});
    }

    for (const auto& key : u.removed_preferences) {
        if (late && later.preference(key) && m.preferences.count(key)) {
            diff.changes.push_back({change::kind::preference_kept,
                                    "! preference " + quote(key) + " kept: a later session has been merged already"});
            continue;
        }
        if (m.preferences.erase(key) > 0)
            diff.changes.push_back({change::kind::preference_removed, "- preference " + quote(key)});
    }
    for (const auto& [key, value] : u.updated_preferences) {
        auto it = m.preferences.find(key);
        if (late && !later.all && it == m.preferences.end() && later.preferences.count(key)) {
            diff.changes.push_back({change::kind::preference_kept, "! preference " + quote(key) +
                                                                       " not set again: a later session removed it"});
            continue;
        }
        if (late && later.preference(key) && it != m.preferences.end()) {
            if (it->second != value)
                diff.changes.push_back({change::kind::preference_kept,
                                        "! preference " + quote(key) + " kept as " + quote(it->second) +
                                            ": a later session has been merged already"});
            continue;
        }
        if (it == m.preferences.end()) {
            if (m.preferences.size() >= policy.max_preferences) {
                diff.changes.push_back(
                    {change::kind::preference_dropped, "! preference " + quote(key) + " dropped (cap " +
                                                           std::to_string(policy.max_preferences) + ")"});
                continue;
            }
            m.preferences.emplace(key, value);
            diff.changes.push_back(
                {change::kind::preference_set, "+ preference " + quote(key) + " = " + quote(value)});
        } else if (it->second != value) {
            diff.changes.push_back(
                {change::kind::preference_set,
                 "~ preference " + quote(key) + ": " + quote(it->second) + " -> " + quote(value)});
            it->second = value;
        }
    }

    if (u.running_summary && late && later.summary_changed() && !m.running_summary.empty()) {
        diff.changes.push_back({change::kind::summary_kept,
                                "! summary kept: a later session has been merged already"});
    } else if (u.running_summary) {
        auto cut = cut_summary(*u.running_summary, policy.max_summary_chars);
        if (cut != m.running_summary) {
            const bool was_cut = cut.size() != u.running_summary->size();
            m.running_summary = std::move(cut);
            diff.changes.push_back({change::kind::summary_replaced, std::string("~ summary replaced") +
                                                                        (was_cut ? " (cut to the cap)" : "") +
                                                                        ": " + quote(m.running_summary)});
        }
    }

    if (u.new_decision) {
        decision d = *u.new_decision;
        if (d.date.empty() || normalize_for_compare(d.date) == "today") d.date = s.finished_at.substr(0, 10);
        const auto topic = normalize_for_compare(d.topic);
        auto same = std::find_if(m.recent_decisions.begin(), m.recent_decisions.end(),
                                 [&](const decision& x) { return normalize_for_compare(x.topic) == topic; });
        bool add = true;
        if (same != m.recent_decisions.end() && late && later.decision(topic)) {
            diff.changes.push_back({change::kind::decision_kept, "! decision on " + quote(same->topic) + " kept as " +
                                                                     quote(same->decision) +
                                                                     ": a later session has been merged already"});
            add = false;
        } else if (same != m.recent_decisions.end()) {
            diff.changes.push_back({change::kind::decision_replaced, "~ decision on " + quote(d.topic) +
                                                                         ": " + quote(same->decision) +
                                                                         " -> " + quote(d.decision)});
            m.recent_decisions.erase(same);
        } else {
            diff.changes.push_back(
                {change::kind::decision_added,
                 "+ decision: " + quote(d.topic) + " -> " + quote(d.decision) + " (" + d.date + ")"});
        }
        if (add) {
            // Oldest first: a late session's decision goes before the later ones' (by date), so
            // that the cap drops the oldest, not a newer one.
            auto at = m.recent_decisions.end();
            if (late)
                at = std::find_if(m.recent_decisions.begin(), m.recent_decisions.end(),
                                  [&](const decision& x) { return d.date < x.date; });
            m.recent_decisions.insert(at, std::move(d));
        }
    }
    while (m.recent_decisions.size() > policy.max_decisions) {
        diff.changes.push_back({change::kind::decision_evicted,
                                "- decision dropped (cap " + std::to_string(policy.max_decisions) +
                                    "): " + quote(m.recent_decisions.front().topic)});
        m.recent_decisions.erase(m.recent_decisions.begin());
    }

    while (m.key_facts.size() > policy.max_facts) {
        // Lowest confidence first, then the earliest first_seen, then the earliest added (index).
        auto victim =
            std::min_element(m.key_facts.begin(), m.key_facts.end(), [](const fact& a, const fact& b) {
                if (a.confidence != b.confidence) return a.confidence < b.confidence;
                return a.first_seen < b.first_seen;  // stable: min_element keeps the first of equals
            });
        diff.changes.push_back(
            {change::kind::fact_evicted,
             "- fact evicted (cap " + std::to_string(policy.max_facts) + "): " + describe(*victim)});
        m.key_facts.erase(victim);
    }

    // Saturates: a record at INT64_MAX (valid, the reader accepts it) must not overflow (UB).
    if (m.session_count < std::numeric_limits<std::int64_t>::max()) ++m.session_count;
    if (!late) m.last_session = s.finished_at;  // never back in time
    if (m.created_at.empty()) m.created_at = s.finished_at;
    diff.changes.push_back(
        {change::kind::session_counted, "= session " + std::to_string(m.session_count) + " counted" +
                                            (s.id.empty() ? std::string() : " (" + single_line(s.id) + ")")});
    return out;
}

record_apply_result apply_to_record(user_record& r, const memory_update& u, const session_info& s,
                                    const merge_policy& policy) {
    if (!s.id.empty() &&
        std::find(r.applied_sessions.begin(), r.applied_sessions.end(), s.id) != r.applied_sessions.end())
        return {apply_status::duplicate, {}};
    auto merged = merge(r.memory, u, s, policy, &r.history);
    history_entry h;
    h.at = s.finished_at;
    h.session = s.id;
    for (const auto& c : merged.diff.changes) h.changes.push_back(c.description);
    h.before = std::move(r.memory);
    r.memory = std::move(merged.memory);
    r.history.push_back(std::move(h));
    while (r.history.size() > policy.max_history) r.history.erase(r.history.begin());
    if (!s.id.empty()) {
        r.applied_sessions.push_back(s.id);
        if (r.applied_sessions.size() > policy.max_applied_sessions)
            r.applied_sessions.erase(
                r.applied_sessions.begin(),
                r.applied_sessions.begin() +
                    static_cast<std::ptrdiff_t>(r.applied_sessions.size() - policy.max_applied_sessions));
    }
    return {apply_status::applied, std::move(merged.diff)};
}

bool undo_last(user_record& r) {
    if (r.history.empty()) return false;
    r.memory = std::move(r.history.back().before);
    r.history.pop_back();
    return true;
}

}  // namespace engram::memory
