#!/bin/sh
# Writes <prefix>/conf/nginx.conf for the simulator and creates the
# directories it uses.  Start it with: nginx -p <prefix>/ -c conf/nginx.conf
#
# usage: render.sh <prefix> <port> <api_key> [webhook_url_base
#                  [webhook_secret [resend_key]]]
set -eu

[ $# -ge 3 ] || {
    echo "usage: $0 <prefix> <port> <api_key> [webhook_url_base" \
         "[webhook_secret [resend_key]]]" >&2
    exit 2
}
prefix=$1 port=$2 api_key=$3
webhook_url_base=${4:-} webhook_secret=${5:-} resend_key=${6:-}
sim_root=$(cd "$(dirname "$0")" && pwd)

# a value safe on the replacement side of s|||
escape() {
    printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'
}

for v in "$api_key" "$webhook_secret" "$resend_key"; do
    case $v in
        *']=='*|*'
'*) echo "$0: keys must not contain ']==' or newlines" >&2; exit 2 ;;
    esac
done

mkdir -p "$prefix/conf" "$prefix/logs" "$prefix/tmp"
sed -e "s|@PREFIX@|$(escape "$prefix")|g" \
    -e "s|@PORT@|$(escape "$port")|g" \
    -e "s|@SIM_ROOT@|$(escape "$sim_root")|g" \
    -e "s|@API_KEY@|$(escape "$api_key")|g" \
    -e "s|@WEBHOOK_URL_BASE@|$(escape "$webhook_url_base")|g" \
    -e "s|@WEBHOOK_SECRET@|$(escape "$webhook_secret")|g" \
    -e "s|@RESEND_KEY@|$(escape "$resend_key")|g" \
    "$sim_root/nginx.conf.in" >"$prefix/conf/nginx.conf"
