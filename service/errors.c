/* SPDX-License-Identifier: MIT */
#include "errors.h"

/* Not G_DEFINE_QUARK: its name argument is pasted tokens, which a formatter rewrites. */
GQuark attachment_error_quark(void)
{
        return g_quark_from_static_string("srvlab-attachment-error-quark");
}
