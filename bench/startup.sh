#!/bin/bash
# Config-time cost: `apache2 -t` on N generated redirect rules (e1 and e2
# forms), stock module against ours, best of 3 wall-clock runs each.
#   bench/startup.sh [N...]            (default: 10000 100000)
#   RW_MODULE=/path/to/mod_rewrite.so  (default: .libs/mod_rewrite.so)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
ours=${RW_MODULE:-$here/../.libs/mod_rewrite.so}
stock=/usr/lib/apache2/modules/mod_rewrite.so
work=$(mktemp -d /tmp/rw-startup.XXXXXX)
trap 'rm -rf "$work"' EXIT
mods=/usr/lib/apache2/modules

best() {   # best of 3 runs of apache2 -t, in seconds
    local conf=$1 b= t
    for _ in 1 2 3; do
        /usr/bin/time -o "$work/t" -f %e apache2 -t -f "$conf" >/dev/null 2>&1 ||
            { echo "apache2 -t failed on $conf" >&2; exit 1; }
        t=$(tail -1 "$work/t")
        if [ -z "$b" ] || awk "BEGIN{exit !($t < $b)}"; then b=$t; fi
    done
    echo "$b"
}

printf '| rules | form | stock s | ours s | ours/stock |\n|---|---|---|---|---|\n'
for n in ${@:-10000 100000}; do
    for form in e1 e2; do
        for which in stock ours; do
            mod=$stock; [ $which = ours ] && mod=$ours
            conf=$work/$which-$form-$n.conf
            {
                echo "ServerRoot $work"
                echo "LoadModule mpm_prefork_module $mods/mod_mpm_prefork.so"
                echo "LoadModule authz_core_module $mods/mod_authz_core.so"
                echo "LoadModule rewrite_module $mod"
                echo "Listen 127.0.0.1:1"
                echo "PidFile $work/pid"
                echo "ErrorLog $work/error.log"
                echo "ServerName localhost"
                echo "DocumentRoot $work"
                echo "RewriteEngine on"
                if [ $form = e1 ]; then
                    seq 1 "$n" | awk '{print "RewriteRule ^/old/page-" $1 "$ /new/" $1 " [R=301,L]"}'
                else
                    seq 1 "$n" | awk '{print "RewriteRule ^/catalog/item-" $1 "/(.*)$ /shop/" $1 "/$1 [R=301,L]"}'
                fi
            } > "$conf"
        done
        s=$(best "$work/stock-$form-$n.conf")
        o=$(best "$work/ours-$form-$n.conf")
        printf '| %s | %s | %s | %s | %s |\n' "$n" "$form" "$s" "$o" \
            "$(awk -v o="$o" -v s="$s" 'BEGIN{printf "%.2f", o / (s > 0 ? s : 0.01)}')"
    done
done
