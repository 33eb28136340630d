# Base: the shared MQTT broker for multi-node tests, and the peers of the benchmarks.
apt_need mosquitto mosquitto mosquitto_pub mosquitto-clients pidstat sysstat strace strace

# Mosquitto on 127.0.0.1:1883: the machine's shared broker.
if ! port_open 1883; then
  log "starting mosquitto"
  as_root mosquitto -d -c /etc/mosquitto/mosquitto.conf
  wait_port 1883 mosquitto
fi
