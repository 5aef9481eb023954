/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

/* Certificates for TLS tests, made with openssl (EC P-256, valid two days) in `dir`:
 *   ca.pem, ca.key         a CA "test-ca"
 *   cert.pem, key.pem      a server certificate for 127.0.0.1 signed by the CA (the names the
 *                          emulator's tls_dir wants)
 *   NAME.pem, NAME.key     for each of `clients` (NULL-terminated, may be NULL): a client
 *                          certificate CN=NAME signed by the CA (extendedKeyUsage clientAuth)
 *   rogue.pem, rogue.key   a self-signed certificate CN=rogue that the CA did not sign
 * Asserts that openssl succeeds. */
void tls_certs_make(const char *dir, const char *const *clients);
/* Removes `dir` and every file in it (no subdirectories). */
void tls_certs_remove(const char *dir);
