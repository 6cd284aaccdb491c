// Fixture: a circle a -> b -> c -> a (check-includes.cmake must report it).
#pragma once
#include "fewbits/b.hpp"
