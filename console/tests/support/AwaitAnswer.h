#pragma once
// Calls `start(callback)` on a ManagementClient call and waits (at most 10 s,
// with the event loop running) for its answer. Header-only, for the suites
// that drive a ManagementClient against a real bridge.
#include "console/core/ManagementClient.h"
#include "console/tests/support/RealBridge.h"

#include <cppunit/TestAssert.h>

#include <functional>

namespace ws2api::console::test {

inline ApiResult await(const std::function<void(ManagementClient::Callback)>& start)
{
    ApiResult out;
    bool done = false;
    start([&](const ApiResult& r) {
        out = r;
        done = true;
    });
    CPPUNIT_ASSERT_MESSAGE("no answer in 10 s", waitUntil([&] { return done; }, 10000));
    return out;
}

} // namespace ws2api::console::test
