/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Public interface of the rewrite module: source-compatible with the
 * header httpd ships, so modules that register map functions through
 * APR_RETRIEVE_OPTIONAL_FN(ap_register_rewrite_mapfunc) work unchanged.
 */
#ifndef MOD_REWRITE_H
#define MOD_REWRITE_H 1

#include "apr_optional.h"
#include "httpd.h"

#define REWRITE_REDIRECT_HANDLER_NAME "redirect-handler"

/** A map function of RewriteMap type "int": returns the value for key,
 *  or NULL when there is none. */
typedef char *(rewrite_mapfunc_t)(request_rec *r, char *key);

/** Registers an internal map function under name (RewriteMap n int:name). */
APR_DECLARE_OPTIONAL_FN(void, ap_register_rewrite_mapfunc,
                        (char *name, rewrite_mapfunc_t *func));

#endif /* MOD_REWRITE_H */
