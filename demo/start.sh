#!/bin/bash
# Starts the mod_rewrite demo: Debian's /usr/sbin/apache2 on
# 127.0.0.1:8080 with a private config and server root generated under
# demo/run/, loading OUR module, serving the example site in demo/site/.
#
#   make demo        (builds the module, then runs this script)
#   make demo-stop   (demo/stop.sh)
#
# Environment:
#   RW_MODULE   module to load (default: <repo>/.libs/mod_rewrite.so);
#               RW_MODULE=/usr/lib/apache2/modules/mod_rewrite.so shows the
#               same site with the stock module
#   DEMO_PORT   port (default 8080)
#   RW_HTTPD    server binary (default /usr/sbin/apache2)
#   RW_MODDIR   directory of the other modules (default /usr/lib/apache2/modules)

set -euo pipefail

demo=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$demo")
run=$demo/run
module=${RW_MODULE:-$top/.libs/mod_rewrite.so}
port=${DEMO_PORT:-8080}
httpd=${RW_HTTPD:-/usr/sbin/apache2}
moddir=${RW_MODDIR:-/usr/lib/apache2/modules}

die() { echo "demo: $*" >&2; exit 1; }

[ -x "$httpd" ] || die "$httpd not found (apt-get install apache2)"
[ -f "$module" ] || die "module not found: $module (run 'make' first, or set RW_MODULE)"
case $module in /*) ;; *) module=$(cd "$(dirname "$module")" && pwd)/$(basename "$module") ;; esac
case $port in ''|*[!0-9]*) die "DEMO_PORT must be a number: $port" ;; esac

# already running?
if [ -s "$run/logs/httpd.pid" ] && kill -0 "$(cat "$run/logs/httpd.pid")" 2>/dev/null; then
    die "the demo is already running (pid $(cat "$run/logs/httpd.pid")); stop it with: make demo-stop"
fi

# port taken? (anything accepting on 127.0.0.1:PORT, including a 0.0.0.0 listener)
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port on 127.0.0.1 is already in use by another program; free it, or pick another port: DEMO_PORT=8081 make demo"
fi

# --- generate the server root: demo/run/{conf,logs,site,maps}
rm -rf "$run/conf" "$run/site" "$run/maps"
mkdir -p "$run/conf" "$run/logs"
cp -a "$demo/site" "$run/site"
cp -a "$demo/maps" "$run/maps"
site=$run/site
maps=$run/maps

usergroup=
if [ "$(id -u)" = 0 ]; then
    # the children run as nobody: they must be able to read the site,
    # the map and the .htaccess files, and run the CGIs
    usergroup=$'User nobody\nGroup nogroup'
    chmod -R go+rX "$run/site" "$run/maps"
    chmod 755 "$run/site/app/"*.cgi
    chown -R nobody:nogroup "$run/logs"
    if ! runuser -u nobody -- test -r "$site/index.html" -a -r "$maps/products.txt"; then
        # the repository sits where nobody cannot go (e.g. under /root):
        # serve a copy from a temporary directory instead
        tmpsite=$(mktemp -d /tmp/rw-demo-site.XXXXXX)
        chmod 755 "$tmpsite"
        cp -a "$run/site" "$tmpsite/site"
        cp -a "$run/maps" "$tmpsite/maps"
        site=$tmpsite/site
        maps=$tmpsite/maps
        echo "$tmpsite" > "$run/tmpsite.path"
    fi
else
    chmod 755 "$run/site/app/"*.cgi
fi

sed -e "s|@RUN@|$run|g" \
    -e "s|@SITE@|$site|g" \
    -e "s|@MAPS@|$maps|g" \
    -e "s|@PORT@|$port|g" \
    -e "s|@MODULE@|$module|g" \
    -e "s|@MODDIR@|$moddir|g" \
    "$demo/conf/httpd.conf.in" |
    awk -v ug="$usergroup" '$0 == "@USERGROUP@" { print ug; next } { print }' \
    > "$run/conf/httpd.conf"
conf=$run/conf/httpd.conf

# --- check the config, then start
if ! out=$("$httpd" -t -f "$conf" 2>&1); then
    echo "$out" >&2
    die "the generated config $conf does not load (see above)"
fi

: > "$run/logs/error_log"
[ "$(id -u)" = 0 ] && chown nobody:nogroup "$run/logs/error_log"
if ! "$httpd" -f "$conf" -k start; then
    tail -n 20 "$run/logs/error_log" >&2 || true
    die "apache2 failed to start"
fi

# wait until it answers
for _ in $(seq 1 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        break
    fi
    sleep 0.1
done
if ! [ -s "$run/logs/httpd.pid" ] || ! kill -0 "$(cat "$run/logs/httpd.pid")" 2>/dev/null \
   || ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    tail -n 20 "$run/logs/error_log" >&2 || true
    die "apache2 did not come up on 127.0.0.1:$port (log: $run/logs/error_log)"
fi

base="http://127.0.0.1:$port"
cat <<EOF

mod_rewrite demo running: $base/   (pid $(cat "$run/logs/httpd.pid"))
  module : $module
  config : $conf
  site   : $site   (rules in the config, and in docs/.htaccess)
  log    : $run/logs/error_log   (every rewrite step, LogLevel rewrite:trace2)

Try:
  # front controller: /blog/<anything> -> app/index.cgi, routed path shown
  curl -i $base/blog/2024/05/hello-world
  curl -i '$base/blog/tags/apache?page=2'
  curl -i $base/blog/style.css                  # a real file: served as is

  # 301 canonical redirects
  curl -i $base/old/about.html                  # -> Location: $base/new/about.html
  curl -i -H 'Host: www.shop.test' $base/catalog   # -> Location: http://shop.test/catalog

  # RewriteMap (txt: demo/maps/products.txt): /product/<name> -> app/item.cgi?id=<id>
  curl -i $base/product/apple
  curl -i $base/product/kiwi                    # not in the map: id 0, 404

  # .htaccess rules (AllowOverride All in /docs)
  curl -i $base/docs/latest/install.html        # internal: docs/v2/install.html
  curl -i $base/docs/v1/install.html            # -> 301 $base/docs/v2/install.html

  # or open $base/ in a browser

Stop it with: make demo-stop
EOF
