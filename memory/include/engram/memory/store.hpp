// memory::store: the blocking, durable JSON-file store. Only the memory actor should write.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include <engram/memory/error.hpp>
#include <engram/memory/filesystem.hpp>
#include <engram/memory/merge.hpp>
#include <engram/memory/schema.hpp>
#include <engram/memory/update.hpp>
#include <engram/memory/user_id.hpp>

namespace engram::memory {

/// $XDG_DATA_HOME/engram/memory when XDG_DATA_HOME is set and absolute, else
/// $HOME/.local/share/engram/memory.
/// $XDG_DATA_HOME/engram/memory (when absolute), else ~/.local/share/engram/memory with the home
/// from $HOME or, without it, the password database; empty when there is no absolute home (open()
/// then fails rather than use a path relative to the working directory).
std::filesystem::path default_memory_directory();

struct store_options {
    std::filesystem::path directory;  ///< Empty means default_memory_directory().
    merge_policy policy;
    record_limits limits;
    std::shared_ptr<memory::filesystem> fs;  ///< Null means posix_filesystem().
    /// Create the directory when it is missing. False (tools that only read or tidy memory):
    /// a missing directory is errc::not_found, and nothing is created (a mistyped path must not
    /// become a new memory directory). Either way, an existing directory that is not empty, not
    /// a memory directory and not the tutorial's folder of <user>.json files (.gitkeep,
    /// .gitignore, .DS_Store, a README and lost+found may sit beside them; memory/README lists
    /// them) is errc::not_found and left as it was ($HOME given by mistake must not become a
    /// private memory directory).
    bool create_directory = true;
};

/// A finished session whose extraction has not been merged yet (see the journal functions).
struct pending_job {
    std::string user_id;
    std::string session_id;
    std::string created_at;  ///< ISO-8601 UTC: when the session ended (empty if the journal held none usable).
    std::string transcript;  ///< Whatever the runtime needs to re-run the extraction.
    /// Memory passes of this session that failed in a way a retry would not change (the model's
    /// output unusable, the request refused as too large), counted by journal_record_failure
    /// across processes; journal_retry sets it back to 0. The runtime stops replaying a job at
    /// runtime_config::set_aside_after_failed_passes; the job stays in the journal.
    unsigned failed_passes = 0;
    std::string last_failure{};  ///< Why the last counted pass failed (empty when none has).
};

/// What journal_list reads into each job.
enum class journal_detail { whole, without_transcripts };

/// One update to apply, from one finished session.
struct update_request {
    std::string session_id;  ///< Unique per session; a session id already applied is refused.
    memory_update update;
    std::string finished_at;  ///< ISO-8601 UTC (must start with YYYY-MM-DD); empty means "now".
    /// The caps this update is merged under; unset: the store's own (store_options::policy). The
    /// runtime passes the caps of the agent whose session it was. Caps apply to the user's whole
    /// record, so an update under smaller caps trims what one under larger caps kept.
    std::optional<merge_policy> policy;
    /// The session was journaled (journal_add) and is merged only while the journal still holds
    /// it: an erase removes a user's pending jobs, and the session it erased must not come back
    /// from an extraction that was under way (apply_status::withdrawn). The check is made under
    /// the user's lock, which erase takes too. Unset: merged whatever the journal holds.
    bool journaled = false;
    /// The memory the update was made from: when set, the update is merged only if that is
    /// still the stored memory (apply_status::stale otherwise), checked under the user's lock.
    /// For an update kept a while (a save retried minutes later): made from other memory, it
    /// could bring back what an undo took away. A session already applied is `duplicate` first.
    std::optional<user_memory> based_on;
};

/// What store::apply refuses before it reads anything: a malformed session id
/// (errc::invalid_session_id), or a finished_at the record reader would reject (errc::invalid_update:
/// not empty and not starting with YYYY-MM-DD, or longer than `limits.max_timestamp`). `names`:
/// the store's (store::names()), under which a session id is longer when it has upper case.
result<void> check_request(const update_request& r, const record_limits& limits = {},
                           name_case names = name_case::sensitive);

struct update_outcome {
    apply_status status = apply_status::applied;
    memory_diff diff;
};

struct apply_result {
    user_record record;                    ///< The record as written.
    std::vector<update_outcome> outcomes;  ///< One per request, in order.
};

/// The durable store: one JSON file per user in one private directory.
///
/// Layout (all inside the memory directory, 0700, files 0600):
/// `<id>.json` (the record, with its history), `.locks/<id>.lock`, `.journal/<id>@<session>.job`,
/// `.quarantine/<id>@<time>-<rand>.json`; `<id>` is encode_user_id(user id).
///
/// Every write is atomic and durable: temp file in the same directory, write, fsync, rename,
/// fsync the directory (if only that last fsync fails, the new file is already in place: the
/// errc::io_error says so). Read-modify-write of a user holds an advisory flock on the user's lock
/// file, so several processes can share one directory without losing updates. Symlinks inside
/// the directory are never followed (O_NOFOLLOW); a corrupt record is moved to `.quarantine/`,
/// never deleted or overwritten, and reported as errc::memory_corrupt. A record this build cannot
/// read (a newer schema_version, or beyond `store_options::limits`) is errc::unsupported_record:
/// never quarantined, never written over, since another engram sharing the directory can read it.
///
/// @par Thread safety
/// All member functions may be called concurrently from any thread; calls for the same user
/// serialize on the user's lock. Every function blocks on disk I/O: never call it on an
/// io_context thread that serves sessions (the memory actor runs it on a thread pool).
class store {
public:
    /// Creates the directory (and parents) if needed, makes it 0700, and opens it.
    static result<std::shared_ptr<store>> open(store_options options = {});

    ~store();
    store(const store&) = delete;
    store& operator=(const store&) = delete;

    const std::filesystem::path& directory() const noexcept;
    const merge_policy& policy() const noexcept;
    const record_limits& limits() const noexcept;
    /// How the directory's file system compares names, as open() found (memory/README: "Ids to
    /// file names"); ids are checked against the names this gives them.
    name_case names() const noexcept;

    /// The user's record; a blank one (session_count 0) when the user has none. A corrupt file is
    /// quarantined (errc::memory_corrupt; the next call returns a blank record); one this build
    /// cannot read is errc::unsupported_record and stays as it is.
    result<user_record> load(std::string_view user_id) const;

    /// Locks the user, reads the record, applies every request in order (refusing session ids
    /// already applied; skipping, with their own status, one that is `withdrawn` or `stale`),
    /// writes the record once if anything changed, then removes the journal entries of the
    /// requests now in the record (`applied` or `duplicate`; a `stale` one's stays). Either all
    /// the requests that merge are written or none is (and the old file is intact).
    /// Exception: if only the directory fsync after the rename fails, the new record is in place
    /// but may not be durable; that is errc::io_error saying so, and the journal entries are kept
    /// (replaying them is acknowledged as apply_status::duplicate).
    /// A request check_request refuses fails the call before anything is read. A result the
    /// reader would not load back (merge_policy letting through more than record_limits allows,
    /// e.g. a summary above max_summary) is never written: errc::invalid_record. A stored record
    /// this build cannot read fails the call with errc::unsupported_record: nothing is written and
    /// the requests' journal entries stay, for a build that reads the record to apply them.
    result<apply_result> apply(std::string_view user_id, std::span<const update_request> requests);

    /// Restores the memory before the newest history entry (errc::not_found if there is none).
    result<user_record> undo_last(std::string_view user_id);

    /// Real erasure: the record (and with it the history), quarantined copies, pending jobs,
    /// stray temp files and the lock file. Returns whether anything existed. The record is removed
    /// by its name first; if a directory cannot be listed afterwards, or a removal fails (any
    /// error code: io_error, permission_denied, even disk_full from a directory fsync), the error
    /// says the erasure is incomplete: what was removed stays removed, and erasing again finishes it.
    result<bool> erase(std::string_view user_id);

    /// User ids with a record, sorted. Like every listing here, a directory that cannot be read
    /// (EMFILE, ...) is an error, never an empty list.
    result<std::vector<std::string>> list_users() const;

    /// The user's full record (memory, applied sessions, history) as JSON.
    result<boost::json::value> export_user(std::string_view user_id) const;

    /// {"schema_version": 1, "users": [record, ...]} for every user, sorted by id.
    result<boost::json::value> export_all() const;

    /// Names of the user's quarantined files (inside `.quarantine/`).
    result<std::vector<std::string>> quarantined(std::string_view user_id) const;

    /// Durably records a finished session before its extraction starts. A job journal_list could
    /// not read back (a transcript that is not UTF-8, or a file above 64 MiB) is refused with
    /// errc::invalid_record and nothing is written.
    result<void> journal_add(const pending_job& job);

    /// Every pending job, oldest first. A corrupt job file is quarantined and skipped; a job of a
    /// newer format (a newer engram shares the directory) is skipped and left in place; an
    /// unreadable journal directory is an error (never "no jobs"). With
    /// `journal_detail::without_transcripts` every file is still read and checked, but the jobs
    /// come back with empty transcripts (journal_read fetches one when it is needed): after an
    /// outage the journal may hold far more transcript text than a process should hold at once.
    result<std::vector<pending_job>> journal_list(journal_detail detail = journal_detail::whole) const;

    /// One pending job, transcript included; errc::not_found when the journal no longer holds it
    /// (merged meanwhile, by this process or another, or erased). A job that is no longer
    /// readable is quarantined, as journal_list does, and reported as errc::memory_corrupt; one
    /// a newer engram wrote is errc::unsupported_record and stays.
    result<pending_job> journal_read(std::string_view user_id, std::string_view session_id) const;

    /// Whether the journal still holds the session's job (a stat, nothing read). An error other
    /// than "missing" is reported as such, never as false.
    result<bool> journal_holds(std::string_view user_id, std::string_view session_id) const;

    /// Removes a job (no error if it is already gone). apply() does this itself.
    result<void> journal_remove(std::string_view user_id, std::string_view session_id);

    /// Counts one failed memory pass of a journaled session and keeps `why` (at most 1,000
    /// bytes of it) as its last_failure, durably, under the user's lock. Returns the new count;
    /// errc::not_found once the journal no longer holds the job (merged or erased meanwhile).
    result<unsigned> journal_record_failure(std::string_view user_id, std::string_view session_id, std::string_view why);

    /// Clears a job's failed passes (and last_failure), so the runtime replays it again at its
    /// next start; errc::not_found when the journal does not hold it.
    result<void> journal_retry(std::string_view user_id, std::string_view session_id);

private:
    struct impl;
    explicit store(std::unique_ptr<impl> p);
    /// Reads a journaled job, lets `change` edit it and writes it back, under the user's lock.
    result<pending_job> journal_rewrite(std::string_view user_id, std::string_view session_id,
                                        const std::function<void(pending_job&)>& change);
    std::unique_ptr<impl> impl_;
};

}  // namespace engram::memory
