// Rendering a memory for the system prompt. Pure and deterministic.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <engram/memory/schema.hpp>

namespace engram::memory {

struct render_options {
    /// Hard limit on the whole block, in Unicode code points. The block never exceeds it: the
    /// oldest decisions, then preferences, medium facts, high facts, and finally the summary's
    /// tail are dropped until it fits.
    std::size_t budget_chars = 2000;
    /// How many of the newest decisions to show.
    std::size_t max_decisions = 3;
};

/// The block for the system prompt. It is framed as data remembered from earlier sessions, not as
/// instructions; high-confidence facts appear as facts, medium ones hedged ("You may have
/// mentioned: …"), low ones not at all. Every value is flattened to one line and its markup
/// defused (every `<` is shown as U+2039); a summary, fact, preference or decision holding a
/// role tag (<system>, </user_memory>) or a directive (see looks_like_instruction) is left out. A user with
/// nothing remembered renders as "No prior context available. This is a new user."
std::string render_for_prompt(const user_memory& m, const render_options& options = {});

/// The instruction guard: true when `text` reads like a directive to the model rather than a fact
/// ("ignore previous instructions", "you must …", "system:", markup such as "</user_memory>").
bool looks_like_instruction(std::string_view text);

}  // namespace engram::memory
