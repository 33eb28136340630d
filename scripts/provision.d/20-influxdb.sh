# The InfluxDB store's integration tests and benchmark: influxd (1.x) and the `influx` CLI.
# No system influxd is started: every test and benchmark starts a private one on random
# ports with a temporary data directory (test/integration/helpers/private-influxd.ts).
apt_need influxd influxdb influx influxdb-client

# The Debian package's postinst may start the service where an init system runs; the tests
# never use it, and a stray instance on 8086 would only confuse a user's --influx default.
