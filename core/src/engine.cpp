// STUB: replaced by the engine implementation.
#include "presence/core/engine.hpp"
