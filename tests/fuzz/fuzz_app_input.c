/* What the application side parses from a client: an If-None-Match header
 * (xp_statetag_matches), ?assume= (xp_whatif_parse, against the shipped config) and ?wait=
 * (xp_longpoll_parse_wait). Whatever the bytes: no crash, no read past the input, and
 * what is accepted is sound (known dependencies named once, known states, a wait of 0-60 s). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "model/statetag.h"
#include "model/whatif.h"
#include "web/longpoll.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static xp_config *cfg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cfg) {
        char err[512];
        cfg = xp_config_load_builtin(err, sizeof(err));
        if (!cfg)
            abort();
    }
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    (void)xp_statetag_matches(s, "W/\"0123456789abcdef\"");
    (void)xp_statetag_matches(s, "");

    xp_whatif w;
    char err[512];
    if (xp_whatif_parse(s, xp_whatif_config_name, cfg, cfg->n_deps, &w, err, sizeof(err)) == 0) {
        if (w.n == 0 || w.n > XP_WHATIF_MAX)
            abort();
        for (size_t i = 0; i < w.n; i++) {
            if (w.a[i].dep >= cfg->n_deps || (unsigned)w.a[i].state > XP_HALF_OPEN)
                abort();
            for (size_t j = 0; j < i; j++)
                if (w.a[j].dep == w.a[i].dep)
                    abort();
        }
    } else if (strlen(err) >= sizeof(err)) {
        abort();
    }

    double seconds = -1;
    if (xp_longpoll_parse_wait(s, &seconds, err, sizeof(err)) == 0 &&
        !(seconds >= 0 && seconds <= XP_LONGPOLL_MAX_WAIT))
        abort();
    free(s);
    return 0;
}
