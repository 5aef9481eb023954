/* SPDX-License-Identifier: MIT */
#include "errors.h"

G_DEFINE_QUARK(srvlab - attachment - error - quark, attachment_error)
