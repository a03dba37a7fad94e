// Every SSE vector in ../shared/fixtures/sse, fed whole, byte by byte and at random splits,
// must decode to exactly the events its .expected.json lists (WHATWG rules).
#include <engram/net/sse_parser.hpp>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "support/fixtures.hpp"

namespace json = boost::json;
using engram::net::sse_event;
using engram::net::sse_parser;

namespace {

struct decoded {
    json::array events;
    bool discarded = false;
    json::value reconnection_time;
};

decoded decode(const std::vector<std::string>& pieces) {
    decoded out;
    sse_parser parser;
    auto on_event = [&](const sse_event& ev) {
        json::object o;
        o["event"] = ev.type.empty() ? json::value(nullptr) : json::value(json::string(ev.type));
        o["data"] = json::string(ev.data);
        o["id"] = json::string(ev.id);
        o["retry"] = ev.retry ? json::value(*ev.retry) : json::value(nullptr);
        out.events.push_back(std::move(o));
    };
    for (const auto& p : pieces) BOOST_REQUIRE(!parser.feed(p, on_event));
    out.discarded = parser.finish();
    if (auto t = parser.reconnection_time()) out.reconnection_time = *t;
    return out;
}

std::string unhex(std::string_view hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    return out;
}

// Numbers in expected files may parse as int64 or uint64: compare them by value.
json::value normalize(json::value v) {
    if (v.is_array())
        for (auto& e : v.get_array()) {
            if (auto* o = e.if_object(); o && o->contains("retry") && (*o)["retry"].is_number())
                (*o)["retry"] = (*o)["retry"].to_number<std::uint64_t>();
        }
    return v;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sse_parser_fixtures)

BOOST_AUTO_TEST_CASE(every_sse_vector_decodes_to_its_expected_events_at_any_split) {
    const auto files = engram::test::fixture_files("sse", ".expected.json");
    BOOST_REQUIRE_GE(files.size(), 20u);
    for (const auto& exp_path : files) {
        const auto name = exp_path.filename().string();
        BOOST_TEST_CONTEXT("fixture " << name) {
            const auto expected = engram::test::read_json(exp_path).as_object();
            const auto stem = name.substr(0, name.size() - std::string(".expected.json").size());
            const auto bytes = engram::test::read_file(exp_path.parent_path() / (stem + ".txt"));
            auto runs = engram::test::chunkings(bytes);
            if (auto* hex = expected.if_contains("source_chunks_hex"); hex && hex->is_array()) {
                std::vector<std::string> source_chunks;
                for (const auto& h : hex->get_array()) source_chunks.push_back(unhex(h.as_string()));
                runs.push_back(std::move(source_chunks));
            }
            const auto want_events = normalize(expected.at("events"));
            const bool want_discarded = !expected.at("discarded_at_eof").is_null();
            for (std::size_t r = 0; r < runs.size(); ++r) {
                BOOST_TEST_CONTEXT("chunking #" << r << " (" << runs[r].size() << " pieces)") {
                    const auto got = decode(runs[r]);
                    BOOST_TEST(normalize(got.events) == want_events, json::serialize(got.events) << " != " << json::serialize(want_events));
                    BOOST_TEST(got.discarded == want_discarded);
                    const auto& want_retry = expected.at("final_reconnection_time_ms");
                    if (want_retry.is_null()) {
                        BOOST_TEST(got.reconnection_time.is_null());
                    } else {
                        BOOST_TEST(got.reconnection_time.to_number<std::uint64_t>() == want_retry.to_number<std::uint64_t>());
                    }
                }
            }
        }
    }
}

// The TypeScript SDK's line-decoder cases. Our splitter emits a line as soon as its CR arrives
// (WHATWG: CR alone ends a line), where the SDK holds it until the next byte; so without a flush
// the SDK's lines must be a prefix of ours, and with a flush they must be equal.
BOOST_AUTO_TEST_CASE(sdk_line_decoder_cases_split_lines_identically) {
    const auto doc = engram::test::read_json(engram::test::fixtures_dir() / "sse" / "sdk_ts_line_decoder_cases.json");
    const auto& cases = doc.at("line_decoder").at("cases").as_array();
    BOOST_REQUIRE_GE(cases.size(), 10u);
    for (const auto& cv : cases) {
        const auto& c = cv.as_object();
        BOOST_TEST_CONTEXT("case " << c.at("name").as_string()) {
            std::vector<std::string> chunks;
            if (auto* hex = c.if_contains("chunks_hex"))
                for (const auto& h : hex->as_array()) chunks.push_back(unhex(h.as_string()));
            else
                for (const auto& s : c.at("chunks").as_array()) chunks.emplace_back(s.as_string());
            engram::net::detail::sse_line_splitter splitter;
            json::array lines;
            std::vector<json::array> after_each;
            for (const auto& ch : chunks) {
                BOOST_REQUIRE(!splitter.feed(ch, 1 << 20, [&](std::string_view l) {
                    lines.push_back(json::string(l));
                    return true;
                }));
                after_each.push_back(lines);
            }
            if (c.at("flush").as_bool() && !splitter.partial().empty()) lines.push_back(json::string(splitter.partial()));
            if (auto* per_chunk = c.if_contains("expected_lines_after_each_chunk")) {
                json::array cumulative;
                for (std::size_t i = 0; i < per_chunk->as_array().size(); ++i) {
                    for (const auto& l : per_chunk->as_array()[i].as_array()) cumulative.push_back(l);
                    BOOST_TEST(after_each.at(i) == cumulative);
                }
                continue;
            }
            const auto& want = c.at("expected_lines").as_array();
            if (c.at("flush").as_bool()) {
                BOOST_TEST(lines == want, json::serialize(lines) << " != " << json::serialize(want));
            } else {
                BOOST_REQUIRE_GE(lines.size(), want.size());
                for (std::size_t i = 0; i < want.size(); ++i) BOOST_TEST(lines[i] == want[i]);
            }
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
