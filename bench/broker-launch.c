/* SPDX-License-Identifier: MIT */
/* srvlab-bench-broker: runs dbus-broker as a private system-type bus without systemd.
 *
 *   srvlab-bench-broker SOCKET-PATH [DBUS-BROKER]
 *
 * dbus-broker itself only routes messages; its launcher (dbus-broker-launch) needs systemd.
 * This is the least launcher there is: it listens on SOCKET-PATH, starts dbus-broker with a
 * controller socket (--controller FD), hands it the listening socket through
 * org.bus1.DBus.Broker.AddListener with a policy that lets everyone connect, own names, send
 * and receive (as tools/private-bus-conf does for dbus-daemon), prints "unix:path=SOCKET-PATH"
 * and the broker's PID on two lines of stdout, then stays the controller (the broker exits
 * when its controller goes away). SIGTERM/SIGINT: ends the broker, exits 0. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

/* dbus-broker 33's policy: per-uid batches, per-gid/uid-range batches, SELinux names,
 * AppArmor on/off, the bus type. A batch: the connect verdict and priority, own rules
 * (verdict, priority, prefix?, name), send and receive rules (verdict, priority, sender or
 * destination, path, interface, member, message type, min/max fds... as in its launcher). */
#define BATCH_T "bta(btbs)a(btssssuutt)a(btssssuutt)"
#define POLICY_T "a(u(" BATCH_T "))a(buu(" BATCH_T "))a(ss)bs"

static int append_policy(sd_bus_message *m)
{
        int r = sd_bus_message_open_container(m, 'v', "(" POLICY_T ")");

        r = r < 0 ? r : sd_bus_message_open_container(m, 'r', POLICY_T);
        r = r < 0 ? r : sd_bus_message_open_container(m, 'a', "(u(" BATCH_T "))");
        /* One batch for every uid ((uint32_t)-1 is the fall-back): allow everything. */
        r = r < 0 ? r
                  : sd_bus_message_append(m, "(u(" BATCH_T "))", (uint32_t)-1, 1, UINT64_C(1), 1, 1,
                                          UINT64_C(1), 0, "", 1, 1, UINT64_C(1), "", "", "", "", 0,
                                          0, UINT64_C(0), UINT64_MAX, 1, 1, UINT64_C(1), "", "", "",
                                          "", 0, 0, UINT64_C(0), UINT64_MAX);
        r = r < 0 ? r : sd_bus_message_close_container(m);
        r = r < 0 ? r : sd_bus_message_append(m, "a(buu(" BATCH_T "))", 0);
        r = r < 0 ? r : sd_bus_message_append(m, "a(ss)", 0);
        r = r < 0 ? r : sd_bus_message_append(m, "bs", 0, "system");
        r = r < 0 ? r : sd_bus_message_close_container(m);
        return r < 0 ? r : sd_bus_message_close_container(m);
}

static int listen_on(const char *path)
{
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        if (fd < 0 || strlen(path) >= sizeof(addr.sun_path))
                return -EINVAL;
        strcpy(addr.sun_path, path);
        unlink(path);
        if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 4096) < 0)
                return -errno;
        return fd;
}

/* Forks dbus-broker with the child's end of a socket pair as its controller. */
static pid_t spawn_broker(const char *binary, int *controller)
{
        int pair[2];
        pid_t pid;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                return -1;
        pid = fork();
        if (pid == 0) {
                char fd[16];
                int child = dup(pair[1]); /* without FD_CLOEXEC */

                snprintf(fd, sizeof(fd), "%d", child);
                execlp(binary, binary, "--controller", fd, "--machine-id",
                       "0123456789abcdef0123456789abcdef", "--max-bytes", "1000000000", "--max-fds",
                       "100000", "--max-matches", "100000", "--max-objects", "1000000",
                       (char *)NULL);
                fprintf(stderr, "srvlab-bench-broker: cannot run %s: %s\n", binary,
                        strerror(errno));
                _exit(127);
        }
        close(pair[1]);
        *controller = pair[0];
        return pid;
}

static int add_listener(sd_bus *bus, int listener)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL;
        int r = sd_bus_message_new_method_call(bus, &m, NULL, "/org/bus1/DBus/Broker",
                                               "org.bus1.DBus.Broker", "AddListener");

        r = r < 0 ? r : sd_bus_message_append(m, "oh", "/org/bus1/DBus/Listener/0", listener);
        r = r < 0 ? r : append_policy(m);
        r = r < 0 ? r : sd_bus_call(bus, m, 0, &error, NULL);
        if (r < 0)
                fprintf(stderr, "srvlab-bench-broker: AddListener: %s\n",
                        error.message != NULL ? error.message : strerror(-r));
        sd_bus_error_free(&error);
        sd_bus_message_unref(m);
        return r;
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata)
{
        *(int *)userdata = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

int main(int argc, char **argv)
{
        sd_event *event = NULL;
        sd_bus *bus = NULL;
        int listener, controller = -1, status = 0, r;
        sigset_t mask;
        pid_t pid;

        if (argc < 2 || argc > 3) {
                fprintf(stderr, "usage: srvlab-bench-broker SOCKET-PATH [DBUS-BROKER]\n");
                return 2;
        }
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        listener = listen_on(argv[1]);
        if (listener < 0) {
                fprintf(stderr, "srvlab-bench-broker: cannot listen on %s: %s\n", argv[1],
                        strerror(-listener));
                return 1;
        }
        pid = spawn_broker(argc == 3 ? argv[2] : "dbus-broker", &controller);
        if (pid < 0 || sd_event_default(&event) < 0 || sd_bus_new(&bus) < 0 ||
            sd_bus_set_fd(bus, controller, controller) < 0 || sd_bus_start(bus) < 0 ||
            sd_bus_attach_event(bus, event, 0) < 0 || add_listener(bus, listener) < 0) {
                fprintf(stderr, "srvlab-bench-broker: cannot start dbus-broker\n");
                if (pid > 0)
                        kill(pid, SIGTERM);
                return 1;
        }
        close(listener); /* the broker holds its own copy now */
        printf("unix:path=%s\n%d\n", argv[1], (int)pid);
        fflush(stdout);
        r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        r = r < 0 ? r : sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        r = r < 0 ? r : sd_event_add_child(event, NULL, pid, WEXITED, on_child, &status);
        r = r < 0 ? r : sd_event_loop(event);
        if (kill(pid, SIGTERM) == 0)
                waitpid(pid, NULL, 0);
        sd_bus_flush_close_unref(bus);
        unlink(argv[1]);
        return r < 0 ? 1 : status;
}
