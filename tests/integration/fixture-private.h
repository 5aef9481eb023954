/* SPDX-License-Identifier: MIT */
#pragma once

#include "fixture.h"

/* Shared between the fixture's files; not for tests. */

/* Spawns `argv` with `envp`, stdout (unless `stdout_fd` >= 0) and stderr appended to
 * `log_path`, killed with the test process (PR_SET_PDEATHSIG and the emergency handler). */
GPid fixture_priv_spawn(char **argv, char **envp, const char *log_path, int stdout_fd);
/* SIGTERM, then SIGKILL if it does not go; returns the wait status. */
int fixture_priv_terminate(GPid pid, const char *what);
/* The emergency handler (SIGABRT, SIGTERM) kills the children added and prints `path` (the
 * daemon's log; NULL: none). */
void fixture_priv_emergency_install(void);
void fixture_priv_emergency_add(GPid pid);
void fixture_priv_emergency_remove(GPid pid);
void fixture_priv_emergency_log(const char *path);
/* The test's environment for a child: the private bus, no systemd notification variables. */
char **fixture_priv_environ(Fixture *f);
void fixture_priv_start_emulator(Fixture *f);
/* Uses `emu`'s emulator (URL, token) without owning it. */
void fixture_priv_share_emulator(Fixture *f, Fixture *emu);
/* TMPDIR/kubeconfig naming the emulator and its token file (relative: "token"). */
char *fixture_priv_write_kubeconfig(Fixture *f);
