// STUB
#include "presence/controller/duration.hpp"
