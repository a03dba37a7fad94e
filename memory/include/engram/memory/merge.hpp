// The merge policy: applying an extraction update to a memory record. Pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <engram/memory/schema.hpp>
#include <engram/memory/update.hpp>

namespace engram::memory {

/// Caps applied on every merge; the defaults are the tutorial's.
struct merge_policy {
    std::size_t max_facts = 10;  ///< Evict lowest confidence, then earliest first_seen, then earliest added.
    std::size_t max_decisions = 5;           ///< Oldest dropped first.
    std::size_t max_summary_chars = 500;     ///< Unicode code points; cut at a sentence end when possible.
    std::size_t max_preferences = 50;        ///< New keys beyond this are dropped (reported in the diff).
    std::size_t max_history = 10;            ///< Applied updates kept for "what was learned" and undo.
    std::size_t max_applied_sessions = 256;  ///< Session ids remembered to refuse a replayed job.
};

/// The finished session an update comes from.
struct session_info {
    std::string id;           ///< Unique per session (journal key); may be empty for ad-hoc merges.
    std::string finished_at;  ///< ISO-8601 UTC, e.g. utc_now(); used for timestamps and "today".
};

/// One line of a diff.
struct change {
    enum class kind {
        summary_replaced,
        fact_added,
        fact_confirmed,
        fact_superseded,
        fact_evicted,
        preference_set,
        preference_removed,
        preference_dropped,
        decision_added,
        decision_replaced,
        decision_evicted,
        session_counted,
        // A session merged after a later one (its pass was retried, or replayed at a later
        // start) leaves what the later one said as it was:
        summary_kept,
        preference_kept,
        decision_kept,
        fact_kept,  ///< a late supersession of a fact a later session confirmed or replaced
    };
    change::kind what;
    std::string description;  ///< Human-readable, one line.
    bool operator==(const change&) const = default;
};

/// What a merge changed, in the order it happened.
struct memory_diff {
    std::vector<change> changes;
    /// One description per line.
    std::string to_string() const;
    /// Number of changes of a kind (handy in tests and logs).
    std::size_t count(change::kind k) const noexcept;
};

struct merge_result {
    user_memory memory;
    memory_diff diff;
};

/// Applies `u` to `old`: supersessions, then new facts (de-duplicated case/spacing/punctuation-
/// insensitively; a restated fact refreshes last_confirmed and may raise confidence), removed then
/// updated preferences, the summary (cut with cut_summary), the decision (one per topic), the
/// caps, and finally counts the session (session_count + 1, saturating at INT64_MAX;
/// last_session = s.finished_at unless the session is late).
///
/// A late session (its finished_at before old.last_session: its pass was retried, or replayed
/// from the journal at a later start) adds what it learned but leaves alone what a later session
/// said: the preferences, summary and decision topics that sessions finished after it changed,
/// and facts they confirmed or replaced, as `history` shows them (the record's history; when it
/// is not given or no longer reaches back to the late session, every preference, the summary and
/// every existing decision topic count as changed). last_session never moves back. Timestamps
/// without a zone (a tutorial file's local time) make no session late.
merge_result merge(const user_memory& old, const memory_update& u, const session_info& s,
                   const merge_policy& policy = {}, const std::vector<history_entry>* history = nullptr);

/// At most `max_code_points` code points of `text`, never splitting a UTF-8 sequence; prefers to end
/// at a sentence end (". ", "! ", "? ") or else a word boundary when that keeps at least half.
std::string cut_summary(std::string_view text, std::size_t max_code_points);

/// Whether a record-level apply changed anything.
enum class apply_status {
    applied,    ///< The update was merged and counted.
    duplicate,  ///< The session id was applied before; nothing changed.
    /// The request said its session was journaled (update_request::journaled) and the journal no
    /// longer holds it, though it was never applied: the user's memory was erased after the
    /// session ended. Nothing changed (store::apply only).
    withdrawn,
    /// The request named the memory its update was made from (update_request::based_on) and
    /// the stored memory is no longer that one (an undo, an edit, another process's merge):
    /// the update may not fit it. Nothing changed (store::apply only).
    stale,
};

struct record_apply_result {
    apply_status status = apply_status::applied;
    memory_diff diff;
};

/// Merges into a whole record: refuses a session id already in `applied_sessions`, records it,
/// appends a history entry (with the memory before the update, for undo) and trims both lists.
record_apply_result apply_to_record(user_record& r, const memory_update& u, const session_info& s,
                                    const merge_policy& policy = {});

/// Restores the memory as it was before the newest history entry and drops that entry. The
/// session stays in applied_sessions, so replaying its job does not re-apply it. Returns false
/// when there is nothing to undo.
bool undo_last(user_record& r);

}  // namespace engram::memory
