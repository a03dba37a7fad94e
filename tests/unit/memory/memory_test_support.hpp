// Helpers shared by the memory tests: a private temporary directory and file utilities.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <sys/stat.h>

namespace engram::memory::test {

/// A fresh directory under $TMPDIR, removed with its contents on destruction.
class temp_dir {
public:
    temp_dir() {
        const char* base = std::getenv("TMPDIR");
        std::string tmpl = std::string(base && *base ? base : "/tmp") + "/engram-memory-test-XXXXXX";
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        // Restore permissions a test may have removed, so cleanup can proceed.
        for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
             !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
            if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0700);
        std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
};

inline std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline void spit(const std::filesystem::path& p, const std::string& data) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << data;
}

inline unsigned mode_of(const std::filesystem::path& p) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) return 0xFFFF;
    return st.st_mode & 07777;
}

/// The tutorial's example file (../shared/seed/tutorial.txt, "Design the Memory Schema").
inline const char* tutorial_alice = R"({
"user_id": "alice",
"last_session": "2024-01-15T14:32:00",
"session_count": 7,
"preferences": {
"communication_style": "direct, no fluff",
"timezone": "UTC+1",
"primary_goal": "launch SaaS product by Q2"
},
"key_facts": [
"Using Python and FastAPI for backend",
"Has a team of 2 engineers",
"Previously rejected idea of adding Redis to stack"
],
"running_summary": "Alice is building a B2B SaaS tool for contract review. She wants weekly progress check-ins and prefers bullet-pointed responses. Last session she finalized the pricing page copy.",
"recent_decisions": [
{"topic": "pricing model", "decision": "usage-based at $0.02/doc", "date": "2024-01-14"}
]
})";

}  // namespace engram::memory::test
