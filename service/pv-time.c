/* SPDX-License-Identifier: MIT */
/* RFC 3339 timestamps as the Go rds-csi driver writes them (pv.h: pv_time_format,
 * pv_time_parse). Pure: fuzzed by tests/fuzz/fuzz-time.c. */
#include "pv.h"

#define USEC_PER_SEC G_GINT64_CONSTANT(1000000)
#define SEC_PER_DAY G_GINT64_CONSTANT(86400)

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static gint64 days_from_civil(gint64 y, guint m, guint d)
{
        gint64 era, yoe, doy, doe;

        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = y - era * 400;
        doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

static void civil_from_days(gint64 z, gint64 *y, guint *m, guint *d)
{
        gint64 era, doe, yoe, doy, mp;

        z += 719468;
        era = (z >= 0 ? z : z - 146096) / 146097;
        doe = z - era * 146097;
        yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        mp = (5 * doy + 2) / 153;
        *d = (guint)(doy - (153 * mp + 2) / 5 + 1);
        *m = (guint)(mp < 10 ? mp + 3 : mp - 9);
        *y = yoe + era * 400 + (*m <= 2);
}

char *pv_time_format(gint64 usec)
{
        gint64 secs = usec / USEC_PER_SEC, frac = usec % USEC_PER_SEC, days, rem, year;
        guint month, day;

        if (frac < 0) {
                frac += USEC_PER_SEC;
                secs--;
        }
        days = secs / SEC_PER_DAY;
        rem = secs % SEC_PER_DAY;
        if (rem < 0) {
                rem += SEC_PER_DAY;
                days--;
        }
        civil_from_days(days, &year, &month, &day);
        if (year < 0 || year > 9999)
                return NULL;
        return g_strdup_printf("%04" G_GINT64_FORMAT "-%02u-%02uT%02u:%02u:%02u.%06uZ", year, month,
                               day, (guint)(rem / 3600), (guint)(rem / 60 % 60), (guint)(rem % 60),
                               (guint)frac);
}

/* Reads exactly `n` digits. */
static gboolean digits(const char **p, guint n, guint *value)
{
        *value = 0;
        for (guint i = 0; i < n; i++) {
                if (!g_ascii_isdigit((*p)[i]))
                        return FALSE;
                *value = *value * 10 + (guint)((*p)[i] - '0');
        }
        *p += n;
        return TRUE;
}

static gboolean expect(const char **p, char c)
{
        if (**p != c)
                return FALSE;
        (*p)++;
        return TRUE;
}

static guint days_in_month(guint year, guint month)
{
        static const guint8 days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        gboolean leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

        return month == 2 && leap ? 29 : days[month - 1];
}

/* ".123456789": up to 9 digits, truncated to microseconds like Go's time.Truncate. */
static gboolean fraction(const char **p, guint *usec)
{
        guint n = 0, scale = 100000;

        *usec = 0;
        if (**p != '.')
                return TRUE;
        (*p)++;
        for (; g_ascii_isdigit(**p); (*p)++, n++) {
                if (n >= 9)
                        return FALSE;
                *usec += (guint)(**p - '0') * scale;
                scale /= 10;
        }
        return n > 0;
}

/* 'Z' or +HH:MM / -HH:MM, as seconds east of UTC. */
static gboolean offset(const char **p, gint64 *seconds)
{
        guint hh, mm;
        int sign;

        if (expect(p, 'Z')) {
                *seconds = 0;
                return TRUE;
        }
        if (**p != '+' && **p != '-')
                return FALSE;
        sign = **p == '-' ? -1 : 1;
        (*p)++;
        if (!digits(p, 2, &hh) || !expect(p, ':') || !digits(p, 2, &mm) || hh > 23 || mm > 59)
                return FALSE;
        *seconds = sign * (gint64)(hh * 3600 + mm * 60);
        return TRUE;
}

gboolean pv_time_parse(const char *text, gint64 *usec)
{
        const char *p = text;
        guint year, month, day, hour, minute, second, frac;
        gint64 off, secs;

        if (text == NULL)
                return FALSE;
        if (!digits(&p, 4, &year) || !expect(&p, '-') || !digits(&p, 2, &month) ||
            !expect(&p, '-') || !digits(&p, 2, &day) || !expect(&p, 'T') || !digits(&p, 2, &hour) ||
            !expect(&p, ':') || !digits(&p, 2, &minute) || !expect(&p, ':') ||
            !digits(&p, 2, &second) || !fraction(&p, &frac) || !offset(&p, &off) || *p != '\0')
                return FALSE;
        if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
            minute > 59 || second > 59)
                return FALSE;
        secs = days_from_civil(year, month, day) * SEC_PER_DAY + hour * 3600 + minute * 60 +
               second - off;
        *usec = secs * USEC_PER_SEC + frac;
        return TRUE;
}
