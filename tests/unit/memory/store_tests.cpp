#include <engram/memory/store.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <engram/memory/utf8.hpp>

#include "memory_test_support.hpp"

namespace mem = engram::memory;
namespace fs = std::filesystem;
using mem::test::temp_dir;

namespace {

/// Fails the chosen call with the chosen errno while it is set (0 = pass through).
struct faulty_fs : mem::filesystem {
    std::atomic<int> create_errno{0}, write_errno{0}, fsync_errno{0}, rename_errno{0}, list_errno{0};
    std::atomic<int> zero_writes{0};      ///< This many write calls return 0 (wrote nothing, no error).
    std::atomic<int> dir_fsync_errno{0};  ///< Fails fsync of directories only (after the rename).
    int open_at(int dir_fd, const char* name, int flags, mode_t mode) override {
        if (const int e = create_errno.load(); e && (flags & O_CREAT) && name[0] == '.') {
            errno = e;
            return -1;
        }
        if (const int e = list_errno.load(); e && std::string_view(name) == ".") {  // listing a directory
            errno = e;
            return -1;
        }
        return filesystem::open_at(dir_fd, name, flags, mode);
    }
    ssize_t write(int fd, const void* data, std::size_t size) override {
        if (zero_writes.load() > 0) {
            --zero_writes;
            return 0;
        }
        if (const int e = write_errno.load()) {
            // A partial write first, like a disk filling up mid-file.
            if (size > 1) filesystem::write(fd, data, size / 2);
            errno = e;
            return -1;
        }
        return filesystem::write(fd, data, size);
    }
    int fsync(int fd) override {
        if (const int e = dir_fsync_errno.load()) {
            struct stat st {};
            if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
                errno = e;
                return -1;
            }
        }
        if (const int e = fsync_errno.load()) {
            errno = e;
            return -1;
        }
        return filesystem::fsync(fd);
    }
    int rename_at(int a, const char* from, int b, const char* to) override {
        if (const int e = rename_errno.load()) {
            errno = e;
            return -1;
        }
        return filesystem::rename_at(a, from, b, to);
    }
};

/// Compares names without regard to ASCII letter case and keeps the case a name was made with,
/// as ext4 with casefold, APFS or NTFS do: a name is first looked up among the directory's entries.
struct case_folding_fs : mem::filesystem {
    static bool same(std::string_view a, std::string_view b) {
        const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
        return a.size() == b.size() &&
               std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) { return lower(x) == lower(y); });
    }
    /// The entry `name` means in the directory: an existing one equal but for case, or `name`.
    static std::string entry(int dir_fd, const char* name) {
        const std::string_view n = name;
        if (dir_fd == AT_FDCWD || n.find('/') != std::string_view::npos || n == "." || n == "..")
            return std::string(n);
        const int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return std::string(n);
        DIR* d = ::fdopendir(fd);
        if (!d) {
            ::close(fd);
            return std::string(n);
        }
        std::string out(n);
        while (const dirent* e = ::readdir(d))
            if (same(e->d_name, n)) {
                out = e->d_name;
                break;
            }
        ::closedir(d);
        return out;
    }
    int open_at(int dir_fd, const char* name, int flags, mode_t mode) override {
        return filesystem::open_at(dir_fd, entry(dir_fd, name).c_str(), flags, mode);
    }
    int rename_at(int a, const char* from, int b, const char* to) override {
        return filesystem::rename_at(a, entry(a, from).c_str(), b, entry(b, to).c_str());
    }
    int unlink_at(int dir_fd, const char* name, int flags) override {
        return filesystem::unlink_at(dir_fd, entry(dir_fd, name).c_str(), flags);
    }
    int mkdir_at(int dir_fd, const char* name, mode_t mode) override {
        return filesystem::mkdir_at(dir_fd, entry(dir_fd, name).c_str(), mode);
    }
    int stat_at(int dir_fd, const char* name, struct stat* st, int flags) override {
        return filesystem::stat_at(dir_fd, entry(dir_fd, name).c_str(), st, flags);
    }
    int rename_noreplace_at(int a, const char* from, int b, const char* to) override {
        return filesystem::rename_noreplace_at(a, entry(a, from).c_str(), b, entry(b, to).c_str());
    }
};

std::shared_ptr<mem::store> open_store(mem::store_options o) {
    auto s = mem::store::open(o);
    BOOST_TEST_REQUIRE(s.has_value(), (s ? "" : s.error().what()));
    return *s;
}

std::shared_ptr<mem::store> open_store(const fs::path& dir, std::shared_ptr<mem::filesystem> f = nullptr) {
    mem::store_options o;
    o.directory = dir;
    o.fs = std::move(f);
    return open_store(std::move(o));
}

mem::update_request fact_update(const std::string& session, const std::string& fact) {
    mem::update_request r;
    r.session_id = session;
    r.update.new_facts.push_back({fact, mem::confidence::high, mem::fact_source::stated});
    return r;
}

mem::result<mem::apply_result> apply_one(mem::store& s, const std::string& user,
                                         const mem::update_request& r) {
    return s.apply(user, std::span<const mem::update_request>(&r, 1));
}

std::vector<std::string> names_in(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

bool has_temp_files(const fs::path& dir) {
    for (const auto& n : names_in(dir))
        if (n.rfind(".t", 0) == 0 && n != ".tmp") return true;
    return false;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(memory_store)

BOOST_AUTO_TEST_CASE(directory_is_private_and_files_are_0600) {
    temp_dir tmp;
    const auto dir = tmp.path() / "a" / "memory";
    auto s = open_store(dir);
    BOOST_TEST(mem::test::mode_of(dir) == 0700u);
    for (const char* sub : {".locks", ".journal", ".quarantine"})
        BOOST_TEST(mem::test::mode_of(dir / sub) == 0700u);
    BOOST_TEST_REQUIRE(apply_one(*s, "alice", fact_update("s1", "Likes tea")).has_value());
    BOOST_TEST(mem::test::mode_of(dir / "alice.json") == 0600u);
    BOOST_TEST(mem::test::mode_of(dir / ".locks" / "alice.lock") == 0600u);
    BOOST_TEST(!has_temp_files(dir));
}

BOOST_AUTO_TEST_CASE(every_directory_the_store_creates_is_synced_into_its_parent) {
    // A new directory's entry survives a crash only once its parent is synced; until then the
    // journal and records written into it could vanish with it.
    struct recording_fs : mem::filesystem {
        std::vector<std::pair<char, ino_t>> events;  // 'm': mkdir in the directory; 's': fsync of it
        static ino_t inode(int fd) {
            struct stat st {};
            return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
        }
        int mkdir_at(int dir_fd, const char* name, mode_t mode) override {
            const int rc = filesystem::mkdir_at(dir_fd, name, mode);
            if (rc == 0) events.emplace_back('m', inode(dir_fd));
            return rc;
        }
        int fsync(int fd) override {
            events.emplace_back('s', inode(fd));
            return filesystem::fsync(fd);
        }
    };
    const auto synced_after_last_change = [](const recording_fs& f, ino_t dir) {
        bool synced = false;
        for (const auto& [what, ino] : f.events)
            if (ino == dir) synced = what == 's';
        return synced;
    };
    temp_dir tmp;
    const auto dir = tmp.path() / "a" / "b" / "memory";
    auto f = std::make_shared<recording_fs>();
    open_store(dir, f);
    const auto inode_of = [](const fs::path& p) {
        struct stat st {};
        BOOST_REQUIRE(::stat(p.c_str(), &st) == 0);
        return st.st_ino;
    };
    // The three levels made for the memory directory, each in its parent.
    for (const auto& parent : {tmp.path(), tmp.path() / "a", tmp.path() / "a" / "b"}) {
        const ino_t ino = inode_of(parent);
        BOOST_TEST(std::count(f->events.begin(), f->events.end(), std::pair{'s', ino}) == 1, parent);
    }
    // .locks, .journal and .quarantine in the memory directory, synced after the last of them.
    const ino_t memory_ino = inode_of(dir);
    BOOST_TEST(std::count(f->events.begin(), f->events.end(), std::pair{'m', memory_ino}) == 3);
    BOOST_TEST(synced_after_last_change(*f, memory_ino));
    // Opened again, nothing is created and nothing needs a sync.
    auto again = std::make_shared<recording_fs>();
    open_store(dir, again);
    BOOST_TEST(again->events.empty());
}

// Opening sets a directory up and makes it private: never one such as $HOME given by mistake.
BOOST_AUTO_TEST_CASE(a_directory_holding_other_things_is_refused_and_left_as_it_was) {
    temp_dir tmp;
    const auto home = tmp.path() / "home";
    fs::create_directories(home / "projects");
    mem::test::spit(home / "notes.txt", "mine");
    ::chmod(home.c_str(), 0755);
    for (const bool create : {true, false}) {
        mem::store_options o;
        o.directory = home;
        o.create_directory = create;
        auto s = mem::store::open(o);
        BOOST_TEST_REQUIRE(!s.has_value());
        BOOST_TEST((s.error().code == mem::errc::not_found));
        BOOST_TEST(s.error().what().find("is not a memory directory") != std::string::npos, s.error().what());
    }
    BOOST_TEST(mem::test::mode_of(home) == 0755u);
    BOOST_TEST((names_in(home) == std::vector<std::string>{"notes.txt", "projects"}));
    // A fresh home holds only hidden files (what /etc/skel gives): it is no tutorial folder.
    const auto fresh_home = tmp.path() / "fresh";
    fs::create_directories(fresh_home);
    for (const char* dotfile : {".bashrc", ".profile", ".bash_logout"}) mem::test::spit(fresh_home / dotfile, "#");
    ::chmod(fresh_home.c_str(), 0755);
    mem::store_options fresh_options;
    fresh_options.directory = fresh_home;
    const auto refused = mem::store::open(fresh_options);
    BOOST_TEST_REQUIRE(!refused.has_value());
    BOOST_TEST(refused.error().what().find("is not a memory directory") != std::string::npos, refused.error().what());
    BOOST_TEST(mem::test::mode_of(fresh_home) == 0755u);
    BOOST_TEST(names_in(fresh_home).size() == 3u);
    // Adopted: a folder of the tutorial's files (with what a repository or a volume keeps beside
    // them), and one whose first set-up was cut short.
    const auto tutorial = tmp.path() / "tutorial";
    fs::create_directories(tutorial / "lost+found");
    mem::test::spit(tutorial / "alice.json", mem::test::tutorial_alice);
    mem::test::spit(tutorial / "README.md", "memory files");
    mem::test::spit(tutorial / ".gitkeep", "");
    BOOST_TEST(open_store(tutorial)->load("alice")->memory.key_facts.size() == 3u);
    const auto half = tmp.path() / "half";
    fs::create_directories(half / ".locks");
    BOOST_TEST(open_store(half)->list_users()->empty());
}

BOOST_AUTO_TEST_CASE(loose_directory_permissions_are_tightened) {
    temp_dir tmp;
    fs::create_directories(tmp.path() / "m");
    ::chmod((tmp.path() / "m").c_str(), 0755);
    open_store(tmp.path() / "m");
    BOOST_TEST(mem::test::mode_of(tmp.path() / "m") == 0700u);
}

BOOST_AUTO_TEST_CASE(an_update_is_merged_under_its_own_caps_when_it_brings_them) {
    // The store's caps are the defaults (10 facts); an agent with larger ones passes them along.
    temp_dir tmp;
    auto s = open_store(tmp.path());
    auto twelve = [](const std::string& session) {
        mem::update_request r;
        r.session_id = session;
        for (int i = 0; i < 12; ++i)
            r.update.new_facts.push_back({"Fact number " + std::to_string(i), mem::confidence::high, mem::fact_source::stated});
        return r;
    };
    BOOST_TEST_REQUIRE(apply_one(*s, "store-caps", twelve("s1")).has_value());
    BOOST_TEST(s->load("store-caps")->memory.key_facts.size() == 10u);
    auto wide = twelve("s2");
    wide.policy = mem::merge_policy{};
    wide.policy->max_facts = 15;
    BOOST_TEST_REQUIRE(apply_one(*s, "own-caps", wide).has_value());
    BOOST_TEST(s->load("own-caps")->memory.key_facts.size() == 12u);
}

BOOST_AUTO_TEST_CASE(missing_user_loads_as_a_blank_record) {
    temp_dir tmp;
    auto s = open_store(tmp.path());
    auto r = s->load("nobody");
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->memory.user_id == "nobody");
    BOOST_TEST(r->memory.session_count == 0);
    BOOST_TEST(!fs::exists(tmp.path() / "nobody.json"));
}

BOOST_AUTO_TEST_CASE(tutorial_memory_folder_loads_and_is_upgraded_on_the_next_write) {
    temp_dir tmp;
    mem::test::spit(tmp.path() / "alice.json", mem::test::tutorial_alice);
    auto s = open_store(tmp.path());
    auto r = s->load("alice");
    BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error().what()));
    BOOST_TEST(r->memory.session_count == 7);
    BOOST_TEST_REQUIRE(apply_one(*s, "alice", fact_update("s8", "Hired a third engineer")).has_value());
    const auto text = mem::test::slurp(tmp.path() / "alice.json");
    BOOST_TEST(text.find("\"schema_version\": 1") != std::string::npos);
    auto again = s->load("alice");
    BOOST_TEST_REQUIRE(again.has_value());
    BOOST_TEST(again->memory.session_count == 8);
    BOOST_TEST(again->memory.key_facts.size() == 4u);
    BOOST_TEST(again->memory.preferences.at("timezone") == "UTC+1");
}

// The tutorial kept whatever the model returned, an empty fact included. Such a file still
// takes updates: the empty fact is dropped (kept, it failed the check of every later write).
BOOST_AUTO_TEST_CASE(a_tutorial_file_with_an_empty_fact_still_takes_updates) {
    temp_dir tmp;
    mem::test::spit(tmp.path() / "ann.json", R"({"user_id":"ann","key_facts":["","Has a cat"]})");
    auto s = open_store(tmp.path());
    auto r = s->load("ann");
    BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error().what()));
    BOOST_TEST(r->memory.key_facts.size() == 1u);
    auto applied = apply_one(*s, "ann", fact_update("s1", "Has a dog"));
    BOOST_TEST_REQUIRE(applied.has_value(), (applied ? "" : applied.error().what()));
    auto again = s->load("ann");
    BOOST_TEST_REQUIRE(again.has_value());
    BOOST_TEST(again->memory.key_facts.size() == 2u);
}

BOOST_AUTO_TEST_CASE(corrupt_file_is_quarantined_and_reported) {
    temp_dir tmp;
    const std::string garbage = "{\"user_id\": \"bob\", \"key_facts\": [tor";
    mem::test::spit(tmp.path() / "bob.json", garbage);
    auto s = open_store(tmp.path());
    auto r = s->load("bob");
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST((r.error().code == mem::errc::memory_corrupt));
    BOOST_TEST(r.error().message.find("bob.json") != std::string::npos);
    BOOST_TEST(r.error().message.find(".quarantine/") != std::string::npos);
    BOOST_TEST(!fs::exists(tmp.path() / "bob.json"));
    auto q = s->quarantined("bob");
    BOOST_TEST_REQUIRE(q->size() == 1u);
    BOOST_TEST(mem::test::slurp(tmp.path() / ".quarantine" / q->front()) == garbage);  // kept byte for byte
    // The user continues from a blank record; the quarantined copy is never overwritten.
    BOOST_TEST_REQUIRE(apply_one(*s, "bob", fact_update("s1", "x")).has_value());
    BOOST_TEST(s->load("bob")->memory.session_count == 1);
    BOOST_TEST(mem::test::slurp(tmp.path() / ".quarantine" / q->front()) == garbage);
}

BOOST_AUTO_TEST_CASE(invalid_record_and_foreign_user_file_are_quarantined) {
    temp_dir tmp;
    mem::test::spit(tmp.path() / "carol.json", R"({"user_id": "carol", "session_count": "many"})");
    mem::test::spit(tmp.path() / "dave.json", R"({"user_id": "mallory"})");
    auto s = open_store(tmp.path());
    auto c = apply_one(*s, "carol", fact_update("s1", "x"));
    BOOST_TEST_REQUIRE(!c.has_value());
    BOOST_TEST(c.error().message.find("session_count") != std::string::npos);
    auto d = s->load("dave");
    BOOST_TEST_REQUIRE(!d.has_value());
    BOOST_TEST((d.error().code == mem::errc::memory_corrupt));
    BOOST_TEST(s->quarantined("carol")->size() == 1u);
    BOOST_TEST(s->quarantined("dave")->size() == 1u);
}

BOOST_AUTO_TEST_CASE(symlinks_in_the_directory_are_not_followed) {
    temp_dir tmp;
    const auto outside = tmp.path() / "outside.json";
    const std::string secret = R"({"user_id": "eve", "running_summary": "outside"})";
    mem::test::spit(outside, secret);
    auto s = open_store(tmp.path() / "m");  // a memory directory, then a symlink planted in it
    fs::create_symlink(outside, tmp.path() / "m" / "eve.json");
    auto r = s->load("eve");
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST((r.error().code == mem::errc::unsafe_path));
    auto a = apply_one(*s, "eve", fact_update("s1", "x"));
    BOOST_TEST_REQUIRE(!a.has_value());
    BOOST_TEST((a.error().code == mem::errc::unsafe_path));
    BOOST_TEST(mem::test::slurp(outside) == secret);
    BOOST_TEST(fs::is_symlink(tmp.path() / "m" / "eve.json"));
}

BOOST_AUTO_TEST_CASE(symlinked_lock_directory_is_refused) {
    temp_dir tmp;
    fs::create_directories(tmp.path() / "m");
    fs::create_directories(tmp.path() / "elsewhere");
    fs::create_directory_symlink(tmp.path() / "elsewhere", tmp.path() / "m" / ".locks");
    mem::store_options o;
    o.directory = tmp.path() / "m";
    auto s = mem::store::open(o);
    BOOST_TEST_REQUIRE(!s.has_value());
    BOOST_TEST((s.error().code == mem::errc::unsafe_path));
}

BOOST_AUTO_TEST_CASE(disk_full_leaves_the_old_file_intact) {
    temp_dir tmp;
    auto faults = std::make_shared<faulty_fs>();
    auto s = open_store(tmp.path(), faults);
    BOOST_TEST_REQUIRE(apply_one(*s, "frank", fact_update("s1", "Likes tea")).has_value());
    const auto before = mem::test::slurp(tmp.path() / "frank.json");
    faults->write_errno = ENOSPC;
    auto r = apply_one(*s, "frank", fact_update("s2", "Likes coffee"));
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST((r.error().code == mem::errc::disk_full));
    BOOST_TEST(r.error().message.find("previous version is intact") != std::string::npos);
    BOOST_TEST(mem::test::slurp(tmp.path() / "frank.json") == before);
    BOOST_TEST(!has_temp_files(tmp.path()));
    faults->write_errno = 0;
    BOOST_TEST_REQUIRE(apply_one(*s, "frank", fact_update("s2", "Likes coffee")).has_value());
    BOOST_TEST(s->load("frank")->memory.session_count == 2);
}

BOOST_AUTO_TEST_CASE(permission_and_io_errors_leave_the_old_file_intact) {
    temp_dir tmp;
    auto faults = std::make_shared<faulty_fs>();
    auto s = open_store(tmp.path(), faults);
    BOOST_TEST_REQUIRE(apply_one(*s, "gina", fact_update("s1", "Likes tea")).has_value());
    const auto before = mem::test::slurp(tmp.path() / "gina.json");
    struct fault {
        std::atomic<int>* slot;
        int err;
        mem::errc expected;
    } faults_table[] = {
        {&faults->create_errno, EACCES, mem::errc::permission_denied},
        {&faults->rename_errno, EPERM, mem::errc::permission_denied},
        {&faults->rename_errno, EROFS, mem::errc::permission_denied},
        {&faults->fsync_errno, EIO, mem::errc::io_error},
        {&faults->write_errno, EDQUOT, mem::errc::disk_full},
    };
    for (auto& f : faults_table) {
        *f.slot = f.err;
        auto r = apply_one(*s, "gina", fact_update("s2", "Likes coffee"));
        *f.slot = 0;
        BOOST_TEST_REQUIRE(!r.has_value());
        BOOST_TEST((r.error().code == f.expected), r.error().what());
        BOOST_TEST(mem::test::slurp(tmp.path() / "gina.json") == before);
        BOOST_TEST(!has_temp_files(tmp.path()));
    }
}

BOOST_AUTO_TEST_CASE(list_export_and_hostile_ids_stay_inside_the_directory) {
    temp_dir tmp;
    const auto dir = tmp.path() / "m";
    auto s = open_store(dir);
    const std::vector<std::string> ids = {"../escape", "a/b", ".", "..", "zoë", "x.json"};
    for (const auto& id : ids) BOOST_TEST_REQUIRE(apply_one(*s, id, fact_update("s1", "f")).has_value(), id);
    for (const auto& e : fs::recursive_directory_iterator(tmp.path()))
        BOOST_TEST(
            (e.path() == dir || e.path().parent_path() == dir || e.path().parent_path().parent_path() == dir),
            e.path());
    auto users = s->list_users();
    auto expected = ids;
    std::sort(expected.begin(), expected.end());
    BOOST_TEST(*users == expected, boost::test_tools::per_element());
    auto one = s->export_user("a/b");
    BOOST_TEST_REQUIRE(one.has_value());
    BOOST_TEST(one->at("user_id").as_string() == "a/b");
    BOOST_TEST(one->at("history").as_array().size() == 1u);
    auto all = s->export_all();
    BOOST_TEST_REQUIRE(all.has_value());
    BOOST_TEST(all->at("users").as_array().size() == ids.size());
    auto bad = s->load("");
    BOOST_TEST_REQUIRE(!bad.has_value());
    BOOST_TEST((bad.error().code == mem::errc::invalid_user_id));
}

std::vector<std::string> fact_texts(const mem::store& s, const std::string& user) {
    auto r = s.load(user);
    BOOST_TEST_REQUIRE(r.has_value(), user << ": " << (r ? "" : r.error().what()));
    std::vector<std::string> out;
    for (const auto& f : r->memory.key_facts) out.push_back(f.text);
    return out;
}

/// The value of a store call that must succeed.
template <class T>
T must(mem::result<T> r) {
    BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error().what()));
    return std::move(*r);
}

BOOST_AUTO_TEST_CASE(ids_differing_only_in_letter_case_keep_their_own_memory_where_the_file_system_ignores_case) {
    // There "Alice.json" and "alice.json" are one file: each user would read the other's
    // record (and quarantine it as another user's), and their jobs would overwrite each other.
    temp_dir tmp;
    const auto dir = tmp.path() / "m";
    auto s = open_store(dir, std::make_shared<case_folding_fs>());
    BOOST_TEST_REQUIRE(apply_one(*s, "Alice", fact_update("s1", "Likes tea")).has_value());
    auto lower = apply_one(*s, "alice", fact_update("s1", "Likes coffee"));
    BOOST_TEST_REQUIRE(lower.has_value(), (lower ? "" : lower.error().what()));
    BOOST_TEST_REQUIRE(s->journal_add({"Alice", "S1", "", "USER: tea"}).has_value());
    BOOST_TEST_REQUIRE(s->journal_add({"alice", "s1", "", "USER: coffee"}).has_value());
    BOOST_TEST(fact_texts(*s, "Alice") == std::vector<std::string>{"Likes tea"}, boost::test_tools::per_element());
    BOOST_TEST(fact_texts(*s, "alice") == std::vector<std::string>{"Likes coffee"}, boost::test_tools::per_element());
    BOOST_TEST(names_in(dir / ".quarantine").empty());
    BOOST_TEST((must(s->list_users()) == std::vector<std::string>{"Alice", "alice"}), boost::test_tools::per_element());
    auto jobs = s->journal_list();
    BOOST_TEST_REQUIRE(jobs.has_value());
    BOOST_TEST_REQUIRE(jobs->size() == 2u);
    BOOST_TEST(must(s->journal_read("Alice", "S1")).transcript == "USER: tea");
    BOOST_TEST(must(s->journal_read("alice", "s1")).transcript == "USER: coffee");
    // Forgetting one forgets only that one.
    BOOST_TEST_REQUIRE(s->erase("Alice").has_value());
    BOOST_TEST(fact_texts(*s, "alice") == std::vector<std::string>{"Likes coffee"}, boost::test_tools::per_element());
    BOOST_TEST(must(s->journal_holds("alice", "s1")));
    BOOST_TEST(!must(s->journal_holds("Alice", "S1")));
}

BOOST_AUTO_TEST_CASE(upper_case_names_from_before_are_renamed_when_the_file_system_ignores_case) {
    // A directory an older engram (or the tutorial) filled on such a file system: the files keep
    // their owners after the store starts telling letter case apart.
    temp_dir tmp;
    const auto dir = tmp.path() / "m";
    {
        auto old = open_store(dir);  // names as a case-sensitive store gives them
        BOOST_TEST_REQUIRE(apply_one(*old, "Alice", fact_update("s1", "Likes tea")).has_value());
        BOOST_TEST_REQUIRE(apply_one(*old, "carol", fact_update("s1", "Plays chess")).has_value());
        BOOST_TEST_REQUIRE(old->journal_add({"Alice", "S2", "", "USER: more tea"}).has_value());
        mem::test::spit(dir / "Dave.json", "{not json");
        BOOST_TEST(!old->load("Dave").has_value());  // quarantined as .quarantine/Dave@...
    }
    // carol's file, named as the first writer there spelled her ("Carol" and "carol" were one file).
    fs::rename(dir / "carol.json", dir / "Carol.json");
    auto s = open_store(dir, std::make_shared<case_folding_fs>());
    const auto names = names_in(dir);
    BOOST_TEST((std::find(names.begin(), names.end(), "%41lice.json") != names.end()));
    BOOST_TEST((std::find(names.begin(), names.end(), "Alice.json") == names.end()));
    BOOST_TEST((std::find(names.begin(), names.end(), "Carol.json") != names.end()));  // already carol's there
    BOOST_TEST(fact_texts(*s, "Alice") == std::vector<std::string>{"Likes tea"}, boost::test_tools::per_element());
    BOOST_TEST(fact_texts(*s, "alice").empty());
    BOOST_TEST(fact_texts(*s, "carol") == std::vector<std::string>{"Plays chess"}, boost::test_tools::per_element());
    BOOST_TEST((must(s->list_users()) == std::vector<std::string>{"Alice", "carol"}), boost::test_tools::per_element());
    BOOST_TEST(names_in(dir / ".journal") == std::vector<std::string>{"%41lice@%532.job"}, boost::test_tools::per_element());
    BOOST_TEST(must(s->journal_read("Alice", "S2")).transcript == "USER: more tea");
    BOOST_TEST(must(s->quarantined("Dave")).size() == 1u);
    BOOST_TEST_REQUIRE(s->erase("Dave").has_value());
    BOOST_TEST(names_in(dir / ".quarantine").empty());
}

BOOST_AUTO_TEST_CASE(a_record_named_for_one_case_and_holding_another_goes_to_its_owner_when_written_beside) {
    // Where a case-insensitive file system kept the first writer's spelling: "alice.json" holds
    // Alice's memory. Alice still finds it, alice does not take it for hers (nor for corrupt),
    // and once both write, each has their own file.
    temp_dir tmp;
    const auto dir = tmp.path() / "m";
    {
        auto old = open_store(dir);
        BOOST_TEST_REQUIRE(apply_one(*old, "Alice", fact_update("s1", "Likes tea")).has_value());
    }
    fs::rename(dir / "Alice.json", dir / "alice.json");
    auto s = open_store(dir, std::make_shared<case_folding_fs>());
    BOOST_TEST((s->names() == mem::name_case::insensitive));
    BOOST_TEST(fact_texts(*s, "Alice") == std::vector<std::string>{"Likes tea"}, boost::test_tools::per_element());
    BOOST_TEST(fact_texts(*s, "alice").empty());
    BOOST_TEST(names_in(dir / ".quarantine").empty());
    BOOST_TEST_REQUIRE(apply_one(*s, "alice", fact_update("s2", "Likes coffee")).has_value());
    BOOST_TEST_REQUIRE(apply_one(*s, "Alice", fact_update("s3", "Likes green tea")).has_value());
    BOOST_TEST((fact_texts(*s, "Alice") == std::vector<std::string>{"Likes tea", "Likes green tea"}),
               boost::test_tools::per_element());
    BOOST_TEST(fact_texts(*s, "alice") == std::vector<std::string>{"Likes coffee"}, boost::test_tools::per_element());
    BOOST_TEST((names_in(dir) == std::vector<std::string>{"%41lice.json", ".journal", ".locks", ".quarantine", "alice.json"}),
               boost::test_tools::per_element());
    BOOST_TEST((must(s->list_users()) == std::vector<std::string>{"Alice", "alice"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(erasing_or_writing_an_id_never_removes_the_memory_of_one_differing_only_in_case) {
    // "alice.json" holds Alice's memory (a case-insensitive file system kept the first writer's
    // spelling). Forgetting alice moves it to Alice; so does alice's first write, to quarantine
    // under Alice's name when Alice's own file exists by then.
    temp_dir tmp;
    const auto dir = tmp.path() / "m";
    const auto alice_holds_alices = [&](const std::string& fact) {
        auto old = open_store(dir / "old");
        BOOST_TEST_REQUIRE(apply_one(*old, "Alice", fact_update("s1", fact)).has_value());
        fs::create_directories(dir);
        fs::rename(dir / "old" / "Alice.json", dir / "alice.json");
        fs::remove_all(dir / "old");
    };
    alice_holds_alices("Likes tea");
    auto s = open_store(dir, std::make_shared<case_folding_fs>());
    BOOST_TEST_REQUIRE(s->erase("alice").has_value());
    BOOST_TEST(fact_texts(*s, "Alice") == std::vector<std::string>{"Likes tea"}, boost::test_tools::per_element());
    BOOST_TEST(fs::exists(dir / "%41lice.json"));
    BOOST_TEST(!fs::exists(dir / "alice.json"));

    alice_holds_alices("Likes old tea");  // again, now that Alice has her own file
    BOOST_TEST_REQUIRE(apply_one(*s, "alice", fact_update("s2", "Likes coffee")).has_value());
    BOOST_TEST(fact_texts(*s, "alice") == std::vector<std::string>{"Likes coffee"}, boost::test_tools::per_element());
    BOOST_TEST(fact_texts(*s, "Alice") == std::vector<std::string>{"Likes tea"}, boost::test_tools::per_element());
    const auto held = must(s->quarantined("Alice"));
    BOOST_TEST_REQUIRE(held.size() == 1u);
    BOOST_TEST(mem::test::slurp(dir / ".quarantine" / held[0]).find("Likes old tea") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(renaming_at_open_never_overwrites_nor_hands_a_file_to_an_id_it_does_not_hold) {
    temp_dir tmp;
    const auto dir = tmp.path() / "m";
    {
        auto old = open_store(dir);
        BOOST_TEST_REQUIRE(apply_one(*old, "Alice", fact_update("s1", "Old tea")).has_value());
        BOOST_TEST_REQUIRE(old->journal_add({"Alice", "S2", "", "USER: old"}).has_value());
        BOOST_TEST_REQUIRE(apply_one(*old, "mallory", fact_update("s1", "Mallory's")).has_value());
    }
    fs::rename(dir / "mallory.json", dir / "Bob.json");  // "Bob.json" holding another id
    {
        // A store of this build already wrote Alice's memory and job under the new names.
        auto now = open_store(dir / "new", std::make_shared<case_folding_fs>());
        BOOST_TEST_REQUIRE(apply_one(*now, "Alice", fact_update("s1", "New tea")).has_value());
        BOOST_TEST_REQUIRE(now->journal_add({"Alice", "S2", "", "USER: new"}).has_value());
    }
    fs::rename(dir / "new" / "%41lice.json", dir / "%41lice.json");
    fs::rename(dir / "new" / ".journal" / "%41lice@%532.job", dir / ".journal" / "%41lice@%532.job");
    fs::remove_all(dir / "new");
    auto s = open_store(dir, std::make_shared<case_folding_fs>());
    const auto names = names_in(dir);
    BOOST_TEST((std::find(names.begin(), names.end(), "Alice.json") != names.end()));  // not over the new one
    BOOST_TEST((std::find(names.begin(), names.end(), "Bob.json") != names.end()));    // not handed to mallory
    BOOST_TEST((std::find(names.begin(), names.end(), "mallory.json") == names.end()));
    BOOST_TEST(fact_texts(*s, "Alice") == std::vector<std::string>{"New tea"}, boost::test_tools::per_element());
    // The job it could not rename is left for the next open, not quarantined.
    auto jobs = must(s->journal_list());
    BOOST_TEST_REQUIRE(jobs.size() == 1u);
    BOOST_TEST(must(s->journal_read("Alice", "S2")).transcript == "USER: new");
    BOOST_TEST((names_in(dir / ".journal") == std::vector<std::string>{"%41lice@%532.job", "Alice@S2.job"}),
               boost::test_tools::per_element());
    BOOST_TEST(names_in(dir / ".quarantine").empty());
    // Forgetting Alice forgets what is left under the old names too.
    BOOST_TEST_REQUIRE(s->erase("Alice").has_value());
    BOOST_TEST(names_in(dir / ".journal").empty());
    const auto after = names_in(dir);
    BOOST_TEST((std::find(after.begin(), after.end(), "Alice.json") == after.end()));
}

BOOST_AUTO_TEST_CASE(a_directory_copied_from_a_case_insensitive_file_system_gets_its_plain_names_back) {
    temp_dir tmp;
    const auto dir = tmp.path() / "m";
    {
        auto there = open_store(dir, std::make_shared<case_folding_fs>());
        BOOST_TEST_REQUIRE(apply_one(*there, "Alice", fact_update("s1", "Likes tea")).has_value());
        BOOST_TEST_REQUIRE(there->journal_add({"Alice", "S2", "", "USER: more tea"}).has_value());
    }
    BOOST_TEST(fs::exists(dir / "%41lice.json"));
    auto s = open_store(dir);  // a case-sensitive file system
    BOOST_TEST((s->names() == mem::name_case::sensitive));
    BOOST_TEST(fs::exists(dir / "Alice.json"));
    BOOST_TEST(!fs::exists(dir / "%41lice.json"));
    BOOST_TEST(fact_texts(*s, "Alice") == std::vector<std::string>{"Likes tea"}, boost::test_tools::per_element());
    BOOST_TEST((must(s->list_users()) == std::vector<std::string>{"Alice"}), boost::test_tools::per_element());
    BOOST_TEST(must(s->journal_read("Alice", "S2")).transcript == "USER: more tea");
}

BOOST_AUTO_TEST_CASE(an_unrelated_upper_case_journal_directory_does_not_make_the_file_system_case_insensitive) {
    temp_dir tmp;
    fs::create_directories(tmp.path() / ".journal");
    fs::create_directories(tmp.path() / ".JOURNAL");
    fs::permissions(tmp.path() / ".JOURNAL", fs::perms::none);
    auto s = open_store(tmp.path());
    BOOST_TEST((s->names() == mem::name_case::sensitive));
}

BOOST_AUTO_TEST_CASE(a_session_id_too_long_only_once_its_upper_case_is_escaped_is_refused_by_the_request_check) {
    auto r = fact_update(std::string(17, 'S'), "x");  // 17 bytes; 51 once escaped, over the 48 allowed
    BOOST_TEST(mem::check_request(r, {}, mem::name_case::sensitive).has_value());
    auto refused = mem::check_request(r, {}, mem::name_case::insensitive);
    BOOST_TEST_REQUIRE(!refused.has_value());
    BOOST_TEST((refused.error().code == mem::errc::invalid_session_id));
}

BOOST_AUTO_TEST_CASE(a_case_sensitive_file_system_keeps_the_plain_names) {
    temp_dir tmp;
    auto s = open_store(tmp.path());
    BOOST_TEST_REQUIRE(apply_one(*s, "Alice", fact_update("s1", "Likes tea")).has_value());
    BOOST_TEST(fs::exists(tmp.path() / "Alice.json"));
    BOOST_TEST(!fs::exists(tmp.path() / "%41lice.json"));
}

BOOST_AUTO_TEST_CASE(erase_removes_record_history_quarantine_jobs_and_lock) {
    temp_dir tmp;
    auto s = open_store(tmp.path());
    BOOST_TEST_REQUIRE(apply_one(*s, "hank", fact_update("s1", "x")).has_value());
    BOOST_TEST_REQUIRE(apply_one(*s, "hank2", fact_update("s1", "x")).has_value());
    BOOST_TEST_REQUIRE(s->journal_add({"hank", "s2", "", "USER: hi"}).has_value());
    mem::test::spit(tmp.path() / ".quarantine" / "hank@20240101T000000Z-00000000.json", "old");
    mem::test::spit(tmp.path() / ".thank0000-hank.json", "stray temp");
    auto e = s->erase("hank");
    BOOST_TEST_REQUIRE(e.has_value());
    BOOST_TEST(*e);
    BOOST_TEST(!fs::exists(tmp.path() / "hank.json"));
    BOOST_TEST(!fs::exists(tmp.path() / ".thank0000-hank.json"));
    BOOST_TEST(names_in(tmp.path() / ".quarantine").empty());
    BOOST_TEST(names_in(tmp.path() / ".journal").empty());
    BOOST_TEST(!fs::exists(tmp.path() / ".locks" / "hank.lock"));
    BOOST_TEST(fs::exists(tmp.path() / "hank2.json"));  // a prefix-sharing user is untouched
    BOOST_TEST(*s->list_users() == std::vector<std::string>{"hank2"}, boost::test_tools::per_element());
    BOOST_TEST(!*s->erase("hank"));
    BOOST_TEST(s->load("hank")->memory.session_count == 0);
}

BOOST_AUTO_TEST_CASE(an_erase_that_fails_midway_says_it_is_incomplete_and_erasing_again_finishes_it) {
    temp_dir tmp;
    auto faults = std::make_shared<faulty_fs>();
    auto s = open_store(tmp.path(), faults);
    BOOST_TEST_REQUIRE(apply_one(*s, "ida", fact_update("s1", "x")).has_value());
    BOOST_TEST_REQUIRE(s->journal_add({"ida", "s2", "", "USER: hi"}).has_value());
    faults->dir_fsync_errno = EIO;  // the removals happen; making them durable fails
    auto e = s->erase("ida");
    BOOST_TEST_REQUIRE(!e.has_value());
    BOOST_TEST((e.error().code == mem::errc::io_error));
    BOOST_TEST(e.error().what().find("the erasure is incomplete") != std::string::npos, e.error().what());
    BOOST_TEST(!fs::exists(tmp.path() / "ida.json"));  // what was removed stays removed
    faults->dir_fsync_errno = 0;
    BOOST_TEST(s->erase("ida").has_value());
    BOOST_TEST(names_in(tmp.path() / ".journal").empty());
}

BOOST_AUTO_TEST_CASE(journal_jobs_survive_until_their_merge_is_durable) {
    temp_dir tmp;
    {
        auto s = open_store(tmp.path());
        BOOST_TEST_REQUIRE(
            s->journal_add({"ivy", "sess-1", "2024-01-01T00:00:00Z", "USER: I moved to Paris"}).has_value());
        BOOST_TEST_REQUIRE(
            s->journal_add({"ivy", "sess-2", "2024-01-02T00:00:00Z", "USER: bye"}).has_value());
    }
    auto s = open_store(tmp.path());  // "restart"
    auto jobs = s->journal_list();
    BOOST_TEST_REQUIRE(jobs->size() == 2u);
    BOOST_TEST(jobs->front().session_id == "sess-1");
    BOOST_TEST(jobs->front().transcript == "USER: I moved to Paris");
    for (const auto& n : names_in(tmp.path() / ".journal"))
        BOOST_TEST(mem::test::mode_of(tmp.path() / ".journal" / n) == 0600u);
    BOOST_TEST_REQUIRE(apply_one(*s, "ivy", fact_update("sess-1", "Lives in Paris")).has_value());
    BOOST_TEST(s->journal_list()->size() == 1u);
    // A replayed job (crash after the merge, before the job was removed) is not applied twice.
    BOOST_TEST_REQUIRE(s->journal_add({"ivy", "sess-1", "", "again"}).has_value());
    auto replay = apply_one(*s, "ivy", fact_update("sess-1", "Lives in Paris"));
    BOOST_TEST_REQUIRE(replay.has_value());
    BOOST_TEST((replay->outcomes.at(0).status == mem::apply_status::duplicate));
    BOOST_TEST(replay->record.memory.session_count == 1);
    BOOST_TEST(s->journal_list()->size() == 1u);
    BOOST_TEST(s->journal_remove("ivy", "sess-2").has_value());
    BOOST_TEST(s->journal_remove("ivy", "sess-2").has_value());  // idempotent
    BOOST_TEST(s->journal_list()->empty());
}

// A journaled session whose journal entry an erase removed is not merged: the session the user
// asked to forget does not come back from an extraction that was under way.
BOOST_AUTO_TEST_CASE(a_journaled_update_whose_job_an_erase_removed_is_withdrawn) {
    temp_dir tmp;
    auto s = open_store(tmp.path());
    BOOST_TEST_REQUIRE(s->journal_add({"ivy", "sess-1", "", "USER: I moved to Paris"}).has_value());
    BOOST_TEST_REQUIRE(s->erase("ivy").has_value());
    auto r = fact_update("sess-1", "Lives in Paris");
    r.journaled = true;
    auto gone = apply_one(*s, "ivy", r);
    BOOST_TEST_REQUIRE(gone.has_value(), (gone ? "" : gone.error().what()));
    BOOST_TEST((gone->outcomes.at(0).status == mem::apply_status::withdrawn));
    BOOST_TEST(!fs::exists(tmp.path() / "ivy.json"));  // nothing written

    // Still journaled: merged, and the entry goes.
    BOOST_TEST_REQUIRE(s->journal_add({"ivy", "sess-2", "", "USER: I moved to Rome"}).has_value());
    r = fact_update("sess-2", "Lives in Rome");
    r.journaled = true;
    auto merged = apply_one(*s, "ivy", r);
    BOOST_TEST_REQUIRE(merged.has_value());
    BOOST_TEST((merged->outcomes.at(0).status == mem::apply_status::applied));
    BOOST_TEST(s->journal_list()->empty());
    // Applied before and no longer journaled: a duplicate, not withdrawn.
    auto again = apply_one(*s, "ivy", r);
    BOOST_TEST_REQUIRE(again.has_value());
    BOOST_TEST((again->outcomes.at(0).status == mem::apply_status::duplicate));
    // Not marked journaled: merged whatever the journal holds (ad-hoc merges have no job).
    auto adhoc = apply_one(*s, "ivy", fact_update("sess-3", "Likes tea"));
    BOOST_TEST_REQUIRE(adhoc.has_value());
    BOOST_TEST((adhoc->outcomes.at(0).status == mem::apply_status::applied));
}

// An update kept a while names the memory it was made from: onto any other (an undo, another
// process's merge meanwhile) it is not written.
BOOST_AUTO_TEST_CASE(an_update_based_on_memory_that_changed_since_is_stale_and_writes_nothing) {
    temp_dir tmp;
    auto s = open_store(tmp.path());
    BOOST_TEST_REQUIRE(apply_one(*s, "ivy", fact_update("s1", "Lives in Paris")).has_value());
    const auto base = s->load("ivy")->memory;
    BOOST_TEST_REQUIRE(apply_one(*s, "ivy", fact_update("s2", "Likes tea")).has_value());
    const auto before = mem::test::slurp(tmp.path() / "ivy.json");

    BOOST_TEST_REQUIRE(s->journal_add({"ivy", "s3", "", "USER: I ride a bike"}).has_value());
    auto r = fact_update("s3", "Rides a bike");
    r.based_on = base;  // made before s2 was merged
    auto stale = apply_one(*s, "ivy", r);
    BOOST_TEST_REQUIRE(stale.has_value());
    BOOST_TEST((stale->outcomes.at(0).status == mem::apply_status::stale));
    BOOST_TEST(mem::test::slurp(tmp.path() / "ivy.json") == before);
    BOOST_TEST(s->journal_list()->size() == 1u);  // still to be merged: its job stays

    // Coalesced with an update that is written, a stale one's job still stays.
    std::vector<mem::update_request> both{fact_update("s4", "Likes jazz"), r};
    auto batch = s->apply("ivy", both);
    BOOST_TEST_REQUIRE(batch.has_value());
    BOOST_TEST((batch->outcomes.at(0).status == mem::apply_status::applied));
    BOOST_TEST((batch->outcomes.at(1).status == mem::apply_status::stale));
    BOOST_TEST(s->journal_list()->size() == 1u);

    r.based_on = s->load("ivy")->memory;  // what is stored now
    auto fresh = apply_one(*s, "ivy", r);
    BOOST_TEST_REQUIRE(fresh.has_value());
    BOOST_TEST((fresh->outcomes.at(0).status == mem::apply_status::applied));
    BOOST_TEST(s->journal_list()->empty());
    // Applied already: a duplicate, whatever memory it names.
    r.based_on = base;
    auto again = apply_one(*s, "ivy", r);
    BOOST_TEST_REQUIRE(again.has_value());
    BOOST_TEST((again->outcomes.at(0).status == mem::apply_status::duplicate));
}

// Under tighter record limits than the merge's quoting assumes, a long history line is cut to
// fit rather than the update being refused for good.
BOOST_AUTO_TEST_CASE(history_lines_are_cut_to_the_stores_own_limits) {
    temp_dir tmp;
    mem::store_options o;
    o.directory = tmp.path();
    o.limits.max_text = 400;  // change lines of at most 1,600 bytes
    o.policy.max_summary_chars = 2000;
    auto s = open_store(o);
    auto r = fact_update("s1", "Plays the violin");
    r.update.running_summary = std::string(1990, 'v') + ".";
    auto a = apply_one(*s, "vi", r);
    BOOST_TEST_REQUIRE(a.has_value(), (a ? "" : a.error().what()));
    auto loaded = s->load("vi");
    BOOST_TEST_REQUIRE(loaded.has_value(), (loaded ? "" : loaded.error().what()));
    BOOST_TEST(loaded->memory.running_summary.size() == 1991u);  // the memory keeps all of it
    for (const auto& line : loaded->history.at(0).changes) {
        BOOST_TEST(line.size() <= 1600u);
        BOOST_TEST(mem::is_valid_utf8(line));
    }
}

BOOST_AUTO_TEST_CASE(jobs_listed_without_transcripts_are_read_one_by_one) {
    temp_dir tmp;
    auto s = open_store(tmp.path());
    BOOST_TEST_REQUIRE(s->journal_add({"ivy", "sess-1", "2024-01-01T00:00:00Z", "USER: I moved to Paris"}).has_value());
    BOOST_TEST_REQUIRE(s->journal_add({"ivy", "sess-2", "2024-01-02T00:00:00Z", "USER: bye"}).has_value());
    auto listed = s->journal_list(mem::journal_detail::without_transcripts);
    BOOST_TEST_REQUIRE(listed->size() == 2u);
    BOOST_TEST(listed->at(0).session_id == "sess-1");
    BOOST_TEST(listed->at(0).created_at == "2024-01-01T00:00:00Z");
    BOOST_TEST(listed->at(0).transcript.empty());
    BOOST_TEST(listed->at(1).transcript.empty());

    auto one = s->journal_read("ivy", "sess-1");
    BOOST_TEST_REQUIRE(one.has_value(), (one ? "" : one.error().what()));
    BOOST_TEST(one->transcript == "USER: I moved to Paris");
    BOOST_TEST(one->created_at == "2024-01-01T00:00:00Z");

    BOOST_TEST(s->journal_remove("ivy", "sess-1").has_value());
    auto gone = s->journal_read("ivy", "sess-1");
    BOOST_TEST_REQUIRE(!gone.has_value());
    BOOST_TEST((gone.error().code == mem::errc::not_found));

    // Damaged after it was listed: quarantined, and said so.
    { std::ofstream(tmp.path() / ".journal" / "ivy@sess-2.job") << "{ not json"; }
    auto damaged = s->journal_read("ivy", "sess-2");
    BOOST_TEST_REQUIRE(!damaged.has_value());
    BOOST_TEST((damaged.error().code == mem::errc::memory_corrupt));
    BOOST_TEST(s->journal_list()->empty());
    BOOST_TEST(s->quarantined("ivy")->size() == 1u);
}

BOOST_AUTO_TEST_CASE(corrupt_journal_job_is_quarantined_and_skipped) {
    temp_dir tmp;
    auto s = open_store(tmp.path());
    BOOST_TEST_REQUIRE(s->journal_add({"jack", "s1", "", "t"}).has_value());
    mem::test::spit(tmp.path() / ".journal" / "jack@s2.job", "{not json");
    mem::test::spit(tmp.path() / "target.txt", "not a job");
    fs::create_symlink(tmp.path() / "target.txt", tmp.path() / ".journal" / "jack@s3.job");
    auto jobs = s->journal_list();
    BOOST_TEST_REQUIRE(jobs.has_value(), (jobs ? "" : jobs.error().what()));
    BOOST_TEST(jobs->size() == 1u);
    BOOST_TEST(s->quarantined("jack")->size() == 2u);
    BOOST_TEST(mem::test::slurp(tmp.path() / "target.txt") == "not a job");
}

BOOST_AUTO_TEST_CASE(a_journal_job_of_a_newer_format_is_skipped_and_left_in_place) {
    temp_dir tmp;
    auto s = open_store(tmp.path());
    BOOST_TEST_REQUIRE(s->journal_add({"kit", "s1", "", "t"}).has_value());
    // What a later engram might write: another shape, under a higher version.
    const std::string newer = R"({"version":2,"user_id":"kit","session_id":"s2","turns":[{"role":"user"}]})";
    mem::test::spit(tmp.path() / ".journal" / "kit@s2.job", newer);
    auto jobs = s->journal_list();
    BOOST_TEST_REQUIRE(jobs.has_value(), (jobs ? "" : jobs.error().what()));
    BOOST_TEST(jobs->size() == 1u);
    BOOST_TEST(s->quarantined("kit")->empty());
    BOOST_TEST(mem::test::slurp(tmp.path() / ".journal" / "kit@s2.job") == newer);
}

// A session whose memory pass keeps failing in a way a retry would not change: its failures are
// counted in its journal entry, across store instances (processes), until a retry clears them.
BOOST_AUTO_TEST_CASE(failed_passes_of_a_journaled_job_are_counted_durably_until_a_retry_clears_them) {
    temp_dir tmp;
    {
        auto s = open_store(tmp.path());
        BOOST_TEST_REQUIRE(s->journal_add({"kit", "s1", "2024-01-01T00:00:00Z", "USER: hello"}).has_value());
        BOOST_TEST_REQUIRE(s->journal_add({"kit", "s2", "2024-01-02T00:00:00Z", "USER: bye"}).has_value());
        auto first = s->journal_record_failure("kit", "s1", "output was invalid twice");
        BOOST_TEST_REQUIRE(first.has_value(), (first ? "" : first.error().what()));
        BOOST_TEST(*first == 1u);
    }
    auto s = open_store(tmp.path());  // another process
    // 1,000 bytes at most, cut before a character that would straddle the bound.
    auto second = s->journal_record_failure("kit", "s1", std::string(999, 'x') + "\xC3\xA9" + std::string(100, 'y'));
    BOOST_TEST_REQUIRE(second.has_value());
    BOOST_TEST(*second == 2u);
    auto jobs = s->journal_list(mem::journal_detail::without_transcripts);
    BOOST_TEST_REQUIRE(jobs->size() == 2u);
    BOOST_TEST(jobs->at(0).failed_passes == 2u);
    BOOST_TEST(jobs->at(0).last_failure == std::string(999, 'x'));
    BOOST_TEST(jobs->at(1).failed_passes == 0u);
    BOOST_TEST(jobs->at(1).last_failure.empty());
    // The rest of the job is as it was.
    auto job = s->journal_read("kit", "s1");
    BOOST_TEST_REQUIRE(job.has_value());
    BOOST_TEST(job->transcript == "USER: hello");
    BOOST_TEST(job->created_at == "2024-01-01T00:00:00Z");

    BOOST_TEST_REQUIRE(s->journal_retry("kit", "s1").has_value());
    job = s->journal_read("kit", "s1");
    BOOST_TEST(job->failed_passes == 0u);
    BOOST_TEST(job->last_failure.empty());
    BOOST_TEST(job->transcript == "USER: hello");

    // A job the journal no longer holds (merged, erased) is not brought back by either.
    BOOST_TEST_REQUIRE(s->journal_remove("kit", "s2").has_value());
    auto gone = s->journal_record_failure("kit", "s2", "late");
    BOOST_TEST_REQUIRE(!gone.has_value());
    BOOST_TEST((gone.error().code == mem::errc::not_found));
    BOOST_TEST((s->journal_retry("kit", "s2").error().code == mem::errc::not_found));
    BOOST_TEST(!s->journal_holds("kit", "s2").value());
}

// A job written before failed passes were counted (no such fields), or with a count that makes
// no sense, is read as one that never failed: never lost to quarantine for it.
BOOST_AUTO_TEST_CASE(a_job_without_or_with_a_nonsense_failure_count_reads_as_never_failed) {
    temp_dir tmp;
    auto s = open_store(tmp.path());
    mem::test::spit(tmp.path() / ".journal" / "kit@s1.job",
                    R"({"version":1,"user_id":"kit","session_id":"s1","created_at":"2024-01-01T00:00:00Z","transcript":"t"})");
    mem::test::spit(tmp.path() / ".journal" / "kit@s2.job",
                    R"({"version":1,"user_id":"kit","session_id":"s2","created_at":"2024-01-02T00:00:00Z","transcript":"t",)"
                    R"("failed_passes":-4,"last_failure":7})");
    mem::test::spit(tmp.path() / ".journal" / "kit@s3.job",  // beyond int64: Boost.JSON holds it as uint64
                    R"({"version":1,"user_id":"kit","session_id":"s3","created_at":"2024-01-03T00:00:00Z","transcript":"t",)"
                    R"("failed_passes":18446744073709551615})");
    mem::test::spit(tmp.path() / ".journal" / "kit@s4.job",
                    R"({"version":1,"user_id":"kit","session_id":"s4","created_at":"2024-01-04T00:00:00Z","transcript":"t",)"
                    R"("failed_passes":2.5})");
    auto jobs = s->journal_list();
    BOOST_TEST_REQUIRE(jobs.has_value(), (jobs ? "" : jobs.error().what()));
    BOOST_TEST_REQUIRE(jobs->size() == 4u);
    for (const auto& j : *jobs) {
        BOOST_TEST(j.failed_passes == 0u, j.session_id);
        BOOST_TEST(j.last_failure.empty());
    }
    BOOST_TEST(s->quarantined("kit")->empty());
    BOOST_TEST(*s->journal_record_failure("kit", "s1", "why") == 1u);
    BOOST_TEST(*s->journal_record_failure("kit", "s3", "why") == 1u);
}

// Counting a failure changes only the count: the file's date as written and fields this build
// does not know (a later build's, at the same format version) stay.
BOOST_AUTO_TEST_CASE(counting_a_failure_keeps_the_rest_of_the_job_file_as_it_was) {
    temp_dir tmp;
    auto s = open_store(tmp.path());
    mem::test::spit(tmp.path() / ".journal" / "kit@s1.job",
                    R"({"version":1,"user_id":"kit","session_id":"s1","created_at":"not a date","transcript":"t","later":{"x":1}})");
    BOOST_TEST_REQUIRE(s->journal_record_failure("kit", "s1", "why").has_value());
    const auto file = boost::json::parse(mem::test::slurp(tmp.path() / ".journal" / "kit@s1.job")).as_object();
    BOOST_TEST(file.at("created_at").as_string() == "not a date");
    BOOST_TEST((file.at("later") == boost::json::parse(R"({"x":1})")));
    BOOST_TEST(file.at("failed_passes").to_number<int>() == 1);
    BOOST_TEST_REQUIRE(s->journal_retry("kit", "s1").has_value());
    const auto cleared = boost::json::parse(mem::test::slurp(tmp.path() / ".journal" / "kit@s1.job")).as_object();
    BOOST_TEST(!cleared.contains("failed_passes"));
    BOOST_TEST(!cleared.contains("last_failure"));
    BOOST_TEST(cleared.contains("later"));
}

BOOST_AUTO_TEST_CASE(coalesced_requests_are_written_once_and_each_reported) {
    temp_dir tmp;
    auto s = open_store(tmp.path());
    std::vector<mem::update_request> reqs = {fact_update("a", "one"), fact_update("b", "two"),
                                             fact_update("a", "one")};
    auto r = s->apply("kim", reqs);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->outcomes.size() == 3u);
    BOOST_TEST((r->outcomes[2].status == mem::apply_status::duplicate));
    BOOST_TEST(r->record.memory.session_count == 2);
    BOOST_TEST(r->record.history.size() == 2u);
}

BOOST_AUTO_TEST_CASE(undo_restores_the_previous_memory_on_disk) {
    temp_dir tmp;
    auto s = open_store(tmp.path());
    BOOST_TEST_REQUIRE(apply_one(*s, "liz", fact_update("s1", "Likes tea")).has_value());
    BOOST_TEST_REQUIRE(apply_one(*s, "liz", fact_update("s2", "Likes coffee")).has_value());
    auto u = s->undo_last("liz");
    BOOST_TEST_REQUIRE(u.has_value());
    auto again = s->load("liz");
    BOOST_TEST(again->memory.key_facts.size() == 1u);
    BOOST_TEST(again->memory.session_count == 1);
    BOOST_TEST(s->undo_last("liz").has_value());
    auto none = s->undo_last("liz");
    BOOST_TEST_REQUIRE(!none.has_value());
    BOOST_TEST((none.error().code == mem::errc::not_found));
}

BOOST_AUTO_TEST_CASE(stale_temp_files_of_crashed_writers_are_removed_at_open) {
    temp_dir tmp;
    open_store(tmp.path());
    const auto stale = tmp.path() / ".t0123abcd-zed.json";
    const auto fresh = tmp.path() / ".t89abcdef-zed.json";
    const auto stale_job = tmp.path() / ".journal" / ".t0123abcd-zed@s1.job";
    for (const auto& p : {stale, fresh, stale_job}) mem::test::spit(p, "partial");
    const timespec old_times[2] = {{0, UTIME_OMIT}, {::time(nullptr) - 3600, 0}};
    BOOST_TEST_REQUIRE(::utimensat(AT_FDCWD, stale.c_str(), old_times, 0) == 0);
    BOOST_TEST_REQUIRE(::utimensat(AT_FDCWD, stale_job.c_str(), old_times, 0) == 0);
    open_store(tmp.path());
    BOOST_TEST(!fs::exists(stale));
    BOOST_TEST(!fs::exists(stale_job));
    BOOST_TEST(fs::exists(fresh));  // may belong to a live writer in another process
}

BOOST_AUTO_TEST_CASE(default_directory_follows_xdg) {
    const char* old = std::getenv("XDG_DATA_HOME");
    const std::string saved = old ? old : "";
    ::setenv("XDG_DATA_HOME", "/xdg/data", 1);
    BOOST_TEST(mem::default_memory_directory() == fs::path("/xdg/data/engram/memory"));
    ::setenv("XDG_DATA_HOME", "relative", 1);  // not absolute: ignored per the XDG spec
    BOOST_TEST(mem::default_memory_directory().string().find("/.local/share/engram/memory") !=
               std::string::npos);
    if (old)
        ::setenv("XDG_DATA_HOME", saved.c_str(), 1);
    else
        ::unsetenv("XDG_DATA_HOME");
}

BOOST_AUTO_TEST_CASE(a_store_that_may_not_create_its_directory_reports_a_missing_one_and_creates_nothing) {
    temp_dir tmp;
    mem::store_options o;
    o.directory = tmp.path() / "typo" / "memory";
    o.create_directory = false;
    auto s = mem::store::open(o);
    BOOST_TEST_REQUIRE(!s.has_value());
    BOOST_TEST((s.error().code == mem::errc::not_found));
    BOOST_TEST(!fs::exists(tmp.path() / "typo"));
    fs::create_directories(o.directory);
    BOOST_TEST(mem::store::open(o).has_value());  // an existing one opens as usual
}

// A service started without a login environment has no HOME: the default must not become a
// path under whatever the working directory is.
BOOST_AUTO_TEST_CASE(without_home_the_default_directory_comes_from_the_password_database_never_the_cwd) {
    const char* old_home = std::getenv("HOME");
    const char* old_xdg = std::getenv("XDG_DATA_HOME");
    const std::string saved_home = old_home ? old_home : "", saved_xdg = old_xdg ? old_xdg : "";
    ::unsetenv("HOME");
    ::unsetenv("XDG_DATA_HOME");
    const auto dir = mem::default_memory_directory();
    if (old_home) ::setenv("HOME", saved_home.c_str(), 1);
    if (old_xdg) ::setenv("XDG_DATA_HOME", saved_xdg.c_str(), 1);
    const passwd* pw = ::getpwuid(::geteuid());
    BOOST_TEST_REQUIRE(pw != nullptr);  // the test user has an entry (root in CI)
    BOOST_TEST(dir == fs::path(pw->pw_dir) / ".local/share/engram/memory");
    BOOST_TEST(dir.is_absolute());
}

BOOST_AUTO_TEST_CASE(an_update_with_a_malformed_finished_at_is_refused_and_writes_nothing) {
    temp_dir tmp;
    auto s = open_store(tmp.path());
    for (const char* bad : {"1705329120", "yesterday", "2024-1-15", "\xff\xfe"}) {
        auto r = fact_update("s1", "Likes tea");
        r.finished_at = bad;
        auto a = apply_one(*s, "mia", r);
        BOOST_TEST_REQUIRE(!a.has_value(), bad);
        BOOST_TEST((a.error().code == mem::errc::invalid_update), a.error().what());
        BOOST_TEST(a.error().message.find("finished_at") == 0u, a.error().message);
        BOOST_TEST(!fs::exists(tmp.path() / "mia.json"));
    }
    auto r = fact_update("s1", "Likes tea");
    r.finished_at = std::string(65, '2');  // longer than the reader's timestamp limit
    BOOST_TEST(!apply_one(*s, "mia", r).has_value());
    // With a record on disk: it is left exactly as it was, and still loads.
    r.finished_at = "2024-01-15T14:32:00Z";
    BOOST_TEST_REQUIRE(apply_one(*s, "mia", r).has_value());
    const auto before = mem::test::slurp(tmp.path() / "mia.json");
    auto bad = fact_update("s2", "Likes coffee");
    bad.finished_at = "1705329120";
    BOOST_TEST(!apply_one(*s, "mia", bad).has_value());
    BOOST_TEST(mem::test::slurp(tmp.path() / "mia.json") == before);
    auto loaded = s->load("mia");
    BOOST_TEST_REQUIRE(loaded.has_value(), (loaded ? "" : loaded.error().what()));
    BOOST_TEST(loaded->memory.session_count == 1);
    BOOST_TEST(s->quarantined("mia")->empty());
}

BOOST_AUTO_TEST_CASE(an_update_that_would_write_a_record_the_reader_rejects_is_refused) {
    temp_dir tmp;
    mem::store_options o;
    o.directory = tmp.path();
    o.policy.max_summary_chars = 100000;  // more than record_limits::max_summary (8000 bytes) allows
    o.policy.max_history = 50;
    o.policy.max_facts = 3;
    o.limits.max_items = 3;  // fewer history entries than max_history keeps
    auto s = open_store(o);
    BOOST_TEST_REQUIRE(apply_one(*s, "ned", fact_update("s1", "Likes tea")).has_value());
    const auto before = mem::test::slurp(tmp.path() / "ned.json");

    auto r = fact_update("s2", "Likes coffee");
    r.update.running_summary = std::string(9000, 'a');
    auto a = apply_one(*s, "ned", r);
    BOOST_TEST_REQUIRE(!a.has_value());
    BOOST_TEST((a.error().code == mem::errc::invalid_record), a.error().what());
    BOOST_TEST(a.error().message.find("running_summary") != std::string::npos, a.error().message);
    BOOST_TEST(mem::test::slurp(tmp.path() / "ned.json") == before);
    BOOST_TEST(!has_temp_files(tmp.path()));

    // The fourth history entry would exceed max_items: the third update is the last one written.
    BOOST_TEST_REQUIRE(apply_one(*s, "ned", fact_update("s3", "x")).has_value());
    BOOST_TEST_REQUIRE(apply_one(*s, "ned", fact_update("s4", "y")).has_value());
    auto fourth = apply_one(*s, "ned", fact_update("s5", "z"));
    BOOST_TEST_REQUIRE(!fourth.has_value());
    BOOST_TEST(fourth.error().message.find("history") != std::string::npos, fourth.error().message);

    auto loaded = s->load("ned");
    BOOST_TEST_REQUIRE(loaded.has_value(), (loaded ? "" : loaded.error().what()));
    BOOST_TEST(loaded->memory.session_count == 3);
    BOOST_TEST(s->quarantined("ned")->empty());
}

// The longest summary an agent may keep (2,000 code points), in four-byte characters, is 8,000
// bytes: the history line that reports it must still fit a stored change line (8,000 bytes),
// or the reader would reject the record and the update be refused for good.
BOOST_AUTO_TEST_CASE(a_summary_at_the_largest_cap_in_four_byte_characters_is_saved_with_its_history_line) {
    temp_dir tmp;
    mem::store_options o;
    o.directory = tmp.path();
    o.policy.max_summary_chars = 2000;
    auto s = open_store(o);
    std::string summary;
    for (int i = 0; i < 2000; ++i) summary += "\xF0\x9F\x8E\xBB";  // U+1F3BB VIOLIN
    auto r = fact_update("s1", "Plays the violin");
    r.update.running_summary = summary;
    auto a = apply_one(*s, "vi", r);
    BOOST_TEST_REQUIRE(a.has_value(), (a ? "" : a.error().what()));
    auto loaded = s->load("vi");
    BOOST_TEST_REQUIRE(loaded.has_value(), (loaded ? "" : loaded.error().what()));
    BOOST_TEST(loaded->memory.running_summary == summary);  // the memory keeps all of it
    BOOST_REQUIRE_EQUAL(loaded->history.size(), 1u);
    bool reported = false;
    for (const auto& line : loaded->history[0].changes) {
        BOOST_TEST(line.size() <= 4 * o.limits.max_text);
        BOOST_TEST(mem::is_valid_utf8(line));
        if (line.starts_with("~ summary replaced")) {
            reported = true;
            BOOST_TEST(line.size() < summary.size());  // a cut preview, marked as such
            BOOST_TEST(line.ends_with("\xE2\x80\xA6\""), line.substr(line.size() - 10));
        }
    }
    BOOST_TEST(reported);
}

BOOST_AUTO_TEST_CASE(a_record_with_a_session_count_above_int64_is_quarantined_not_thrown) {
    temp_dir tmp;
    const std::string text = R"({"user_id": "oli", "session_count": 18446744073709551615})";
    mem::test::spit(tmp.path() / "oli.json", text);
    mem::test::spit(tmp.path() / "pat.json", R"({"user_id": "pat", "schema_version": 18446744073709551615})");
    auto s = open_store(tmp.path());
    mem::result<mem::user_record> r = mem::make_error(mem::errc::io_error, "not loaded");
    BOOST_CHECK_NO_THROW(r = s->load("oli"));
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST((r.error().code == mem::errc::memory_corrupt), r.error().what());
    auto q = s->quarantined("oli");
    BOOST_TEST_REQUIRE(q->size() == 1u);
    BOOST_TEST(mem::test::slurp(tmp.path() / ".quarantine" / q->front()) == text);
    // A schema_version that large is still "newer than this build": refused, never quarantined.
    mem::result<mem::apply_result> a = mem::make_error(mem::errc::io_error, "not applied");
    BOOST_CHECK_NO_THROW(a = apply_one(*s, "pat", fact_update("s1", "x")));
    BOOST_TEST_REQUIRE(!a.has_value());
    BOOST_TEST((a.error().code == mem::errc::unsupported_record), a.error().what());
    BOOST_TEST(s->quarantined("pat")->empty());
    // The user with the corrupt file goes on from a blank record.
    BOOST_TEST_REQUIRE(apply_one(*s, "oli", fact_update("s1", "x")).has_value());
    BOOST_TEST(s->load("oli")->memory.session_count == 1);
}

BOOST_AUTO_TEST_CASE(a_directory_that_cannot_be_listed_is_reported_not_taken_as_empty) {
    temp_dir tmp;
    auto faults = std::make_shared<faulty_fs>();
    auto s = open_store(tmp.path(), faults);
    BOOST_TEST_REQUIRE(apply_one(*s, "quin", fact_update("s1", "x")).has_value());
    BOOST_TEST_REQUIRE(s->journal_add({"quin", "s2", "", "USER: hi"}).has_value());
    mem::test::spit(tmp.path() / ".quarantine" / "quin@20240101T000000Z-00000000.json", "old");
    faults->list_errno = EMFILE;
    auto jobs = s->journal_list();
    BOOST_TEST(!jobs.has_value());  // an empty list would mean "no crashed session to replay"
    auto users = s->list_users();
    BOOST_TEST(!users.has_value());
    BOOST_TEST(!s->export_all().has_value());
    BOOST_TEST(!s->quarantined("quin").has_value());
    auto e = s->erase("quin");
    BOOST_TEST_REQUIRE(!e.has_value());
    BOOST_TEST((e.error().code == mem::errc::io_error), e.error().what());
    // The record itself is removed by its name, listing or not.
    BOOST_TEST(!fs::exists(tmp.path() / "quin.json"));
    faults->list_errno = 0;
    auto again = s->erase("quin");  // the retry finishes the job
    BOOST_TEST_REQUIRE(again.has_value());
    BOOST_TEST(*again);
    BOOST_TEST(names_in(tmp.path() / ".journal").empty());
    BOOST_TEST(names_in(tmp.path() / ".quarantine").empty());
    BOOST_TEST(s->journal_list()->empty());
}

BOOST_AUTO_TEST_CASE(the_lock_file_stays_usable_under_a_restrictive_umask) {
    temp_dir tmp;
    const mode_t saved = ::umask(0277);
    auto s = open_store(tmp.path());
    auto first = apply_one(*s, "rae", fact_update("s1", "x"));
    auto second = apply_one(*s, "rae", fact_update("s2", "y"));
    ::umask(saved);
    BOOST_TEST_REQUIRE(first.has_value(), (first ? "" : first.error().what()));
    BOOST_TEST_REQUIRE(second.has_value(), (second ? "" : second.error().what()));
    // 0400 would refuse every later read-write open (for anyone but root).
    BOOST_TEST(mem::test::mode_of(tmp.path() / ".locks" / "rae.lock") == 0600u);
    BOOST_TEST(mem::test::mode_of(tmp.path() / "rae.json") == 0600u);
    // A lock file an older version left read-only is repaired the next time it is taken.
    ::chmod((tmp.path() / ".locks" / "rae.lock").c_str(), 0400);
    BOOST_TEST_REQUIRE(apply_one(*s, "rae", fact_update("s3", "z")).has_value());
    BOOST_TEST(mem::test::mode_of(tmp.path() / ".locks" / "rae.lock") == 0600u);
}

// A subdirectory another user owns (made while the directory was open to others) could let
// that user read the journaled transcripts or plant jobs: the store refuses it.
BOOST_AUTO_TEST_CASE(a_subdirectory_another_user_owns_is_refused_and_own_ones_are_made_private) {
    temp_dir tmp;
    const auto dir = tmp.path() / "memory";
    const mode_t saved = ::umask(0);  // the most open umask: nothing may be created open anyway
    { auto s = open_store(dir); }
    ::umask(saved);
    BOOST_TEST(mem::test::mode_of(dir) == 0700u);
    for (const char* sub : {".locks", ".journal", ".quarantine"}) BOOST_TEST(mem::test::mode_of(dir / sub) == 0700u, sub);

    ::chmod((dir / ".journal").c_str(), 0777);
    { auto s = open_store(dir); }  // an own one is made private again
    BOOST_TEST(mem::test::mode_of(dir / ".journal") == 0700u);

    if (::geteuid() != 0) return;  // only root can give a directory away
    BOOST_TEST_REQUIRE(::chown((dir / ".journal").c_str(), 65534, 65534) == 0);
    mem::store_options o;
    o.directory = dir;
    auto refused = mem::store::open(o);
    BOOST_TEST_REQUIRE(!refused.has_value());
    BOOST_TEST((refused.error().code == mem::errc::permission_denied));
    BOOST_TEST(refused.error().message.find(".journal belongs to another user") != std::string::npos,
               refused.error().message);
}

BOOST_AUTO_TEST_CASE(a_job_the_journal_reader_would_reject_is_refused_and_writes_nothing) {
    temp_dir tmp;
    auto s = open_store(tmp.path());
    auto bad = s->journal_add({"sam", "s1", "", "USER: caf\xe9 (latin-1, not UTF-8)"});
    BOOST_TEST_REQUIRE(!bad.has_value());
    BOOST_TEST(bad.error().message.find("transcript") == 0u, bad.error().message);
    // Control characters are escaped six-fold: this transcript would make a file above 64 MiB.
    auto huge = s->journal_add({"sam", "s2", "", std::string(11u << 20, '\x01')});
    BOOST_TEST_REQUIRE(!huge.has_value());
    BOOST_TEST(huge.error().message.find("transcript") == 0u, huge.error().message);
    BOOST_TEST(names_in(tmp.path() / ".journal").empty());
    auto jobs = s->journal_list();
    BOOST_TEST_REQUIRE(jobs.has_value());
    BOOST_TEST(jobs->empty());
    BOOST_TEST(s->quarantined("sam")->empty());
    BOOST_TEST(s->journal_add({"sam", "s3", "", "USER: café"}).has_value());
    BOOST_TEST(s->journal_list()->size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_write_that_writes_nothing_is_an_io_error_not_an_endless_loop) {
    temp_dir tmp;
    auto faults = std::make_shared<faulty_fs>();
    auto s = open_store(tmp.path(), faults);
    BOOST_TEST_REQUIRE(apply_one(*s, "tom", fact_update("s1", "Likes tea")).has_value());
    const auto before = mem::test::slurp(tmp.path() / "tom.json");
    faults->zero_writes = 3;
    auto r = apply_one(*s, "tom", fact_update("s2", "Likes coffee"));
    faults->zero_writes = 0;
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST((r.error().code == mem::errc::io_error), r.error().what());
    BOOST_TEST(mem::test::slurp(tmp.path() / "tom.json") == before);
    BOOST_TEST(!has_temp_files(tmp.path()));
}

BOOST_AUTO_TEST_CASE(an_update_to_a_record_at_the_largest_session_count_is_written_saturated) {
    temp_dir tmp;
    mem::test::spit(tmp.path() / "uma.json",
                    R"({"schema_version": 1, "user_id": "uma", "session_count": 9223372036854775807})");
    auto s = open_store(tmp.path());
    auto a = apply_one(*s, "uma", fact_update("s1", "Likes tea"));
    BOOST_TEST_REQUIRE(a.has_value(), (a ? "" : a.error().what()));
    BOOST_TEST(a->record.memory.session_count == 9223372036854775807);
    auto loaded = s->load("uma");
    BOOST_TEST_REQUIRE(loaded.has_value(), (loaded ? "" : loaded.error().what()));
    BOOST_TEST(loaded->memory.session_count == 9223372036854775807);
    BOOST_TEST(loaded->memory.key_facts.size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_failed_directory_fsync_after_the_rename_says_the_new_version_is_in_place) {
    temp_dir tmp;
    auto faults = std::make_shared<faulty_fs>();
    auto s = open_store(tmp.path(), faults);
    BOOST_TEST_REQUIRE(apply_one(*s, "val", fact_update("s1", "Likes tea")).has_value());
    for (const int err : {EIO, ENOSPC, EROFS}) {
        const std::string session = "s2-" + std::to_string(err);
        BOOST_TEST_REQUIRE(s->journal_add({"val", session, "", "USER: coffee"}).has_value());
        faults->dir_fsync_errno = err;
        auto r = apply_one(*s, "val", fact_update(session, "Likes coffee " + std::to_string(err)));
        faults->dir_fsync_errno = 0;
        BOOST_TEST_REQUIRE(!r.has_value());
        // Not disk_full / permission_denied: those promise the old file is intact, and it is not.
        BOOST_TEST((r.error().code == mem::errc::io_error), r.error().what());
        BOOST_TEST(r.error().message.find("intact") == std::string::npos, r.error().message);
        BOOST_TEST(r.error().message.find("new version is in place") != std::string::npos, r.error().message);
        // Exactly what the message says: readers already see the update.
        auto loaded = s->load("val");
        BOOST_TEST_REQUIRE(loaded.has_value());
        BOOST_TEST(loaded->memory.key_facts.back().text == "Likes coffee " + std::to_string(err));
        BOOST_TEST(!has_temp_files(tmp.path()));
        // The job stays in the journal; replaying it is acknowledged as a duplicate, never re-applied.
        BOOST_TEST(fs::exists(tmp.path() / ".journal" / ("val@" + session + ".job")));
        const auto count = loaded->memory.session_count;
        auto replay = apply_one(*s, "val", fact_update(session, "Likes coffee " + std::to_string(err)));
        BOOST_TEST_REQUIRE(replay.has_value());
        BOOST_TEST((replay->outcomes.front().status == mem::apply_status::duplicate));
        BOOST_TEST(s->load("val")->memory.session_count == count);
        BOOST_TEST(!fs::exists(tmp.path() / ".journal" / ("val@" + session + ".job")));
    }
}

BOOST_AUTO_TEST_CASE(a_record_from_a_newer_engram_is_reported_and_left_untouched_never_quarantined) {
    temp_dir tmp;
    const std::string newer =
        R"({"schema_version": 2, "user_id": "wes", "session_count": 4, "memories": [{"text": "a v2 shape"}]})";
    mem::test::spit(tmp.path() / "wes.json", newer);
    auto s = open_store(tmp.path());
    auto l = s->load("wes");
    BOOST_TEST_REQUIRE(!l.has_value());
    BOOST_TEST((l.error().code == mem::errc::unsupported_record), l.error().what());
    for (const char* part : {"wes.json", "version 2", "this build reads up to 1", "left untouched"})
        BOOST_TEST(l.error().message.find(part) != std::string::npos, part << " in " << l.error().message);
    BOOST_TEST(mem::test::slurp(tmp.path() / "wes.json") == newer);
    BOOST_TEST(s->quarantined("wes")->empty());

    // apply refuses to write over it, and the session's job stays for a build that can finish it.
    BOOST_TEST_REQUIRE(s->journal_add({"wes", "s5", "", "USER: hi"}).has_value());
    auto a = apply_one(*s, "wes", fact_update("s5", "Likes tea"));
    BOOST_TEST_REQUIRE(!a.has_value());
    BOOST_TEST((a.error().code == mem::errc::unsupported_record), a.error().what());
    BOOST_TEST(mem::test::slurp(tmp.path() / "wes.json") == newer);
    BOOST_TEST(s->quarantined("wes")->empty());
    BOOST_TEST(!has_temp_files(tmp.path()));
    auto jobs = s->journal_list();
    BOOST_TEST_REQUIRE(jobs.has_value());
    BOOST_TEST_REQUIRE(jobs->size() == 1u);
    BOOST_TEST(jobs->front().session_id == "s5");

    // Neither undo nor export touches or hides it.
    auto u = s->undo_last("wes");
    BOOST_TEST_REQUIRE(!u.has_value());
    BOOST_TEST((u.error().code == mem::errc::unsupported_record), u.error().what());
    auto e = s->export_user("wes");
    BOOST_TEST_REQUIRE(!e.has_value());
    BOOST_TEST((e.error().code == mem::errc::unsupported_record), e.error().what());
    BOOST_TEST(mem::test::slurp(tmp.path() / "wes.json") == newer);
    BOOST_TEST(s->quarantined("wes")->empty());
}

BOOST_AUTO_TEST_CASE(a_record_beyond_this_builds_limits_is_left_for_the_build_that_wrote_it) {
    temp_dir tmp;
    mem::store_options wide_options;  // a process with the default limits and larger merge caps
    wide_options.directory = tmp.path();
    wide_options.policy.max_facts = 20;
    auto wide = open_store(wide_options);
    for (int i = 1; i <= 8; ++i)
        BOOST_TEST_REQUIRE(
            apply_one(*wide, "xena", fact_update("s" + std::to_string(i), "fact " + std::to_string(i)))
                .has_value());
    const auto written = mem::test::slurp(tmp.path() / "xena.json");

    mem::store_options narrow_options;  // another process sharing the directory, with smaller limits
    narrow_options.directory = tmp.path();
    narrow_options.limits.max_items = 5;
    auto narrow = open_store(narrow_options);
    auto l = narrow->load("xena");
    BOOST_TEST_REQUIRE(!l.has_value());
    BOOST_TEST((l.error().code == mem::errc::unsupported_record), l.error().what());
    BOOST_TEST(l.error().message.find("too many entries") != std::string::npos, l.error().message);
    BOOST_TEST(l.error().message.find("left untouched") != std::string::npos, l.error().message);
    BOOST_TEST_REQUIRE(narrow->journal_add({"xena", "s9", "", "USER: hi"}).has_value());
    auto a = apply_one(*narrow, "xena", fact_update("s9", "fact 9"));
    BOOST_TEST_REQUIRE(!a.has_value());
    BOOST_TEST((a.error().code == mem::errc::unsupported_record), a.error().what());
    BOOST_TEST(mem::test::slurp(tmp.path() / "xena.json") == written);
    BOOST_TEST(narrow->quarantined("xena")->empty());
    BOOST_TEST(narrow->journal_list()->size() == 1u);

    // The process that wrote it still reads it, and finishes the pending job.
    auto done = apply_one(*wide, "xena", fact_update("s9", "fact 9"));
    BOOST_TEST_REQUIRE(done.has_value(), (done ? "" : done.error().what()));
    BOOST_TEST(done->record.memory.session_count == 9);
    BOOST_TEST(wide->journal_list()->empty());
}

BOOST_AUTO_TEST_SUITE_END()
