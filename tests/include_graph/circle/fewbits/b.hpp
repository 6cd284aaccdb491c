#pragma once
#include "fewbits/c.hpp"
