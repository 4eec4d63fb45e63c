#pragma once
// How long the tests' bounded waits give a condition by default (an answer,
// an upstream request, a counter). They return as soon as the condition holds,
// so the bound costs nothing when all is well; it only has to be long enough
// that a loaded machine running the ASan+UBSan build never hits it. Checks
// that nothing happens pass their own, short, timeout.
namespace ws2api::test {
constexpr int kWaitMs = 15000;
} // namespace ws2api::test
