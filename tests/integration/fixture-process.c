/* SPDX-License-Identifier: MIT */
/* The fixture's children: spawning, waiting, stopping, and the emergency cleanup. */
#include "fixture-private.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Emergency cleanup. A failed g_assert aborts the test process without running any cleanup,
 * and meson ends a test that overruns with SIGTERM: the handler kills every child we know of
 * and prints the daemon's log, so the failure is explained and nothing keeps running. Plain
 * arrays and async-signal-safe calls only. */
#define MAX_CHILDREN 32
static volatile pid_t emergency_pids[MAX_CHILDREN];
static char emergency_log[4096];

static void emergency_handler(int sig)
{
        for (guint i = 0; i < MAX_CHILDREN; i++)
                if (emergency_pids[i] > 0)
                        kill(emergency_pids[i], SIGKILL);
        if (emergency_log[0] != '\0') {
                int fd = open(emergency_log, O_RDONLY | O_CLOEXEC);
                char buf[4096];
                ssize_t n;
                static const char header[] = "\n---- daemon log (emergency) ----\n";

                (void)!write(STDERR_FILENO, header, sizeof(header) - 1);
                while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
                        (void)!write(STDERR_FILENO, buf, (size_t)n);
                if (fd >= 0)
                        close(fd);
        }
        signal(sig, SIG_DFL);
        raise(sig);
}

void fixture_priv_emergency_install(void)
{
        static gsize once;

        if (g_once_init_enter(&once)) {
                struct sigaction sa = {.sa_handler = emergency_handler};

                sigemptyset(&sa.sa_mask);
                sigaction(SIGABRT, &sa, NULL);
                sigaction(SIGTERM, &sa, NULL);
                sigaction(SIGINT, &sa, NULL);
                sigaction(SIGSEGV, &sa, NULL);
                g_once_init_leave(&once, 1);
        }
}

void fixture_priv_emergency_add(GPid pid)
{
        for (guint i = 0; i < MAX_CHILDREN; i++)
                if (emergency_pids[i] == 0) {
                        emergency_pids[i] = pid;
                        return;
                }
}

void fixture_priv_emergency_remove(GPid pid)
{
        for (guint i = 0; i < MAX_CHILDREN; i++)
                if (emergency_pids[i] == pid)
                        emergency_pids[i] = 0;
}

static void child_setup(gpointer user_data)
{
        prctl(PR_SET_PDEATHSIG, SIGKILL);
}

void fixture_priv_emergency_log(const char *path)
{
        g_strlcpy(emergency_log, path != NULL ? path : "", sizeof(emergency_log));
}

/* ---- processes ---- */

GPid fixture_priv_spawn(char **argv, char **envp, const char *log_path, int stdout_fd)
{
        g_autoptr(GError) error = NULL;
        int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        GPid pid = 0;

        g_assert_cmpint(log_fd, >=, 0);
        g_spawn_async_with_pipes_and_fds(NULL, (const char *const *)argv, (const char *const *)envp,
                                         G_SPAWN_DO_NOT_REAP_CHILD, child_setup, NULL, -1,
                                         stdout_fd >= 0 ? stdout_fd : log_fd, log_fd, NULL, NULL, 0,
                                         &pid, NULL, NULL, NULL, &error);
        close(log_fd);
        g_assert_no_error(error);
        fixture_priv_emergency_add(pid);
        return pid;
}

gboolean fixture_wait_pid(GPid pid, guint timeout_sec, int *wait_status)
{
        gint64 deadline = g_get_monotonic_time() + timeout_sec * G_USEC_PER_SEC;
        int status = 0;

        for (;;) {
                pid_t r = waitpid(pid, &status, WNOHANG);

                if (r == pid) {
                        fixture_priv_emergency_remove(pid);
                        if (wait_status != NULL)
                                *wait_status = status;
                        return TRUE;
                }
                g_assert_true(r == 0 || (r < 0 && errno == EINTR));
                if (g_get_monotonic_time() > deadline)
                        return FALSE;
                g_usleep(10 * 1000);
        }
}

/* SIGTERM, then SIGKILL if it does not go; returns the wait status. */
int fixture_priv_terminate(GPid pid, const char *what)
{
        int status = 0;

        kill(pid, SIGTERM);
        if (!fixture_wait_pid(pid, FIXTURE_WAIT_SEC, &status)) {
                g_test_message("%s (pid %d) ignored SIGTERM for %d s: SIGKILL", what, pid,
                               FIXTURE_WAIT_SEC);
                kill(pid, SIGKILL);
                g_assert_true(fixture_wait_pid(pid, FIXTURE_WAIT_SEC, &status));
        }
        return status;
}
