// Fixture: a lower layer (nn) including a higher one (models); no circle.
#pragma once
#include "fewbits/models/model.hpp"
