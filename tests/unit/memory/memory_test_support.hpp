// Helpers shared by the memory tests: a private temporary directory and file utilities.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <sys/stat.h>

#include "support/temp_dir.hpp"

namespace engram::memory::test {

/// A fresh private directory, removed with its contents on destruction (shared test helper).
using temp_dir = engram::test::temp_dir;

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
