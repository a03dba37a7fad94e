// Access to the shared, third-party test vectors in ../shared/fixtures (never copied here).
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace engram::test {

inline std::filesystem::path fixtures_dir() {
    if (const char* env = std::getenv("ENGRAM_FIXTURES_DIR"); env && *env) return env;
    return ENGRAM_FIXTURES_DIR;
}

inline std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read fixture " + p.string() + " (is ENGRAM_FIXTURES_DIR right?)");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline boost::json::value read_json(const std::filesystem::path& p) { return boost::json::parse(read_file(p)); }

/// Files in fixtures/<sub> whose names end in `suffix`, sorted.
inline std::vector<std::filesystem::path> fixture_files(const std::string& sub, const std::string& suffix) {
    const auto dir = fixtures_dir() / sub;
    // Not part of the repository: say where they were looked for and how to point elsewhere.
    if (!std::filesystem::is_directory(dir))
        throw std::runtime_error("no test vectors at " + dir.string() +
                                 ": check out ../shared/fixtures beside the repository or set ENGRAM_FIXTURES_DIR");
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        const auto name = e.path().filename().string();
        if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
            out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

/// The ways every vector is fed: whole, one byte at a time, and at random split points.
inline std::vector<std::vector<std::string>> chunkings(const std::string& bytes, unsigned random_runs = 40) {
    std::vector<std::vector<std::string>> out;
    out.push_back({bytes});
    std::vector<std::string> bytewise;
    for (char c : bytes) bytewise.emplace_back(1, c);
    out.push_back(std::move(bytewise));
    std::mt19937 rng(12345);
    for (unsigned run = 0; run < random_runs; ++run) {
        std::vector<std::string> pieces;
        std::size_t pos = 0;
        std::uniform_int_distribution<std::size_t> len(0, 1 + run % 17);
        while (pos < bytes.size()) {
            const std::size_t n = std::min(bytes.size() - pos, len(rng));
            pieces.push_back(bytes.substr(pos, n));  // zero-length pieces are valid input too
            pos += n;
        }
        out.push_back(std::move(pieces));
    }
    return out;
}

}  // namespace engram::test
