
/*
 * Copyright (C) liauto
 *
 * The JWT path of the module: ngx_liauto_jwt_verify() on the value of an
 * Authorization header.  The first byte picks what the rest is:
 *
 *   0  the header value as sent ("Bearer <token>"), HS256 configured;
 *   1  "<JOSE header JSON>\n<claims JSON>", signed here with the HS256
 *      secret, so that the claim checks see any claims at all;
 *   2  the same signed with HMAC over the RS256 public key, which a server
 *      configured for RS256 must refuse (the alg confusion attack).
 *
 * What a token that is accepted must hold: a known role, a sub, a
 * client_id unless admin, an unexpired exp, the configured algorithm.
 */


#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "ngx_liauto_module.h"
#include "ngx_fuzz_support.h"


#define NGX_FUZZ_JWT_SECRET  "liauto-fuzz-hs256-secret-of-48-bytes-0123456789"


static ngx_liauto_jwt_conf_t  ngx_fuzz_hs;
static ngx_liauto_jwt_conf_t  ngx_fuzz_rs;


static void
ngx_fuzz_jwt_init(void)
{
    BIO       *bio;
    char      *pem;
    long       len;
    EVP_PKEY  *key;

    ngx_str_set(&ngx_fuzz_hs.secret, NGX_FUZZ_JWT_SECRET);
    ngx_str_set(&ngx_fuzz_hs.issuer, "liauto");
    ngx_str_set(&ngx_fuzz_hs.audience, "liauto-api");
    ngx_fuzz_hs.alg = JWT_ALG_HS256;
    ngx_fuzz_hs.ttl = 900;
    ngx_fuzz_hs.leeway = 30;

    key = EVP_RSA_gen(2048);
    bio = BIO_new(BIO_s_mem());

    if (key == NULL || bio == NULL || !PEM_write_bio_PUBKEY(bio, key)) {
        ngx_fuzz_fail(__FILE__, __LINE__, "generating an RSA key failed");
    }

    len = BIO_get_mem_data(bio, &pem);

    /* NUL-terminated, as the module reads key files */
    ngx_fuzz_rs.public_key.data = (u_char *) strndup(pem, len);
    ngx_fuzz_rs.public_key.len = len;
    ngx_fuzz_rs.alg = JWT_ALG_RS256;
    ngx_fuzz_rs.ttl = 900;
    ngx_fuzz_rs.leeway = 30;

    BIO_free(bio);
    EVP_PKEY_free(key);
}


/* "Bearer " base64url(header) "." base64url(claims) "." HMAC-SHA256 */

static ngx_str_t *
ngx_fuzz_jwt_sign(ngx_pool_t *pool, ngx_str_t *header, ngx_str_t *claims,
    ngx_str_t *key)
{
    u_char        *p, md[EVP_MAX_MD_SIZE];
    ngx_str_t     *out, input, mac, encoded;
    unsigned int   mdlen;

    out = ngx_palloc(pool, sizeof(ngx_str_t));
    p = ngx_pnalloc(pool, sizeof("Bearer ..") + 512
                          + ngx_base64_encoded_length(header->len)
                          + ngx_base64_encoded_length(claims->len));
    if (out == NULL || p == NULL) {
        ngx_fuzz_fail(__FILE__, __LINE__, "out of memory");
    }

    out->data = p;
    p = ngx_cpymem(p, "Bearer ", sizeof("Bearer ") - 1);
    input.data = p;

    encoded.data = p;
    ngx_encode_base64url(&encoded, header);
    p += encoded.len;
    *p++ = '.';

    encoded.data = p;
    ngx_encode_base64url(&encoded, claims);
    p += encoded.len;
    input.len = p - input.data;

    if (HMAC(EVP_sha256(), key->data, key->len, input.data, input.len, md,
             &mdlen)
        == NULL)
    {
        ngx_fuzz_fail(__FILE__, __LINE__, "HMAC failed");
    }

    *p++ = '.';
    mac.data = md;
    mac.len = mdlen;
    encoded.data = p;
    ngx_encode_base64url(&encoded, &mac);
    p += encoded.len;

    out->len = p - out->data;

    return out;
}


static ngx_int_t
ngx_fuzz_jwt_header_alg_is(ngx_str_t *header, const char *alg)
{
    u_char     *text;
    json_t     *json;
    ngx_int_t   is;

    /*
     * as libjwt reads it: a C string (bytes after a NUL are ignored), alg
     * case-insensitively ("hs256" is HMAC-SHA256 too)
     */
    text = (u_char *) strndup((char *) header->data, header->len);
    json = json_loads((char *) text, 0, NULL);
    free(text);

    is = json_is_string(json_object_get(json, "alg"))
         && ngx_strcasecmp((u_char *) json_string_value(
                               json_object_get(json, "alg")),
                           (u_char *) alg)
            == 0;
    json_decref(json);

    return is;
}


static void
ngx_fuzz_jwt_check_claims(ngx_liauto_jwt_conf_t *jcf,
    ngx_liauto_claims_t *claims)
{
    ngx_int_t  admin;

    admin = claims->role.len == 5
            && ngx_strncmp(claims->role.data, "admin", 5) == 0;

    ngx_fuzz_check(admin
                   || (claims->role.len == 5
                       && ngx_strncmp(claims->role.data, "agent", 5) == 0)
                   || (claims->role.len == 6
                       && ngx_strncmp(claims->role.data, "viewer", 6) == 0),
                   "an accepted token has an unknown role");
    ngx_fuzz_check(claims->sub.len > 0, "an accepted token has no sub");
    ngx_fuzz_check(admin || claims->client_id.len > 0,
                   "an accepted agent/viewer token has no client_id");
    ngx_fuzz_check(claims->exp >= ngx_time() - jcf->leeway,
                   "an accepted token has expired");
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                   *nl;
    ngx_str_t                 input, header, claims, *authorization;
    ngx_pool_t               *pool;
    ngx_uint_t                mode;
    ngx_liauto_jwt_conf_t    *jcf;
    ngx_liauto_jwt_result_t   res;

    static ngx_str_t  default_header = ngx_string("{\"alg\":\"HS256\"}");

    if (size == 0) {
        return 0;
    }

    if (ngx_fuzz_hs.alg == JWT_ALG_NONE) {
        ngx_fuzz_jwt_init();
    }

    pool = ngx_fuzz_pool();
    mode = data[0] % 3;

    /* exactly the input's bytes: a read past them is caught */
    input.len = size - 1;
    input.data = ngx_pnalloc(pool, input.len);
    if (input.data == NULL) {
        ngx_fuzz_fail(__FILE__, __LINE__, "out of memory");
    }
    ngx_memcpy(input.data, data + 1, input.len);

    header = default_header;
    claims = input;

    nl = ngx_strlchr(input.data, input.data + input.len, '\n');

    if (nl) {
        header.data = input.data;
        header.len = nl - input.data;
        claims.data = nl + 1;
        claims.len = input.data + input.len - claims.data;
    }

    switch (mode) {

    case 0:
        jcf = &ngx_fuzz_hs;
        authorization = &input;
        break;

    case 1:
        jcf = &ngx_fuzz_hs;
        authorization = ngx_fuzz_jwt_sign(pool, &header, &claims,
                                          &jcf->secret);
        break;

    default:
        jcf = &ngx_fuzz_rs;
        authorization = ngx_fuzz_jwt_sign(pool, &header, &claims,
                                          &jcf->public_key);
        break;
    }

    ngx_memzero(&res, sizeof(res));

    ngx_fuzz_check(ngx_liauto_jwt_verify(pool, jcf, authorization, &res)
                   == NGX_OK, "verification failed with NGX_ERROR");
    ngx_fuzz_check((res.claims == NULL) != (res.reason == NULL),
                   "a result is neither claims nor a reason");

    if (res.claims) {
        ngx_fuzz_check(mode != 2, "a token HMAC-signed with the RS256 "
                       "public key was accepted");
        ngx_fuzz_check(mode != 1
                       || ngx_fuzz_jwt_header_alg_is(&header, "HS256"),
                       "a token not saying HS256 was accepted");
        ngx_fuzz_jwt_check_claims(jcf, res.claims);
    }

    ngx_destroy_pool(pool);

    return 0;
}
