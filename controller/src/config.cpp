// STUB
#include "presence/controller/config.hpp"
