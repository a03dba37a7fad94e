// The per-thread spares a stream's queue and payload buffers go back to: what is kept, what is
// let go, and that a buffer taken back has the room asked for.
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "spare_buffers.hpp"

using engram::net::detail::spare_buffers;
using spare_strings = spare_buffers<std::string>;

namespace {

// Takes every spare of this thread, so a test starts from none. (A spare is taken only for a
// need between a quarter of its capacity and all of it: asking for every power of two finds all.)
void drain_spares() {
    for (std::size_t n = 1; n <= (1u << 20); n *= 2) {
        for (;;) {
            std::string s;
            spare_strings::take(s, n);
            if (s.capacity() <= std::string().capacity()) break;
        }
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(spare_buffers_of_a_thread)

BOOST_AUTO_TEST_CASE(a_given_buffer_comes_back_empty_with_its_storage) {
    drain_spares();
    std::string b(4000, 'x');
    const auto* storage = b.data();
    const auto capacity = b.capacity();
    spare_strings::give(b);
    BOOST_TEST(b.empty());
    BOOST_TEST(b.capacity() == std::string().capacity());  // let go of its storage

    std::string again;
    spare_strings::take(again, 1000);
    BOOST_TEST(again.empty());
    BOOST_TEST(again.capacity() == capacity);
    BOOST_TEST(static_cast<const void*>(again.data()) == static_cast<const void*>(storage));
}

BOOST_AUTO_TEST_CASE(a_buffer_is_taken_only_with_the_room_asked_for) {
    drain_spares();
    std::string small(300, 'x');
    spare_strings::give(small);
    std::string b;
    spare_strings::take(b, 5000);
    BOOST_TEST(b.capacity() < 5000u);  // none big enough: the caller allocates as before
    spare_strings::take(b, 200);
    BOOST_TEST(b.capacity() >= 300u);
}

BOOST_AUTO_TEST_CASE(a_far_larger_buffer_is_not_taken_for_a_small_need) {
    drain_spares();
    std::string big(8000, 'x');
    spare_strings::give(big);
    std::string b;
    spare_strings::take(b, 100);  // would be given back, too large, at the stream's next wait
    BOOST_TEST(b.capacity() == std::string().capacity());
    spare_strings::take(b, 3000);
    BOOST_TEST(b.capacity() >= 8000u);
}

BOOST_AUTO_TEST_CASE(small_and_huge_buffers_are_not_kept) {
    drain_spares();
    std::string tiny(100, 'x');  // malloc's quick lists serve these
    std::string huge(1 << 20, 'x');
    spare_strings::give(tiny);
    spare_strings::give(huge);
    BOOST_TEST(huge.capacity() == std::string().capacity());
    std::string b;
    spare_strings::take(b, 100);  // the tiny one would do, had it been kept
    BOOST_TEST(b.capacity() == std::string().capacity());
    spare_strings::take(b, 1 << 20);  // so would the huge one
    BOOST_TEST(b.capacity() == std::string().capacity());
}

BOOST_AUTO_TEST_CASE(a_thread_keeps_a_bounded_number) {
    drain_spares();
    for (int i = 0; i < 100; ++i) {
        std::string b(2000, 'x');
        spare_strings::give(b);
    }
    int kept = 0;
    for (;;) {
        std::string b;
        spare_strings::take(b, 2000);
        if (b.capacity() <= std::string().capacity()) break;
        ++kept;
    }
    BOOST_TEST(kept > 0);
    BOOST_TEST(kept <= 16);
}

BOOST_AUTO_TEST_CASE(another_thread_has_spares_of_its_own) {
    drain_spares();
    std::string b(2000, 'x');
    spare_strings::give(b);
    std::size_t other_capacity = 0;
    std::thread([&] {
        std::string t;
        spare_strings::take(t, 2000);
        other_capacity = t.capacity();
    }).join();
    BOOST_TEST(other_capacity == std::string().capacity());
    std::string mine;
    spare_strings::take(mine, 2000);
    BOOST_TEST(mine.capacity() >= 2000u);
}

BOOST_AUTO_TEST_CASE(vectors_of_events_are_kept_apart_from_strings) {
    drain_spares();
    std::vector<int> v(1000);
    spare_buffers<std::vector<int>>::give(v);
    std::string s;
    spare_strings::take(s, 1000);
    BOOST_TEST(s.capacity() == std::string().capacity());
    std::vector<int> w;
    spare_buffers<std::vector<int>>::take(w, 500);
    BOOST_TEST(w.capacity() >= 1000u);
}

BOOST_AUTO_TEST_SUITE_END()
