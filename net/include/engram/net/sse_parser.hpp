// Incremental Server-Sent Events parser following the WHATWG HTML "event stream" rules.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <engram/net/error.hpp>

namespace engram::net {

namespace detail {

/// Splits bytes into lines ending in CR, LF or CRLF, incrementally; a CR at the end of one piece
/// and an LF at the start of the next form one line end. One leading UTF-8 BOM is stripped.
/// A line that is whole inside one piece is passed as a view of the input (no copy).
class sse_line_splitter {
public:
    /// Calls `on_line(std::string_view)` per complete line; it returns false to report that the
    /// event grew too large. `max_partial` bounds the bytes held for an unfinished line.
    template <class OnLine>
    std::error_code feed(std::string_view bytes, std::size_t max_partial, OnLine&& on_line) {
        return feed_bounded(bytes, [max_partial] { return max_partial; }, on_line);
    }
    /// The same, with the bound asked for when a partial line is kept: the lines before it in
    /// the same piece may have changed it (an event dispatched frees its room).
    template <class MaxPartial, class OnLine>
    std::error_code feed_bounded(std::string_view bytes, MaxPartial&& max_partial, OnLine&& on_line);
    /// The bytes of an unfinished last line.
    const std::string& partial() const noexcept { return line_; }
    void clear_partial() noexcept { line_.clear(); }
    /// At the start of a line, with nothing held (no partial line, no CR whose LF may follow,
    /// the BOM check done).
    bool at_line_start() const noexcept { return line_.empty() && !skip_lf_ && bom_done_; }
    /// Settles the BOM check when a stream's first piece does not begin like a BOM, so that the
    /// first piece too may take a fast path that needs at_line_start().
    void settle_bom(std::string_view bytes) noexcept {
        if (!bom_done_ && bom_matched_ == 0 && !bytes.empty() && bytes.front() != '\xEF') bom_done_ = true;
    }

private:
    static constexpr std::size_t retained_line_capacity = 256;
    std::string line_;
    unsigned bom_matched_ = 0;
    bool bom_done_ = false;
    bool skip_lf_ = false;
};

template <class MaxPartial, class OnLine>
std::error_code sse_line_splitter::feed_bounded(std::string_view bytes, MaxPartial&& max_partial, OnLine&& on_line) {
    if (!bom_done_) {
        // The BOM (EF BB BF) may itself arrive split across pieces.
        static constexpr char bom[] = "\xEF\xBB\xBF";
        while (!bytes.empty() && bom_matched_ < 3 && bytes.front() == bom[bom_matched_]) {
            ++bom_matched_;
            bytes.remove_prefix(1);
        }
        if (bom_matched_ == 3) {
            bom_done_ = true;
        } else if (!bytes.empty()) {
            bom_done_ = true;
            if (bom_matched_ > 0) {  // a BOM prefix that was not a BOM: those bytes are data
                std::string replay(bom, bom_matched_);
                replay.append(bytes);
                return feed_bounded(std::string_view(replay), max_partial, on_line);
            }
        } else {
            return {};
        }
    }
    std::size_t pos = 0;
    const std::size_t n = bytes.size();
    if (skip_lf_ && n > 0) {
        skip_lf_ = false;
        if (bytes[0] == '\n') pos = 1;
    }
    // Servers end lines with LF alone; one look over the piece saves a search for CR per line.
    const bool has_cr = pos < n && std::memchr(bytes.data() + pos, '\r', n - pos) != nullptr;
    while (pos < n) {
        // The line ends at the first LF or CR: memchr finds each far faster than a byte loop.
        const char* from = bytes.data() + pos;
        const auto* lf = static_cast<const char*>(std::memchr(from, '\n', n - pos));
        const std::size_t lf_at = lf ? static_cast<std::size_t>(lf - from) : n - pos;
        const auto* cr = has_cr ? static_cast<const char*>(std::memchr(from, '\r', lf_at)) : nullptr;
        const std::size_t end = pos + (cr ? static_cast<std::size_t>(cr - from) : lf_at);
        if (end == n) {
            if (line_.size() + (n - pos) > max_partial()) return make_error_code(errc::event_too_large);
            line_.append(bytes.data() + pos, n - pos);
            break;
        }
        std::string_view line;
        if (line_.empty()) {
            line = bytes.substr(pos, end - pos);
        } else {
            line_.append(bytes.data() + pos, end - pos);
            line = line_;
        }
        std::size_t next = end + 1;
        if (bytes[end] == '\r') {
            if (next < n) {
                if (bytes[next] == '\n') ++next;
            } else {
                skip_lf_ = true;
            }
        }
        if (!on_line(line)) return make_error_code(errc::event_too_large);
        if (line_.capacity() > retained_line_capacity) std::string().swap(line_);  // as sse_parser's data
        else line_.clear();
        pos = next;
    }
    return {};
}

}  // namespace detail

/// One dispatched event. The views point into the parser and are valid only during the
/// callback that receives them.
struct sse_event {
    std::string_view type;  ///< the `event:` field; empty means the default type "message"
    std::string_view data;  ///< `data:` lines joined by '\n'
    std::string_view id;    ///< the last event ID at dispatch ("" if never set)
    std::optional<std::uint64_t> retry;  ///< a valid `retry:` value seen in this block
};

/// Parses an SSE byte stream fed in arbitrary pieces (a CR at the end of one piece and an LF at
/// the start of the next are one line end; UTF-8 sequences may be split anywhere since the parser
/// works on bytes and only splits at ASCII CR/LF/':'). One leading BOM is stripped.
///
/// Memory is bounded by `max_event_bytes`: an event (its data plus the line being assembled)
/// that grows past it makes `feed` fail with errc::event_too_large and poisons the parser.
/// Buffers are reused, so a stream of small events does not allocate; after an event larger
/// than retained_data_capacity the data buffer is freed, so an idle parser holds little.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
class sse_parser {
public:
    static constexpr std::size_t default_max_event_bytes = 16 * 1024 * 1024;
    /// Data buffer capacity kept between events; a larger one is freed after its event.
    static constexpr std::size_t retained_data_capacity = 256;

    explicit sse_parser(std::size_t max_event_bytes = default_max_event_bytes) noexcept
        : max_event_bytes_(max_event_bytes) {}

    /// Consumes `bytes`, calling `on_event(const sse_event&)` for every completed event.
    /// @returns errc::event_too_large, or success.
    template <class OnEvent>
    std::error_code feed(std::string_view bytes, OnEvent&& on_event) {
        return feed(bytes, on_event, [](std::string_view) { return std::size_t{0}; });
    }

    /// The same, letting the caller read the blocks of one form it knows itself, whole, without
    /// the parser splitting their lines first. At a block start with nothing held, the parser
    /// offers the bytes from there (at most max_event_bytes of them) to
    /// `take_block(std::string_view) -> std::size_t`. It returns 0, and the parser reads the
    /// block, or the length of the block it took, which must be one whole block
    /// "event: T\ndata: D\n\n" (LF line ends, no other field): one event the parser would have
    /// dispatched with type T and data D. The parser then does what it does at any dispatch
    /// (the last event ID), and goes on after the block.
    template <class OnEvent, class TakeBlock>
    std::error_code feed(std::string_view bytes, OnEvent&& on_event, TakeBlock&& take_block);

    /// Signals end of stream. An unterminated final block is discarded, per the standard.
    /// @returns true if something (a partial line or a block without its blank line) was dropped.
    bool finish() noexcept;

    /// The reconnection time set by the last valid `retry:` field, if any.
    std::optional<std::uint64_t> reconnection_time() const noexcept { return reconnection_time_; }
    /// The "last event ID" as of the most recent dispatch.
    const std::string& last_event_id() const noexcept { return last_event_id_; }
    /// Bytes held for a partial line or an undispatched block.
    std::size_t buffered_bytes() const noexcept { return lines_.partial().size() + data_.size(); }

private:
    template <class OnEvent>
    void process_line(std::string_view line, OnEvent& on_event);
    void process_field(std::string_view field, std::string_view value);
    /// Dispatches the whole blocks at the front of `bytes` that have the one shape servers
    /// send for nearly every event, "event: T\n" (optional), "data: D\n", "\n", without going
    /// line by line; returns the rest, from the first block of any other shape (or a block
    /// not whole in `bytes`), for the general path. The result is the same either way.
    template <class OnEvent, class TakeBlock>
    std::string_view dispatch_simple_blocks(std::string_view bytes, OnEvent& on_event, TakeBlock& take_block);
    /// Data held for the current block: data_, or the one data line still seen in the input.
    std::size_t pending_data() const noexcept { return data_.size() + (has_view_ ? view_.size() + 1 : 0); }
    /// The block's one data line is kept as a view of the input while feed() runs (most events
    /// are one data line, whole in one piece: no copy); anything else joins the lines in data_.
    /// The event type likewise. What a block still open holds is copied when feed() returns.
    void keep_views() {
        if (has_type_view_) {
            event_type_.assign(type_view_);
            has_type_view_ = false;
        }
        if (!has_view_) return;
        data_.assign(view_);
        data_.push_back('\n');
        has_view_ = false;
    }
    bool in_input(std::string_view v) const noexcept {
        const std::less<const char*> before;
        return !before(v.data(), input_.data()) && !before(input_.data() + input_.size(), v.data() + v.size());
    }
    /// The last event ID becomes the ID buffer's, as at every dispatch; copied only when an id
    /// field set it (most streams have none, and this runs per event).
    void update_last_event_id() {
        if (!id_changed_) return;
        last_event_id_ = id_buffer_;
        id_changed_ = false;
    }
    std::string_view event_type() const noexcept { return has_type_view_ ? type_view_ : std::string_view(event_type_); }
    void clear_event_type() noexcept {
        has_type_view_ = false;
        event_type_.clear();
    }

    std::size_t max_event_bytes_;
    detail::sse_line_splitter lines_;
    std::string data_;            // data buffer of the current block
    std::string_view input_;      // what feed() was given, while it runs
    std::string_view view_;       // the block's only data line so far, inside input_ (has_view_)
    bool has_view_ = false;
    std::string event_type_;      // event type buffer of the current block
    std::string_view type_view_;  // the block's event type, inside input_ (has_type_view_)
    bool has_type_view_ = false;
    std::string id_buffer_;       // persists across blocks, as the standard says
    std::string last_event_id_;   // updated at dispatch
    bool id_changed_ = false;     // id_buffer_ was set since the last dispatch
    std::optional<std::uint64_t> block_retry_;
    std::optional<std::uint64_t> reconnection_time_;
    bool block_has_fields_ = false;
    bool failed_ = false;
};

// ---- implementation (header-only so the event callback inlines; no virtual calls) ----

template <class OnEvent, class TakeBlock>
std::error_code sse_parser::feed(std::string_view bytes, OnEvent&& on_event, TakeBlock&& take_block) {
    if (failed_) return make_error_code(errc::event_too_large);
    bytes = dispatch_simple_blocks(bytes, on_event, take_block);
    if (bytes.empty()) return {};
    input_ = bytes;
    auto room = [this] { return max_event_bytes_ - std::min(max_event_bytes_, pending_data()); };
    auto ec = lines_.feed_bounded(bytes, room, [&](std::string_view line) {
        if (line.size() + pending_data() > max_event_bytes_) return false;
        process_line(line, on_event);
        return true;
    });
    keep_views();  // a block still open keeps its type and data: the input goes away
    input_ = {};
    if (ec) failed_ = true;
    return ec;
}

template <class OnEvent, class TakeBlock>
std::string_view sse_parser::dispatch_simple_blocks(std::string_view bytes, OnEvent& on_event, TakeBlock& take_block) {
    // Only between blocks, and only in a piece without CR (a line end of its own).
    lines_.settle_bom(bytes);
    if (!lines_.at_line_start() || block_has_fields_ || has_view_ || !data_.empty() || bytes.empty() ||
        std::memchr(bytes.data(), '\r', bytes.size()))
        return bytes;
    auto take_line = [](std::string_view& rest, const auto& literal, std::string_view& value) {
        const std::string_view prefix(literal, sizeof literal - 1);  // a constant length: compared inline
        if (rest.size() <= prefix.size() || std::memcmp(rest.data(), literal, sizeof literal - 1) != 0) return false;
        const auto* nl = static_cast<const char*>(std::memchr(rest.data() + prefix.size(), '\n', rest.size() - prefix.size()));
        if (!nl) return false;
        value = std::string_view(rest.data() + prefix.size(), static_cast<std::size_t>(nl - rest.data()) - prefix.size());
        rest.remove_prefix(static_cast<std::size_t>(nl - rest.data()) + 1);
        return true;
    };
    while (!bytes.empty()) {
        // The caller's own form first. A block it takes is within the bound the general path
        // checks below, since it lies within the bytes offered.
        if (const std::size_t taken = take_block(bytes.substr(0, max_event_bytes_))) {
            update_last_event_id();  // as at any dispatch
            bytes.remove_prefix(taken);
            continue;
        }
        std::string_view rest = bytes, type, data;
        if (rest.front() == 'e' && !take_line(rest, "event: ", type)) return bytes;
        if (!take_line(rest, "data: ", data) || rest.empty() || rest.front() != '\n') return bytes;
        // The general path's bounds, line by line (it reports what exceeds them).
        if (type.size() + 7 > max_event_bytes_ || data.size() + 6 > max_event_bytes_) return bytes;
        rest.remove_prefix(1);
        update_last_event_id();  // as at any dispatch
        on_event(sse_event{type, data, last_event_id_, std::nullopt});
        bytes = rest;
    }
    return bytes;
}

template <class OnEvent>
void sse_parser::process_line(std::string_view line, OnEvent& on_event) {
    if (line.empty()) {
        // Blank line: dispatch. The standard updates the last event ID even when no event fires.
        block_has_fields_ = false;
        update_last_event_id();
        const auto retry = block_retry_;
        block_retry_.reset();
        if (has_view_) {
            has_view_ = false;
            on_event(sse_event{event_type(), view_, last_event_id_, retry});
            clear_event_type();
            return;
        }
        if (data_.empty()) {
            clear_event_type();
            return;
        }
        data_.pop_back();  // the trailing '\n' appended after every data line
        on_event(sse_event{event_type(), data_, last_event_id_, retry});
        // A stream holds its buffer between events: keep one that fits the usual small event,
        // but not the capacity a rare large one (a message_start, a long delta) grew it to,
        // which thousands of open streams would each hold until they end.
        if (data_.capacity() > retained_data_capacity) std::string().swap(data_);
        else data_.clear();
        clear_event_type();
        return;
    }
    block_has_fields_ = true;
    if (line.front() == ':') return;  // comment
    const auto colon = line.find(':');
    std::string_view field = line, value;
    if (colon != std::string_view::npos) {
        field = line.substr(0, colon);
        value = line.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    process_field(field, value);
}

inline void sse_parser::process_field(std::string_view field, std::string_view value) {
    if (field == "data") {
        if (data_.empty() && !has_view_ && in_input(value)) {
            view_ = value;
            has_view_ = true;
            return;
        }
        if (has_view_) {  // a second data line: the lines are joined in data_
            data_.assign(view_);
            data_.push_back('\n');
            has_view_ = false;
        }
        data_.append(value);
        data_.push_back('\n');
    } else if (field == "event") {
        if (in_input(value)) {
            type_view_ = value;
            has_type_view_ = true;
        } else {
            event_type_.assign(value);
            has_type_view_ = false;
        }
    } else if (field == "id") {
        if (value.find('\0') == std::string_view::npos) {
            id_buffer_.assign(value);
            id_changed_ = true;
        }
    } else if (field == "retry") {
        if (value.empty()) return;
        std::uint64_t v = 0;
        for (char c : value) {
            if (c < '0' || c > '9') return;
            if (v > (UINT64_MAX - 9) / 10) return;  // absurd values are invalid, not wrapped
            v = v * 10 + static_cast<std::uint64_t>(c - '0');
        }
        reconnection_time_ = v;
        block_retry_ = v;
    }
}

inline bool sse_parser::finish() noexcept {
    const bool dropped = !lines_.partial().empty() || !data_.empty() || has_view_ || block_has_fields_;
    lines_.clear_partial();
    data_.clear();
    has_view_ = false;
    clear_event_type();
    block_retry_.reset();
    block_has_fields_ = false;
    return dropped;
}

}  // namespace engram::net
