/* SPDX-License-Identifier: MIT */
/* Runs a fuzz target's entry point on every file of the corpus directories (or files) given as
 * arguments and reports TAP: the corpora become regression tests in every build, with any
 * compiler. A crash or a failed property aborts: the last "# replaying" line names the input. */
#include "fuzz.h"

#include <stdio.h>
#include <string.h>

static gboolean replay_file(const char *path, guint *n)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *data = NULL;
        gsize size = 0;

        if (!g_file_get_contents(path, &data, &size, &error)) {
                printf("not ok %u - %s: %s\n", ++*n, path, error->message);
                return FALSE;
        }
        printf("# replaying %s (%" G_GSIZE_FORMAT " bytes)\n", path, size);
        fflush(stdout);
        /* A copy of exactly `size` bytes, so ASan sees any read past the end; never NULL, as
         * libFuzzer never passes NULL (g_malloc(0) would). */
        {
                g_autofree guint8 *exact = g_malloc(MAX(size, 1));

                memcpy(exact, data, size);

                LLVMFuzzerTestOneInput(exact, size);
        }
        printf("ok %u - %s\n", ++*n, path);
        return TRUE;
}

static gint compare_names(gconstpointer a, gconstpointer b)
{
        return g_strcmp0(*(char *const *)a, *(char *const *)b);
}

static gboolean replay_dir(const char *dir_path, guint *n)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GDir) dir = g_dir_open(dir_path, 0, &error);
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        gboolean ok = TRUE;
        const char *name;

        if (dir == NULL) {
                printf("not ok %u - %s: %s\n", ++*n, dir_path, error->message);
                return FALSE;
        }
        while ((name = g_dir_read_name(dir)) != NULL)
                g_ptr_array_add(names, g_build_filename(dir_path, name, NULL));
        g_ptr_array_sort(names, compare_names);
        for (guint i = 0; i < names->len; i++)
                if (g_file_test(names->pdata[i], G_FILE_TEST_IS_REGULAR))
                        ok = replay_file(names->pdata[i], n) && ok;
        return ok;
}

int main(int argc, char **argv)
{
        gboolean ok = TRUE;
        guint n = 0;

        for (int i = 1; i < argc; i++) {
                if (g_file_test(argv[i], G_FILE_TEST_IS_DIR))
                        ok = replay_dir(argv[i], &n) && ok;
                else
                        ok = replay_file(argv[i], &n) && ok;
        }
        if (n == 0) {
                printf("not ok 1 - no corpus input given\n");
                n = 1;
                ok = FALSE;
        }
        printf("1..%u\n", n);
        return ok ? 0 : 1;
}
