#!/bin/bash
# Runs a command with every descriptor above stderr closed: a daemon started
# from inside nginx (e.g. Postgres restarted by a test) must not inherit
# nginx's listening sockets.
for fd in /proc/$$/fd/*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] && eval "exec $fd>&-"
done
exec "$@"
