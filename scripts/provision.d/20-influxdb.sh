# The InfluxDB store's tests and benchmark: influxd 1.x and the `influx` CLI (Debian's
# influxdb and influxdb-client, 1.6). No system influxd is started: each test file and the
# benchmark start a private one on random loopback ports with a temporary data directory
# (test/integration/helpers/private-influxd.ts), so nothing here listens on 8086.
apt_need influxd influxdb influx influxdb-client
