#!/bin/sh
# Example vrrpd -D script: runs when this node becomes backup; undo what
# up.sh did, e.g.
#   ip address del 192.168.14.2/24 dev vrrp.51
logger -t hareconcile "became backup"
