#include <engram/memory/store.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <engram/memory/user_id.hpp>
#include <engram/memory/utf8.hpp>

#include "json_read.hpp"

namespace json = boost::json;

namespace engram::memory {

namespace {
/// The user's home: $HOME, else the password database's entry (a service started without a
/// login environment has no HOME). Empty when neither gives an absolute path.
std::string home_directory() {
    if (const char* home = std::getenv("HOME"); home && *home == '/') return home;
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* found = nullptr;
    if (::getpwuid_r(::geteuid(), &pw, buf.data(), buf.size(), &found) == 0 && found && found->pw_dir &&
        found->pw_dir[0] == '/')
        return found->pw_dir;
    return {};
}
}  // namespace

std::filesystem::path default_memory_directory() {
    if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg == '/')
        return std::filesystem::path(xdg) / "engram" / "memory";
    // Never relative to the working directory: memory would seem to vanish when the program
    // runs from somewhere else.
    const std::string home = home_directory();
    if (home.empty()) return {};
    return std::filesystem::path(home) / ".local" / "share" / "engram" / "memory";
}

namespace {

constexpr std::size_t max_file_bytes = 64u << 20;
constexpr const char* record_suffix = ".json";
constexpr const char* job_suffix = ".job";
constexpr std::chrono::minutes stale_temp_age{10};

class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    ~unique_fd() { reset(); }
    int get() const noexcept { return fd_; }
    void reset() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

std::string random_hex8() {
    static std::atomic<std::uint64_t> counter{0};
    thread_local std::mt19937_64 rng{std::random_device{}() ^ (static_cast<std::uint64_t>(::getpid()) << 32) ^
                                     counter.fetch_add(1)};
    static constexpr char hex[] = "0123456789abcdef";
    auto v = rng();
    std::string out(8, '0');
    for (auto& c : out) {
        c = hex[v & 0xF];
        v >>= 4;
    }
    return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

/// ".t" + 8 hex + "-" + target: our temp files. Returns the target name, or "" for other names.
std::string_view temp_target(std::string_view name) {
    if (name.size() < 12 || name[0] != '.' || name[1] != 't' || name[10] != '-') return {};
    return name.substr(11);
}

bool names_equal_ignoring_case(std::string_view a, std::string_view b) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) { return lower(x) == lower(y); });
}

std::string compact_now() {
    std::string s = utc_now();  // 2024-01-15T14:32:00Z -> 20240115T143200Z
    s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return c == '-' || c == ':'; }), s.end());
    return s;
}

/// The journal file of a session: `<encoded user>@<encoded session>.job`.
result<std::string> job_file_name(std::string_view user_id, std::string_view session_id, name_case names) {
    auto enc = encode_user_id(user_id, names);
    if (!enc) return enc.error();
    auto sess = encode_session_id(session_id, names);
    if (!sess) return sess.error();
    return *enc + "@" + *sess + job_suffix;
}

/// The journal's job format version this build writes and reads.
constexpr std::int64_t job_version = 1;

/// A journal file's job, or nullopt when journal_list must quarantine it. `name` is the file's name:
/// it must be the one journal_add chooses for the job's ids. A job of a newer format (a newer
/// engram sharing the directory wrote it) is neither: `newer` is set and it is left alone, so a
/// rolling upgrade cannot lose the newer process's sessions to an older process's start-up.
std::optional<pending_job> job_from_text(std::string_view text, std::string_view name, bool& newer,
                                         name_case names) {
    newer = false;
    boost::system::error_code ec;
    const json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) return std::nullopt;
    const auto& o = v.get_object();
    if (const auto* ver = o.if_contains("version"); ver && ver->is_number()) {
        const auto n = ver->to_number<double>();
        if (n > static_cast<double>(job_version)) {
            newer = true;
            return std::nullopt;
        }
    }
    pending_job job;
    const auto get = [&](std::string_view k, std::string& dst) {
        const auto* p = o.if_contains(k);
        if (!p || !p->is_string()) return false;
        dst.assign(p->get_string().data(), p->get_string().size());
        return true;
    };
    if (!get("user_id", job.user_id) || !get("session_id", job.session_id) ||
        !get("created_at", job.created_at) || !get("transcript", job.transcript))
        return std::nullopt;
    // Optional (jobs written before they existed have neither): a count that is not a small
    // non-negative integer is read as none, rather than losing the session to quarantine.
    if (const auto* f = o.if_contains("failed_passes")) {
        constexpr std::uint64_t most = 1'000'000;
        if (const auto* i = f->if_int64(); i && *i > 0 && static_cast<std::uint64_t>(*i) <= most)
            job.failed_passes = static_cast<unsigned>(*i);
        else if (const auto* u = f->if_uint64(); u && *u > 0 && *u <= most)
            job.failed_passes = static_cast<unsigned>(*u);
    }
    (void)get("last_failure", job.last_failure);
    auto expected = job_file_name(job.user_id, job.session_id, names);
    if (!expected || name != *expected) return std::nullopt;
    // The session's end dates its merge; one no record could store is dropped ("now" instead)
    // rather than failing the job's merge at every start.
    if (!detail::is_stored_timestamp(job.created_at, record_limits{}.max_timestamp)) job.created_at.clear();
    return job;
}

}  // namespace

result<void> check_request(const update_request& r, const record_limits& limits, name_case names) {
    if (!r.session_id.empty())
        if (auto s = encode_session_id(r.session_id, names); !s) return s.error();
    if (!r.finished_at.empty() && !detail::is_stored_timestamp(r.finished_at, limits.max_timestamp))
        return make_error(
            errc::invalid_update,
            "finished_at: expected an ISO-8601 timestamp such as 2024-01-15T14:32:00Z of at most " +
                std::to_string(limits.max_timestamp) + " bytes, or empty for now");
    return {};
}

struct store::impl {
    std::filesystem::path dir;
    name_case names = name_case::sensitive;  ///< how the directory's file system compares names (open() finds out)
    merge_policy policy;
    record_limits limits;
    std::shared_ptr<memory::filesystem> fs;
    unique_fd dir_fd, locks_fd, journal_fd, quarantine_fd;

    /// An exclusive flock on a user's lock file; released on destruction.
    struct user_lock {
        unique_fd fd;
    };

    result<void> sync_directory(const std::filesystem::path& d) const {
        const auto path = d.empty() ? std::filesystem::path(".") : d;
        const int fd = fs->open_at(AT_FDCWD, path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd < 0) return error_from_errno(errno, "open " + path.string() + " to sync it");
        unique_fd guard(fd);
        if (fs->fsync(fd) != 0) return error_from_errno(errno, "fsync " + path.string() + " after creating the memory directory");
        return {};
    }

    /// Opens (creating it if need be) a subdirectory; `created` is set when it was made here.
    /// One that belongs to someone else is refused: its owner could read every transcript
    /// journaled into it, or plant jobs that would be merged into a user's memory.
    result<void> open_subdir(const char* name, unique_fd& out, bool& created) {
        if (fs->mkdir_at(dir_fd.get(), name, 0700) == 0) created = true;
        else if (errno != EEXIST) return error_from_errno(errno, "create " + (dir / name).string());
        const int fd = fs->open_at(dir_fd.get(), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
        if (fd < 0) return error_from_errno(errno, "open " + (dir / name).string());
        out = unique_fd(fd);
        return make_private(fd, (dir / name).string());
    }

    /// Refuses a directory owned by another user, and closes an own one that is open to others
    /// (to 0700). A read-only file system (a mounted backup read by `memory list`) is left as
    /// it is: nothing can be written there anyway.
    static result<void> make_private(int fd, const std::string& label) {
        struct stat st {};
        if (::fstat(fd, &st) != 0) return error_from_errno(errno, "stat " + label);
        if (st.st_uid != ::geteuid())
            return make_error(errc::permission_denied, label + " belongs to another user; refusing to use it");
        if ((st.st_mode & 077) != 0 && ::fchmod(fd, 0700) != 0 && errno != EROFS)
            return error_from_errno(errno, "make " + label + " private (chmod 0700)");
        return {};
    }

    /// `wait` false: a lock another holds is errc::io_error at once (a second user's lock taken
    /// while one is held, which could otherwise deadlock with a process taking them the other way).
    result<user_lock> lock_user(const std::string& enc, bool wait = true) const {
        const std::string name = enc + ".lock";
        for (;;) {
            // Read-only is all flock needs; a read-write open would fail for good once a restrictive
            // umask (e.g. 0277) had created the file 0400.
            const int fd =
                fs->open_at(locks_fd.get(), name.c_str(), O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
            if (fd < 0) return error_from_errno(errno, "open lock file .locks/" + name);
            unique_fd guard(fd);
            int rc;
            do rc = ::flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB);
            while (rc != 0 && errno == EINTR);
            if (rc != 0 && errno == EWOULDBLOCK)
                return make_error(errc::io_error, ".locks/" + name + " is held by another update; try again");
            if (rc != 0) return error_from_errno(errno, "lock .locks/" + name);
            struct stat st {};
            if (::fstat(fd, &st) != 0) return error_from_errno(errno, "stat .locks/" + name);
            if (st.st_nlink == 0) continue;  // erased (and unlinked) while we waited: take the new file
            if ((st.st_mode & 07777) != 0600) ::fchmod(fd, 0600);  // private whatever the umask was
            return user_lock{std::move(guard)};
        }
    }

    /// The directory's entries, sorted. An error, never a short list: callers act on absence
    /// (erase, the journal replay at start-up).
    result<std::vector<std::string>> list_dir(int dfd, const std::string& label) const {
        const int fd = fs->open_at(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd < 0) return error_from_errno(errno, "list " + label);
        DIR* d = ::fdopendir(fd);
        if (!d) {
            const int err = errno;
            ::close(fd);
            return error_from_errno(err, "list " + label);
        }
        std::vector<std::string> out;
        for (;;) {
            errno = 0;
            const dirent* e = ::readdir(d);
            if (!e) break;
            std::string_view n = e->d_name;
            if (n != "." && n != "..") out.emplace_back(n);
        }
        const int err = errno;
        ::closedir(d);
        if (err != 0) return error_from_errno(err, "list " + label);
        std::sort(out.begin(), out.end());
        return out;
    }

    /// The file's bytes, nullopt when it does not exist. Never follows a symlink.
    result<std::optional<std::string>> read_file(int dfd, const std::string& name,
                                                 const std::string& label) const {
        const int fd = fs->open_at(dfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
        if (fd < 0) {
            if (errno == ENOENT) return std::optional<std::string>();
            if (errno == ELOOP)
                return make_error(errc::unsafe_path,
                                  label +
                                      " is a symbolic link; engram never follows links in its "
                                      "memory directory");
            return error_from_errno(errno, "open " + label);
        }
        unique_fd guard(fd);
        struct stat st {};
        if (::fstat(fd, &st) != 0) return error_from_errno(errno, "stat " + label);
        if (!S_ISREG(st.st_mode)) return make_error(errc::unsafe_path, label + " is not a regular file");
        if (static_cast<std::size_t>(st.st_size) > max_file_bytes)
            return make_error(errc::memory_corrupt, label + " is larger than 64 MiB");
        std::string data;
        char buf[65536];
        for (;;) {
            const ssize_t n = fs->read(fd, buf, sizeof buf);
            if (n < 0) {
                if (errno == EINTR) continue;
                return error_from_errno(errno, "read " + label);
            }
            if (n == 0) break;
            data.append(buf, static_cast<std::size_t>(n));
            if (data.size() > max_file_bytes)
                return make_error(errc::memory_corrupt, label + " is larger than 64 MiB");
        }
        return std::optional<std::string>(std::move(data));
    }

    /// temp file in the same directory, write, fsync, rename, fsync the directory.
    result<void> write_atomic(int dfd, const std::string& name, std::string_view contents,
                              const std::string& label) const {
        const std::string tmp = ".t" + random_hex8() + "-" + name;
        const int fd =
            fs->open_at(dfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) return error_from_errno(errno, "create temp file for " + label);
        unique_fd guard(fd);
        auto fail = [&](int err, const std::string& what) -> result<void> {
            guard.reset();
            fs->unlink_at(dfd, tmp.c_str(), 0);  // never leave a partial temp file behind
            return error_from_errno(err, what + " " + label + " (the previous version is intact)");
        };
        if (::fchmod(fd, 0600) != 0) return fail(errno, "chmod");
        std::size_t done = 0;
        while (done < contents.size()) {
            const ssize_t n = fs->write(fd, contents.data() + done, contents.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                return fail(errno, "write");
            }
            if (n == 0) return fail(EIO, "write (no progress)");  // retrying would spin forever
            done += static_cast<std::size_t>(n);
        }
        if (fs->fsync(fd) != 0) return fail(errno, "fsync");
        guard.reset();
        if (fs->rename_at(dfd, tmp.c_str(), dfd, name.c_str()) != 0) return fail(errno, "rename");
        // Past the rename the old version is gone and readers see the new one; only its durability
        // is in doubt. Always io_error: disk_full / permission_denied promise the old file is intact.
        if (fs->fsync(dfd) != 0) {
            const int err = errno;
            return make_error(errc::io_error,
                              "fsync directory after replacing " + label + ": " + std::strerror(err) +
                                  "; the new version is in place (readers see it) but the replacement "
                                  "may not survive a crash or power loss, after which the previous "
                                  "version may reappear");
        }
        return {};
    }

    /// Moves a file into .quarantine/ under "<prefix>@<time>-<rand><suffix>"; returns its new name.
    result<std::string> quarantine(int from_dfd, const std::string& name, const std::string& prefix,
                                   const std::string& suffix) const {
        const std::string target = prefix + "@" + compact_now() + "-" + random_hex8() + suffix;
        if (fs->rename_at(from_dfd, name.c_str(), quarantine_fd.get(), target.c_str()) != 0)
            return error_from_errno(errno, "move " + name + " to quarantine");
        fs->fsync(quarantine_fd.get());
        fs->fsync(from_dfd);
        return target;
    }

    /// A record this build cannot read (a newer schema_version, or beyond its record_limits) is
    /// reported and left alone: in a directory shared with a newer or larger-limits engram (a rolling
    /// upgrade), quarantining it would reset the user for every process.
    static error_info unsupported(const std::string& name, const error_info& why) {
        return make_error(errc::unsupported_record,
                          "memory file " + name + " cannot be read by this build (" + why.message +
                              "); it was written by a newer engram or one with larger record_limits. It was "
                              "left untouched: this build refuses to update it (pending jobs stay in the "
                              "journal) until a build that reads it does");
    }

    /// Where read_record_locked found a record besides the name this store gives it.
    struct record_place {
        /// Read from the name a store on the other kind of file system gave it (see
        /// normalize_names): written back under this store's name, that copy goes.
        std::string other_name;
        /// The file at the id's name holds an id that differs only in letter case, on a file
        /// system that does not tell case apart: named so before this store escaped upper case.
        /// It is that user's, not corrupt: the id's own record is missing.
        std::optional<std::string> case_variant;
    };

    /// Reads and validates a record; the caller holds the user's lock. A file that cannot be parsed
    /// or belongs to another id is quarantined and reported as memory_corrupt; one this build cannot
    /// read (errc::unsupported_record) is reported and never touched.
    result<std::optional<user_record>> read_record_locked(const std::string& enc, std::string_view user_id,
                                                          record_place& place) const {
        const std::string name = enc + record_suffix;
        auto bytes = read_file(dir_fd.get(), name, name);
        if (!bytes) return bytes.error();
        if (!*bytes) return read_other_record(user_id, place);
        auto rec = parse_record(**bytes, limits);
        if (!rec && rec.error().code == errc::unsupported_record) return unsupported(name, rec.error());
        if (rec && is_case_variant(rec->memory.user_id, user_id)) {
            place.case_variant = rec->memory.user_id;
            return std::optional<user_record>();
        }
        std::string problem;
        if (!rec)
            problem = rec.error().message;
        else if (rec->memory.user_id != user_id)
            problem = "user_id: the file names another user (\"" + rec->memory.user_id.substr(0, byte_offset_of(rec->memory.user_id, 64)) + "\")";
        if (problem.empty()) return std::optional<user_record>(std::move(*rec));
        auto moved = quarantine(dir_fd.get(), name, enc, record_suffix);
        if (!moved)
            return make_error(errc::memory_corrupt,
                              "memory file " + name + " is corrupt (" + problem +
                                  "), and moving it aside failed: " + moved.error().message);
        return make_error(errc::memory_corrupt, "memory file " + name + " is corrupt (" + problem +
                                                    "); it was moved to .quarantine/" + *moved +
                                                    " and the user starts from a blank record");
    }

    bool is_case_variant(std::string_view held, std::string_view user_id) const {
        return names == name_case::insensitive && held != user_id && names_equal_ignoring_case(held, user_id);
    }

    name_case other_names() const { return names == name_case::sensitive ? name_case::insensitive : name_case::sensitive; }

    /// The stem a store on the other kind of file system gives the id, when it differs from ours.
    std::optional<std::string> other_stem(std::string_view id) const {
        auto theirs = encode_user_id(id, other_names());
        auto mine = encode_user_id(id, names);
        if (!theirs || !mine || *theirs == *mine) return std::nullopt;
        return *theirs;
    }

    /// The record a store on the other kind of file system named (a directory copied from one to
    /// the other, or a name normalize_names could not change): only a file holding exactly this
    /// id. Anything else there is not this id's file, and is left alone.
    result<std::optional<user_record>> read_other_record(std::string_view user_id, record_place& place) const {
        const auto other = other_stem(user_id);
        if (!other) return std::optional<user_record>();
        const std::string name = *other + record_suffix;
        auto bytes = read_file(dir_fd.get(), name, name);
        if (!bytes && bytes.error().code != errc::unsafe_path && bytes.error().code != errc::memory_corrupt)
            return bytes.error();
        if (!bytes || !*bytes) return std::optional<user_record>();
        auto rec = parse_record(**bytes, limits);
        if (!rec || rec->memory.user_id != user_id) return std::optional<user_record>();
        place.other_name = name;
        return std::optional<user_record>(std::move(*rec));
    }

    /// Once the record is written under this store's name: the other kind's copy goes, if it still
    /// holds this id (on a case-insensitive file system its name may be another id's file too).
    void drop_other_copy(const std::string& name, std::string_view user_id) const {
        auto bytes = read_file(dir_fd.get(), name, name);
        if (!bytes || !*bytes) return;
        auto rec = parse_record(**bytes, limits);
        if (!rec || rec->memory.user_id != user_id) return;
        if (fs->unlink_at(dir_fd.get(), name.c_str(), 0) == 0) fs->fsync(dir_fd.get());
    }

    /// Moves `from` to `to` in `dfd` unless `to` exists (another store, of this build or another,
    /// may have written it meanwhile). False when `to` was taken; true when nothing is left at
    /// `from` (moved, or moved away by another process first).
    result<bool> move_if_free(int dfd, const std::string& from, const std::string& to) const {
        int rc = fs->rename_noreplace_at(dfd, from.c_str(), dfd, to.c_str());
        if (rc != 0 && (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP)) {
            // A file system without an exclusive rename: a stat first, under the caller's lock
            // of the new owner (which keeps this build's stores out; not an older one).
            struct stat st {};
            if (fs->stat_at(dfd, to.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return false;
            if (errno != ENOENT) return error_from_errno(errno, "stat " + to);
            rc = fs->rename_at(dfd, from.c_str(), dfd, to.c_str());
        }
        if (rc != 0) {
            if (errno == EEXIST) return false;
            if (errno == ENOENT) return true;
            return error_from_errno(errno, "rename " + from + " to " + to);
        }
        fs->fsync(dfd);
        return true;
    }

    /// A case-variant record (record_place::case_variant) found at `name`, where the id whose lock
    /// the caller holds is about to write or erase: it goes to its owner's own name, or to
    /// quarantine under the owner's name when that is taken. Never overwritten, never removed.
    /// The owner's lock is only tried: two files holding each other's id would otherwise have
    /// the two users' updates take the two locks in opposite orders.
    result<void> hand_to_owner(const std::string& name, const std::string& owner) const {
        auto stem = encode_user_id(owner, names);
        if (!stem) return stem.error();
        auto lock = lock_user(*stem, /*wait=*/false);
        if (!lock) return lock.error();
        auto moved = move_if_free(dir_fd.get(), name, *stem + record_suffix);
        if (!moved) return moved.error();
        if (*moved) return {};
        if (auto q = quarantine(dir_fd.get(), name, *stem, record_suffix); !q) return q.error();
        return {};
    }

    /// Writes the user's record, but only one the reader accepts: a file the next read quarantines
    /// would silently reset the user's memory. That happens when merge_policy or update_limits let
    /// through more than record_limits allows (e.g. max_summary_chars above max_summary).
    result<void> write_record(const std::string& enc, const user_record& rec) const {
        const std::string name = enc + record_suffix;
        const std::string text = serialize(rec);
        std::string problem;
        if (text.size() > max_file_bytes)
            problem = "larger than 64 MiB";
        else if (auto back = parse_record(text, limits); !back)
            problem = back.error().message;
        if (!problem.empty())
            return make_error(errc::invalid_record,
                              "refusing to write " + name + ": the reader would reject it (" + problem +
                                  "); merge_policy or update_limits let through more than record_limits "
                                  "allows. The previous version is intact");
        return write_atomic(dir_fd.get(), name, text, name);
    }

    /// The job in the journal file `name` (store::journal_read), and its text if `text` is given:
    /// errc::not_found once it is gone; one no longer readable is quarantined (memory_corrupt);
    /// one a newer engram wrote stays (unsupported_record).
    result<pending_job> read_job(const std::string& name, std::string_view session_id, std::string* text = nullptr) const {
        auto bytes = read_file(journal_fd.get(), name, ".journal/" + name);
        if (!bytes && bytes.error().code != errc::unsafe_path && bytes.error().code != errc::memory_corrupt)
            return bytes.error();
        if (bytes && !*bytes)
            return make_error(errc::not_found, "session " + std::string(session_id) + " is no longer in the journal");
        bool newer = false;
        auto job = bytes ? job_from_text(**bytes, name, newer, names) : std::nullopt;
        if (newer)
            return make_error(errc::unsupported_record, ".journal/" + name + " was written by a newer engram; it is left for it");
        if (!job) {
            if (auto moved = quarantine(journal_fd.get(), name, name.substr(0, name.find('@')), job_suffix); !moved)
                return make_error(errc::memory_corrupt, ".journal/" + name + " is no longer readable, and could not be moved "
                                                        "to quarantine: " + moved.error().what());
            return make_error(errc::memory_corrupt, ".journal/" + name + " is no longer readable; it was moved to quarantine");
        }
        if (text) *text = std::move(**bytes);
        return std::move(*job);
    }

    /// Whether the journal holds the job file `name` (a stat, nothing read).
    result<bool> journal_holds(const std::string& name) const {
        struct stat st {};
        if (fs->stat_at(journal_fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return true;
        if (errno == ENOENT) return false;
        return error_from_errno(errno, "stat .journal/" + name);
    }

    /// Whether the file system compares names without regard to letter case: ".JOURNAL" is then
    /// the journal directory itself. A stat, nothing written, so that a read-only memory directory
    /// is asked too; anything else (an unrelated ".JOURNAL", an error) counts as case-sensitive.
    name_case probe_name_case() const {
        struct stat probed {}, journal {};
        if (fs->stat_at(dir_fd.get(), ".JOURNAL", &probed, AT_SYMLINK_NOFOLLOW) != 0 ||
            ::fstat(journal_fd.get(), &journal) != 0)
            return name_case::sensitive;
        const bool same = probed.st_dev == journal.st_dev && probed.st_ino == journal.st_ino;
        return same ? name_case::insensitive : name_case::sensitive;
    }

    /// The id a stem names under the other kind of file system's rules, when this store would
    /// name that id differently: a name to change.
    std::optional<std::string> foreign_stem_id(std::string_view stem) const {
        auto id = decode_id(stem, other_names());
        if (!id) return std::nullopt;
        auto mine = encode_user_id(*id, names);
        if (!mine || *mine == stem) return std::nullopt;
        return id;
    }

    /// Renames what a store on the other kind of file system named: on a case-insensitive one,
    /// names an older engram or the tutorial gave with upper-case letters ("Alice.json", which is
    /// also "alice.json" there) become "%41lice.json", so that ids differing only in case stay
    /// apart from now on; on a case-sensitive one, a directory copied from such a file system
    /// gets its plain names back. A record goes to the id it holds (on a case-insensitive file
    /// system "Alice.json" may hold "alice", and is then already hers), a job to its ids, a
    /// quarantined file to the id its name encodes. Nothing is overwritten, a record holding an id
    /// its name does not give is left for the reader to quarantine, and what fails is left for
    /// the next open (meanwhile a record is still read from its old name: read_other_record).
    void normalize_names() const {
        const auto case_blind = names == name_case::insensitive;
        // The name under the new owner's lock, and only when the new one is free.
        const auto move = [&](int dfd, const std::string& from, const std::string& owner_stem, const std::string& to) {
            if (case_blind && names_equal_ignoring_case(from, to)) return;  // the same file there already
            auto lock = lock_user(owner_stem);
            if (lock) (void)move_if_free(dfd, from, to);
        };
        if (auto top = list_dir(dir_fd.get(), "the memory directory"))
            for (const auto& n : *top) {
                if (n.empty() || n[0] == '.' || !ends_with(n, record_suffix)) continue;
                const auto named = foreign_stem_id(std::string_view(n).substr(0, n.size() - std::strlen(record_suffix)));
                if (!named) continue;
                // The owner is the id the record holds; a corrupt one goes by its name (the
                // reader quarantines it under that), one this build cannot read or could not
                // read now stays where it is.
                std::string owner = *named;
                auto bytes = read_file(dir_fd.get(), n, n);
                if (!bytes || !*bytes) continue;
                auto rec = parse_record(**bytes, limits);
                if (!rec && rec.error().code == errc::unsupported_record) continue;
                if (rec) {
                    const auto& held = rec->memory.user_id;
                    if (held != *named && !(case_blind && names_equal_ignoring_case(held, *named))) continue;
                    owner = held;
                }
                if (auto enc = encode_user_id(owner, names)) move(dir_fd.get(), n, *enc, *enc + record_suffix);
            }
        if (auto jobs = list_dir(journal_fd.get(), ".journal/"))
            for (const auto& n : *jobs) {
                const auto at = n.find('@');
                if (n.empty() || n[0] == '.' || !ends_with(n, job_suffix) || at == std::string::npos) continue;
                const auto sess = std::string_view(n).substr(at + 1, n.size() - at - 1 - std::strlen(job_suffix));
                if (!foreign_stem_id(std::string_view(n).substr(0, at)) && !foreign_stem_id(sess)) continue;
                auto bytes = read_file(journal_fd.get(), n, ".journal/" + n);
                bool newer = false;
                auto job = bytes && *bytes ? job_from_text(**bytes, n, newer, other_names()) : std::nullopt;
                if (!job) continue;  // left to journal_list, which quarantines what it cannot read
                auto enc = encode_user_id(job->user_id, names);
                auto to = job_file_name(job->user_id, job->session_id, names);
                if (enc && to) move(journal_fd.get(), n, *enc, *to);
            }
        if (auto held = list_dir(quarantine_fd.get(), ".quarantine/"))
            for (const auto& n : *held) {
                const auto at = n.find('@');
                if (at == std::string::npos) continue;
                const auto owner = foreign_stem_id(std::string_view(n).substr(0, at));
                if (!owner) continue;
                // Quarantined names are unique (a time and a random part): no lock needed.
                if (auto enc = encode_user_id(*owner, names)) (void)move_if_free(quarantine_fd.get(), n, *enc + n.substr(at));
            }
    }

    bool unlink_if_exists(int dfd, const std::string& name) const {
        return fs->unlink_at(dfd, name.c_str(), 0) == 0;
    }

    /// Removes temp files a crashed writer left behind. Only old ones: a live writer in another
    /// process may be between its write and its rename right now.
    void remove_stale_temp_files(int dfd) const {
        const auto now = std::chrono::system_clock::now();
        auto names = list_dir(dfd, "directory");
        if (!names) return;  // only housekeeping: the next open tries again
        for (const auto& n : *names) {
            if (temp_target(n).empty()) continue;
            struct stat st {};
            if (fs->stat_at(dfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
            const auto mtime = std::chrono::system_clock::from_time_t(st.st_mtim.tv_sec);
            if (now - mtime > stale_temp_age) fs->unlink_at(dfd, n.c_str(), 0);
        }
    }
};

namespace {

/// Opening sets up .locks, .journal and .quarantine and makes the directory private. That is
/// done to a directory that is missing, a memory directory already (it has .journal), or the
/// tutorial's folder of <user>.json files, with what a repository or a volume keeps beside them
/// (hidden files such as .gitkeep, a README, lost+found); never to one such as $HOME or a project
/// given by mistake, which it would have made private to its owner.
result<void> check_adoptable(const std::filesystem::path& dir) {
    std::error_code ec;
    const auto st = std::filesystem::symlink_status(dir, ec);
    if (ec || !std::filesystem::exists(st)) return {};  // missing: created below, or its error reported there
    if (std::filesystem::exists(dir / ".journal", ec)) return {};
    std::filesystem::directory_iterator it(dir, ec), end;
    if (ec) return error_from_errno(ec.value(), "list memory directory " + dir.string());
    for (; it != end; it.increment(ec)) {
        const auto name = it->path().filename().string();
        // Its own subdirectories (a first open cut short) are checked, symlinks refused, below.
        if (name == ".locks" || name == ".quarantine" || name == "lost+found") continue;
        const bool file = it->symlink_status(ec).type() == std::filesystem::file_type::regular;
        // Beside the tutorial's files only what a repository, a volume or a desktop keeps there:
        // a home directory also holds only hidden files (.bashrc, .profile), and is not adopted.
        const bool kept_beside = name == ".gitkeep" || name == ".keep" || name == ".gitignore" ||
                                 name == ".gitattributes" || name == ".DS_Store" || !temp_target(name).empty() ||
                                 name == "README" || name == "README.md" || name == "README.txt";
        if (file && (name.ends_with(".json") || kept_beside)) continue;
        return make_error(errc::not_found,
                          dir.string() + " is not a memory directory: it has no .journal and holds '" +
                              name.substr(0, byte_offset_of(name, 64)) +
                              "'; give an empty or new directory, a memory directory or a folder of the "
                              "tutorial's <user>.json files");
    }
    if (ec) return error_from_errno(ec.value(), "list memory directory " + dir.string());
    return {};
}

}  // namespace

store::store(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
store::~store() = default;

result<std::shared_ptr<store>> store::open(store_options options) {
    auto p = std::make_unique<impl>();
    p->dir = options.directory.empty() ? default_memory_directory() : options.directory;
    if (p->dir.empty())
        return make_error(errc::io_error, "no memory directory: neither XDG_DATA_HOME nor a home directory is known; "
                                          "set the memory directory explicitly");
    p->policy = options.policy;
    p->limits = options.limits;
    p->fs = options.fs ? options.fs : posix_filesystem();
    std::error_code ec;
    if (!options.create_directory && !std::filesystem::exists(p->dir, ec))
        return make_error(ec ? errc::io_error : errc::not_found, "memory directory " + p->dir.string() + " does not exist" +
                                                                     (ec ? " (" + ec.message() + ")" : std::string()));
    if (auto r = check_adoptable(p->dir); !r) return r.error();
    // A new directory's entry is durable once its parent is synced: without that a crash could
    // lose the directory with the journal and records later written into it.
    std::filesystem::path existing = p->dir;  // the deepest ancestor already there
    while (existing.has_relative_path() && !std::filesystem::exists(existing, ec)) existing = existing.parent_path();
    // The parents as `mkdir -p` would make them; the memory directory itself private from the
    // start (made 0777 minus the umask and tightened later, it would be open in between).
    const auto own = p->dir.has_filename() ? p->dir : p->dir.parent_path();  // "mem/" is "mem"
    if (own.has_parent_path()) std::filesystem::create_directories(own.parent_path(), ec);
    if (ec) return error_from_errno(ec.value(), "create memory directory " + p->dir.string());
    bool created = ::mkdir(own.c_str(), 0700) == 0;
    if (!created && errno != EEXIST) return error_from_errno(errno, "create memory directory " + p->dir.string());
    if (created)
        for (auto d = p->dir; d != existing && d.has_relative_path(); d = d.parent_path())
            if (auto r = p->sync_directory(d.parent_path()); !r) return r.error();
    const int fd = ::open(p->dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return error_from_errno(errno, "open memory directory " + p->dir.string());
    p->dir_fd = unique_fd(fd);
    if (auto r = impl::make_private(fd, "memory directory " + p->dir.string()); !r) return r.error();
    bool made_subdir = false;
    for (auto [name, slot] : {std::pair{".locks", &p->locks_fd}, std::pair{".journal", &p->journal_fd},
                              std::pair{".quarantine", &p->quarantine_fd}})
        if (auto r = p->open_subdir(name, *slot, made_subdir); !r) return r.error();
    if (made_subdir && p->fs->fsync(p->dir_fd.get()) != 0)
        return error_from_errno(errno, "fsync memory directory " + p->dir.string() + " after creating its subdirectories");
    p->names = p->probe_name_case();
    p->normalize_names();
    p->remove_stale_temp_files(p->dir_fd.get());
    p->remove_stale_temp_files(p->journal_fd.get());
    return std::shared_ptr<store>(new store(std::move(p)));
}

name_case store::names() const noexcept {
    return impl_->names;
}

const std::filesystem::path& store::directory() const noexcept {
    return impl_->dir;
}
const merge_policy& store::policy() const noexcept {
    return impl_->policy;
}
const record_limits& store::limits() const noexcept {
    return impl_->limits;
}

result<user_record> store::load(std::string_view user_id) const {
    auto enc = encode_user_id(user_id, impl_->names);
    if (!enc) return enc.error();
    const std::string name = *enc + record_suffix;
    user_record blank;
    blank.memory = blank_memory(std::string(user_id), "");
    auto bytes = impl_->read_file(impl_->dir_fd.get(), name, name);
    if (!bytes) return bytes.error();
    impl::record_place place;
    if (*bytes) {
        auto rec = parse_record(**bytes, impl_->limits);
        if (rec && rec->memory.user_id == user_id) return std::move(*rec);
        if (!rec && rec.error().code == errc::unsupported_record) return impl::unsupported(name, rec.error());
        if (rec && impl_->is_case_variant(rec->memory.user_id, user_id)) return blank;  // another user's
    } else {
        auto other = impl_->read_other_record(user_id, place);
        if (!other) return other.error();
        if (*other) return std::move(**other);
        return blank;
    }
    // Corrupt: re-check under the lock (quarantining is a write) and move it aside.
    auto lock = impl_->lock_user(*enc);
    if (!lock) return lock.error();
    auto rec = impl_->read_record_locked(*enc, user_id, place);
    if (!rec) return rec.error();
    if (*rec) return std::move(**rec);
    return blank;
}

result<apply_result> store::apply(std::string_view user_id, std::span<const update_request> requests) {
    auto enc = encode_user_id(user_id, impl_->names);
    if (!enc) return enc.error();
    std::vector<std::string> job_names_for;  // each request's journal entry (empty: no session id)
    for (const auto& r : requests) {
        if (auto c = check_request(r, impl_->limits, impl_->names); !c) return c.error();
        job_names_for.emplace_back();
        if (r.session_id.empty()) continue;
        // Escaped upper case makes a name longer on a case-insensitive file system.
        auto name = job_file_name(user_id, r.session_id, impl_->names);
        if (!name) return name.error();
        job_names_for.back() = std::move(*name);
    }
    auto lock = impl_->lock_user(*enc);
    if (!lock) return lock.error();
    impl::record_place place;
    auto existing = impl_->read_record_locked(*enc, user_id, place);
    if (!existing) return existing.error();
    apply_result out;
    if (*existing) {
        out.record = std::move(**existing);
    } else {
        out.record.memory = blank_memory(std::string(user_id), "");
    }
    bool changed = false;
    for (std::size_t i = 0; i < requests.size(); ++i) {
        const auto& r = requests[i];
        const auto& applied = out.record.applied_sessions;
        // A session applied before is `duplicate` (apply_to_record), whatever the checks below say.
        const bool new_session =
            r.session_id.empty() || std::find(applied.begin(), applied.end(), r.session_id) == applied.end();
        if (new_session && r.journaled && !r.session_id.empty()) {
            // An error other than "missing" counts as holding it: a session is withdrawn only
            // when its entry is known to be gone.
            const auto held = impl_->journal_holds(job_names_for[i]);
            if (held && !*held) {
                out.outcomes.push_back({apply_status::withdrawn, {}});
                continue;
            }
        }
        if (new_session && r.based_on && *r.based_on != out.record.memory) {
            out.outcomes.push_back({apply_status::stale, {}});
            continue;
        }
        session_info s{r.session_id, r.finished_at.empty() ? utc_now() : r.finished_at};
        auto res = apply_to_record(out.record, r.update, s, r.policy ? *r.policy : impl_->policy);
        changed = changed || res.status == apply_status::applied;
        out.outcomes.push_back({res.status, std::move(res.diff)});
    }
    if (changed) {
        // A history line quotes what changed; under limits tighter than the merge's own quoting
        // assumes, it is cut rather than the record refused for good (the memory keeps all).
        for (auto& h : out.record.history)
            for (auto& line : h.changes) line = cut_with_ellipsis(line, 4 * impl_->limits.max_text);
        if (place.case_variant)
            if (auto r = impl_->hand_to_owner(*enc + record_suffix, *place.case_variant); !r) return r.error();
        if (auto w = impl_->write_record(*enc, out.record); !w) return w.error();
        if (!place.other_name.empty()) impl_->drop_other_copy(place.other_name, user_id);
    }
    // The merge is durable: the jobs of the sessions now in the record may go (a stale update's
    // session is still to be merged). A failure here is harmless (a replay is refused as a
    // duplicate session), so it does not turn a durable update into an error.
    bool removed = false;
    for (std::size_t i = 0; i < requests.size(); ++i) {
        const auto status = out.outcomes[i].status;
        if (job_names_for[i].empty() || (status != apply_status::applied && status != apply_status::duplicate)) continue;
        removed = impl_->unlink_if_exists(impl_->journal_fd.get(), job_names_for[i]) || removed;
    }
    if (removed) impl_->fs->fsync(impl_->journal_fd.get());
    return out;
}

result<user_record> store::undo_last(std::string_view user_id) {
    auto enc = encode_user_id(user_id, impl_->names);
    if (!enc) return enc.error();
    auto lock = impl_->lock_user(*enc);
    if (!lock) return lock.error();
    impl::record_place place;
    auto existing = impl_->read_record_locked(*enc, user_id, place);
    if (!existing) return existing.error();
    if (!*existing) return make_error(errc::not_found, "user has no memory, nothing to undo");
    user_record rec = std::move(**existing);
    if (!memory::undo_last(rec)) return make_error(errc::not_found, "history is empty, nothing to undo");
    if (auto w = impl_->write_record(*enc, rec); !w) return w.error();
    if (!place.other_name.empty()) impl_->drop_other_copy(place.other_name, user_id);
    return rec;
}

result<bool> store::erase(std::string_view user_id) {
    auto enc = encode_user_id(user_id, impl_->names);
    if (!enc) return enc.error();
    auto lock = impl_->lock_user(*enc);
    if (!lock) return lock.error();
    const std::string record = *enc + record_suffix;
    const std::string prefix = *enc + "@";
    bool existed = false;
    // Whatever fails, what was removed stays removed: the caller must learn that erasing again
    // is needed (a half-erased user is not "the old file left intact").
    const auto incomplete = [](error_info e) {
        e.message +=
            "; the erasure is incomplete (the record, quarantined copies, pending jobs or temp files may "
            "remain): erase again";
        return e;
    };
    auto remove = [&](int dfd, const std::string& name, const std::string& label) -> result<void> {
        if (impl_->fs->unlink_at(dfd, name.c_str(), 0) == 0) {
            existed = true;
            return {};
        }
        if (errno == ENOENT) return {};
        return incomplete(error_from_errno(errno, "erase " + label));
    };
    // What a store on the other kind of file system named (normalize_names could not rename it):
    // its jobs and quarantined files by their names, its record only if it holds this very id
    // (on a case-insensitive file system that name may be another id's file).
    const auto other = impl_->other_stem(user_id);
    const std::string other_prefix = other ? *other + "@" : std::string();
    const auto mine = [&](std::string_view name) {
        return name == record || starts_with(name, prefix) || (other && (name == *other + record_suffix || starts_with(name, other_prefix)));
    };
    // On a case-insensitive file system the file at the record's name may hold a user whose id
    // differs only in letter case (named before upper case was escaped): that one is theirs.
    if (impl_->names == name_case::insensitive) {
        auto bytes = impl_->read_file(impl_->dir_fd.get(), record, record);
        if (bytes && *bytes)
            if (auto rec = parse_record(**bytes, impl_->limits); rec && impl_->is_case_variant(rec->memory.user_id, user_id))
                if (auto r = impl_->hand_to_owner(record, rec->memory.user_id); !r) return incomplete(r.error());
    }
    // The record by its name, so that it goes even when a listing below fails.
    if (auto r = remove(impl_->dir_fd.get(), record, record); !r) return r.error();
    if (other) {
        impl::record_place place;
        auto theirs = impl_->read_other_record(user_id, place);
        if (!theirs) return incomplete(theirs.error());
        if (*theirs)
            if (auto r = remove(impl_->dir_fd.get(), place.other_name, place.other_name); !r) return r.error();
    }
    const auto listed = [&](int dfd, const std::string& label) -> result<std::vector<std::string>> {
        auto names = impl_->list_dir(dfd, label);
        if (names) return names;
        return incomplete(names.error());
    };
    auto top = listed(impl_->dir_fd.get(), "the memory directory");
    if (!top) return top.error();
    for (const auto& n : *top)
        if (mine(temp_target(n)))
            if (auto r = remove(impl_->dir_fd.get(), n, n); !r) return r.error();
    auto jobs = listed(impl_->journal_fd.get(), ".journal/");
    if (!jobs) return jobs.error();
    for (const auto& n : *jobs)
        if (mine(n) || mine(temp_target(n)))
            if (auto r = remove(impl_->journal_fd.get(), n, ".journal/" + n); !r) return r.error();
    auto quarantined = listed(impl_->quarantine_fd.get(), ".quarantine/");
    if (!quarantined) return quarantined.error();
    for (const auto& n : *quarantined)
        if (starts_with(n, prefix) || (other && starts_with(n, other_prefix)))
            if (auto r = remove(impl_->quarantine_fd.get(), n, ".quarantine/" + n); !r) return r.error();
    for (int fd : {impl_->dir_fd.get(), impl_->journal_fd.get(), impl_->quarantine_fd.get()})
        if (impl_->fs->fsync(fd) != 0) return incomplete(error_from_errno(errno, "fsync after erasing"));
    // Last, the lock file itself; a process waiting on it sees st_nlink == 0 and retries.
    impl_->fs->unlink_at(impl_->locks_fd.get(), (*enc + ".lock").c_str(), 0);
    return existed;
}

result<std::vector<std::string>> store::list_users() const {
    auto names = impl_->list_dir(impl_->dir_fd.get(), "the memory directory");
    if (!names) return names.error();
    std::vector<std::string> out;
    for (const auto& n : *names) {
        if (n.empty() || n[0] == '.' || !ends_with(n, record_suffix)) continue;
        const auto stem = std::string_view(n).substr(0, n.size() - std::strlen(record_suffix));
        if (const auto named = impl_->foreign_stem_id(stem)) {
            // Named by a store on the other kind of file system and not renamed yet: the id it
            // holds (on a case-insensitive file system, "Alice.json" may be alice's), which load
            // finds there too.
            auto bytes = impl_->read_file(impl_->dir_fd.get(), n, n);
            if (!bytes || !*bytes) continue;
            auto rec = parse_record(**bytes, impl_->limits);
            if (rec && (rec->memory.user_id == *named || impl_->is_case_variant(rec->memory.user_id, *named)))
                out.push_back(std::move(rec->memory.user_id));
            continue;
        }
        if (auto id = decode_id(stem, impl_->names)) out.push_back(std::move(*id));
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());  // one file under each kind's name
    return out;
}

result<json::value> store::export_user(std::string_view user_id) const {
    auto rec = load(user_id);
    if (!rec) return rec.error();
    return json::value(to_json(*rec));
}

result<json::value> store::export_all() const {
    auto users = list_users();
    if (!users) return users.error();
    json::array all;
    for (const auto& u : *users) {
        auto rec = load(u);
        if (!rec) {
            all.push_back(json::object{{"user_id", u}, {"error", rec.error().what()}});
            continue;
        }
        all.push_back(to_json(*rec));
    }
    return json::value(json::object{{"schema_version", current_schema_version}, {"users", std::move(all)}});
}

result<std::vector<std::string>> store::quarantined(std::string_view user_id) const {
    auto enc = encode_user_id(user_id, impl_->names);
    if (!enc) return enc.error();
    auto names = impl_->list_dir(impl_->quarantine_fd.get(), ".quarantine/");
    if (!names) return names.error();
    const auto other = impl_->other_stem(user_id);
    std::vector<std::string> out;
    for (const auto& n : *names)
        if (starts_with(n, *enc + "@") || (other && starts_with(n, *other + "@"))) out.push_back(n);
    return out;
}

namespace {

/// Sets (or, when there are none, removes) a job's counted failures in its file's JSON.
void set_failures(json::object& o, const pending_job& job) {
    if (job.failed_passes > 0) o["failed_passes"] = job.failed_passes;
    else o.erase("failed_passes");
    if (!job.last_failure.empty()) o["last_failure"] = job.last_failure;
    else o.erase("last_failure");
}

/// The first `max` bytes of `s`, not ending inside a UTF-8 sequence.
std::string utf8_prefix(std::string_view s, std::size_t max) {
    if (s.size() <= max) return std::string(s);
    std::size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    return std::string(s.substr(0, n));
}

}  // namespace

result<void> store::journal_add(const pending_job& job) {
    auto enc = encode_user_id(job.user_id, impl_->names);
    if (!enc) return enc.error();
    auto name_of = job_file_name(job.user_id, job.session_id, impl_->names);
    if (!name_of) return name_of.error();
    // A job journal_list would quarantine is a session lost at the next start: refuse it now.
    if (!is_valid_utf8(job.transcript))
        return make_error(errc::invalid_record, "transcript: not valid UTF-8; the job was not journaled");
    if (!is_valid_utf8(job.created_at))
        return make_error(errc::invalid_record, "created_at: not valid UTF-8; the job was not journaled");
    if (!is_valid_utf8(job.last_failure))
        return make_error(errc::invalid_record, "last_failure: not valid UTF-8; the job was not journaled");
    json::object o{{"version", job_version},
                   {"user_id", job.user_id},
                   {"session_id", job.session_id},
                   {"created_at", job.created_at.empty() ? utc_now() : job.created_at},
                   {"transcript", job.transcript}};
    set_failures(o, job);
    const std::string& name = *name_of;
    const std::string text = json::serialize(o);
    if (text.size() > max_file_bytes)
        return make_error(errc::invalid_record,
                          "transcript: too long (the job file would be " + std::to_string(text.size()) +
                              " bytes, the journal reads at most 64 MiB); the job was not journaled");
    if (bool newer = false; !job_from_text(text, name, newer, impl_->names))
        return make_error(errc::invalid_record,
                          "pending_job: the journal could not read it back; the job was not journaled");
    auto lock = impl_->lock_user(*enc);
    if (!lock) return lock.error();
    return impl_->write_atomic(impl_->journal_fd.get(), name, text, ".journal/" + name);
}

result<std::vector<pending_job>> store::journal_list(journal_detail detail) const {
    // Without the listing, "no jobs" would be a lie: crashed sessions would never be replayed.
    auto names = impl_->list_dir(impl_->journal_fd.get(), ".journal/");
    if (!names) return names.error();
    std::vector<pending_job> out;
    for (const auto& n : *names) {
        if (n.empty() || n[0] == '.' || !ends_with(n, job_suffix)) continue;
        auto bytes = impl_->read_file(impl_->journal_fd.get(), n, ".journal/" + n);
        if (!bytes && bytes.error().code != errc::unsafe_path && bytes.error().code != errc::memory_corrupt)
            return bytes.error();
        if (bytes && !*bytes) continue;  // removed meanwhile
        // A symlink, a non-regular file or unparsable JSON is moved aside like a corrupt record;
        // a newer build's job waits for a build that reads it.
        bool newer = false;
        auto job = bytes ? job_from_text(**bytes, n, newer, impl_->names) : std::nullopt;
        if (newer) continue;
        // Named by a store on the other kind of file system, and not renamed at open (the new
        // name taken, a failed rename): left for the next open, not quarantined.
        if (!job && bytes && job_from_text(**bytes, n, newer, impl_->other_names())) continue;
        if (!job) {
            const auto at = n.find('@');
            (void)impl_->quarantine(impl_->journal_fd.get(), n, n.substr(0, at == std::string::npos ? 0 : at),
                                    job_suffix);
            continue;
        }
        if (detail == journal_detail::without_transcripts) job->transcript = std::string();  // its buffer goes too
        out.push_back(std::move(*job));
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const pending_job& a, const pending_job& b) { return a.created_at < b.created_at; });
    return out;
}

result<pending_job> store::journal_read(std::string_view user_id, std::string_view session_id) const {
    auto name_of = job_file_name(user_id, session_id, impl_->names);
    if (!name_of) return name_of.error();
    return impl_->read_job(*name_of, session_id);
}

result<bool> store::journal_holds(std::string_view user_id, std::string_view session_id) const {
    auto name_of = job_file_name(user_id, session_id, impl_->names);
    if (!name_of) return name_of.error();
    return impl_->journal_holds(*name_of);
}

result<pending_job> store::journal_rewrite(std::string_view user_id, std::string_view session_id,
                                           const std::function<void(pending_job&)>& change) {
    auto enc = encode_user_id(user_id, impl_->names);
    if (!enc) return enc.error();
    auto name_of = job_file_name(user_id, session_id, impl_->names);
    if (!name_of) return name_of.error();
    const std::string& name = *name_of;
    auto lock = impl_->lock_user(*enc);
    if (!lock) return lock.error();
    // Read and checked as journal_read does (not_found once merged or erased, so neither comes
    // back; a damaged file quarantined; a newer build's left alone), then changed in its own
    // JSON: whatever else the file holds (its date as written, fields a later build added)
    // stays as it was.
    std::string before;
    auto job = impl_->read_job(name, session_id, &before);
    if (!job) return job.error();
    json::value file = json::parse(before);  // job_from_text parsed it: an object
    change(*job);
    if (!is_valid_utf8(job->last_failure)) job->last_failure = "(not valid UTF-8)";
    set_failures(file.get_object(), *job);
    const std::string text = json::serialize(file);
    if (text.size() > max_file_bytes)
        return make_error(errc::invalid_record, ".journal/" + name + " would outgrow what the journal reads; left as it was");
    if (auto w = impl_->write_atomic(impl_->journal_fd.get(), name, text, ".journal/" + name); !w) return w.error();
    return job;
}

result<unsigned> store::journal_record_failure(std::string_view user_id, std::string_view session_id, std::string_view why) {
    auto job = journal_rewrite(user_id, session_id, [&](pending_job& j) {
        ++j.failed_passes;
        j.last_failure = utf8_prefix(why, 1000);
    });
    if (!job) return job.error();
    return job->failed_passes;
}

result<void> store::journal_retry(std::string_view user_id, std::string_view session_id) {
    auto job = journal_rewrite(user_id, session_id, [](pending_job& j) {
        j.failed_passes = 0;
        j.last_failure.clear();
    });
    if (!job) return job.error();
    return {};
}

result<void> store::journal_remove(std::string_view user_id, std::string_view session_id) {
    auto name_of = job_file_name(user_id, session_id, impl_->names);
    if (!name_of) return name_of.error();
    const std::string& name = *name_of;
    if (impl_->fs->unlink_at(impl_->journal_fd.get(), name.c_str(), 0) != 0) {
        if (errno == ENOENT) return {};
        return error_from_errno(errno, "remove .journal/" + name);
    }
    if (impl_->fs->fsync(impl_->journal_fd.get()) != 0) return error_from_errno(errno, "fsync .journal");
    return {};
}

}  // namespace engram::memory
