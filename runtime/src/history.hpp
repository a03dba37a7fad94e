// Pure helpers for session histories (private to runtime/).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serializer.hpp>
#include <boost/json/value.hpp>

namespace engram::runtime::detail {

/// Characters (Unicode code points, not UTF-8 bytes) of text in a Messages API message's content
/// (a string, or text/tool blocks).
std::size_t content_chars(const boost::json::value& content);
std::size_t content_chars(const boost::json::array& blocks);
/// The same for a whole message ({"role": ..., "content": ...}).
std::size_t message_chars(const boost::json::value& message);

/// A session's history. Each message is kept as the JSON text a request sends: a turn then
/// copies text instead of JSON trees, and text is a fraction of a tree's size. Not thread-safe.
class message_history {
public:
    /// Appends a Messages API message {"role": role, "content": blocks}.
    void push(std::string_view role, const boost::json::array& blocks);
    /// The same with plain text as the content.
    void push_text(std::string_view role, std::string_view text);
    void pop_back() noexcept;
    std::size_t size() const noexcept { return json_.size(); }
    bool empty() const noexcept { return json_.empty(); }
    bool back_is_user() const noexcept { return !meta_.empty() && meta_.back().user; }
    bool has_reply() const noexcept;
    /// Characters of text in all messages (message_chars), what the budget counts.
    std::size_t chars() const noexcept { return chars_; }
    /// The messages' JSON texts, oldest first.
    std::span<const std::string> json() const noexcept { return json_; }

    /// The first message a request may send for the history to fit `budget` characters: the
    /// oldest turns (a user message and the replies up to the next user message) are left out
    /// whole, never the newest message; 0 when everything fits. Changes nothing: a turn sends
    /// json().subspan(fit_from(budget)) and trims only once it succeeded.
    std::size_t fit_from(std::size_t budget) const;
    /// Characters of text in the messages from `first` on (what a request sending them counts).
    std::size_t chars_from(std::size_t first) const noexcept;
    /// Drops the messages fit_from(budget) leaves out. Returns how many were dropped; the history
    /// always starts with a user message afterwards. The dropped messages' transcript lines are
    /// kept (the first `budget` characters of them), so the extraction still reads the start of
    /// a long session, where users tend to say who they are.
    std::size_t trim(std::size_t budget);

    /// "USER: ...\nASSISTANT: ..." lines (a message's further lines indented by two spaces):
    /// what the extraction call reads, trimmed turns included, at most `budget` characters: the
    /// newest messages, and the session's start in at least half of the budget when it has one;
    /// a line says how many messages in between are left out.
    std::string transcript(std::size_t budget) const;

private:
    /// Appends {"role": role, "content": <what `content` serializes>}.
    void append(std::string_view role, std::size_t chars, boost::json::serializer& content);
    struct meta {
        std::size_t chars;
        bool user;
    };
    /// One message's transcript line.
    std::string transcript_line(std::size_t i) const;

    std::vector<std::string> json_;
    std::vector<meta> meta_;
    std::size_t chars_ = 0;
    std::string earlier_;              // transcript lines of trimmed messages, oldest first
    std::size_t earlier_chars_ = 0;    // characters in earlier_
    std::size_t earlier_omitted_ = 0;  // trimmed messages whose lines did not fit in earlier_
};

/// Parses an RFC 3339 UTC time such as "2025-10-30T16:17:36Z" into seconds since the epoch
/// (0 when it cannot be parsed).
long long parse_rfc3339_utc(const std::string& s);

}  // namespace engram::runtime::detail
