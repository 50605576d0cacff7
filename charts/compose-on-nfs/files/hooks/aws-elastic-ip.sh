#!/bin/sh
# Moves an AWS Elastic IP to this instance when it becomes master, for
# VPCs where the VRRP address itself does not route.
# Usage: aws-elastic-ip.sh ALLOCATION_ID
# Needs the AWS CLI and an instance role allowed ec2:AssociateAddress.
set -eu
allocation=${1:?usage: aws-elastic-ip.sh ALLOCATION_ID}
metadata=http://169.254.169.254/latest
token=$(curl -sf -X PUT "$metadata/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 60")
instance=$(curl -sf -H "X-aws-ec2-metadata-token: $token" "$metadata/meta-data/instance-id")
exec aws ec2 associate-address --allocation-id "$allocation" --instance-id "$instance" --allow-reassociation
