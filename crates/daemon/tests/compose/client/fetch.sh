#!/bin/sh
# Fetches the server's page by its service name (retrying while it starts).
for i in $(seq 50); do
    timeout 3 wget -qO- http://server/index.html && exit 0
    sleep 0.2
done
exit 1
