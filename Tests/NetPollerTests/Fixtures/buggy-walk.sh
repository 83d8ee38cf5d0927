#!/bin/sh
# snmpd `pass` script playing a buggy device: GETNEXT always answers the same OID, so a walk loops.
case "$1" in
  -g) echo "$2"; echo integer; echo 7 ;;
  -n) echo ".1.3.6.1.4.1.99999.1.1"; echo integer; echo 7 ;;
  *) exit 0 ;;
esac
