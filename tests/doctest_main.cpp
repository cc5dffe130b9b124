// The one doctest main() of the suite (presence::doctest_main), shared by every doctest binary.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
