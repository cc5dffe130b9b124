// STUB
#include "presence/controller/controller.hpp"
