// Hand-written checks of SSE rules the fixtures do not pin down: bounds, split CRLF, BOM.
#include <engram/net/sse_parser.hpp>
#include <engram/net/sse_writer.hpp>

#include <boost/test/unit_test.hpp>

#include <random>
#include <string>
#include <vector>

using engram::net::errc;
using engram::net::sse_event;
using engram::net::sse_parser;

namespace {
std::vector<std::string> data_of(sse_parser& p, const std::vector<std::string>& pieces) {
    std::vector<std::string> out;
    for (const auto& piece : pieces)
        BOOST_REQUIRE(!p.feed(piece, [&](const sse_event& e) { out.emplace_back(e.data); }));
    return out;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(sse_parser_rules)

BOOST_AUTO_TEST_CASE(cr_at_end_of_one_piece_and_lf_at_start_of_next_are_one_line_end) {
    sse_parser p;
    // If CR and LF counted as two line ends, the empty line between would dispatch "a" early
    // and "b" would be a second event.
    auto got = data_of(p, {"data: a\r", "\ndata: b\r", "\n\r", "\n"});
    BOOST_TEST(got == std::vector<std::string>{"a\nb"});
}

BOOST_AUTO_TEST_CASE(a_data_line_read_in_place_survives_the_end_of_its_piece_and_joins_later_lines) {
    // A block's one data line is read in place, without a copy, while its piece is parsed; a
    // block still open when the piece ends, or with more data lines, keeps its data itself.
    {
        sse_parser p;
        BOOST_TEST((data_of(p, {"event: x\ndata: a\n", "\n"}) == std::vector<std::string>{"a"}));
    }
    {
        sse_parser p;
        BOOST_TEST((data_of(p, {"data: a\n", "data: b\n\n"}) == std::vector<std::string>{"a\nb"}));
    }
    {
        sse_parser p;
        BOOST_TEST((data_of(p, {"data: a\ndata: b\n\ndata:\n\ndata: c\n\n"}) == std::vector<std::string>{"a\nb", "", "c"}));
    }
    {
        sse_parser p;
        std::string piece = "data: first\n\ndata: sec";
        std::vector<std::string> got;
        BOOST_REQUIRE(!p.feed(piece, [&](const sse_event& e) { got.emplace_back(e.data); }));
        piece.assign(piece.size(), '#');  // the caller reuses its buffer
        BOOST_REQUIRE(!p.feed("ond\n\n", [&](const sse_event& e) { got.emplace_back(e.data); }));
        BOOST_TEST((got == std::vector<std::string>{"first", "second"}));
        BOOST_TEST(p.buffered_bytes() == 0u);
    }
}

BOOST_AUTO_TEST_CASE(an_event_type_read_in_place_survives_the_end_of_its_piece_and_the_last_one_wins) {
    auto types_of = [](std::vector<std::string> pieces) {
        sse_parser p;
        std::vector<std::string> got;
        for (auto& piece : pieces) {
            BOOST_REQUIRE(!p.feed(piece, [&](const sse_event& e) { got.push_back(std::string(e.type) + "=" + std::string(e.data)); }));
            piece.assign(piece.size(), '#');  // the caller reuses its buffer
        }
        return got;
    };
    BOOST_TEST((types_of({"event: ping\n", "data: a\n\n"}) == std::vector<std::string>{"ping=a"}));
    BOOST_TEST((types_of({"event: pi", "ng\ndata: a\n\n"}) == std::vector<std::string>{"ping=a"}));
    BOOST_TEST((types_of({"event: one\nevent: two\ndata: a\n", "\n"}) == std::vector<std::string>{"two=a"}));
    BOOST_TEST((types_of({"event: one\n", "event: two\ndata: a\n\ndata: b\n\n"}) == std::vector<std::string>{"two=a", "=b"}));
    // A line end in CR only, in a piece of its own or among LF-ended lines.
    BOOST_TEST((types_of({"event: x\rdata: a\r\r", "event: y\ndata: b\n\n"}) == std::vector<std::string>{"x=a", "y=b"}));
}

BOOST_AUTO_TEST_CASE(generated_streams_decode_the_same_whole_byte_by_byte_and_at_random_splits) {
    // Whole blocks of the usual shape are dispatched without going line by line; everything
    // else (comments, ids, retry, several data lines, CR line ends, a block cut by a piece's
    // end, sizes at the limit) takes the general path. Both must give the same events.
    std::mt19937 rng(20261126);
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    const char* types[] = {"content_block_delta", "ping", "", "message_stop", "x:y"};
    const char* ends[] = {"\n", "\n", "\n", "\r\n", "\r"};
    std::size_t taken_blocks = 0;
    for (int round = 0; round < 300; ++round) {
        const std::size_t limit = round % 3 == 0 ? 40 : sse_parser::default_max_event_bytes;
        std::string stream = round % 7 == 0 ? "\xEF\xBB\xBF" : "";
        const bool crs = round % 4 == 0;  // most streams have LF line ends only, as servers send
        for (int block = 0, blocks = 1 + static_cast<int>(pick(12)); block < blocks; ++block) {
            auto end = [&] { return std::string(crs ? ends[pick(5)] : "\n"); };
            if (pick(6) == 0) stream += ": comment" + end();
            if (pick(8) == 0) stream += "id: " + std::to_string(pick(100)) + end();
            if (pick(10) == 0) stream += "retry: " + std::to_string(pick(5000)) + end();
            if (pick(3) != 0) stream += std::string("event: ") + types[pick(5)] + end();
            for (std::size_t d = 0, lines = pick(5) == 0 ? 2 : 1; d < lines; ++d)
                stream += (pick(9) == 0 ? "data:" : "data: ") + std::string(pick(limit == 40 ? 45 : 200), 'a' + static_cast<char>(pick(26))) + end();
            stream += end();
        }
        if (pick(5) == 0) stream += "data: unterminated";
        // With `take`, the caller reads the blocks "event: content_block_delta\ndata: D\n\n"
        // itself, as the client does with text deltas: the events must come out the same.
        auto decode = [&](const std::vector<std::string_view>& pieces, bool take = false) {
            sse_parser p(limit);
            std::vector<std::string> got;
            std::error_code ec;
            auto take_block = [&](std::string_view b) -> std::size_t {
                constexpr std::string_view head = "event: content_block_delta\ndata: ";
                BOOST_TEST(b.size() <= limit);  // never more than an event may hold
                const auto nl = b.find('\n', head.size());
                if (!take || !b.starts_with(head) || nl == std::string_view::npos || nl + 1 >= b.size() || b[nl + 1] != '\n')
                    return 0;
                got.push_back("content_block_delta|" + std::string(b.substr(head.size(), nl - head.size())) + "|" +
                              p.last_event_id() + "|-");
                ++taken_blocks;
                return nl + 2;
            };
            for (auto piece : pieces) {
                if (ec) break;
                ec = p.feed(
                    piece,
                    [&](const sse_event& e) {
                        got.push_back(std::string(e.type) + "|" + std::string(e.data) + "|" + std::string(e.id) + "|" +
                                      (e.retry ? std::to_string(*e.retry) : "-"));
                    },
                    take_block);
            }
            got.push_back(ec ? "error" : "ok");
            got.push_back(p.last_event_id());
            return got;
        };
        std::vector<std::string_view> whole{stream}, bytes, random;
        for (std::size_t i = 0; i < stream.size(); ++i) bytes.push_back(std::string_view(stream).substr(i, 1));
        for (std::size_t i = 0; i < stream.size();) {
            const std::size_t n = 1 + pick(90);
            random.push_back(std::string_view(stream).substr(i, n));
            i += n;
        }
        BOOST_TEST_CONTEXT("round " << round << ": " << stream) {
            const auto expected = decode(bytes);
            BOOST_TEST(decode(whole) == expected);
            BOOST_TEST(decode(random) == expected);
            BOOST_TEST(decode(whole, true) == expected);
            BOOST_TEST(decode(random, true) == expected);
        }
    }
    BOOST_TEST(taken_blocks > 10u);  // the caller's reading was offered and used
}

BOOST_AUTO_TEST_CASE(bom_split_across_pieces_is_stripped_once) {
    sse_parser p;
    auto got = data_of(p, {"\xEF", "\xBB", "\xBF" "data: x\n\n\xEF\xBB\xBF" "data: y\n\n"});
    // The second BOM is not at the stream start, so it makes "\uFEFFdata" an unknown field.
    BOOST_TEST(got == std::vector<std::string>{"x"});
}

BOOST_AUTO_TEST_CASE(partial_bom_is_treated_as_data) {
    sse_parser p;
    auto got = data_of(p, {"\xEF", "data: x\n\ndata: y\n\n"});
    // "\xEF" + "data" is an unknown field name; only the second event survives.
    BOOST_TEST(got == std::vector<std::string>{"y"});
}

BOOST_AUTO_TEST_CASE(event_larger_than_the_limit_is_an_error_not_unbounded_growth) {
    sse_parser p(64);
    std::string big = "data: " + std::string(100, 'x');
    std::error_code ec;
    for (std::size_t i = 0; i < big.size() && !ec; i += 7)
        ec = p.feed(std::string_view(big).substr(i, 7), [](const sse_event&) {});
    BOOST_TEST(ec == errc::event_too_large);
    BOOST_TEST(p.buffered_bytes() <= 64u);
    // A poisoned parser keeps failing instead of silently resynchronising mid-event.
    BOOST_TEST(p.feed("\n\n", [](const sse_event&) {}) == errc::event_too_large);
}

BOOST_AUTO_TEST_CASE(many_data_lines_are_bounded_by_the_limit_too) {
    sse_parser p(50);
    std::error_code ec;
    for (int i = 0; i < 20 && !ec; ++i) ec = p.feed("data: 0123456789\n", [](const sse_event&) {});
    BOOST_TEST(ec == errc::event_too_large);
}

BOOST_AUTO_TEST_CASE(events_at_the_limit_are_accepted) {
    sse_parser p(16);
    auto got = data_of(p, {"data: 0123456789\n\n", "data: abcdefghij\n\n"});
    BOOST_TEST(got == (std::vector<std::string>{"0123456789", "abcdefghij"}));
}

BOOST_AUTO_TEST_CASE(unterminated_final_block_is_discarded_and_reported) {
    sse_parser p;
    auto got = data_of(p, {"data: one\n\ndata: two\n"});
    BOOST_TEST(got == std::vector<std::string>{"one"});
    BOOST_TEST(p.finish());
    sse_parser q;
    data_of(q, {"data: one\n\n"});
    BOOST_TEST(!q.finish());
}

BOOST_AUTO_TEST_CASE(field_without_colon_and_comment_lines) {
    sse_parser p;
    std::vector<std::string> types;
    BOOST_REQUIRE(!p.feed(": comment\nevent\ndata\n\nevent:x\ndata:1\n\n", [&](const sse_event& e) {
        types.emplace_back(e.type);
        types.emplace_back(e.data);
    }));
    // "event" alone sets an empty type (=> "message"); "data" alone appends an empty line.
    BOOST_TEST(types == (std::vector<std::string>{"", "", "x", "1"}));
}

BOOST_AUTO_TEST_CASE(invalid_retry_values_are_ignored) {
    sse_parser p;
    data_of(p, {"retry: 12a\nretry: 99999999999999999999999\nretry:\ndata: x\n\n"});
    BOOST_TEST(!p.reconnection_time().has_value());
    data_of(p, {"retry: 250\ndata: x\n\n"});
    BOOST_TEST(p.reconnection_time().value() == 250u);
}

BOOST_AUTO_TEST_CASE(written_events_parse_back_to_the_same_type_and_multiline_data) {
    std::string wire;
    engram::net::append_sse_event(wire, "delta", "line one\nline two");
    engram::net::append_sse_event(wire, "", "plain");
    sse_parser p;
    std::vector<std::string> got;
    BOOST_REQUIRE(!p.feed(wire, [&](const sse_event& e) {
        got.emplace_back(e.type);
        got.emplace_back(e.data);
    }));
    BOOST_TEST(got == (std::vector<std::string>{"delta", "line one\nline two", "", "plain"}));
}

BOOST_AUTO_TEST_CASE(written_data_with_carriage_returns_stays_one_event_and_injects_nothing) {
    // A reader ends lines at CR too: written raw, "\r\r" ended the event and what followed
    // became fields of an event of its own.
    std::string wire;
    engram::net::append_sse_event(wire, "delta", "x\r\revent: evil\rdata: pwned\r\nlast\r");
    sse_parser p;
    std::vector<std::pair<std::string, std::string>> got;
    BOOST_REQUIRE(!p.feed(wire, [&](const sse_event& e) { got.emplace_back(e.type, e.data); }));
    BOOST_REQUIRE_EQUAL(got.size(), 1u);
    BOOST_TEST(got[0].first == "delta");
    BOOST_TEST(got[0].second == "x\n\nevent: evil\ndata: pwned\nlast\n");
    std::string unchanged = wire;
    BOOST_CHECK_THROW(engram::net::append_sse_event(wire, "delta\ndata: pwned", "x"), std::invalid_argument);
    BOOST_CHECK_THROW(engram::net::append_sse_event(wire, "delta\r", "x"), std::invalid_argument);
    BOOST_TEST(wire == unchanged);
}

BOOST_AUTO_TEST_SUITE_END()
