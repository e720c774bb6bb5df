#!/bin/sh
# Stand-in for the /docker-entrypoint.sh wrapper of the intersystemsdc/* images (test
# infrastructure only; iris-facts.md "Image contract"). Two public versions exist; both make
# `docker stop` end the container with exit code 143 whether or not IRIS stopped cleanly:
#   background (default): iris-main runs in the background, SIGTERM is forwarded from a trap,
#     then the wrapper exits 143;
#   foreground (/usr/irissys/standin-wrapper-mode contains "foreground"): iris-main runs in the
#     foreground with no trap, so SIGTERM kills the wrapper, the container ends and IRIS is
#     killed with it: an unclean stop.
# On the first start it applies IRIS_USERNAME/IRIS_PASSWORD/IRIS_NAMESPACE once and writes the
# marker iris.init; a container of a committed snapshot therefore ignores those variables.
MGR=/usr/irissys/mgr
MODE=$(cat /usr/irissys/standin-wrapper-mode 2>/dev/null || echo background)

first_start() {
    [ -f "$MGR/iris.init" ] && return 0
    i=0
    until iris qlist 2>/dev/null | grep -q '\^running' || [ $i -ge 600 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if [ -n "${IRIS_USERNAME:-}" ] && [ -n "${IRIS_PASSWORD:-}" ]; then
        printf 'Set x=##class(Security.Users).Create($system.Util.GetEnviron("IRIS_USERNAME"),"%%All",$system.Util.GetEnviron("IRIS_PASSWORD"))\nHalt\n' \
            | iris session IRIS -U %SYS >/dev/null 2>&1
    fi
    : >"$MGR/iris.init"
    echo "docker-entrypoint.sh: first start initialised (iris.init written)"
}

if [ "$MODE" = foreground ]; then
    first_start &
    /iris-main "$@"
    exit $?
fi

/iris-main "$@" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid; exit 143' TERM INT
first_start &
wait $pid
status=$?
wait $pid 2>/dev/null
exit $status
