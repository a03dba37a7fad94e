// A loopback listener whose accept queue is full (backlog 0, one connection waiting): the kernel
// drops further SYNs, so a client's connect stays on its way, past the return of connect(),
// until the queue frees and the SYN is sent again (after about a second).
#pragma once

#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace engram::test {

struct full_listener {
    boost::asio::ip::tcp::acceptor acceptor;
    boost::asio::ip::tcp::socket filler;
    explicit full_listener(boost::asio::io_context& ioc) : acceptor(ioc), filler(ioc) {
        const boost::asio::ip::tcp::endpoint ep(boost::asio::ip::make_address("127.0.0.1"), 0);
        acceptor.open(ep.protocol());
        acceptor.bind(ep);
        acceptor.listen(0);
        filler.connect(acceptor.local_endpoint());  // takes the one place in the queue
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()); }
};

}  // namespace engram::test
