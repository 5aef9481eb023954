/* SPDX-License-Identifier: MIT */
/* placeholder: being written */
#include <glib.h>
