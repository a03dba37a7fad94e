#include <engram/net/message_accumulator.hpp>

#include <boost/json/parse.hpp>

#include "text_delta_scanner.hpp"

namespace engram::net {
namespace json = boost::json;
namespace {

stream_event_kind kind_from_name(std::string_view n) noexcept {
    if (n == "content_block_delta") return stream_event_kind::content_block_delta;  // most frequent
    if (n == "message_start") return stream_event_kind::message_start;
    if (n == "content_block_start") return stream_event_kind::content_block_start;
    if (n == "content_block_stop") return stream_event_kind::content_block_stop;
    if (n == "message_delta") return stream_event_kind::message_delta;
    if (n == "message_stop") return stream_event_kind::message_stop;
    if (n == "ping") return stream_event_kind::ping;
    if (n == "error") return stream_event_kind::error;
    return stream_event_kind::unknown;
}

std::string_view str(const json::object& o, std::string_view key) noexcept {
    if (auto* v = o.if_contains(key); v && v->is_string()) return v->get_string();
    return {};
}

// json::object::operator[] makes room for one more member before it looks the key up, so on
// a full table it moves (reallocates) the table even when the key exists. This looks first.
json::value& member(json::object& o, std::string_view key) {
    if (auto* v = o.if_contains(key)) return *v;
    return o.emplace(key, nullptr).first->value();
}

void set_member(json::object& o, std::string_view key, json::value v) { member(o, key) = std::move(v); }

// The message's content array (message_start makes sure there is one; a caller who edits the
// message through current() is trusted to keep it).
json::array& content_of(message& m) { return member(m.json(), "content").as_array(); }

void append_string(json::object& block, std::string_view key, std::string_view piece) {
    auto& v = member(block, key);
    if (!v.is_string()) v = json::string();
    v.get_string().append(piece);
}

}  // namespace

void message_accumulator::flush_text() const {
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
        auto& pending = blocks_[i].text;
        if (pending.empty()) continue;
        // The block was checked to be a text object when its first delta was held aside; a
        // caller may have edited the message since, so look again.
        auto* content = message_.json().if_contains("content");
        if (content && content->is_array() && i < content->get_array().size())
            if (auto* block = content->get_array()[i].if_object()) append_string(*block, "text", pending);
        std::string().swap(pending);  // freed: the JSON has it now
    }
}

std::error_code message_accumulator::fail(errc e, std::string detail) {
    failure_.get().detail = std::move(detail);
    return make_error_code(e);
}

std::error_code message_accumulator::apply(std::string_view event_name, std::string_view data,
                                           stream_event_kind* kind, json::value* parsed, json::storage_ptr storage) {
    if (event_name == "message") event_name = {};  // SSE's default type: the data's "type" names the event
    std::error_code ec;
    // A message_start whose tree the caller does not want is parsed with the default allocator
    // and its message moved out of the tree instead of copied.
    const bool start_in_place = !parsed && !started_ && event_name == "message_start";
    if (start_in_place) storage = json::storage_ptr();
    json::value v = json::parse(data, ec, std::move(storage));
    if (ec) return fail(errc::invalid_json, "event '" + std::string(event_name) + "' is not JSON: " + ec.message());
    if (!v.is_object()) return fail(errc::invalid_json, "event '" + std::string(event_name) + "' is not a JSON object");
    if (start_in_place)
        if (auto* m = v.get_object().if_contains("message"); m && m->is_object()) {
            flush_text();
            text_.target = nullptr;
            if (kind) *kind = stream_event_kind::message_start;
            start_message(std::move(m->get_object()));  // same allocator: the tree moves, nothing is copied
            return {};
        }
    const auto& obj = v.get_object();
    auto result = apply_object(event_name.empty() ? str(obj, "type") : event_name, obj, kind);
    if (parsed) *parsed = std::move(v);
    return result;
}

bool message_accumulator::try_apply_text_delta(std::string_view data, std::size_t& index, std::string_view& text,
                                               std::string& scratch) {
    if (!started_ || stopped_) return false;
    std::size_t i = 0;
    if (!detail::scan_text_delta(data, i, text, scratch) || !try_apply_text(i, text)) return false;
    index = i;
    return true;
}

bool message_accumulator::try_apply_text(std::size_t i, std::string_view text) {
    if (!started_ || stopped_) return false;
    if (!text_.target || i != text_.index) {
        if (i >= blocks_.size() || !blocks_[i].open) return false;
        auto& block = content_of(message_)[i];
        if (!block.is_object()) return false;
        auto* type = block.get_object().if_contains("type");
        if (!type || !type->is_string() || type->get_string() != "text") return false;
        auto& v = member(block.get_object(), "text");
        if (!v.is_string()) v = json::string();
        text_.target = &blocks_[i].text;  // written into v by flush_text()
        // Room for a few dozen deltas at once rather than doubling from nothing.
        if (text_.target->capacity() < 128) text_.target->reserve(128);
        text_.index = i;
    }
    text_.target->append(text);
    return true;
}

bool message_accumulator::try_apply_bare_event(std::string_view name, std::string_view data, stream_event_kind& kind,
                                               std::size_t& index) {
    // Exactly as the API writes them (a ping as the docs show it, too); anything else is parsed.
    if (name == "message") name = {};
    std::size_t i = 0;
    if ((name.empty() || name == "content_block_stop") && detail::scan_block_stop(data, i)) {
        // A tool input is parsed at its block's stop, and may fail: apply() does that.
        if (!started_ || stopped_ || i >= blocks_.size() || !blocks_[i].open || !blocks_[i].json.empty()) return false;
        auto* block = content_of(message_)[i].if_object();
        if (!block) return false;
        flush_text();
        text_.target = nullptr;
        close_block(i, *block);  // no tool input: nothing to fail
        kind = stream_event_kind::content_block_stop;
        index = i;
        return true;
    }
    if (data == R"({"type":"message_stop"})" && (name.empty() || name == "message_stop")) {
        if (!started_ || stopped_) return false;
        flush_text();
        text_.target = nullptr;
        on_message_stop();
        kind = stream_event_kind::message_stop;
        return true;
    }
    if ((data == R"({"type":"ping"})" || data == R"({"type": "ping"})") && (name.empty() || name == "ping")) {
        kind = stream_event_kind::ping;
        return true;
    }
    if ((name.empty() || name == "content_block_start") && detail::scan_text_block_start(data, i)) {
        if (!started_ || stopped_) return false;
        auto& content = content_of(message_);
        if (i != content.size()) return false;  // apply() says what is wrong
        flush_text();
        text_.target = nullptr;
        // What a full parse of the event would add: {"type":"text","text":""}.
        json::object block(content.storage());
        block.reserve(2);
        block.emplace("type", "text");
        block.emplace("text", "");
        content.emplace_back(std::move(block));
        blocks_.push_back(block_state{true, false, {}, {}});
        kind = stream_event_kind::content_block_start;
        index = i;
        return true;
    }
    if (name.empty() || name == "message_delta") {
        detail::flat_object delta, usage;
        if (!detail::scan_message_delta(data, delta, usage)) return false;
        if (!started_ || stopped_) return false;
        flush_text();
        text_.target = nullptr;
        // As on_message_delta() applies the parsed event: every delta member but "content" is set
        // (null too), usage members that are not null replace the message's.
        const auto value_of = [](const detail::flat_member& m) -> json::value {
            switch (m.type) {
                case detail::flat_member::kind::string: return json::string(m.text);
                case detail::flat_member::kind::integer: return m.number;
                case detail::flat_member::kind::null: break;
            }
            return nullptr;
        };
        auto& msg = message_.json();
        for (std::size_t k = 0; k < delta.size; ++k)
            if (delta.members[k].key != "content") member(msg, delta.members[k].key) = value_of(delta.members[k]);
        auto& u = member(msg, "usage");
        if (!u.is_object()) u = json::object();
        for (std::size_t k = 0; k < usage.size; ++k)
            if (usage.members[k].type != detail::flat_member::kind::null)
                member(u.get_object(), usage.members[k].key) = value_of(usage.members[k]);
        kind = stream_event_kind::message_delta;
        return true;
    }
    return false;
}

std::error_code message_accumulator::apply(const json::value& event, stream_event_kind* kind) {
    if (!event.is_object()) return fail(errc::invalid_json, "event is not a JSON object");
    return apply_object(str(event.get_object(), "type"), event.get_object(), kind);
}

std::error_code message_accumulator::apply_object(std::string_view name, const json::object& ev,
                                                  stream_event_kind* kind_out) {
    flush_text();            // every other event sees (and may act on) the whole text
    text_.target = nullptr;  // whatever this event changes, the cached block may move
    const auto kind = kind_from_name(name);
    if (kind_out) *kind_out = kind;
    switch (kind) {
        case stream_event_kind::ping:
        case stream_event_kind::unknown: return {};
        case stream_event_kind::error: {
            api_error_details d;
            if (auto* e = ev.if_contains("error"); e && e->is_object()) {
                d.error_type = str(e->get_object(), "type");
                d.message = str(e->get_object(), "message");
            }
            d.request_id = str(ev, "request_id");
            failure_.get().error = std::move(d);
            failure_.get().error_json = ev;
            return {};
        }
        case stream_event_kind::message_start: {
            if (started_) return fail(errc::unexpected_event, "second message_start");
            auto* m = ev.if_contains("message");
            if (!m || !m->is_object()) return fail(errc::unexpected_event, "message_start without a message object");
            start_message(json::object(m->get_object(), json::storage_ptr()));  // out of the caller's (scratch) storage
            return {};
        }
        default: break;
    }
    if (!started_) return fail(errc::unexpected_event, std::string(name) + " before message_start");
    if (stopped_) return fail(errc::unexpected_event, std::string(name) + " after message_stop");
    switch (kind) {
        case stream_event_kind::content_block_start: return on_block_start(ev);
        case stream_event_kind::content_block_delta: return on_block_delta(ev);
        case stream_event_kind::content_block_stop: return on_block_stop(ev);
        case stream_event_kind::message_delta: return on_message_delta(ev);
        case stream_event_kind::message_stop: on_message_stop(); return {};
        default: return {};
    }
}

json::object* message_accumulator::block_at(const json::object& ev, std::size_t& index) {
    const auto* i = ev.if_contains("index");
    if (!i || !(i->is_int64() || i->is_uint64())) return nullptr;
    const auto idx = i->to_number<std::int64_t>();
    if (idx < 0 || static_cast<std::size_t>(idx) >= blocks_.size()) return nullptr;
    index = static_cast<std::size_t>(idx);
    auto& v = content_of(message_)[index];
    return v.if_object();
}

void message_accumulator::start_message(json::object&& msg) {
    message_ = message(std::move(msg));
    auto& content = member(message_.json(), "content");
    if (!content.is_array()) content = json::array();
    // Blocks present at start (unusual) are complete; later deltas cannot touch them.
    blocks_.assign(content.get_array().size(), block_state{false, true, {}, {}});
    started_ = true;
}

std::error_code message_accumulator::on_block_start(const json::object& ev) {
    auto& content = content_of(message_);
    const auto* i = ev.if_contains("index");
    const auto* block = ev.if_contains("content_block");
    if (!i || !(i->is_int64() || i->is_uint64()) || !block || !block->is_object())
        return fail(errc::unexpected_event, "content_block_start without index or content_block");
    if (i->to_number<std::int64_t>() != static_cast<std::int64_t>(content.size()))
        return fail(errc::unexpected_event, "content_block_start for index " + std::to_string(i->to_number<std::int64_t>()) +
                                                " but " + std::to_string(content.size()) + " blocks exist");
    content.push_back(*block);
    blocks_.push_back(block_state{true, false, {}, {}});
    return {};
}

std::error_code message_accumulator::on_block_delta(const json::object& ev) {
    std::size_t index = 0;
    json::object* block = block_at(ev, index);
    if (!block || !blocks_[index].open)
        return fail(errc::unexpected_event, "content_block_delta for a block that is not open");
    const auto* d = ev.if_contains("delta");
    if (!d || !d->is_object()) return fail(errc::unexpected_event, "content_block_delta without delta");
    const auto& delta = d->get_object();
    const auto type = str(delta, "type");
    if (type == "text_delta") {
        append_string(*block, "text", str(delta, "text"));
    } else if (type == "input_json_delta") {
        blocks_[index].json.append(str(delta, "partial_json"));
    } else if (type == "thinking_delta") {
        append_string(*block, "thinking", str(delta, "thinking"));
    } else if (type == "signature_delta") {
        member(*block, "signature") = json::string_view(str(delta, "signature"));  // replaces, never appends
    } else if (type == "citations_delta") {
        auto& citations = member(*block, "citations");
        if (!citations.is_array()) citations = json::array();
        if (auto* c = delta.if_contains("citation")) citations.get_array().push_back(*c);
    }
    // Unknown delta types are ignored, as the SDKs do; the raw event still reaches the caller.
    return {};
}

std::error_code message_accumulator::on_block_stop(const json::object& ev) {
    std::size_t index = 0;
    json::object* block = block_at(ev, index);
    if (!block || !blocks_[index].open)
        return fail(errc::unexpected_event, "content_block_stop for a block that is not open");
    return close_block(index, *block);
}

std::error_code message_accumulator::close_block(std::size_t index, json::object& block) {
    auto& st = blocks_[index];
    st.open = false;
    st.closed = true;
    if (!st.json.empty()) {
        std::error_code ec;
        json::value input = json::parse(st.json, ec, block.storage());
        if (ec) return fail(errc::invalid_json, "tool input of block " + std::to_string(index) + " is not JSON: " + ec.message());
        set_member(block, "input", std::move(input));
    }
    return {};
}

void message_accumulator::on_message_stop() {
    stopped_ = true;
    // A tool input whose block never stopped cannot be trusted: mark it null (the raw
    // fragments stay available through partial_json()).
    auto& content = content_of(message_);
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
        if (blocks_[i].open && !blocks_[i].json.empty() && content[i].is_object())
            set_member(content[i].get_object(), "input", nullptr);
    }
}

std::error_code message_accumulator::on_message_delta(const json::object& ev) {
    auto& msg = message_.json();
    if (auto* d = ev.if_contains("delta"); d && d->is_object()) {
        // The message's top-level fields (stop_reason, stop_sequence, and whatever the API adds)
        // take the delta's values; its content is built from the block events only: a delta
        // that replaced it would leave the next block event without a content array.
        for (const auto& kv : d->get_object())
            if (kv.key() != "content") member(msg, kv.key()) = kv.value();
    }
    if (auto* u = ev.if_contains("usage"); u && u->is_object()) {
        auto& usage = member(msg, "usage");
        if (!usage.is_object()) usage = json::object();
        for (const auto& kv : u->get_object()) {
            if (!kv.value().is_null()) member(usage.get_object(), kv.key()) = kv.value();  // replace, not add
        }
    }
    return {};
}

std::error_code message_accumulator::finish() const noexcept {
    if (failure_ && failure_->error) return make_error_code(errc_from_api(failure_->error->error_type, 0));
    if (!stopped_) return make_error_code(errc::incomplete_stream);
    return {};
}

std::vector<std::size_t> message_accumulator::unclosed_blocks() const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < blocks_.size(); ++i)
        if (blocks_[i].open) out.push_back(i);
    return out;
}

std::string_view message_accumulator::partial_json(std::size_t index) const noexcept {
    return index < blocks_.size() ? std::string_view(blocks_[index].json) : std::string_view();
}

}  // namespace engram::net
