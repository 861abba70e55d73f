# Directive validation: nginx refuses to start (and nginx -t fails) with a
# message naming the directive.
use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_root_location();

run_tests();

__DATA__

=== TEST 1: an unparsable liauto_postgres value is refused
--- http_config
    liauto_postgres "host=127.0.0.1 nosuchkey=1";
--- config
    location /api/ { liauto_api; }
--- must_die
--- error_log
liauto_postgres: invalid connection string "host=127.0.0.1 nosuchkey=1": invalid connection option "nosuchkey"



=== TEST 2: an empty liauto_postgres value is refused
--- http_config
    liauto_postgres "";
--- config
    location /api/ { liauto_api; }
--- must_die
--- error_log
"liauto_postgres" directive takes a libpq connection string, not an empty value



=== TEST 3: liauto_api without any liauto_postgres is refused
--- config
    location /api/ { liauto_api; }
--- must_die
--- error_log eval
qr/"liauto_api" in \S+:\d+ needs "liauto_postgres" in its server or http block/



=== TEST 4: a pool size of 0 is refused
--- http_config
    liauto_postgres "dbname=x";
    liauto_postgres_pool_size 0;
--- config
    location /api/ { liauto_api; }
--- must_die
--- error_log
"liauto_postgres_pool_size" directive must be between 1 and 1024



=== TEST 5: a timeout that is not a time is refused
--- http_config
    liauto_postgres "dbname=x";
    liauto_postgres_query_timeout soon;
--- config
    location /api/ { liauto_api; }
--- must_die
--- error_log
"liauto_postgres_query_timeout" directive invalid value



=== TEST 6: liauto_postgres given twice at one level is refused
--- http_config
    liauto_postgres "dbname=x";
    liauto_postgres "dbname=y";
--- config
    location /api/ { liauto_api; }
--- must_die
--- error_log
"liauto_postgres" directive is duplicate



=== TEST 7: liauto_api is not allowed at server level
--- http_config
    liauto_postgres "dbname=x";
--- config
    liauto_api;
--- must_die
--- error_log
"liauto_api" directive is not allowed here



=== TEST 8: the module loads beside Debian's lua module and both serve
--- http_config
    liauto_postgres "dbname=x";
--- config
    location /api/ { liauto_api; }
    location = /lua { content_by_lua_block { ngx.say("lua ok") } }
--- request
GET /lua
--- response_body
lua ok
