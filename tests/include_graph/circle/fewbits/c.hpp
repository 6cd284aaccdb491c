#pragma once
#include "fewbits/a.hpp"
