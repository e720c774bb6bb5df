#!/bin/sh
# Stand-in healthcheck (real images: /irisHealth.sh): healthy while the instance is running.
ST=/usr/irissys/mgr/.standin
[ -f "$ST/running" ] || exit 1
case "$(cat "$ST/state" 2>/dev/null)" in
    running*) exit 0 ;;
esac
exit 1
