// Catch2 v3 or v2, whichever the system has.
#pragma once
#if ASYNCIO_CATCH_VERSION == 3
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
using Catch::Approx;
#else
#include <catch2/catch.hpp>
#endif
