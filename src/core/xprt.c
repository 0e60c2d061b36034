/* core/xprt.c: what every transport shares. */
#include "core/xprt.h"

void
pn_xprt_free_(pn_xprt_t *x)
{
    if (x != NULL)
        x->ops->free(x);
}
