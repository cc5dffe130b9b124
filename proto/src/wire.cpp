// STUB
#include "presence/wire/wire.hpp"
