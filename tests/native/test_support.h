// test_support.h: shared helpers for the Catch2 tests of the image core: where the PIL-generated
// fixtures are (env ILLUST_CORE_FIXTURES, set by ctest), reading them, and turning model/contract.json
// (env ILLUST_CONTRACT) into the core's plain PreprocessParams, so no test retypes a contract number.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "illust_core.h"

namespace test_support {

std::string fixture_dir();
const nlohmann::json& manifest();
std::vector<uint8_t> read_fixture(const std::string& name);
const nlohmann::json& contract();
illust::PreprocessParams params_from_contract(const nlohmann::json& contract);
std::array<uint8_t, 3> contract_alpha_background();

}  // namespace test_support
