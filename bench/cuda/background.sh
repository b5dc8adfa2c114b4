#!/usr/bin/env bash
# Work that outlives one device call: the repo copy of a call is laid anew by
# the next one, and a call's own processes end with it, so a long job (the
# device tests, pipeline_vs_hf.py) runs from a copy in /tmp/gcw, detached
# (setsid), while later calls carry model pieces (split_model.sh) and the
# machine stays warm. Logs in /tmp/bg.
#   bash bench/cuda/background.sh start 'OUT=/tmp/bg/dt GC_BIN=.carry/bin bash bench/cuda/device_tests.sh'
#   bash bench/cuda/background.sh status      # the log's tail; exit 0 once the job has ended
#   bash bench/cuda/background.sh wait 90     # up to 90 s for the end; exit 1 if still running
#   bash bench/cuda/background.sh stop        # end it (kills its process group)
set -u
BG=/tmp/bg
case "${1:-}" in
  start)
    [ -n "${2:-}" ] || { echo "background: start needs a command" >&2; exit 2; }
    if [ -f $BG/pid ] && [ ! -f $BG/done ] && kill -0 "$(cat $BG/pid)" 2>/dev/null; then
      echo "background: a job is running (pid $(cat $BG/pid))" >&2; exit 1; fi
    rm -rf $BG /tmp/gcw && mkdir -p $BG /tmp/gcw && cp -a . /tmp/gcw/
    # The job's shell writes its own pid: it leads its session and process group (setsid), so
    # stop can end the whole group.
    (cd /tmp/gcw && setsid bash -c "echo \$\$ > $BG/pid; $2; echo \"exit \$?\" > $BG/done" > $BG/log 2>&1 < /dev/null &)
    for _ in $(seq 1 50); do [ -s $BG/pid ] && break; sleep 0.1; done
    echo "background: started (pid $(cat $BG/pid 2>/dev/null)) in /tmp/gcw, log $BG/log";;
  status)
    tail -n "${2:-15}" $BG/log 2>/dev/null; [ -f $BG/done ] && { cat $BG/done; exit 0; }; exit 1;;
  wait)
    for _ in $(seq 1 "${2:-60}"); do [ -f $BG/done ] && { cat $BG/done; exit 0; }; sleep 1; done; exit 1;;
  stop)
    [ -f $BG/pid ] && kill -- -"$(cat $BG/pid)" 2>/dev/null; echo "stopped" > $BG/done;;
  *) echo "usage: background.sh start CMD | status [N] | wait [S] | stop" >&2; exit 2;;
esac
