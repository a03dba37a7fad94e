// Builds the final Message from Anthropic stream events (pure: no I/O).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/json/string.hpp>
#include <boost/json/value.hpp>

#include <engram/net/error.hpp>
#include <engram/net/message.hpp>

namespace engram::net {

/// What an applied event was.
enum class stream_event_kind {
    message_start,
    content_block_start,
    content_block_delta,
    content_block_stop,
    message_delta,
    message_stop,
    ping,
    error,    ///< an in-band `error` event; see message_accumulator::stream_error()
    unknown,  ///< an event type this version does not know (ignored, as the SDKs do)
};

/// Applies Messages API stream events in order and keeps the message they describe, following
/// the official SDKs' accumulation rules:
///  - text_delta / thinking_delta append; signature_delta replaces; citations_delta appends to
///    `citations`; input_json_delta fragments are concatenated and parsed at content_block_stop
///    (an empty string keeps the start event's input, normally `{}`);
///  - message_delta's `delta` keys overwrite message keys (but `content`, which only block
///    events build); its `usage` keys replace (usage is cumulative, never added);
///  - ping and unknown events are ignored; content blocks of unknown type are kept as raw JSON.
/// Out-of-order events are a protocol error (errc::unexpected_event); an `error` event records
/// the API's error and ends the stream.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
class message_accumulator {
public:
    /// Applies one SSE event (its `event:` name and `data:`). The name decides the kind when
    /// present (as the SDKs do); otherwise, or when it is `message` (SSE's default type, what
    /// no `event:` line means), the JSON's `type` field does.
    /// @param parsed if non-null, receives the parsed JSON of the event.
    /// @param storage where the event is parsed (for instance a scratch arena); the message
    ///        copies what it keeps into its own storage.
    std::error_code apply(std::string_view event_name, std::string_view data,
                          stream_event_kind* kind = nullptr, boost::json::value* parsed = nullptr,
                          boost::json::storage_ptr storage = {});
    /// The hot path for the most frequent event. If `data` is a plain text_delta event for an
    /// open text block (exactly the members the API sends), applies it, stores its block index
    /// and text, and returns true. `text` then views `data` (no escapes in the text) or
    /// `scratch` (the decoded text). Otherwise the message and `index` are untouched and it
    /// returns false: call apply(), which handles (or reports) every other case with the same
    /// result a full parse gives.
    bool try_apply_text_delta(std::string_view data, std::size_t& index, std::string_view& text, std::string& scratch);
    /// The second half of try_apply_text_delta, for a caller that read such an event itself:
    /// appends `text`, the event's decoded text, to block `index` if that is an open text block
    /// of a started message, and returns true; otherwise changes nothing and returns false.
    bool try_apply_text(std::size_t index, std::string_view text);
    /// The same for the other frequent events of a text reply: `ping`, `content_block_stop`,
    /// `message_stop`, a text block's `content_block_start` and a `message_delta` of flat
    /// members, in the compact form the API sends. Applied without building a JSON tree when
    /// they are in order (else false, and apply() reports what is wrong); the message is then
    /// exactly what apply() would have made of them.
    bool try_apply_bare_event(std::string_view event_name, std::string_view data, stream_event_kind& kind,
                              std::size_t& index);
    /// Applies an already-parsed event object (its `type` field names it).
    std::error_code apply(const boost::json::value& event, stream_event_kind* kind = nullptr);

    /// Call at end of stream. Returns errc::incomplete_stream if message_stop never arrived (the
    /// message so far stays available), or the in-band API error's errc if one arrived.
    std::error_code finish() const noexcept;

    /// The message so far. (Text of an open block may be held aside while it streams: asking
    /// for the message writes it into the JSON first, so this can allocate.)
    const message& current() const {
        flush_text();
        return message_;
    }
    message& current() {
        flush_text();
        text_.target = nullptr;  // the caller may change the message
        return message_;
    }
    bool started() const noexcept { return started_; }
    bool stop_received() const noexcept { return stopped_; }
    /// Indexes of blocks started but never stopped (their tool input, if any, is left null and
    /// the raw fragments are available from partial_json()).
    std::vector<std::size_t> unclosed_blocks() const;
    /// The concatenated input_json_delta fragments of block `index` (empty if none).
    std::string_view partial_json(std::size_t index) const noexcept;
    /// The in-band `error` event's details, if one arrived.
    const std::optional<api_error_details>& stream_error() const noexcept {
        static const std::optional<api_error_details> none;
        return failure_ ? failure_->error : none;
    }
    /// The JSON of the `error` event as received.
    const boost::json::value& stream_error_json() const noexcept {
        static const boost::json::value none;
        return failure_ ? failure_->error_json : none;
    }
    /// Description of the last protocol error returned by apply().
    const std::string& last_error_detail() const noexcept {
        static const std::string none;
        return failure_ ? failure_->detail : none;
    }

private:
    std::error_code fail(errc e, std::string detail);
    std::error_code apply_object(std::string_view name, const boost::json::object& ev,
                                 stream_event_kind* kind);
    void start_message(boost::json::object&& msg);
    std::error_code on_block_start(const boost::json::object& ev);
    std::error_code on_block_delta(const boost::json::object& ev);
    std::error_code on_block_stop(const boost::json::object& ev);
    std::error_code close_block(std::size_t index, boost::json::object& block);
    void on_message_stop();
    std::error_code on_message_delta(const boost::json::object& ev);
    boost::json::object* block_at(const boost::json::object& ev, std::size_t& index);
    void flush_text() const;

    struct block_state {
        bool open = false;
        bool closed = false;
        std::string json;  // accumulated input_json_delta fragments
        // Text deltas of the fast path, not yet in the block's JSON: appending to a std::string
        // is cheaper, and the JSON then gets the text once, at its final size.
        std::string text;
    };

    // Both mutable: a const reader of the message may have held-aside text written into it.
    mutable message message_;
    mutable std::vector<block_state> blocks_;
    // What went wrong, if anything: most streams never need it, and thousands of open ones
    // would each carry its room, so it is allocated on the first failure.
    struct failure_info {
        std::optional<api_error_details> error;
        boost::json::value error_json;
        std::string detail;
    };
    struct failure_ptr {  // a unique_ptr that copies what it points to
        std::unique_ptr<failure_info> p;
        failure_ptr() = default;
        failure_ptr(failure_ptr&&) noexcept = default;
        failure_ptr& operator=(failure_ptr&&) noexcept = default;
        failure_ptr(const failure_ptr& o) : p(o.p ? std::make_unique<failure_info>(*o.p) : nullptr) {}
        failure_ptr& operator=(const failure_ptr& o) {
            if (this != &o) p = o.p ? std::make_unique<failure_info>(*o.p) : nullptr;
            return *this;
        }
        explicit operator bool() const noexcept { return p != nullptr; }
        failure_info* operator->() const noexcept { return p.get(); }
        failure_info& get() {
            if (!p) p = std::make_unique<failure_info>();
            return *p;
        }
    };
    failure_ptr failure_;
    bool started_ = false;
    bool stopped_ = false;
    // The held-aside text of the block the last fast-path delta appended to, so that the next
    // one does not look the block up again. Reset by anything else that touches the message or
    // the blocks, and never carried over by a copy or move (it points into this object).
    struct text_cache {
        std::string* target = nullptr;
        std::size_t index = 0;
        text_cache() = default;
        text_cache(const text_cache&) noexcept {}
        text_cache& operator=(const text_cache&) noexcept {
            target = nullptr;
            return *this;
        }
    };
    text_cache text_;
};

}  // namespace engram::net
