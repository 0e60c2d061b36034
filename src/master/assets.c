/* master/assets.c: lookup and content types of the built-in files. */
#include "master/assets.h"

#include <string.h>

const pn_asset_t *
pn_asset_find(const char *name)
{
    for (size_t i = 0; i < pn_nassets; i++)
        if (strcmp(pn_assets[i].name, name) == 0)
            return &pn_assets[i];
    return NULL;
}

const char *
pn_asset_type(const char *name)
{
    static const struct { const char *ext, *type; } types[] = {
        { ".html", "text/html; charset=utf-8" },
        { ".js", "text/javascript; charset=utf-8" },
        { ".mjs", "text/javascript; charset=utf-8" },
        { ".css", "text/css; charset=utf-8" },
        { ".json", "application/json" },
        { ".svg", "image/svg+xml" },
        { ".png", "image/png" },
        { ".ico", "image/x-icon" },
        { ".woff2", "font/woff2" },
        { ".txt", "text/plain; charset=utf-8" },
        { ".map", "application/json" },
    };
    const char *dot = strrchr(name, '.');
    if (dot != NULL)
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
            if (strcmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}
