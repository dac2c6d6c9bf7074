# SPDX-License-Identifier: GPL-2.0
# Sourced by the guest scripts that put Apache behind the NIC under test
# (selftests/guest/tests/20-nic-apache.sh, scripts/guest-bench-io.sh): a page set
# and a minimal server of its own, so that the guest's Apache set-up is not touched.

# apache_site WWW PAGES LISTEN: writes 40 files of 0.5 to 256 KiB to WWW/htdocs and a
# copy to PAGES (where the host-side client, nic-peer.py /load, compares replies),
# then starts Apache from WWW/conf/httpd.conf listening on LISTEN (ADDR:PORT or
# PORT). Fails if apache2 is missing or does not start (WWW/conf/error.log says why).
apache_site() {
	local www=$1 pages=$2 listen=$3 i
	command -v apache2 >/dev/null || return 1
	rm -rf "$www" "$pages"
	mkdir -p "$www/htdocs" "$www/conf" "$www/run" "$pages"
	for i in $(seq 40); do
		head -c $(( (512 << (i % 10)) + i )) /dev/urandom > "$www/htdocs/page$i.bin"
	done
	cp "$www"/htdocs/* "$pages/"
	cat > "$www/conf/httpd.conf" <<EOF
ServerRoot $www
ServerName ndriver-guest
Listen $listen
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
TypesConfig /etc/mime.types
PidFile $www/conf/httpd.pid
ErrorLog $www/conf/error.log
Mutex file:$www/run default
DefaultRuntimeDir $www/run
User nobody
Group nogroup
DocumentRoot $www/htdocs
<Directory $www/htdocs>
    Require all granted
</Directory>
KeepAlive On
MaxKeepAliveRequests 0
# A recovery on the debug kernel stalls a connection for seconds: at the default 5 s
# the server closed a kept-alive connection just as the client's next request came
# (RemoteDisconnected in 20-nic-apache), an HTTP race, not a lost request.
KeepAliveTimeout 120
EOF
	chmod -R a+rX "$www"
	apache2 -f "$www/conf/httpd.conf" -k start
}

# apache_site_stop WWW: stops the Apache that apache_site started, if it runs.
apache_site_stop() {
	[ -f "$1/conf/httpd.pid" ] && apache2 -f "$1/conf/httpd.conf" -k stop 2>/dev/null
}
