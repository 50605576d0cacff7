#!/bin/sh
# Example vrrpd -U script: runs when this node becomes master. The
# README's use: addresses that share the virtual MAC, e.g.
#   ip address add 192.168.14.2/24 dev vrrp.51
logger -t hareconcile "became master"
