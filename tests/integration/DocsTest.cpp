// The documentation says what the binary does: the configuration reference
// in docs/configuration.md is the binary's own --config-reference output.
#include "tests/support/BridgeProcess.h"

#include <cppunit/extensions/HelperMacros.h>

#include <fstream>
#include <sstream>

using namespace ws2api::test;

class DocsTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(DocsTest);
    CPPUNIT_TEST(testConfigurationReferenceIsCurrent);
    CPPUNIT_TEST_SUITE_END();

public:
    void testConfigurationReferenceIsCurrent()
    {
        BridgeProcess p({"--config-reference"}, false);
        CPPUNIT_ASSERT_EQUAL(0, p.waitExit(10000));
        p.waitForOutput("log.level", 2000);
        std::string reference = p.output();
        CPPUNIT_ASSERT(reference.find("| `limits.max_message_bytes` | int | `1048576` |") != std::string::npos);

        std::ifstream in(std::string(WS2API_SOURCE_DIR) + "/docs/configuration.md");
        CPPUNIT_ASSERT_MESSAGE("docs/configuration.md is missing", in.good());
        std::stringstream doc;
        doc << in.rdbuf();
        CPPUNIT_ASSERT_MESSAGE("docs/configuration.md is out of date: paste `ws2api --config-reference` into it",
                               doc.str().find(reference) != std::string::npos);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(DocsTest);
